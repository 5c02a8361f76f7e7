// The save, convert and verify --roundtrip commands as a user runs them: exit codes, messages,
// the terminal refusal, and the all-or-nothing output file.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { Store } from "../../src/store/store.js";
import { readOnlyView } from "../support/read-only-view.js";
import { snapshotTree } from "../support/store-tree.js";
import { blobOf, buildTar, descriptorOf, dockerArchiveItems, ensureBuilt, layerTar, makeImage, OCI_INDEX, OCI_MANIFEST, ociLayoutItems, runLading, signatureArtifact, synthesizedDockerDigest } from "../support/archive-builder.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const haveFixtures = existsSync(join(FIXTURES, "expected.json"));
const SINGLE = join(FIXTURES, "archives", "docker-save-single.tar");
const MULTIPLATFORM = join(FIXTURES, "archives", "oci-archive-multiplatform.tar");
const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lading-save-cli-"));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

class Capture extends Writable {
  chunks: Buffer[] = [];
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(Buffer.from(chunk));
    callback();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.bytes.toString("utf8");
  }
}

async function lading(root: string, args: string[], options: { stdoutIsTTY?: boolean } = {}): Promise<{ code: number; stdout: Capture; stderr: Capture }> {
  const stdout = new Capture(options.stdoutIsTTY ?? false);
  const stderr = new Capture();
  const code = await main(["node", "lading", "--root", root, ...args], { stdout, stderr });
  return { code, stdout, stderr };
}

