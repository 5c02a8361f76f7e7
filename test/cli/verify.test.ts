// `lading verify` as a user runs it: bin/lading.js in a child process, exit codes, stdout and
// stderr, standard input, and the --json document.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, it } from "vitest";
import {
  blobPath,
  buildTar,
  ensureBuilt,
  layerTar,
  makeForeignImage,
  makeImage,
  ociLayoutItems,
  runLading,
  withoutFile,
  type CliResult,
  type TarItem,
} from "../support/archive-builder.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const GOOD = join(FIXTURES, "bad", "GOOD-baseline.tar");
const SYNTHESIZED = "sha256:00a7728632a9329633b7c5ec4ed07443304e2484be097b82c0cea259edf72896";
const LAYER = "bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0";

function expectNoStack(result: CliResult): void {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stdout).not.toMatch(/^\s+at /m);
}

beforeAll(() => ensureBuilt(), 120_000);

describe("lading verify: exit codes and output", () => {
  it("exits 0 on a valid archive and prints a summary", async () => {
    const result = await runLading(["verify", GOOD]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const lines = result.stdout.split("\n");
    expect(lines[0]).toBe("format: docker-archive");
    expect(lines[1]).toBe("fixture/good:1");
    expect(lines[2]).toMatch(/ config sha256:586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11 {2}linux\/amd64 {2}1 layer$/);
    expect(lines[3]).toBe(`  manifest ${SYNTHESIZED} (synthesized, as manifest.json alone lists the image and keeps no manifest: not a registry digest)`);
    // Every layer's digest and diff ID, as --json gives them.
    const report = JSON.parse((await runLading(["verify", "--json", GOOD])).stdout) as { images: { layers: { digest: string; diffId: string }[] }[] };
    expect(lines[4]).toBe(`    layer ${report.images[0]!.layers[0]!.digest}  diff ID ${report.images[0]!.layers[0]!.diffId}`);
    expect(lines[4]).toMatch(/^ {4}layer sha256:[0-9a-f]{64} {2}diff ID sha256:[0-9a-f]{64}$/);
    expect(lines.slice(5)).toEqual(["archive is valid", ""]);
  });

  it("marks an original manifest digest as original", async () => {
    const result = await runLading(["verify", join(FIXTURES, "archives", "skopeo-oci-archive.tar")]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("  manifest sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf (original, from the archive)\n");
    expect(result.stdout.split("\n")[1]).toBe("<untagged>");
    expect(result.stderr).toBe('warning: index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged\n');
  });

  it("says which layers are foreign and not in the archive, and warns that their diff IDs are unchecked", async () => {
    const image = makeForeignImage();
    const result = await runLading(["verify", "-"], buildTar(withoutFile(ociLayoutItems([image]), blobPath(image.layers[0]!.digest))));
    expect(result.code).toBe(0);
    expect(result.stdout.split("\n").slice(2, 6)).toEqual([
      `  ID ${image.manifest.digest}  config ${image.config.digest}  windows/amd64  2 layers (1 foreign, not in the archive)`,
      `  manifest ${image.manifest.digest} (original, from the archive)`,
      `    layer ${image.layers[0]!.digest}  diff ID ${image.layers[0]!.diffId}  (foreign, not in the archive: diff ID from the config)`,
      `    layer ${image.layers[1]!.digest}  diff ID ${image.layers[1]!.diffId}`,
    ]);
    expect(result.stderr).toBe(
      `warning: ${blobPath(image.manifest.digest)} layers[0]: foreign layer ${image.layers[0]!.digest} is not in the archive; its diff ID ${image.layers[0]!.diffId} is the config's, unchecked\n`,
    );
  });

  it("exits 1 on an invalid archive with one line per problem on stderr", async () => {
    const result = await runLading(["verify", join(FIXTURES, "bad", "truncated.tar")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: unexpected end of archive in entry "${LAYER}.tar" (got 21604 of 30208 bytes)\n`);
    expect(result.stdout).toBe("archive is INVALID: 1 problem\n");
    expectNoStack(result);
  });

  it("names a blob that is a link to a missing entry as that link, with its target", async () => {
    const image = makeImage({ seed: "linked-layer", layers: [layerTar({ "a.txt": "a\n" }), layerTar({ "b.txt": "b\n" })] });
    const layer = blobPath(image.layers[1]!.digest);
    const linked = (link: TarItem): Buffer => buildTar(ociLayoutItems([image]).map((item) => (item.type === "file" && item.name === layer ? link : item)));
    const context = `  (root index.json manifests[0], image ${image.manifest.digest})`;
    const stdout = [
      "format: oci-layout",
      "<untagged>",
      `  INVALID  ID ${image.manifest.digest}  listed at index.json manifests[0]: 1 problem`,
      `    image ${image.manifest.digest}  INVALID`,
      "archive is INVALID: 1 problem",
      "",
    ].join("\n");
    expect(await runLading(["verify", "-"], linked({ type: "hardlink", name: layer, target: "blobs/sha256/gone" }))).toEqual({
      code: 1,
      stdout,
      stderr: `error: ${blobPath(image.manifest.digest)} layers[1]: "${layer}" is a hard link to "blobs/sha256/gone", which is not in the archive${context}\n`,
    });
    expect(await runLading(["verify", "-"], linked({ type: "symlink", name: layer, target: "gone" }))).toEqual({
      code: 1,
      stdout,
      stderr: `error: ${blobPath(image.manifest.digest)} layers[1]: "${layer}" is a symbolic link to "blobs/sha256/gone", which is not in the archive${context}\n`,
    });
  });

  it("exits 1 for a file that does not exist, in one line", async () => {
    const result = await runLading(["verify", "/nonexistent/archive.tar"]);
    expect(result).toEqual({ code: 1, stdout: "", stderr: "lading: error: /nonexistent/archive.tar: no such file or directory\n" });
    // With --json, a script still gets one document.
    const json = await runLading(["verify", "--json", "/nonexistent/archive.tar"]);
    expect([json.code, json.stderr, JSON.parse(json.stdout)]).toEqual([
      1,
      "",
      {
        schemaVersion: 1,
        format: null,
        compression: null,
        valid: false,
        images: [],
        absent: [],
        problems: [{ entry: "/nonexistent/archive.tar", message: "/nonexistent/archive.tar: no such file or directory" }],
        warnings: [],
        roots: [],
        artifacts: [],
      },
    ]);
  });

  it("--roundtrip --json of a file that does not exist prints the round trip's own document, in the format asked for", async () => {
    for (const [args, format] of [[[], "docker"], [["--format", "oci"], "oci"]] as const) {
      const result = await runLading(["verify", "--json", "--roundtrip", ...args, "/nonexistent/archive.tar"]);
      expect([result.code, result.stderr, JSON.parse(result.stdout)]).toEqual([
        1,
        "",
        { schemaVersion: 1, valid: false, exact: false, format, images: [], problems: ["/nonexistent/archive.tar: no such file or directory"], warnings: [] },
      ]);
    }
    expect(await runLading(["verify", "--json", "--roundtrip", "--format", "tar", "/nonexistent/archive.tar"])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'lading: usage error: --format must be docker or oci, got "tar"\n',
    });
  });

  it("exits 2 on usage errors", async () => {
    expect(await runLading(["verify"])).toEqual({ code: 2, stdout: "", stderr: "lading: usage error: missing required argument 'archive'\n" });
    expect(await runLading(["verify", "--bogus", GOOD])).toEqual({ code: 2, stdout: "", stderr: "lading: usage error: unknown option '--bogus'\n" });
    expect(await runLading(["verify", "--max-layer-size", "lots", GOOD])).toEqual({
      code: 2,
      stdout: "",
      stderr: 'lading: usage error: --max-layer-size: invalid size "lots"\n',
    });
  });

  it("applies --max-layer-size and --max-json-size", async () => {
    const bomb = await runLading(["verify", "--max-layer-size", "16k", join(FIXTURES, "archives", "skopeo-oci-archive.tar")]);
    expect(bomb.code).toBe(1);
    expect(bomb.stderr).toBe(
      "error: blobs/sha256/54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf layers[0]: layer " +
        "blobs/sha256/3c814ad1634f3a7d663993b30be3c8944a4b2d8379dcd422a6342bcf8dc54781: decompressed size exceeds the limit of 16384 bytes" +
        "  (root index.json manifests[0], image sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf)\n",
    );
    const json = await runLading(["verify", "--max-json-size", "100", GOOD]);
    expect(json.code).toBe(1);
    expect(json.stderr).toBe(
      "error: manifest.json[0].Config: 586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11.json is larger than the JSON size cap of 100 bytes" +
        "  (root manifest.json[0] fixture/good:1, image config sha256:586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11)\n",
    );
  });
});

describe("lading verify - (standard input)", () => {
  it("reads an archive from standard input, the same as from the file", async () => {
    const bytes = readFileSync(GOOD);
    const fromStdin = await runLading(["verify", "-", "--json"], bytes);
    const fromFile = await runLading(["verify", GOOD, "--json"]);
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout)).toEqual(JSON.parse(fromFile.stdout));
  });

  it("decompresses a gzip archive on standard input", async () => {
    const result = await runLading(["verify", "-", "--json"], gzipSync(readFileSync(GOOD)));
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { compression: string; images: { manifestDigest: string }[] };
    expect(report.compression).toBe("gzip");
    expect(report.images.map((image) => image.manifestDigest)).toEqual([SYNTHESIZED]);
  });

  it("refuses truncated and corrupt input without a stack trace", async () => {
    const good = readFileSync(GOOD);
    const truncated = await runLading(["verify", "-"], gzipSync(good.subarray(0, 3000)));
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toBe(`error: unexpected end of archive in entry "${LAYER}.tar" (got 2488 of 30208 bytes)\n`);
    expectNoStack(truncated);

    const gz = gzipSync(good);
    const corrupt = await runLading(["verify", "-"], gz.subarray(0, gz.length - 100));
    expect(corrupt.code).toBe(1);
    expect(corrupt.stderr).toBe("error: corrupt gzip stream: unexpected end of file\n");
    expectNoStack(corrupt);

    const empty = await runLading(["verify", "-"], Buffer.alloc(0));
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe("error: not an image archive: it has neither manifest.json nor oci-layout and index.json\n");
  });

  it("says a pre-1.10 docker save archive (repositories, no manifest.json) is one it does not read", async () => {
    const v1id = "a".repeat(64);
    const legacy = buildTar([
      { type: "file", name: "repositories", content: JSON.stringify({ busybox: { latest: v1id } }) },
      { type: "dir", name: `${v1id}/` },
      { type: "file", name: `${v1id}/VERSION`, content: "1.0" },
      { type: "file", name: `${v1id}/json`, content: JSON.stringify({ id: v1id }) },
      { type: "file", name: `${v1id}/layer.tar`, content: buildTar([]) },
    ]);
    const refused = await runLading(["verify", "-"], legacy);
    expect([refused.code, refused.stdout, refused.stderr]).toEqual([
      1,
      "archive is INVALID: 1 problem\n",
      "error: not an image archive lading reads: it has repositories but no manifest.json, as docker save wrote before Docker 1.10; its images have no content-addressed config to check (docker load then docker save with Docker 1.10 or later writes one lading reads)\n",
    ]);
  });
});

describe("lading verify --json", () => {
  it("prints one document with the documented fields", async () => {
    const result = await runLading(["verify", "--json", join(FIXTURES, "archives", "skopeo-oci-archive.tar")]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const report = JSON.parse(result.stdout) as Record<string, unknown> & { images: Record<string, unknown>[] };
    expect(Object.keys(report).sort()).toEqual(["absent", "artifacts", "compression", "format", "images", "problems", "roots", "schemaVersion", "valid", "warnings"]);
    expect(report).toMatchObject({ format: "oci-layout", compression: "none", valid: true, absent: [], problems: [] });
    expect(report.images).toEqual([
      {
        names: [],
        listedAt: "index.json manifests[0]",
        rootDigest: "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf",
        rootMediaType: "application/vnd.oci.image.manifest.v1+json",
        manifestDigest: "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf",
        manifestMediaType: "application/vnd.oci.image.manifest.v1+json",
        manifestOrigin: "archive",
        configDigest: "sha256:f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67",
        platform: "linux/amd64",
        layers: [
          {
            digest: "sha256:3c814ad1634f3a7d663993b30be3c8944a4b2d8379dcd422a6342bcf8dc54781",
            size: 4460,
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            compression: "gzip",
            diffId: "sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
            uncompressedSize: 30208,
          },
          {
            digest: "sha256:e099f4ace1f8e043608c5faabbc51173598f0ad93e3dea3a1d65d057e09fd4de",
            size: 2519,
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            compression: "gzip",
            diffId: "sha256:f866a726b09c50f4443150885dae992b6af0058aaf2d8db24db8e40d82a5f707",
            uncompressedSize: 9728,
          },
        ],
      },
    ]);
    expect(report.warnings).toEqual(['index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged']);
  });

  it("reports problems in the document, exit 1, nothing on stderr", async () => {
    const result = await runLading(["verify", "--json", join(FIXTURES, "bad", "missing-config.tar")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("");
    const report = JSON.parse(result.stdout) as { valid: boolean; images: unknown[]; problems: unknown[] };
    expect(report.valid).toBe(false);
    expect(report.images).toEqual([]);
    expect(report.problems).toEqual([
      {
        entry: "manifest.json[0].Config",
        message: 'manifest.json[0].Config: "0000000000000000000000000000000000000000000000000000000000000000.json" is not in the archive',
      },
    ]);
  });
});
