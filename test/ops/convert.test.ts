// convert's streaming path against its reference: every fixture (../shared/fixtures and testdata/,
// good and bad) converted to both layouts gives byte for byte the archive that loading it into an
// empty store and saving everything gives (pinned below, and compared live), or the same one-line
// refusal; from a file (blobs re-read from the input), from a stream (blobs spooled) and from a
// layout directory; into a stream and straight into a new file (the direct path of `convert IN
// OUT`). The spool directory never outlives a conversion.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, type WriteStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { indexTarFile } from "../../src/archive/tar-offsets.js";
import { LadingError } from "../../src/core/errors.js";
import { main } from "../../src/cli/main.js";
import { openArchivePath, openTarStream, type OpenedSource } from "../../src/archive/source.js";
import { convertArchive, convertViaStore, type ConvertOptions } from "../../src/ops/convert.js";
import { saveToFile } from "../../src/ops/save.js";
import type { LayoutFormat } from "../../src/archive/write-layout.js";
import { readTar } from "../../src/tar/reader.js";
import {
  blobOf,
  buildTar,
  descriptorOf,
  gnuLongRecord,
  layerTar,
  makeImage,
  OCI_INDEX,
  ociLayoutItems,
  sha256,
  signatureArtifact,
  tarEntry,
  verifyBytes,
  withFile,
  type TarItem,
} from "../support/archive-builder.js";
import { requirePeers } from "../support/peers.js";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURES = join(ROOT, "..", "shared", "fixtures");
const haveFixtures = existsSync(join(FIXTURES, "expected.json"));

/**
 * sha256 of convertViaStore's output (or its error), made with the store path before the streaming
 * path existed, on linux/amd64; the oci outputs of inputs named by bare tags remade once the oci
 * layout carried those tags.
 */