describe.skipIf(!haveFixtures)("lading save", () => {
  it("refuses to write an archive to a terminal, as docker does", async () => {
    const root = tempDir();
    const result = await lading(root, ["save", "busybox"], { stdoutIsTTY: true });
    expect([result.code, result.stdout.text, result.stderr.text]).toEqual([
      2,
      "",
      "lading: usage error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n",
    ]);
  });

  it("-o writes the archive under its name only at the end; the same bytes as standard output", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    const out = tempDir();
    const file = join(out, "single.tar");
    const saved = await lading(root, ["save", "-q", "-o", file, "fixture/imported:1.0"]);
    expect([saved.code, saved.stdout.text, saved.stderr.text]).toEqual([0, "", ""]);
    expect(readdirSync(out)).toEqual(["single.tar"]);
    const piped = await lading(root, ["save", "-q", "fixture/imported:1.0"]);
    expect(sha256(piped.stdout.bytes)).toBe(sha256(readFileSync(file)));
    // Without -q the synthesised manifest is pointed out, on standard error.
    const noted = await lading(root, ["save", "-o", file, "fixture/imported:1.0"]);
    expect(noted.stderr.text).toBe(
      "note: fixture/imported:1.0 has a manifest synthesized by lading (sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1), not a registry digest\n",
    );
  });

  it("-o into a FIFO writes into it; through a symbolic link writes the file it names; a directory, a socket or a missing directory is refused before anything is written", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    const expected = sha256((await lading(root, ["save", "-q", "fixture/imported:1.0"])).stdout.bytes);
    const out = tempDir();
    const fifo = join(out, "fifo");
    execFileSync("mkfifo", [fifo]);
    const [viaFifo, read] = await Promise.all([lading(root, ["save", "-q", "-o", fifo, "fixture/imported:1.0"]), readFile(fifo)]);
    expect([viaFifo.code, viaFifo.stderr.text, sha256(read), lstatSync(fifo).isFIFO()]).toEqual([0, "", expected, true]);
    const real = join(out, "real.tar");
    writeFileSync(real, "old");
    symlinkSync(real, join(out, "link.tar"));
    expect((await lading(root, ["save", "-q", "-o", join(out, "link.tar"), "fixture/imported:1.0"])).code).toBe(0);
    expect([lstatSync(join(out, "link.tar")).isSymbolicLink(), sha256(readFileSync(real))]).toEqual([true, expected]);
    const socket = join(out, "socket");
    const server = createServer().listen(socket);
    await once(server, "listening");
    try {
      for (const [target, what] of [[out, "a directory"], [socket, "a socket"]]) {
        const refused = await lading(root, ["save", "-q", "-o", target as string, "fixture/imported:1.0"]);
        expect([refused.code, refused.stderr.text]).toEqual([1, `lading: error: cannot write the archive to ${target}: it is ${what}\n`]);
      }
    } finally {
      server.close();
    }
    const nowhere = join(out, "no", "x.tar");
    const missing = await lading(root, ["save", "-q", "-o", nowhere, "fixture/imported:1.0"]);
    expect([missing.code, missing.stderr.text]).toEqual([1, `lading: error: cannot write the archive to ${nowhere}: no such directory ${join(out, "no")}\n`]);
    expect(readdirSync(out).sort()).toEqual(["fifo", "link.tar", "real.tar"]); // the socket went with its server
  });

  it("-o through a dangling symbolic link, or a chain of them, creates the file at the end and keeps the links, as docker save -o does", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    const expected = sha256((await lading(root, ["save", "-q", "fixture/imported:1.0"])).stdout.bytes);
    const out = tempDir();
    mkdirSync(join(out, "sub", "deep"), { recursive: true });
    symlinkSync("target.tar", join(out, "link.tar"));
    // Each link is read relative to the real directory that holds it, as the kernel reads it:
    // alias/hop is sub/deep/hop, so its ../final.tar is sub/final.tar (not out/final.tar).
    symlinkSync("sub/deep", join(out, "alias"));
    symlinkSync("alias/hop", join(out, "chain.tar"));
    symlinkSync("../final.tar", join(out, "sub", "deep", "hop"));
    for (const link of ["link.tar", "chain.tar"]) {
      const saved = await lading(root, ["save", "-q", "-o", join(out, link), "fixture/imported:1.0"]);
      expect([saved.code, saved.stderr.text]).toEqual([0, ""]);
    }
    const links = ["link.tar", "chain.tar", "alias", "sub/deep/hop"].map((link) => lstatSync(join(out, link)).isSymbolicLink());
    expect(links).toEqual([true, true, true, true]);
    expect([sha256(readFileSync(join(out, "target.tar"))), sha256(readFileSync(join(out, "sub", "final.tar")))]).toEqual([expected, expected]);
    expect([readdirSync(out).sort(), readdirSync(join(out, "sub")).sort()]).toEqual([
      ["alias", "chain.tar", "link.tar", "sub", "target.tar"],
      ["deep", "final.tar"],
    ]);
    symlinkSync("nodir/x.tar", join(out, "nowhere.tar"));
    const missing = await lading(root, ["save", "-q", "-o", join(out, "nowhere.tar"), "fixture/imported:1.0"]);
    expect([missing.code, missing.stderr.text]).toEqual([1, `lading: error: cannot write the archive to ${join(out, "nowhere.tar")}: no such directory ${join(out, "nodir")}\n`]);
    expect(lstatSync(join(out, "nowhere.tar")).isSymbolicLink()).toBe(true);
  });

  it("a store that cannot be written (a read-only mount, or one this user may only read) still saves the same bytes; tag there fails in one line and changes nothing", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    const out = tempDir();
    expect((await lading(root, ["save", "-q", "-o", join(out, "writable.tar"), "fixture/imported:1.0"])).code).toBe(0);
    const readOnly = readOnlyView(root, tempDir());
    try {
      const before = await snapshotTree(readOnly.path);
      for (const format of ["docker", "oci"]) {
        const saved = await lading(readOnly.path, ["save", "-q", "--format", format, "-o", join(out, `${format}.tar`), "fixture/imported:1.0"]);
        expect([saved.code, saved.stderr.text]).toEqual([0, ""]);
      }
      expect(readFileSync(join(out, "docker.tar")).equals(readFileSync(join(out, "writable.tar")))).toBe(true);
      expect((await lading(tempDir(), ["verify", join(out, "oci.tar")])).code).toBe(0);
      const tagged = await lading(readOnly.path, ["tag", "fixture/imported:1.0", "other:1"]);
      expect(tagged.code).toBe(1);
      expect(tagged.stderr.text).toMatch(/^lading: error: cannot take the lock \S+repositories\.json\.lock: E(ROFS|ACCES)\b[^\n]*\n$/);
      expect(await snapshotTree(readOnly.path)).toEqual(before);
    } finally {
      readOnly.release();
    }
  });

  it("an empty -o, or an empty OUT of convert, is a usage error before the store or any file is touched", async () => {
    const root = join(tempDir(), "store");
    const cwd = tempDir();
    const previous = process.cwd();
    process.chdir(cwd);
    try {
      const saved = await lading(root, ["save", "-q", "-o", "", "fixture/imported:1.0"]);
      expect([saved.code, saved.stdout.text, saved.stderr.text]).toEqual([2, "", "lading: usage error: -o: the output file name must not be empty (- is standard output)\n"]);
      const converted = await lading(root, ["convert", "-q", SINGLE, ""]);
      expect([converted.code, converted.stdout.text, converted.stderr.text]).toEqual([
        2,
        "",
        "lading: usage error: OUT: the output file name must not be empty (- is standard output)\n",
      ]);
    } finally {
      process.chdir(previous);
    }
    expect([existsSync(root), readdirSync(cwd)]).toEqual([false, []]);
  });

  it("an OUT of convert that is its IN (the same name, a symbolic or a hard link) is a usage error, and the input is left as it was", async () => {
    const dir = tempDir();
    const input = join(dir, "in.tar");
    writeFileSync(input, readFileSync(SINGLE));
    symlinkSync("in.tar", join(dir, "symbolic.tar"));
    execFileSync("ln", [input, join(dir, "hard.tar")]);
    for (const output of [input, join(dir, "symbolic.tar"), join(dir, "hard.tar")]) {
      const converted = await lading(join(dir, "store"), ["convert", "-q", input, output]);
      expect([converted.code, converted.stdout.text, converted.stderr.text]).toEqual([
        2,
        "",
        `lading: usage error: OUT: ${output} is the input archive ${input}: write to another file (the new archive would replace its input)\n`,
      ]);
    }
    expect([readFileSync(input).equals(readFileSync(SINGLE)), readdirSync(dir).sort()]).toEqual([true, ["hard.tar", "in.tar", "symbolic.tar"]]);
  });

  it("an OUT of convert that standard input is redirected from, or that lies inside an input directory, is a usage error too; an OUT that cannot be looked at is left to the write", async () => {
    ensureBuilt();
    const dir = tempDir();
    const input = join(dir, "in.tar");
    writeFileSync(input, readFileSync(SINGLE));
    const fromStdin = spawnSync(process.execPath, [join(import.meta.dirname, "..", "..", "bin", "lading.js"), "convert", "-q", "-", input], { stdio: [openSync(input, "r"), "pipe", "pipe"], encoding: "utf8" });
    expect([fromStdin.status, fromStdin.stderr]).toEqual([2, `lading: usage error: OUT: ${input} is the input archive standard input: write to another file (the new archive would replace its input)\n`]);
    const layout = join(dir, "layout");
    mkdirSync(layout);
    execFileSync("tar", ["-xf", input, "-C", layout]);
    for (const output of [join(layout, "manifest.json"), join(layout, "new.tar")]) {
      const converted = await lading(join(dir, "store"), ["convert", "-q", layout, output]);
      expect([converted.code, converted.stderr.text]).toEqual([2, `lading: usage error: OUT: ${output} is inside the input directory ${layout}: write outside it (the new archive would replace or add to its files)\n`]);
    }
    const underFile = await lading(join(dir, "store"), ["convert", "-q", input, join(input, "x.tar")]);
    expect([underFile.code, underFile.stderr.text]).toEqual([1, `lading: error: cannot write the archive to ${join(input, "x.tar")}: not a directory\n`]);
    expect(readFileSync(input).equals(readFileSync(SINGLE))).toBe(true);
  });

  it("an empty -i of load, ARCHIVE of verify or IN of convert is a usage error before the store is touched", async () => {
    const root = join(tempDir(), "store");
    const out = tempDir();
    const refusal = (argument: string): string => `lading: usage error: ${argument}: the input file name must not be empty (- is standard input)\n`;
    for (const [args, argument] of [
      [["load", "-i", ""], "-i"],
      [["verify", ""], "ARCHIVE"],
      [["verify", "--roundtrip", ""], "ARCHIVE"],
      [["convert", "", join(out, "x.tar")], "IN"],
    ] as const) {
      const result = await lading(root, [...args]);
      expect([result.code, result.stdout.text, result.stderr.text]).toEqual([2, "", refusal(argument)]);
    }
    expect([existsSync(root), readdirSync(out)]).toEqual([false, []]);
  });

  it("a failed save leaves no file and no temp file behind", async () => {
    const root = tempDir();
    const out = tempDir();
    const result = await lading(root, ["save", "-o", join(out, "x.tar"), "nosuch:1.0"]);
    expect([result.code, result.stderr.text]).toEqual([1, "lading: error: No such image: nosuch:1.0\n"]);
    expect(readdirSync(out)).toEqual([]);
  });

  it("rejects unknown formats and compressions, and a malformed --platform of save, load and pull, as usage errors", async () => {
    const root = tempDir();
    expect((await lading(root, ["save", "--format", "tgz", "x"])).stderr.text).toBe('lading: usage error: --format must be docker or oci, got "tgz"\n');
    expect((await lading(root, ["save", "--compress", "xz", "x"])).stderr.text).toBe('lading: usage error: --compress must be gzip or zstd, got "xz"\n');
    for (const args of [["save", "--platform", "windowz", "x"], ["load", "--platform", "windowz", "-i", SINGLE], ["pull", "--platform", "windowz", "x"]]) {
      const result = await lading(root, args);
      expect([result.code, result.stderr.text]).toEqual([2, 'lading: usage error: --platform: invalid platform "windowz": unknown operating system or architecture; want os/arch[/variant]\n']);
    }
  });

  it("--platform: a sparse save says so; a platform the image lacks fails clearly", async () => {
    const root = tempDir();
    const loaded = await lading(root, ["load", "-i", MULTIPLATFORM]);
    const id = "sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355";
    expect(loaded.stdout.text).toBe(`Loaded image ID: ${id}\n`);
    const sparse = await lading(root, ["save", "--platform", "linux/arm64", id]);
    expect([sparse.code, sparse.stderr.text]).toEqual([0, `note: ${id} is saved sparse: linux/amd64 not in the archive\n`]);
    const missing = await lading(root, ["save", "--platform", "linux/s390x", id]);
    expect([missing.code, missing.stderr.text]).toEqual([1, `lading: error: image ${id} has no linux/s390x manifest (it has linux/amd64, linux/arm64)\n`]);
  });
});

