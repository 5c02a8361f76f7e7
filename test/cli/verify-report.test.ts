// The `lading verify` report an auditor keeps: the --json document (schemaVersion 1) byte for byte,
// each root and platform image with its status and its own problems, the artifacts an archive
// carries, and the text output telling the same story, one line per problem.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { printSummary } from "../../src/cli/verify-command.js";
import {
  blobOf,
  blobPath,
  buildTar,
  capturingTerminal,
  descriptorOf,
  ensureBuilt,
  makeImage,
  OCI_INDEX,
  OCI_MANIFEST,
  ociLayoutItems,
  runLading,
  verifyItems,
  withFile,
  withoutFile,
  type TarItem,
} from "../support/archive-builder.js";

const REPO = join(import.meta.dirname, "..", "..");
const FIXTURES = join(REPO, "..", "shared", "fixtures");
const MULTI = join(FIXTURES, "archives", "docker-save-multi.tar");
const MULTIPLATFORM = join(REPO, "testdata", "oci-multiplatform.tar");

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The archive with one byte of an entry's content inverted; returns the new bytes and that entry's new content. */
function withAlteredByte(archive: Buffer, name: string, at: number): { bytes: Buffer; content: Buffer } {
  const bytes = Buffer.from(archive);
  for (let offset = 0; offset + 512 <= bytes.length; ) {
    const header = bytes.subarray(offset, offset + 512);
    const size = parseInt(header.subarray(124, 136).toString("latin1").replace(/\0.*$/s, "").trim() || "0", 8);
    if (header.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "") === name) {
      bytes[offset + 512 + at]! ^= 0xff;
      return { bytes, content: bytes.subarray(offset + 512, offset + 512 + size) };
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no entry ${name}`);
}

let scratch: string;
beforeAll(() => {
  ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), "lading-verify-report-"));
}, 120_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function archiveFile(name: string, bytes: Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, bytes);
  return path;
}

describe("verify --json of a valid archive", () => {
  it("is the whole document: schemaVersion, the existing fields, every root ok, no artifacts", async () => {
    const result = await runLading(["verify", "--json", join(FIXTURES, "archives", "skopeo-oci-archive.tar")]);
    const manifest = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";
    const config = "sha256:f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67";
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout).toBe(
      json({
        schemaVersion: 1,
        format: "oci-layout",
        compression: "none",
        valid: true,
        images: [
          {
            names: [],
            listedAt: "index.json manifests[0]",
            rootDigest: manifest,
            rootMediaType: OCI_MANIFEST,
            manifestDigest: manifest,
            manifestMediaType: OCI_MANIFEST,
            manifestOrigin: "archive",
            configDigest: config,
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
        ],
        absent: [],
        problems: [],
        warnings: ['index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged'],
        roots: [
          {
            listedAt: "index.json manifests[0]",
            digest: manifest,
            mediaType: OCI_MANIFEST,
            names: [],
            status: "ok",
            problems: [],
            images: [{ manifestDigest: manifest, platform: "linux/amd64", configDigest: config, status: "ok", problems: [] }],
          },
        ],
        artifacts: [],
      }),
    );
  });
});

describe("verify of an archive with one corrupted layer among two images", () => {
  // derived-b's own layer (a real `docker save`); derived-a shares only the base layer with it.
  const layerB = "b1775917bedab7b6295cde5d29ce1ea0ba4832f6388932e5ad4bcda12fe0759f/layer.tar";
  const configB = "sha256:870c32292415ea8fdb36f41eee09b89d1ac470a2cc4b2c4f64a800c9862c052e";
  const diffIdB = "sha256:bb61cbe9e7e6c9b4643cb425d4b04a8565287ffc9f096417cb2a9f1c629f7902";
  const manifestA = "sha256:662400124e1af9323b39bb1b8c1760dcec107697fdc9695102e02efb0dfe175d";
  const configA = "sha256:65ba0f4cf299619b9270d0b31ffdcdaea5b006888832db4661ff0d4885cb4713";
  const baseLayer = "sha256:83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e";
  const layerA = "sha256:e704dd699478d4fea5e8257974207394ca271d36ab494669732ae7a6e0e224c5";
  // The contents of opt/b/b.txt, inside the layer tar (its fourth entry's data block).
  const altered = withAlteredByte(readFileSync(MULTI), layerB, 2048);
  const actual = sha256(altered.content);
  const message = `manifest.json[1].Layers[1]: layer ${layerB} has diff ID ${actual}, but ${configB.slice(7)}.json rootfs.diff_ids[1] is ${diffIdB}`;

  it("--json: the sound image ok, the other invalid with its entry, digests, expected and actual", async () => {
    expect(actual).toBe("sha256:cdd6e85b4e9893211ca84e312f7a20057c28fe2c47585666fe404aca08a19392");
    const result = await runLading(["verify", "--json", archiveFile("multi-corrupt.tar", altered.bytes)]);
    expect([result.code, result.stderr]).toEqual([1, ""]);
    const problem = { entry: layerB, message };
    const synthesized = "application/vnd.docker.distribution.manifest.v2+json";
    const dockerLayer = (digest: string, size: number): Record<string, unknown> => ({
      digest,
      size,
      mediaType: "application/vnd.docker.image.rootfs.diff.tar",
      compression: "none",
      diffId: digest,
      uncompressedSize: size,
    });
    expect(result.stdout).toBe(
      json({
        schemaVersion: 1,
        format: "docker-archive",
        compression: "none",
        valid: false,
        images: [
          {
            names: ["docker.io/fixture/derived-a:1.0"],
            listedAt: "manifest.json[0]",
            rootDigest: manifestA,
            rootMediaType: synthesized,
            manifestDigest: manifestA,
            manifestMediaType: synthesized,
            manifestOrigin: "synthesized",
            configDigest: configA,
            platform: "linux/amd64",
            layers: [dockerLayer(baseLayer, 30720), dockerLayer(layerA, 3072)],
          },
        ],
        absent: [],
        problems: [problem],
        warnings: [],
        roots: [
          {
            listedAt: "manifest.json[0]",
            digest: manifestA,
            mediaType: synthesized,
            names: ["docker.io/fixture/derived-a:1.0"],
            status: "ok",
            problems: [],
            images: [{ manifestDigest: manifestA, platform: "linux/amd64", configDigest: configA, status: "ok", problems: [] }],
          },
          {
            listedAt: "manifest.json[1]",
            digest: null,
            mediaType: null,
            names: ["docker.io/fixture/derived-b:1.0"],
            status: "invalid",
            problems: [{ ...problem, digest: actual, compared: "diffId", expected: diffIdB, actual }],
            images: [
              {
                manifestDigest: null,
                platform: null,
                configDigest: configB,
                status: "invalid",
                problems: [{ ...problem, digest: actual, compared: "diffId", expected: diffIdB, actual }],
              },
            ],
          },
        ],
        artifacts: [],
      }),
    );
  });

  it("text: the sound image as on a valid archive, the other INVALID, its error line naming it", async () => {
    const result = await runLading(["verify", archiveFile("multi-corrupt.tar", altered.bytes)]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      [
        "format: docker-archive",
        "fixture/derived-a:1.0",
        `  ID ${manifestA}  config ${configA}  linux/amd64  2 layers`,
        `  manifest ${manifestA} (synthesized, as manifest.json alone lists the image and keeps no manifest: not a registry digest)`,
        `    layer ${baseLayer}  diff ID ${baseLayer}`,
        `    layer ${layerA}  diff ID ${layerA}`,
        "fixture/derived-b:1.0",
        "  INVALID  listed at manifest.json[1]: 1 problem",
        `    image config ${configB}  INVALID`,
        "archive is INVALID: 1 problem",
        "",
      ].join("\n"),
    );
    expect(result.stderr).toBe(`error: ${message}  (root manifest.json[1] fixture/derived-b:1.0, image config ${configB})\n`);
  });
});

describe("verify of an image index whose first platform has a corrupted layer", () => {
  const index = "sha256:797b264987ad4dc1204bdbf5d26ed90293f22e70d542954cf366f9eed2300689";
  const amd64 = "sha256:03d237cdfc9cc0004be7419e358333ec3c3dd2c5ffe01831342726e01cfb2239";
  const arm64 = "sha256:dbf95a452d07d73eb2838471b8e6d37b6b376b1ce2149bb1f82479da8ba2ddc4";
  const arm64Config = "sha256:caf175150e9ed03658e45b9bdadafc2177245eb48a1e46ba93cc7293ed995fb5";
  const amd64Layer = "sha256:361dc4f52ba53da0d8c817f6ca3ff584b5031c5651ab0677e8eda9095fe3cb90";
  const altered = withAlteredByte(readFileSync(MULTIPLATFORM), blobPath(amd64Layer), 20);
  const actual = sha256(altered.content);
  const layerProblem = {
    entry: blobPath(amd64Layer),
    message: `${blobPath(amd64)} layers[0]: digest ${amd64Layer} does not match the content of ${blobPath(amd64Layer)} (${actual})`,
  };

  it("--json: the root invalid, amd64 invalid with the mismatch, arm64 still checked and ok; the blob's fault said once, as the root's", async () => {
    const result = await runLading(["verify", "--json", archiveFile("multiplatform-corrupt.tar", altered.bytes)]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect([report.valid, report.images, report.problems, report.artifacts]).toEqual([false, [], [layerProblem], []]);
    const detailed = { ...layerProblem, digest: amd64Layer, compared: "digest", expected: amd64Layer, actual };
    expect(report.roots).toEqual([
      {
        listedAt: "index.json manifests[0]",
        digest: index,
        mediaType: OCI_INDEX,
        names: [],
        status: "invalid",
        problems: [detailed],
        images: [
          { manifestDigest: amd64, platform: "linux/amd64", configDigest: null, status: "invalid", problems: [detailed] },
          { manifestDigest: arm64, platform: "linux/arm64", configDigest: arm64Config, status: "ok", problems: [] },
        ],
      },
    ]);
  });

  it("text: each platform's status, and one error line for the blob, naming its root and image", async () => {
    const result = await runLading(["verify", archiveFile("multiplatform-corrupt.tar", altered.bytes)]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      [
        "format: oci-layout",
        "<untagged>",
        `  INVALID  ID ${index}  listed at index.json manifests[0]: 1 problem`,
        `    image linux/amd64 ${amd64}  INVALID`,
        `    image linux/arm64 ${arm64}  ok`,
        "archive is INVALID: 1 problem",
        "",
      ].join("\n"),
    );
    expect(result.stderr).toBe(`error: ${layerProblem.message}  (root index.json manifests[0], image linux/amd64 ${amd64})\n`);
  });
});

describe("verify of an archive with an attestation", () => {
  // BuildKit's shape: an index of the image and an attestation manifest (in-toto layer) for it.
  const image = makeImage({ seed: "attested", gzip: true });
  const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
  const statement = blobOf('{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2"}', "application/vnd.in-toto+json");
  const attestation = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptorOf(empty),
      layers: [descriptorOf(statement, { annotations: { "in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2" } })],
    }),
    OCI_MANIFEST,
  );
  const referenceAnnotations = { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": image.manifest.digest };
  const index = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        descriptorOf(image.manifest, { platform: { os: "linux", architecture: "amd64" } }),
        descriptorOf(attestation, { platform: { os: "unknown", architecture: "unknown" }, annotations: referenceAnnotations }),
      ],
    }),
    OCI_INDEX,
  );
  const items: TarItem[] = ociLayoutItems([image], {
    indexEntries: [descriptorOf(index, { annotations: { "io.containerd.image.name": "example.com/attested:1" } })],
    extraBlobs: [index, attestation, empty, statement],
  });
  const artifact = {
    rootDigest: index.digest,
    digest: attestation.digest,
    mediaType: OCI_MANIFEST,
    artifactType: "application/vnd.oci.empty.v1+json",
    platform: "unknown/unknown",
    subject: image.manifest.digest,
    annotations: referenceAnnotations,
    blobs: [
      { digest: empty.digest, mediaType: empty.mediaType, size: 2 },
      { digest: statement.digest, mediaType: statement.mediaType, size: statement.size },
    ],
  };

  it("--json lists the attestation with its type, subject and blobs, ok, beside the image", async () => {
    const result = await runLading(["verify", "--json", archiveFile("attested.tar", buildTar(items))]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    const [layer] = image.layers;
    expect(result.stdout).toBe(
      json({
        schemaVersion: 1,
        format: "oci-layout",
        compression: "none",
        valid: true,
        images: [
          {
            names: ["example.com/attested:1"],
            listedAt: "index.json manifests[0]",
            rootDigest: index.digest,
            rootMediaType: OCI_INDEX,
            manifestDigest: image.manifest.digest,
            manifestMediaType: OCI_MANIFEST,
            manifestOrigin: "archive",
            configDigest: image.config.digest,
            platform: "linux/amd64",
            layers: [{ digest: layer!.digest, size: layer!.size, mediaType: layer!.mediaType, compression: "gzip", diffId: layer!.diffId, uncompressedSize: gunzipSync(layer!.bytes).length }],
          },
        ],
        absent: [],
        problems: [],
        warnings: [],
        roots: [
          {
            listedAt: "index.json manifests[0]",
            digest: index.digest,
            mediaType: OCI_INDEX,
            names: ["example.com/attested:1"],
            status: "ok",
            problems: [],
            images: [{ manifestDigest: image.manifest.digest, platform: "linux/amd64", configDigest: image.config.digest, status: "ok", problems: [] }],
          },
        ],
        artifacts: [{ ...artifact, status: "ok", problems: [] }],
      }),
    );
    const text = await runLading(["verify", archiveFile("attested.tar", buildTar(items))]);
    expect(text.stdout.split("\n").slice(-3)).toEqual([`artifact ${attestation.digest}  application/vnd.oci.empty.v1+json  2 blobs  for ${image.manifest.digest}`, "archive is valid", ""]);
  });

  it("an altered attestation payload makes the artifact invalid, and the image stays ok", async () => {
    const bad = withFile(items, blobPath(statement.digest), "{}");
    const result = await runLading(["verify", "--json", archiveFile("attested-bad.tar", buildTar(bad))]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { problems: unknown[]; roots: { status: string; images: { status: string }[] }[]; artifacts: unknown[] };
    const message = `${blobPath(attestation.digest)} layers[0]: size ${statement.size} does not match ${blobPath(statement.digest)} (2 bytes)`;
    expect(report.artifacts).toEqual([
      {
        ...artifact,
        status: "invalid",
        problems: [{ entry: blobPath(statement.digest), message, digest: statement.digest, compared: "size", expected: statement.size, actual: 2 }],
      },
    ]);
    expect(report.roots.map((root) => [root.status, root.images.map((each) => each.status)])).toEqual([["invalid", ["ok"]]]);
    expect(report.problems).toEqual([{ entry: blobPath(statement.digest), message }]);
    const text = await runLading(["verify", archiveFile("attested-bad.tar", buildTar(bad))]);
    expect(text.stderr).toBe(`error: ${message}  (root index.json manifests[0] example.com/attested:1, artifact ${attestation.digest})\n`);
    expect(text.stdout).toContain(`artifact ${attestation.digest}  application/vnd.oci.empty.v1+json  2 blobs  for ${image.manifest.digest}  INVALID\n`);
  });

  it("an attestation whose config blob is missing is an invalid artifact, not a failed image", async () => {
    const bad = buildTar(withoutFile(items, blobPath(empty.digest)));
    const result = await runLading(["verify", "--json", archiveFile("attested-no-config.tar", bad)]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { images: unknown[]; problems: unknown[]; roots: unknown[]; artifacts: unknown[] };
    const message = `${blobPath(attestation.digest)} config: blob ${empty.digest} is missing (${blobPath(empty.digest)})`;
    expect(report.problems).toEqual([{ entry: blobPath(empty.digest), message }]);
    expect(report.artifacts).toEqual([{ ...artifact, status: "invalid", problems: [{ entry: blobPath(empty.digest), message, digest: empty.digest }] }]);
    expect(report.roots).toEqual([
      {
        listedAt: "index.json manifests[0]",
        digest: index.digest,
        mediaType: OCI_INDEX,
        names: ["example.com/attested:1"],
        status: "invalid",
        problems: [{ entry: blobPath(empty.digest), message, digest: empty.digest }],
        images: [{ manifestDigest: image.manifest.digest, platform: "linux/amd64", configDigest: image.config.digest, status: "ok", problems: [] }],
      },
    ]);
    expect(report.images).toEqual([]);
    const text = await runLading(["verify", archiveFile("attested-no-config.tar", bad)]);
    expect(text.stdout).toBe(
      [
        "format: oci-layout",
        "example.com/attested:1",
        `  INVALID  ID ${index.digest}  listed at index.json manifests[0]: 1 problem`,
        `    image linux/amd64 ${image.manifest.digest}  ok`,
        `artifact ${attestation.digest}  application/vnd.oci.empty.v1+json  2 blobs  for ${image.manifest.digest}  INVALID`,
        "archive is INVALID: 1 problem",
        "",
      ].join("\n"),
    );
    expect(text.stderr).toBe(`error: ${message}  (root index.json manifests[0] example.com/attested:1, artifact ${attestation.digest})\n`);
  });

  it("so is one whose config blob does not match its digest", async () => {
    const bad = buildTar(withFile(items, blobPath(empty.digest), "[]"));
    const result = await runLading(["verify", "--json", archiveFile("attested-bad-config.tar", bad)]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { roots: { status: string; images: { manifestDigest: string; status: string }[] }[]; artifacts: unknown[] };
    const actual = sha256(Buffer.from("[]"));
    const message = `${blobPath(attestation.digest)} config: digest ${empty.digest} does not match the content of ${blobPath(empty.digest)} (${actual})`;
    expect(report.artifacts).toEqual([
      { ...artifact, status: "invalid", problems: [{ entry: blobPath(empty.digest), message, digest: empty.digest, compared: "digest", expected: empty.digest, actual }] },
    ]);
    expect(report.roots.map((root) => [root.status, root.images.map((each) => [each.manifestDigest, each.status])])).toEqual([["invalid", [[image.manifest.digest, "ok"]]]]);
  });
});

describe("verify of an archive with a blob whose content does not match its name", () => {
  // Docker 25's combined shape: index.json and a manifest.json whose paths are the blobs/ names.
  const image = makeImage({ seed: "combined" });
  const [layer] = image.layers;
  const layerPath = blobPath(layer!.digest);
  const tampered = Buffer.from(layer!.bytes);
  tampered[512]! ^= 0xff; // the first byte of etc/hello.txt: still a tar, other content
  const actual = sha256(tampered);
  const manifestJson = { Config: blobPath(image.config.digest), RepoTags: ["example.com/combined:1"], Layers: [layerPath] };
  const combined = withFile(
    [...ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "example.com/combined:1" } })] }), { type: "file", name: "manifest.json", content: JSON.stringify([manifestJson]) }],
    layerPath,
    tampered,
  );
  const rootMessage = `${blobPath(image.manifest.digest)} layers[0]: digest ${layer!.digest} does not match the content of ${layerPath} (${actual})`;
  const rootProblem = { entry: layerPath, message: rootMessage, digest: layer!.digest, compared: "digest", expected: layer!.digest, actual };

  it("--json: said once, as the problem of the root and image that use it, not again archive-wide nor as manifest.json's", async () => {
    const result = await runLading(["verify", "--json", archiveFile("combined-tampered.tar", buildTar(combined))]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect([report.format, report.valid, report.images, report.problems]).toEqual(["docker-archive+oci-layout", false, [], [{ entry: layerPath, message: rootMessage }]]);
    expect(report.roots).toEqual([
      {
        listedAt: "index.json manifests[0]",
        digest: image.manifest.digest,
        mediaType: OCI_MANIFEST,
        names: ["example.com/combined:1"],
        status: "invalid",
        problems: [rootProblem],
        images: [{ manifestDigest: image.manifest.digest, platform: null, configDigest: null, status: "invalid", problems: [rootProblem] }],
      },
    ]);
  });

  it("text: one error line, naming the root and image", async () => {
    const result = await runLading(["verify", archiveFile("combined-tampered.tar", buildTar(combined))]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe(
      [
        "format: docker-archive+oci-layout",
        "example.com/combined:1",
        `  INVALID  ID ${image.manifest.digest}  listed at index.json manifests[0]: 1 problem`,
        `    image ${image.manifest.digest}  INVALID`,
        "archive is INVALID: 1 problem",
        "",
      ].join("\n"),
    );
    expect(result.stderr).toBe(`error: ${rootMessage}  (root index.json manifests[0] example.com/combined:1, image ${image.manifest.digest})\n`);
  });

  it("manifest.json alone with blobs/ paths: said once, as the item's diff ID mismatch", async () => {
    const dockerOnly = combined.filter((item) => item.type === "raw" || !["oci-layout", "index.json"].includes(item.name));
    const result = await runLading(["verify", "--json", archiveFile("docker-blobs-tampered.tar", buildTar(dockerOnly))]);
    expect(result.code).toBe(1);
    const message = `manifest.json[0].Layers[0]: layer ${layerPath} has diff ID ${actual}, but ${blobPath(image.config.digest)} rootfs.diff_ids[0] is ${layer!.diffId}`;
    const report = JSON.parse(result.stdout) as { problems: unknown[]; roots: { problems: unknown[] }[] };
    expect(report.problems).toEqual([{ entry: layerPath, message }]);
    expect(report.roots.map((root) => root.problems)).toEqual([[{ entry: layerPath, message, digest: actual, compared: "diffId", expected: layer!.diffId, actual }]]);
  });

  it("a blob no root uses stays an archive-wide problem, its error line naming no root", async () => {
    const stray = blobPath(sha256(Buffer.from("not the content")));
    const items: TarItem[] = [...ociLayoutItems([image]), { type: "file", name: stray, content: "the content" }];
    const message = `${stray}: content does not match its name (content is ${sha256(Buffer.from("the content"))})`;
    const json = await runLading(["verify", "--json", archiveFile("stray.tar", buildTar(items))]);
    const report = JSON.parse(json.stdout) as { problems: unknown[]; roots: { status: string }[] };
    expect([report.problems, report.roots.map((root) => root.status)]).toEqual([[{ entry: stray, message }], ["ok"]]);
    const text = await runLading(["verify", archiveFile("stray.tar", buildTar(items))]);
    expect(text.stderr).toBe(`error: ${message}\n`);
  });
});

describe("the text output of a sound root prints the images that name it in listedAt, wherever they stand in images", () => {
  const one = makeImage({ seed: "one" });
  const two = makeImage({ seed: "two" });
  const named = (image: typeof one, name: string): Record<string, unknown> => descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name } });
  const items = ociLayoutItems([one, two], { indexEntries: [named(one, "example.com/one:1"), named(two, "example.com/two:1")] });
  const imageLines = (image: typeof one, name: string): string[] => [
    name,
    `  ID ${image.manifest.digest}  config ${image.config.digest}  linux/amd64  1 layer`,
    `  manifest ${image.manifest.digest} (original, from the archive)`,
    `    layer ${image.layers[0]!.digest}  diff ID ${image.layers[0]!.diffId}`,
  ];

  it("each image names its root's listedAt", async () => {
    const report = await verifyItems(items);
    expect(report.images.map((image) => [image.listedAt, image.rootDigest])).toEqual([
      ["index.json manifests[0]", one.manifest.digest],
      ["index.json manifests[1]", two.manifest.digest],
    ]);
    expect(report.roots.map((root) => [root.listedAt, root.digest])).toEqual([
      ["index.json manifests[0]", one.manifest.digest],
      ["index.json manifests[1]", two.manifest.digest],
    ]);
  });

  it("images in another order than roots are still printed under their own root", async () => {
    const report = await verifyItems(items);
    const capture = capturingTerminal();
    printSummary(capture.terminal, { ...report, images: [...report.images].reverse() });
    expect(capture.stdout()).toBe(["format: oci-layout", ...imageLines(one, "example.com/one:1"), ...imageLines(two, "example.com/two:1"), "archive is valid", ""].join("\n"));
    expect(capture.stderr()).toBe("");
  });
});