const REFERENCE: Record<string, string> = {
  "fixtures/archives/ctr-export.tar docker": "ee41daedd47bf9c4e0f0ecaeaa095aefd30508bedf4c1dfb1aa22c69b523b79b",
  "fixtures/archives/ctr-export.tar oci": "b3e5fd9db34f1f39883ca1d3249ccae1678a3366b99c9594d4d4c3cf5cf1f655",
  "fixtures/archives/docker-save-multi.tar docker": "1cb0736b693047eb6141f556aed66da8b319fc25919fa8439422ab5981ec611d",
  "fixtures/archives/docker-save-multi.tar oci": "07b1ce4d90c27f880631fd0de8be3e43ef2939ec50ccb5de1cd6ede0bcb4a7ea",
  "fixtures/archives/docker-save-single.tar docker": "e47e1c72c2ac5d8c1d4f52227b0ed3a3314de8bf93fabf8c3b0f31469317569c",
  "fixtures/archives/docker-save-single.tar oci": "0cd10a3994284faab39f9e03ff32c7614b0bb0f6d4e947ba37839c3d5e642b69",
  "fixtures/archives/oci-archive-multiplatform.tar docker": "caf0b6077021c4894a05feaf334584b7d0311bcaf9f334556f01a8a6c3164535",
  "fixtures/archives/oci-archive-multiplatform.tar oci": "a3846f186c5370f053713380f9a2dacec7c496280185a25447e62e62d67f96cc",
  "fixtures/archives/skopeo-docker-archive.tar docker": "a89cd47e35d4d926b64dee7253dc2083aa11d41946d7bd71fbc40b263860f321",
  "fixtures/archives/skopeo-docker-archive.tar oci": "3618c0fdd4d83e3db2dcb60dde11b409eb131da3d07012a3e9052430e280a39d",
  "fixtures/archives/skopeo-oci-archive.tar docker": "5ec44cbbef105d45b09c0038039fe5271998b778bccde0fbd4c58c36475e488e",
  "fixtures/archives/skopeo-oci-archive.tar oci": "a99a2073442b00a92d9c812845a80d1dc4fe445de2d44f2ab97c2521f00d89e0",
  "fixtures/layouts/oci-umoci-gzip docker": "04b7fbcd24adbbc8039e479395cdcf2f9428382ccef4913195594a11bf0d0803",
  "fixtures/layouts/oci-umoci-gzip oci": "05f55853669d81243925bbe869c455edc839e71bfe25b2c8d55d60fa2e8a0bce",
  "fixtures/bad/GOOD-baseline.tar docker": "d3842d35179f103d821dc542826c48fb71350e75cc97efb193d27ea78ca1cad6",
  "fixtures/bad/GOOD-baseline.tar oci": "79ec169cacad6d9462c4bc5efc149afadccedefe9a4f1bd289bf23e2d61dbdec",
  "fixtures/bad/diffid-mismatch.tar docker": "error: manifest.json[0].Layers[0]: layer bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar has diff ID sha256:554d7e7509a1a339e1ead60d7b9edcfc6b8e0751e420322f30b8e9a53d9ad97a, but 586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11.json rootfs.diff_ids[0] is sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
  "fixtures/bad/diffid-mismatch.tar oci": "error: manifest.json[0].Layers[0]: layer bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar has diff ID sha256:554d7e7509a1a339e1ead60d7b9edcfc6b8e0751e420322f30b8e9a53d9ad97a, but 586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11.json rootfs.diff_ids[0] is sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
  "fixtures/bad/layer-dotdot-entry.tar docker": "error: manifest.json[0].Layers[1]: layer e3fe5c71e1748beecff57115ddc34fc4df0d27f9399e4b764cdbb783f4e05e9b.tar: layer tar entry \"../evil\" escapes the root",
  "fixtures/bad/layer-dotdot-entry.tar oci": "error: manifest.json[0].Layers[1]: layer e3fe5c71e1748beecff57115ddc34fc4df0d27f9399e4b764cdbb783f4e05e9b.tar: layer tar entry \"../evil\" escapes the root",
  "fixtures/bad/manifest-layer-path-traversal.tar docker": "error: manifest.json[0].Layers[0]: unsafe path \"../../../../../../etc/hostname\": unsafe entry name \"../../../../../../etc/hostname\": \"..\" component",
  "fixtures/bad/manifest-layer-path-traversal.tar oci": "error: manifest.json[0].Layers[0]: unsafe path \"../../../../../../etc/hostname\": unsafe entry name \"../../../../../../etc/hostname\": \"..\" component",
  "fixtures/bad/missing-config.tar docker": "error: manifest.json[0].Config: \"0000000000000000000000000000000000000000000000000000000000000000.json\" is not in the archive",
  "fixtures/bad/missing-config.tar oci": "error: manifest.json[0].Config: \"0000000000000000000000000000000000000000000000000000000000000000.json\" is not in the archive",
  "fixtures/bad/no-manifest.tar docker": "error: not an image archive: it has neither manifest.json nor oci-layout and index.json",
  "fixtures/bad/no-manifest.tar oci": "error: not an image archive: it has neither manifest.json nor oci-layout and index.json",
  "fixtures/bad/truncated.tar docker": "error: unexpected end of archive in entry \"bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar\" (got 21604 of 30208 bytes)",
  "fixtures/bad/truncated.tar oci": "error: unexpected end of archive in entry \"bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar\" (got 21604 of 30208 bytes)",
  "testdata/docker-archive.tar docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-archive.tar oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/docker-archive.tar.bz2 docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-archive.tar.bz2 oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/docker-archive.tar.gz docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-archive.tar.gz oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/docker-archive.tar.xz docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-archive.tar.xz oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/docker-archive.tar.zst docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-archive.tar.zst oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/docker-save.tar docker": "74ce874f2c404172ae7ede28ffcb305958321d6aab90b0af028f1511bc24cebc",
  "testdata/docker-save.tar oci": "68635fc72de0570835f683a6f53c3365afc693f73dd162fd9b39724be8db343e",
  "testdata/oci-archive.tar docker": "2456d31b29d442878ced40ded4dcb70ca3c2b08d1b33cfb04fb6229596250b08",
  "testdata/oci-archive.tar oci": "c61258cd6c27a681d69aa73336cd7c45b3591ae79446e26967d49491c5489830",
  "testdata/oci-layout docker": "8b2e2e79b6ed284dc6fa48bd98ee70ae57b1ff179230016bbdb81ceb59823ea9",
  "testdata/oci-layout oci": "f19db84d8f70d76622f29604245b021a3ed63eb6f21dc8bac54779f2a579bcd3",
  "testdata/oci-multiplatform.tar docker": "cb10685b150b3b515f03889b7c604a7db32caacfe7a7923e604f236c05dc34f0",
  "testdata/oci-multiplatform.tar oci": "a16e3b1f08e51ed2c9ad56788f6114992eb361c64b976549ffe53821245aa903",
};