describe.skipIf(!haveFixtures)("lading convert and verify --roundtrip", () => {
  it("--format oci of an image with a Docker manifest notes that skopeo and umoci do not find it by its tag (not with -q, not for --format docker); --json gives each image's media type", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    const file = join(tempDir(), "out.tar");
    const saved = await lading(root, ["save", "--format", "oci", "-o", file, "fixture/imported:1.0"]);
    const id = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
    expect([saved.code, saved.stdout.text, saved.stderr.text]).toEqual([
      0,
      "",
      `note: fixture/imported:1.0 has a manifest synthesized by lading (${id}), not a registry digest\n` +
        "note: fixture/imported:1.0 has a Docker manifest (application/vnd.docker.distribution.manifest.v2+json), written as it is to keep its digest: skopeo's oci-archive:FILE:TAG and umoci do not find it by its tag in an OCI layout (oci-archive:FILE of a one-image archive, and --format docker, do)\n",
    ]);
    expect((await lading(root, ["save", "-q", "--format", "oci", "-o", file, "fixture/imported:1.0"])).stderr.text).toBe("");
    expect((await lading(root, ["save", "--format", "docker", "-o", file, "fixture/imported:1.0"])).stderr.text).not.toContain("Docker manifest");
    const json = await lading(root, ["save", "--json", "--format", "oci", "-o", file, "fixture/imported:1.0"]);
    expect((JSON.parse(json.stdout.text) as { images: { mediaType: string }[] }).images.map((image) => image.mediaType)).toEqual(["application/vnd.docker.distribution.manifest.v2+json"]);
    // An OCI manifest gets no such note.
    const oci = await lading(tempDir(), ["convert", "--format", "oci", MULTIPLATFORM, join(tempDir(), "converted.tar")]);
    expect([oci.code, oci.stderr.text]).toEqual([0, ""]);
  });

  it("--format oci of two images with one tag in different repositories notes that they share a ref.name (not with -q, not for --format docker)", async () => {
    const root = tempDir();
    expect((await lading(root, ["load", "-q", "-i", SINGLE])).code).toBe(0);
    expect((await lading(root, ["load", "-q", "--name", "multi", "-i", MULTIPLATFORM])).code).toBe(0);
    const file = join(tempDir(), "out.tar");
    const saved = await lading(root, ["save", "--format", "oci", "-o", file, "multi:1.0", "fixture/imported:1.0", "fixture/imported:latest"]);
    expect(saved.code).toBe(0);
    expect(saved.stderr.text.split("\n").filter((line) => line.includes("ref.name"))).toEqual([
      `note: ref.name "1.0" is the tag of 2 images (fixture/imported:1.0, multi:1.0): skopeo's oci-archive:FILE:1.0 picks one of them without a word; lading and ctr tell them apart by their full names`,
    ]);
    expect((await lading(root, ["save", "-q", "--format", "oci", "-o", file, "multi:1.0", "fixture/imported:1.0"])).stderr.text).toBe("");
    expect((await lading(root, ["save", "--format", "docker", "-o", file, "multi:1.0", "fixture/imported:1.0"])).stderr.text).not.toContain("ref.name");
    // One image under two tags of one ref.name ("latest" of two repositories) is no ambiguity.
    expect((await lading(root, ["tag", "fixture/imported:1.0", "other/imported:latest"])).code).toBe(0);
    expect((await lading(root, ["save", "--format", "oci", "-o", file, "fixture/imported:latest", "other/imported:latest"])).stderr.text).not.toContain("ref.name");
  });

  it("convert writes an OCI archive that verify accepts with the original digests, and --json reports it", async () => {
    const out = tempDir();
    const file = join(out, "converted.tar");
    const converted = await lading(tempDir(), ["convert", "--format", "oci", MULTIPLATFORM, file]);
    // The oci layout carries the input's bare tag "1.0" as it is: nothing is left out, nothing to note.
    expect([converted.code, converted.stdout.text, converted.stderr.text]).toEqual([0, "Converted oci-layout to oci: 1 image\n", ""]);
    expect(readdirSync(out)).toEqual(["converted.tar"]);
    const verified = await lading(tempDir(), ["verify", "--json", file]);
    const report = JSON.parse(verified.stdout.text) as { valid: boolean; format: string; images: { manifestDigest: string }[] };
    expect([report.valid, report.format, report.images.map((image) => image.manifestDigest)]).toEqual([
      true,
      "oci-layout",
      ["sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7", "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171"],
    ]);
  });

  it("verify --roundtrip prints the digests that came back and exits 0", async () => {
    const result = await lading(tempDir(), ["verify", "--roundtrip", SINGLE]);
    expect([result.code, result.stderr.text]).toEqual([0, ""]);
    expect(result.stdout.text).toBe(
      [
        "fixture/imported:1.0, fixture/imported:latest, imported-plain:latest, localhost:5000/team/imported:v1",
        "  manifest sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1 (synthesized by lading: stable across trips, not a registry digest)",
        "  linux/amd64  manifest sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1  config sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b",
        "    layer sha256:83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e  diff ID sha256:83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e",
        "round trip is exact: 1 image came back with the same digests",
        "",
      ].join("\n"),
    );
  });

  it("verify --roundtrip of an input named by bare tags proves every digest, notes the names the docker layout leaves out, and does not call it exact", async () => {
    const result = await lading(tempDir(), ["verify", "--roundtrip", join(import.meta.dirname, "..", "..", "testdata", "oci-layout")]);
    const base = "sha256:6fb75827e642046b4c6ce9265e77e8cf6ea5476eceb3af6b2d55b2c7aba4127a";
    const app = "sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e";
    const baseLayer = "    layer sha256:4f79cd55a52ae15d49cd6e66fd53a4f6f9da8fa4cbb680f7b9408c604437c4b7  diff ID sha256:b0b0b40760f83092286075f76efe6752a9ed7d49f37a86c7212c5524c9618b6d";
    expect([result.code, result.stdout.text, result.stderr.text]).toEqual([
      0,
      [
        "base (bare tag)",
        `  manifest ${base} (original)`,
        `  linux/amd64  manifest ${base}  config sha256:923ca15e43e80e59804bbff69666f7b81d2ca33d520762fa49f757834097615c`,
        baseLayer,
        "app (bare tag)",
        `  manifest ${app} (original)`,
        `  linux/amd64  manifest ${app}  config sha256:fb5b2ad6a24aa54f8c9ca0f7cdf584eb08a611b5ae9cf62d54baa695825784c0`,
        baseLayer,
        "    layer sha256:d4f586709eb31a4672d7c1ce1b5d234e0de6a204a12b411f1d59e5e349b32f12  diff ID sha256:3a6ff1411ef31e0809b97311113999a8162994198393dc92dcb60acc4cb52bb5",
        "    layer sha256:9394608a86aa6ab14f23d70fdf3c8d35290506ccbd6c3fe77ef720e7c0c87393  diff ID sha256:c6c1569335936a677e9a5aeb8015298c79cc6167bbeb06843ce2e447b8427d95",
        "round trip kept every digest: 2 images came back with the same digests, but 2 names the docker layout cannot carry were left out",
        "",
      ].join("\n"),
      `note: ${base}: bare tag base is left out: the docker layout names an image only as repository:tag\n` +
        `note: ${app}: bare tag app is left out: the docker layout names an image only as repository:tag\n`,
    ]);
  });

  it("verify --roundtrip fails, naming it, when a name of the input does not come back on its image", async () => {
    // Two images claim example/app:1; the store keeps the last, so the first loses the name.
    const first = makeImage({ seed: "first" });
    const second = makeImage({ seed: "second" });
    const archive = join(tempDir(), "claimed.tar");
    writeFileSync(archive, buildTar(dockerArchiveItems([
      { image: first, repoTags: ["example/app:1", "example/first:1"] },
      { image: second, repoTags: ["example/app:1"] },
    ])));
    const result = await lading(tempDir(), ["verify", "--roundtrip", archive]);
    expect([result.code, result.stdout.text.split("\n").at(-2), result.stderr.text]).toEqual([
      1,
      "round trip FAILED: the saved archive differs from the input",
      // verify's warning first: it says why the name moved.
      `warning: docker.io/example/app:1 names 2 images, ${synthesizedDockerDigest(first)} (manifest.json[0]) and ${synthesizedDockerDigest(second)} (manifest.json[1]): ` +
        `a load gives it to the last, as docker load does, and leaves ${synthesizedDockerDigest(first)} without it\n` +
        "error: example/app:1: name docker.io/example/app:1: in the input, not in the saved archive\n",
    ]);
  });

  it("verify --roundtrip --format oci carries an artifact the docker layout cannot list; without it, --json still prints one document naming the refusal", async () => {
    const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
    const payload = blobOf("sbom\n", "application/vnd.example.payload");
    const artifact = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sbom", config: descriptorOf(empty), layers: [descriptorOf(payload)] }), OCI_MANIFEST);
    const archive = join(tempDir(), "artifact.tar");
    writeFileSync(archive, buildTar(ociLayoutItems([], { indexEntries: [descriptorOf(artifact, { annotations: { "io.containerd.image.name": "example.com/sbom:1" } })], extraBlobs: [artifact, empty, payload] })));
    const oci = await lading(tempDir(), ["verify", "--roundtrip", "--format", "oci", archive]);
    expect([oci.code, oci.stdout.text.split("\n").at(-2), oci.stderr.text]).toEqual([0, "round trip is exact: 1 artifact came back with the same digests", ""]);
    const refusal = `example.com/sbom:1 is not a container image (${artifact.digest} has no image config), so docker's manifest.json cannot list it: save it with --format oci`;
    const docker = await lading(tempDir(), ["verify", "--roundtrip", "--json", archive]);
    expect([docker.code, JSON.parse(docker.stdout.text), docker.stderr.text]).toEqual([1, { schemaVersion: 1, valid: false, exact: false, format: "docker", images: [], problems: [refusal], warnings: [] }, ""]);
    const plain = await lading(tempDir(), ["verify", "--format", "oci", archive]);
    expect([plain.code, plain.stdout.text, plain.stderr.text]).toEqual([2, "", "lading: usage error: --format goes with --roundtrip: a plain verify saves nothing\n"]);
  });

  it("the docker layout carries an untagged artifact in index.json alone (manifest.json lists images), and the trip is exact", async () => {
    const image = makeImage({ seed: "beside-artifact" });
    const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("sig\n", "application/vnd.example.payload"));
    const dir = tempDir();
    const archive = join(dir, "image-and-artifact.tar");
    const entries = [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/app:1", "org.opencontainers.image.ref.name": "1" } }), descriptorOf(artifact)];
    writeFileSync(archive, buildTar(ociLayoutItems([image], { indexEntries: entries, extraBlobs: artifactBlobs })));
    const converted = await lading(dir, ["convert", "-q", archive, join(dir, "out.tar")]);
    expect([converted.code, converted.stderr.text]).toEqual([0, ""]);
    const member = (name: string): string => execFileSync("tar", ["-xOf", join(dir, "out.tar"), name], { encoding: "utf8" });
    const ordered = [...entries].sort((a, b) => (String(a.digest) < String(b.digest) ? -1 : 1));
    expect(JSON.parse(member("index.json"))).toEqual({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: ordered });
    expect(member("manifest.json")).toBe(
      `${JSON.stringify([{ Config: `blobs/sha256/${image.config.digest.slice(7)}`, RepoTags: ["example/app:1"], Layers: image.layers.map((layer) => `blobs/sha256/${layer.digest.slice(7)}`) }])}\n`,
    );
    const trip = await lading(dir, ["verify", "--roundtrip", archive]);
    expect([trip.code, trip.stdout.text, trip.stderr.text]).toEqual([
      0,
      [
        "example/app:1",
        `  manifest ${image.manifest.digest} (original)`,
        `  linux/amd64  manifest ${image.manifest.digest}  config ${image.config.digest}`,
        // An uncompressed layer: its diff ID is its digest.
        `    layer ${image.layers[0]!.digest}  diff ID ${image.layers[0]!.digest}`,
        "<untagged>",
        `  manifest ${artifact.digest} (original)`,
        "round trip is exact: 1 image and 1 artifact came back with the same digests",
        "",
      ].join("\n"),
      "",
    ]);
  });

  it("verify --roundtrip counts a sparse index that holds none of its platform images as an image, not an artifact", async () => {
    const absent = makeImage({ seed: "sparse-child", architecture: "arm64" });
    const index = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(absent.manifest, { platform: { architecture: "arm64", os: "linux" } })] }), OCI_INDEX);
    const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("sig\n", "application/vnd.example.payload"));
    const image = makeImage({ seed: "beside-sparse" });
    const entries = [descriptorOf(index, { annotations: { "org.opencontainers.image.ref.name": "sparse" } }), descriptorOf(artifact), descriptorOf(image.manifest)];
    const archive = join(tempDir(), "sparse-and-artifact.tar");
    writeFileSync(archive, buildTar(ociLayoutItems([image], { indexEntries: entries, extraBlobs: [index, ...artifactBlobs] })));
    const trip = await lading(tempDir(), ["verify", "--roundtrip", archive]);
    expect([trip.code, trip.stdout.text.split("\n").at(-2), trip.stderr.text]).toEqual([
      0,
      "round trip kept every digest: 2 images and 1 artifact came back with the same digests, but 1 name the docker layout cannot carry was left out",
      `note: ${index.digest}: bare tag sparse is left out: the docker layout names an image only as repository:tag\n`,
    ]);
  });

  it("verify --roundtrip of a broken archive fails with exit 1", async () => {
    const result = await lading(tempDir(), ["verify", "--roundtrip", join(FIXTURES, "bad", "missing-config.tar")]);
    expect([result.code, result.stdout.text, result.stderr.text]).toEqual([
      1,
      "",
      'lading: error: manifest.json[0].Config: "0000000000000000000000000000000000000000000000000000000000000000.json" is not in the archive\n',
    ]);
  });
});