function inputs(): string[] {
  const list: string[] = [];
  for (const dir of ["archives", "layouts", "bad"]) for (const name of readdirSync(join(FIXTURES, dir)).sort()) list.push(`fixtures/${dir}/${name}`);
  for (const name of readdirSync(join(ROOT, "testdata")).sort()) if (!/\.(md|sh|json)$/.test(name)) list.push(`testdata/${name}`);
  return list;
}
const pathOf = (input: string): string => (input.startsWith("fixtures/") ? join(FIXTURES, input.slice("fixtures/".length)) : join(ROOT, input));
/** REFERENCE's outcome of an input read from its file: a refusal of the archive as a whole names the file. */
const referenceFromFile = (input: string, format: LayoutFormat): string | undefined =>
  REFERENCE[`${input} ${format}`]?.replace(/^error: (?=not an image archive)/, `error: ${pathOf(input)}: `);

function hashingSink(): { sink: Writable; digest: () => string } {
  const hash = createHash("sha256");
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback();
    },
  });
  return { sink, digest: () => hash.digest("hex") };
}

type Convert = typeof convertArchive;
async function outcome(convert: Convert, input: string, format: LayoutFormat, how: "file" | "stream"): Promise<string> {
  const file = pathOf(input);
  const { sink, digest } = hashingSink();
  try {
    const source = how === "file" ? await openArchivePath(file) : await openTarStream(createReadStream(file));
    await convert(source, sink, { format, ...(how === "file" ? { inputFile: file } : {}) });
    return digest();
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

/**
 * Converts into a new file as `lading convert IN OUT` does; the sha256 of the file (or the error),
 * and how many bytes went through the sink's stream (none when the direct path wrote the file).
 */
async function convertToFile(source: OpenedSource, options: ConvertOptions = {}): Promise<{ result: string; streamed: number | undefined }> {
  const target = join(tempDir(), "out.tar");
  let streamed: number | undefined;
  try {
    await saveToFile(target, async (sink) => {
      const { saved } = await convertArchive(source, sink, options);
      streamed = (sink as WriteStream).bytesWritten;
      return saved;
    });
    return { result: createHash("sha256").update(readFileSync(target)).digest("hex"), streamed };
  } catch (error) {
    return { result: `error: ${(error as Error).message}`, streamed };
  }
}

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});
/** Spool directories (lading-convert-XXXXXX), not this file's own (lading-convert-test-XXXXXX). */
const spoolDirs = (): string[] => readdirSync(tmpdir()).filter((name) => /^lading-convert-(?!test-)/.test(name));

describe.skipIf(!haveFixtures)("convert: one read of the input, save's bytes", () => {
  const onReferenceHost = process.platform === "linux" && process.arch === "x64";

  it("every fixture, read from its file, converts to the reference bytes or the reference refusal", async () => {
    const before = spoolDirs();
    expect(inputs()).toHaveLength(Object.keys(REFERENCE).length / 2);
    for (const input of inputs()) {
      for (const format of ["docker", "oci"] as const) {
        const streamed = await outcome(convertArchive, input, format, "file");
        const reference = await outcome(convertViaStore, input, format, "file");
        expect([input, format, streamed]).toEqual([input, format, reference]);
        if (onReferenceHost) expect([input, format, streamed]).toEqual([input, format, referenceFromFile(input, format)]);
      }
    }
    expect(spoolDirs()).toEqual(before);
  }, 120_000);

  it("every fixture, from its file and from a stream, converts straight into a new file with the reference bytes", async () => {
    const before = spoolDirs();
    for (const input of inputs()) {
      const file = pathOf(input);
      for (const format of ["docker", "oci"] as const) {
        const reference = await outcome(convertViaStore, input, format, "file");
        const fromFile = await convertToFile(await openArchivePath(file), { format, inputFile: file });
        expect([input, format, fromFile.result]).toEqual([input, format, reference]);
        if (!reference.startsWith("error:")) expect([input, format, fromFile.streamed]).toEqual([input, format, 0]);
        if (!statSync(file).isFile()) continue;
        const fromStream = await convertToFile(await openTarStream(createReadStream(file)), { format });
        // Read from a stream, a refusal of the archive as a whole has no file to name.
        expect([input, format, fromStream.result]).toEqual([input, format, reference.replace(`error: ${file}: `, "error: ")]);
      }
    }
    expect(spoolDirs()).toEqual(before);
  }, 120_000);

  it("every tar fixture, read from a stream (its blobs spooled), converts to the same bytes", async () => {
    const before = spoolDirs();
    for (const input of inputs().filter((name) => statSync(pathOf(name)).isFile())) {
      for (const format of ["docker", "oci"] as const) {
        const streamed = await outcome(convertArchive, input, format, "stream");
        const reference = await outcome(convertViaStore, input, format, "stream");
        expect([input, format, streamed]).toEqual([input, format, reference]);
        if (onReferenceHost) expect([input, format, streamed]).toEqual([input, format, REFERENCE[`${input} ${format}`]]);
      }
    }
    expect(spoolDirs()).toEqual(before);
  }, 120_000);
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lading-convert-test-"));
  temps.push(dir);
  return dir;
}

/** Every regular file's bytes, as the tar reader gives them. */
async function filesOf(file: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for await (const entry of readTar(createReadStream(file))) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry.body) chunks.push(chunk as Buffer);
    if (entry.type === "file") files.set(entry.name, Buffer.concat(chunks));
  }
  return files;
}

async function spansOf(file: string): Promise<Map<string, { offset: number; size: number } | undefined> | undefined> {
  const handle = await open(file, "r");
  try {
    return await indexTarFile(handle);
  } finally {
    await handle.close();
  }
}

describe.skipIf(!haveFixtures)("indexTarFile", () => {
  it("places every regular file of every uncompressed tar fixture where the tar reader finds its bytes", async () => {
    const tars = inputs().filter((name) => statSync(pathOf(name)).isFile() && name.endsWith(".tar") && !name.includes("truncated"));
    expect(tars.length).toBeGreaterThan(10);
    for (const input of tars) {
      const file = pathOf(input);
      const whole = readFileSync(file);
      const spans = (await spansOf(file))!;
      const files = await filesOf(file);
      expect([input, [...spans.keys()].sort()]).toEqual([input, [...files.keys()].sort()]);
      for (const [name, bytes] of files) {
        const span = spans.get(name)!;
        expect([input, name, sha256(whole.subarray(span.offset, span.offset + span.size))]).toEqual([input, name, sha256(bytes)]);
      }
    }
  });

  it("follows PAX and GNU long names, marks a repeated name ambiguous, and gives up on a PAX global header", async () => {
    const long = `${"d".repeat(120)}/layer.tar`;
    const gnu = `${"g".repeat(130)}/json`;
    const dir = tempDir();
    const file = join(dir, "names.tar");
    writeFileSync(
      file,
      Buffer.concat([
        buildTar([{ type: "file", name: long, content: "pax-named" }], { end: false }),
        gnuLongRecord("L", gnu),
        tarEntry({ name: gnu.slice(0, 99) }, Buffer.from("gnu-named")),
        buildTar([
          { type: "file", name: "./twice", content: "one" },
          { type: "file", name: "twice", content: "one" },
          { type: "dir", name: "blobs" },
        ]),
      ]),
    );
    const whole = readFileSync(file);
    const spans = (await spansOf(file))!;
    expect([...spans.keys()]).toEqual([long, gnu, "twice"]);
    expect(spans.get("twice")).toBeUndefined();
    const text = (name: string): string => {
      const span = spans.get(name)!;
      return whole.toString("utf8", span.offset, span.offset + span.size);
    };
    expect([text(long), text(gnu)]).toEqual(["pax-named", "gnu-named"]);

    const global = join(dir, "global.tar");
    writeFileSync(global, Buffer.concat([tarEntry({ name: "pax_global_header", typeflag: "g" }, Buffer.from("13 path=xyz\n")), buildTar([{ type: "file", name: "a", content: "a" }])]));
    expect(await spansOf(global)).toBeUndefined();
  });
});