describe.skipIf(!haveFixtures)("an archive on standard output, as a spawned lading writes it", () => {
  it("a reader that goes away early fails save and convert (exit 1, one line); a listing cut short is no failure", async () => {
    ensureBuilt();
    const dir = tempDir();
    // Larger than a pipe's buffer, so that the writes meet the closed pipe.
    const big = makeImage({ layers: [layerTar({ "data.bin": randomBytes(768 * 1024).toString("base64") })] });
    const archive = join(dir, "big.tar");
    writeFileSync(archive, buildTar(dockerArchiveItems([{ image: big, repoTags: ["example/big:1"] }])));
    const root = join(dir, "store");
    expect((await runLading(["--root", root, "load", "-q", "-i", archive])).code).toBe(0);
    const bin = join(import.meta.dirname, "..", "..", "bin", "lading.js");
    const cut = (args: string): { code: number; stderr: string } => {
      const run = spawnSync("bash", ["-c", `"${process.execPath}" "${bin}" --root "${root}" ${args} | head -c 10 >/dev/null; exit \${PIPESTATUS[0]}`], { encoding: "utf8" });
      return { code: run.status ?? -1, stderr: run.stderr };
    };
    const closed = { code: 1, stderr: "lading: error: the output closed before the archive was complete\n" };
    expect(cut("save example/big:1")).toEqual(closed);
    expect(cut("image save example/big:1")).toEqual(closed);
    expect(cut("save --compress gzip example/big:1")).toEqual(closed);
    expect(cut(`convert "${archive}" -`)).toEqual(closed);
    expect(cut("images")).toEqual({ code: 0, stderr: "" });
  });

  it("a damaged blob under --compress fails in one line, without a stack trace", async () => {
    ensureBuilt();
    const root = join(tempDir(), "store");
    expect((await runLading(["--root", root, "load", "-q", "-i", SINGLE])).code).toBe(0);
    const store = await Store.open(root);
    const [record] = await store.records.list();
    const layer = record!.images[0]!.layers[0]!.digest;
    const file = store.content.blobPath(layer);
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    writeFileSync(file, bytes);
    for (const compress of ["gzip", "zstd"]) {
      const result = await runLading(["--root", root, "save", "--compress", compress, "fixture/imported:1.0"]);
      expect([result.code, result.stderr.split("\n").length, result.stderr.startsWith(`lading: error: blob ${layer} in the store has content sha256:`)]).toEqual([1, 2, true]);
    }
  });
});