describe("convert reads an uncompressed input file twice rather than spooling it", () => {
  // One image whose layer is 200 KiB, past the bytes compared while the input streams.
  const image = makeImage({ layers: [layerTar({ "data.bin": "x".repeat(200 * 1024) })] });
  const layer = image.layers[0]!;

  function writeArchive(): string {
    const file = join(tempDir(), "big.tar");
    writeFileSync(file, buildTar(ociLayoutItems([image])));
    return file;
  }

  /** A sink that notes, at its first write, which spool directories exist. */
  function watchingSink(): { sink: Writable; digest: () => string; spoolsAtFirstWrite: () => string[] | undefined } {
    const hash = createHash("sha256");
    let seen: string[] | undefined;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        seen ??= spoolDirs();
        hash.update(chunk);
        callback();
      },
    });
    return { sink, digest: () => hash.digest("hex"), spoolsAtFirstWrite: () => seen };
  }

  async function reference(file: string): Promise<string> {
    const { sink, digest } = hashingSink();
    await convertViaStore(await openArchivePath(file), sink);
    return digest();
  }

  it("spools nothing for a file, one directory for a stream; both give the reference bytes", async () => {
    const file = writeArchive();
    const before = spoolDirs();
    const fromFile = watchingSink();
    await convertArchive(await openArchivePath(file), fromFile.sink, { inputFile: file });
    expect(fromFile.spoolsAtFirstWrite()).toEqual(before);
    const fromStream = watchingSink();
    await convertArchive(await openTarStream(createReadStream(file)), fromStream.sink);
    expect(fromStream.spoolsAtFirstWrite()!.filter((name) => !before.includes(name))).toHaveLength(1);
    expect(spoolDirs()).toEqual(before);
    expect([fromFile.digest(), fromStream.digest()]).toEqual([await reference(file), await reference(file)]);
  });

  it("spools an entry whose first bytes differ in the file it was told to re-read, and still writes the reference", async () => {
    const file = writeArchive();
    const other = join(tempDir(), "other.tar");
    const bytes = readFileSync(file);
    const span = (await spansOf(file))!.get(`blobs/sha256/${layer.digest.slice(7)}`)!;
    bytes[span.offset + 600] = bytes[span.offset + 600]! ^ 0xff;
    writeFileSync(other, bytes);
    const { sink, digest } = hashingSink();
    await convertArchive(await openArchivePath(file), sink, { inputFile: other });
    expect(digest()).toBe(await reference(file));
    expect(await convertToFile(await openArchivePath(file), { inputFile: other })).toEqual({ result: await reference(file), streamed: 0 });
  });

  it("fails, naming the entry, when the re-read bytes are not the ones verified", async () => {
    const file = writeArchive();
    const other = join(tempDir(), "other.tar");
    const bytes = readFileSync(file);
    const name = `blobs/sha256/${layer.digest.slice(7)}`;
    const span = (await spansOf(file))!.get(name)!;
    bytes[span.offset + 150 * 1024] = bytes[span.offset + 150 * 1024]! ^ 0xff;
    writeFileSync(other, bytes);
    const changed = sha256(bytes.subarray(span.offset, span.offset + span.size));
    const before = spoolDirs();
    const message = `entry "${name}" changed while converting: it now has content ${changed}, not ${layer.digest}`;
    await expect(convertArchive(await openArchivePath(file), hashingSink().sink, { inputFile: other })).rejects.toThrow(message);
    const out = tempDir();
    await expect(
      saveToFile(join(out, "out.tar"), async (sink) => (await convertArchive(await openArchivePath(file), sink, { inputFile: other })).saved),
    ).rejects.toThrow(message);
    expect(readdirSync(out)).toEqual([]);
    expect(spoolDirs()).toEqual(before);
  });
});

describe.skipIf(!haveFixtures)("lading convert", () => {
  class Capture extends Writable {
    chunks: Buffer[] = [];
    override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
      this.chunks.push(Buffer.from(chunk));
      callback();
    }
    get text(): string {
      return Buffer.concat(this.chunks).toString("utf8");
    }
  }

  it("writes the reference archive from a plain file and from a compressed one, and nothing else beside it", async () => {
    for (const input of ["fixtures/archives/docker-save-single.tar", "testdata/docker-archive.tar.zst"]) {
      const out = tempDir();
      const target = join(out, "converted.tar");
      const stdout = new Capture();
      const stderr = new Capture();
      const code = await main(["node", "lading", "convert", "-q", pathOf(input), target], { stdout, stderr });
      expect([input, code, stdout.text, stderr.text]).toEqual([input, 0, "", ""]);
      expect(readdirSync(out)).toEqual(["converted.tar"]);
      const reference = await outcome(convertViaStore, input, "docker", "file");
      expect([input, createHash("sha256").update(readFileSync(target)).digest("hex")]).toEqual([input, reference]);
    }
  });
});

// A manifest.json of [] is valid and loads nothing (formats.md; docker loads it): convert, which
// refuses what load refuses, writes an archive of nothing, with load's note.
it("converts an archive that lists no image into an archive of no image, with load's note", async () => {
  for (const [items, document] of [
    [[{ type: "file", name: "manifest.json", content: "[]" }], "manifest.json"],
    [[...ociLayoutItems([])], "index.json"],
  ] as const) {
    const input = buildTar(items);
    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(Buffer.from(chunk));
        callback();
      },
    });
    const result = await convertArchive(await openTarStream(Readable.from([input]), input.length), sink);
    expect(result.warnings).toEqual([`the archive holds no image: ${document} lists none`]);
    const report = await verifyBytes(Buffer.concat(out));
    expect([report.valid, report.images, report.problems]).toEqual([true, [], []]);
  }
});

describe.skipIf(!haveFixtures)("convert keeps bare ref.name tags where the layout can carry them", () => {
  // umoci's layout names its three images by bare tags only (no repository).
  const UMOCI = pathOf("fixtures/layouts/oci-umoci-gzip");
  const BASE_ARM64 = "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171";
  const APP = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";
  const BASE = "sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7";
  const manifest = (digest: string, size: number, annotations?: Record<string, string>): Record<string, unknown> => ({
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest,
    size,
    ...(annotations ? { annotations } : {}),
  });
  const untaggedNote = (tag: string, id: string): string =>
    `note: index.json: ref.name ${JSON.stringify(tag)} is a bare tag without a repository; image ${id} is left untagged (--name REPOSITORY tags it)\n`;

  async function convertCli(args: string[]): Promise<{ code: number; stderr: string; index: unknown; file: string }> {
    const file = join(tempDir(), "out.tar");
    const stdout = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const errors: Buffer[] = [];
    const stderr = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        errors.push(Buffer.from(chunk));
        callback();
      },
    });
    const code = await main(["node", "lading", "convert", ...args, file], { stdout, stderr });
    const index = code === 0 ? JSON.parse((await filesOf(file)).get("index.json")!.toString("utf8")) : undefined;
    return { code, stderr: Buffer.concat(errors).toString("utf8"), index, file };
  }

  it("--format oci writes each bare tag as the root's ref.name, without a note", async () => {
    const converted = await convertCli(["--format", "oci", UMOCI]);
    expect([converted.code, converted.stderr]).toEqual([0, ""]);
    expect(converted.index).toEqual({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        manifest(BASE_ARM64, 346, { "org.opencontainers.image.ref.name": "base-arm64" }),
        manifest(APP, 551, { "org.opencontainers.image.ref.name": "app" }),
        manifest(BASE, 346, { "org.opencontainers.image.ref.name": "base" }),
      ],
    });
  });

  it("--format oci of a tar read as a stream, and through the store, carries the bare tag the same way", async () => {
    const input = "fixtures/archives/oci-archive-multiplatform.tar";
    const streamed = await outcome(convertArchive, input, "oci", "stream");
    expect(streamed).toBe(await outcome(convertViaStore, input, "oci", "file"));
    const { sink, digest } = hashingSink();
    const result = await convertViaStore(await openArchivePath(pathOf(input)), sink, { format: "oci" });
    expect([result.warnings, digest()]).toEqual([[], streamed]);
    const converted = await convertCli(["--format", "oci", pathOf(input)]);
    expect((converted.index as { manifests: unknown[] }).manifests).toEqual([
      {
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: "sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355",
        size: 491,
        annotations: { "org.opencontainers.image.ref.name": "1.0" },
      },
    ]);
  });

  it("--format docker cannot carry a bare tag: the images stay untagged, with load's note", async () => {
    const converted = await convertCli(["--format", "docker", UMOCI]);
    expect([converted.code, converted.stderr]).toEqual([0, untaggedNote("base", BASE) + untaggedNote("app", APP) + untaggedNote("base-arm64", BASE_ARM64)]);
    expect((converted.index as { manifests: unknown[] }).manifests).toEqual([manifest(BASE_ARM64, 346), manifest(APP, 551), manifest(BASE, 346)]);
  });

  it("--name REPO still makes a bare tag REPO:TAG, in either layout", async () => {
    const converted = await convertCli(["--format", "oci", "--name", "example/umoci", UMOCI]);
    expect([converted.code, converted.stderr]).toEqual([0, ""]);
    const named = (tag: string): Record<string, string> => ({
      "io.containerd.image.name": `docker.io/example/umoci:${tag}`,
      "org.opencontainers.image.ref.name": tag,
    });
    expect((converted.index as { manifests: unknown[] }).manifests).toEqual([
      manifest(BASE_ARM64, 346, named("base-arm64")),
      manifest(APP, 551, named("app")),
      manifest(BASE, 346, named("base")),
    ]);
  });

  it.skipIf(!requirePeers("skopeo"))("skopeo finds each image of the oci output by its bare tag", async () => {
    const converted = await convertCli(["--format", "oci", UMOCI]);
    const manifestOf = (tag: string): string => execFileSync("skopeo", ["inspect", "--raw", `oci-archive:${converted.file}:${tag}`]).toString("utf8");
    const blob = (digest: string): string => readFileSync(join(UMOCI, "blobs", "sha256", digest.slice(7)), "utf8");
    expect([manifestOf("app"), manifestOf("base"), manifestOf("base-arm64")]).toEqual([blob(APP), blob(BASE), blob(BASE_ARM64)]);
  });
});

// convert drops the index.json fields load does not keep (index-entry-fields.ts) and says each as
// load does, in its own words: the streaming path and the store path alike.
describe("convert says each index.json field it does not carry", () => {
  const NOT_CARRIED = "is not carried into the converted archive";
  const named = (name: string, tag: string): Record<string, string> => ({ "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag });
  const image = makeImage({ seed: "convert-dropped" });
  const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("signature", "application/vnd.example.sig.v1"));
  // A variant the config does not give is the entry's own word; the second image's platform is its config's, and not said.
  const amd64 = makeImage({ seed: "convert-dropped-amd64" });
  const entries = [
    descriptorOf(image.manifest, { platform: { os: "linux", architecture: "amd64", variant: "v3" }, annotations: { ...named("docker.io/example/fields:1", "1"), "org.example.note": "keep-me" } }),
    descriptorOf(artifact, { artifactType: "application/vnd.example.sig", annotations: { "org.example.signer": "ci" } }),
    descriptorOf(amd64.manifest, { platform: { architecture: "amd64", os: "linux" }, annotations: named("docker.io/example/fields:2", "2") }),
  ];
  const items = withFile(
    ociLayoutItems([image, amd64], { indexEntries: entries, extraBlobs: artifactBlobs }),
    "index.json",
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, annotations: { "org.example.top": "x" } }),
  );
  const WARNINGS = [
    `index.json: annotations["org.example.top"] "x" ${NOT_CARRIED}`,
    `index.json manifests[0]: annotations["org.example.note"] "keep-me" ${NOT_CARRIED}`,
    `index.json manifests[0]: platform {"architecture":"amd64","os":"linux","variant":"v3"} ${NOT_CARRIED}`,
    `index.json manifests[1]: annotations["org.example.signer"] "ci" ${NOT_CARRIED}`,
    `index.json manifests[1]: artifactType "application/vnd.example.sig" ${NOT_CARRIED}`,
  ];

  /** The warnings of the streaming path, after checking that the store path gives the same. */
  async function warningsOf(input: readonly TarItem[], options: ConvertOptions = {}): Promise<string[]> {
    const bytes = buildTar(input);
    const convert = async (how: Convert): Promise<string[]> => (await how(await openTarStream(Readable.from([bytes]), bytes.length), hashingSink().sink, options)).warnings;
    const streamed = await convert(convertArchive);
    expect(await convert(convertViaStore)).toEqual(streamed);
    return streamed;
  }

  it.each(["docker", "oci"] as const)("--format %s: index.json's own, then each entry's platform, artifactType and annotations but the names", async (format) => {
    expect(await warningsOf(items, { format })).toEqual(WARNINGS);
  });

  it("at most 20 lines, then one counting the rest; a long value by its start and its length", async () => {
    const many = Array.from({ length: 22 }, (_, n) => descriptorOf(image.manifest, { annotations: { ...named(`docker.io/example/many:${n}`, `${n}`), "org.example.n": n === 0 ? "x".repeat(300) : `${n}` } }));
    const lines = [
      `index.json manifests[0]: annotations["org.example.n"] "${"x".repeat(199)}… (300 bytes) ${NOT_CARRIED}`,
      ...Array.from({ length: 19 }, (_, n) => `index.json manifests[${n + 1}]: annotations["org.example.n"] "${n + 1}" ${NOT_CARRIED}`),
      "... and 2 more fields not carried",
    ];
    expect(await warningsOf(ociLayoutItems([image], { indexEntries: many }))).toEqual(lines);
  });

  it("with platforms (the store path), only the entries of the roots it writes", async () => {
    const arm64 = makeImage({ seed: "convert-dropped-arm64", architecture: "arm64" });
    const twoRoots = [
      descriptorOf(amd64.manifest, { annotations: { ...named("docker.io/example/amd64:1", "1"), "org.example.note": "amd64" } }),
      descriptorOf(arm64.manifest, { annotations: { ...named("docker.io/example/arm64:1", "1"), "org.example.note": "arm64" } }),
    ];
    const input = ociLayoutItems([amd64, arm64], { indexEntries: twoRoots });
    expect(await warningsOf(input, { load: { platforms: [{ os: "linux", architecture: "arm64" }] } })).toEqual([`index.json manifests[1]: annotations["org.example.note"] "arm64" ${NOT_CARRIED}`]);
    expect(await warningsOf(input)).toEqual([`index.json manifests[0]: annotations["org.example.note"] "amd64" ${NOT_CARRIED}`, `index.json manifests[1]: annotations["org.example.note"] "arm64" ${NOT_CARRIED}`]);
  });

  describe("lading convert", () => {
    async function convertCli(flags: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
      const dir = tempDir();
      writeFileSync(join(dir, "in.tar"), buildTar(items));
      const captured = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
      const capture = (into: Buffer[]): Writable =>
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            into.push(Buffer.from(chunk));
            callback();
          },
        });
      const code = await main(["node", "lading", "convert", ...flags, join(dir, "in.tar"), join(dir, "out.tar")], { stdout: capture(captured.stdout), stderr: capture(captured.stderr) });
      return { code, stdout: Buffer.concat(captured.stdout).toString("utf8"), stderr: Buffer.concat(captured.stderr).toString("utf8") };
    }

    it("prints one note line per field on standard error", async () => {
      expect(await convertCli([])).toEqual({ code: 0, stdout: "Converted oci-layout to docker: 2 images and 1 artifact\n", stderr: WARNINGS.map((warning) => `note: ${warning}\n`).join("") });
    });

    it("-q leaves the notes out", async () => {
      expect(await convertCli(["-q"])).toEqual({ code: 0, stdout: "", stderr: "" });
    });

    it("--json lists them in warnings, after what save's --json gives", async () => {
      const result = await convertCli(["--json"]);
      expect([result.code, result.stderr]).toEqual([0, ""]);
      const document = JSON.parse(result.stdout) as Record<string, unknown>;
      expect([Object.keys(document), document.warnings]).toEqual([["format", "images", "warnings"], WARNINGS]);
    });
  });
});

describe("convert into an output stream that fails", () => {
  // A 200 KiB layer: its blob goes out in more than one write.
  const input = buildTar(ociLayoutItems([makeImage({ layers: [layerTar({ "data.bin": "x".repeat(200 * 1024) })] })]));

  /** A sink whose every write fails, or a PassThrough destroyed 20 ms in. */
  function failingSink(how: "write fails" | "destroyed"): Writable {
    if (how === "write fails") return new Writable({ write: (_chunk, _encoding, callback) => callback(new Error("disk gone")) });
    const sink = new PassThrough();
    sink.resume();
    setTimeout(() => sink.destroy(), 20);
    return sink;
  }

  /** How the conversion settled, or that it had not 2 s in (it used to wait forever). */
  async function settled(how: "write fails" | "destroyed", options: ConvertOptions): Promise<string> {
    const converting = convertArchive(await openTarStream(Readable.from([input]), input.length), failingSink(how), options).then(
      () => "converted",
      (error: unknown) => `${error instanceof LadingError ? error.kind : "untyped"}: ${(error as Error).message}`,
    );
    let timer: NodeJS.Timeout | undefined;
    const waiting = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still waiting after 2 s"), 2000)));
    return Promise.race([converting, waiting]).finally(() => clearTimeout(timer));
  }

  it("rejects with one line, kind io, as save does: plain, gzip and zstd, in either layout", async () => {
    const cases = (["write fails", "destroyed"] as const).flatMap((how) =>
      (["docker", "oci"] as const).flatMap((format) => ([undefined, "gzip", "zstd"] as const).map((compress) => ({ how, format, compress }))),
    );
    const outcomes = await Promise.all(cases.map(async ({ how, format, compress }) => [how, format, compress ?? "plain", await settled(how, { format, ...(compress ? { compress } : {}) })]));
    const expected = cases.map(({ how, format, compress }) => [
      how,
      format,
      compress ?? "plain",
      how === "write fails" ? "io: writing the archive failed: disk gone" : "io: the output closed before the archive was complete",
    ]);
    expect(outcomes).toEqual(expected);
  });
});
