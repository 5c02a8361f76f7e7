// save: every fixture makes a round trip (load, save, load into a fresh store: same IDs, configs,
// names and RepoDigests; OCI manifests keep their digests), saves are byte-identical, the
// layout's documents have exact bytes, and the tar headers are deterministic.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tarStream from "tar-stream";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { LadingError } from "../../src/core/errors.js";
import { parsePlatform } from "../../src/core/platform.js";
import { convertArchive, convertViaStore } from "../../src/ops/convert.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyRoundtrip } from "../../src/ops/roundtrip.js";
import { mtimeFromEnvironment, saveImages, saveSelection, saveToFile, selectAll, type SaveOptions, type SaveResult } from "../../src/ops/save.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { TarWriter } from "../../src/tar/writer.js";
import {
  FOREIGN_URLS,
  OCI_MANIFEST,
  OCI_NONDISTRIBUTABLE_LAYER_GZIP,
  blobOf,
  blobPath,
  buildTar,
  descriptorOf,
  makeForeignImage,
  makeImage,
  ociLayoutItems,
  withoutFile,
  type TarItem,
  type TestImage,
} from "../support/archive-builder.js";
import { requirePeers, run, runBytes } from "../support/peers.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const haveFixtures = existsSync(join(FIXTURES, "expected.json"));
const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

interface ExpectedImage {
  source: string;
  manifestDigest?: string;
  imageId: string;
}
const expected = haveFixtures
  ? (JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as { fixtures: Record<string, { path: string; format: string; images: ExpectedImage[] }> })
  : { fixtures: {} };

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lading-save-test-"));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function freshStore(): Promise<Store> {
  return Store.open(tempDir());
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

async function saveAll(store: Store, options: SaveOptions = {}): Promise<Buffer> {
  const { sink, bytes } = collector();
  await saveSelection(store, await selectAll(store), sink, options);
  return bytes();
}

async function loadBytes(store: Store, bytes: Buffer): Promise<void> {
  await loadArchive(store, await openTarStream(Readable.from([bytes])));
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: number;
  body: Buffer;
}

async function entriesOf(archive: Buffer): Promise<Entry[]> {
  const extract = tarStream.extract();
  const entries: Entry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on("end", () => {
        entries.push({
          name: header.name,
          type: header.type ?? "file",
          mode: header.mode ?? -1,
          uid: header.uid ?? -1,
          gid: header.gid ?? -1,
          uname: header.uname ?? "",
          gname: header.gname ?? "",
          mtime: (header.mtime?.getTime() ?? -1) / 1000,
          body: Buffer.concat(chunks),
        });
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(archive);
  await done;
  return entries;
}

/**
 * What a store holds, as docker would list it: image IDs with tags, RepoDigests and configs.
 * The index.json of a saved archive cannot say that a manifest was synthesised (lading's reader
 * trusts index.json), so a second load records a synthesised image's digest as a RepoDigest
 * with origin "archive": the view leaves origin and RepoDigests out for those images, and the
 * test checks them exactly for every image whose manifest came from an archive.
 */
async function storeView(store: Store, synthesized: ReadonlySet<string>): Promise<{ id: string; origin: string; configs: string[]; manifests: string[]; references: string[] }[]> {
  const references = await store.references.references();
  return (await store.records.list()).map((record) => {
    const mine = references.filter((entry) => entry.id === record.id).map((entry) => entry.reference);
    const made = synthesized.has(record.id);
    return {
      id: record.id,
      origin: made ? "synthesized" : record.origin,
      configs: record.images.map((image) => image.config.digest),
      manifests: record.images.map((image) => image.manifest.digest),
      references: made ? mine.filter((reference) => !reference.includes("@")) : mine,
    };
  });
}

/** A tar of a directory, written with lading's writer (sorted names), to load a layout as a stream. */
async function tarOfDirectory(root: string): Promise<Buffer> {
  const { readdirSync, statSync } = await import("node:fs");
  const names: string[] = [];
  const walk = (prefix: string): void => {
    for (const name of readdirSync(join(root, prefix)).sort()) {
      const path = prefix ? `${prefix}/${name}` : name;
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else names.push(path);
    }
  };
  walk("");
  const writer = new TarWriter();
  const { sink, bytes } = collector();
  const piped = pipeline(writer.stream, sink);
  for (const name of names) await writer.addFile(name, readFileSync(join(root, name)));
  await writer.finish();
  await piped;
  return bytes();
}

async function loadFixture(store: Store, path: string): Promise<void> {
  const full = join(FIXTURES, path);
  if (statSync(full).isDirectory()) await loadBytes(store, await tarOfDirectory(full));
  else await loadArchive(store, await openArchivePath(full));
}

const fixtureNames = Object.keys(expected.fixtures);

describe.skipIf(!haveFixtures)("round trips of every shared fixture", () => {
  for (const name of fixtureNames) {
    const fixture = expected.fixtures[name]!;
    for (const format of ["docker", "oci"] as const) {
      it(`${name} (--format ${format}): load, save, load again gives the same images`, async () => {
        const first = await freshStore();
        await loadFixture(first, fixture.path);
        const archive = await saveAll(first, { format });
        const second = await freshStore();
        await loadBytes(second, archive);
        const synthesized = new Set((await first.records.list()).filter((record) => record.origin === "synthesized").map((record) => record.id));
        expect(synthesized.size > 0).toBe(fixture.format === "docker-archive");
        const before = await storeView(first, synthesized);
        expect(before.length).toBeGreaterThan(0);
        expect(await storeView(second, synthesized)).toEqual(before);
        // Docker's image IDs (config digests) are those the tools recorded.
        const configs = new Set(before.flatMap((image) => image.configs));
        for (const image of fixture.images) expect(configs.has(image.imageId)).toBe(true);
        // OCI images keep the registry's manifest digests.
        const manifests = new Set(before.flatMap((image) => image.manifests));
        for (const image of fixture.images) if (image.manifestDigest) expect(manifests.has(image.manifestDigest)).toBe(true);
        // Saving twice, from either store, gives the same bytes.
        expect(sha256(await saveAll(second, { format }))).toBe(sha256(archive));
        expect(sha256(await saveAll(first, { format }))).toBe(sha256(archive));
      });
    }
  }

  it("docker-save-single.tar: manifest.json, index.json and repositories have exact bytes", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/docker-save-single.tar")));
    const { sink, bytes } = collector();
    await saveImages(store, ["fixture/imported", "localhost:5000/team/imported:v1"], sink);
    const entries = await entriesOf(bytes());
    const config = "eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b";
    const layer = "83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e";
    const manifest = "2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
    expect(entries.map((entry) => entry.name)).toEqual([
      "oci-layout",
      "index.json",
      "manifest.json",
      "repositories",
      "blobs/",
      "blobs/sha256/",
      `blobs/sha256/${manifest}`,
      `blobs/sha256/${layer}`,
      `blobs/sha256/${config}`,
    ]);
    const text = (name: string): string => entries.find((entry) => entry.name === name)!.body.toString("utf8");
    expect(text("oci-layout")).toBe('{"imageLayoutVersion":"1.0.0"}');
    const descriptor = `"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:${manifest}","size":420`;
    expect(text("index.json")).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[' +
        `{${descriptor},"annotations":{"io.containerd.image.name":"docker.io/fixture/imported:1.0","org.opencontainers.image.ref.name":"1.0","dev.lading.manifest.synthesized":"true"}},` +
        `{${descriptor},"annotations":{"io.containerd.image.name":"docker.io/fixture/imported:latest","org.opencontainers.image.ref.name":"latest","dev.lading.manifest.synthesized":"true"}},` +
        `{${descriptor},"annotations":{"io.containerd.image.name":"localhost:5000/team/imported:v1","org.opencontainers.image.ref.name":"v1","dev.lading.manifest.synthesized":"true"}}]}`,
    );
    expect(text("manifest.json")).toBe(
      `[{"Config":"blobs/sha256/${config}","RepoTags":["fixture/imported:1.0","fixture/imported:latest","localhost:5000/team/imported:v1"],"Layers":["blobs/sha256/${layer}"]}]\n`,
    );
    expect(text("repositories")).toBe(`{"fixture/imported":{"1.0":"${layer}","latest":"${layer}"},"localhost:5000/team/imported":{"v1":"${layer}"}}\n`);
    // Blobs are the stored bytes: each one's content matches its name.
    for (const entry of entries.filter((e) => e.name.startsWith("blobs/sha256/") && e.type === "file")) {
      expect(sha256(entry.body)).toBe(`sha256:${entry.name.slice("blobs/sha256/".length)}`);
    }
  });

  it("saving by ID or digest writes no tags: RepoTags null, an index entry without names (only the synthesised mark), no repositories", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/docker-save-single.tar")));
    const { sink, bytes } = collector();
    await saveImages(store, ["eed4e27eb6ff"], sink);
    const entries = await entriesOf(bytes());
    const text = (name: string): string | undefined => entries.find((entry) => entry.name === name)?.body.toString("utf8");
    expect(text("manifest.json")).toBe(
      '[{"Config":"blobs/sha256/eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b","RepoTags":null,"Layers":["blobs/sha256/83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e"]}]\n',
    );
    expect(text("index.json")).toBe(
      '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1","size":420,"annotations":{"dev.lading.manifest.synthesized":"true"}}]}',
    );
    expect(text("repositories")).toBeUndefined();
  });

  it("the image order does not depend on the order the images were named in", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/ctr-export.tar")));
    const a = collector();
    await saveImages(store, ["fixture/derived-a:1.0", "fixture/derived-b:1.0"], a.sink);
    const b = collector();
    await saveImages(store, ["fixture/derived-b:1.0", "fixture/derived-a:1.0", "fixture/derived-b:1.0"], b.sink);
    expect(sha256(b.bytes())).toBe(sha256(a.bytes()));
  });

  it("headers: uid/gid 0, empty names, 0644/0755, mtime 0 by default and SOURCE_DATE_EPOCH when given", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    for (const mtime of [0, 946684800]) {
      const entries = await entriesOf(await saveAll(store, { mtime }));
      for (const entry of entries) {
        expect({ uid: entry.uid, gid: entry.gid, uname: entry.uname, gname: entry.gname, mtime: entry.mtime }).toEqual({ uid: 0, gid: 0, uname: "", gname: "", mtime });
        expect(entry.mode).toBe(entry.type === "directory" ? 0o755 : 0o644);
      }
    }
    expect(mtimeFromEnvironment({ SOURCE_DATE_EPOCH: "946684800" })).toBe(946684800);
    expect(mtimeFromEnvironment({})).toBe(0);
    expect(() => mtimeFromEnvironment({ SOURCE_DATE_EPOCH: "yesterday" })).toThrow('SOURCE_DATE_EPOCH must be a whole number of seconds, got "yesterday"');
  });

  it("--platform keeps the index bytes and only the wanted manifest: a sparse archive", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/oci-archive-multiplatform.tar")));
    const [record] = await store.records.list();
    const { sink, bytes } = collector();
    const result = await saveSelection(store, await selectAll(store), sink, { format: "oci", platforms: [parsePlatform("linux/arm64")] });
    expect(result.images).toEqual([{ id: record!.id, tags: [], digestNames: [], origin: "archive", mediaType: "application/vnd.oci.image.index.v1+json", platforms: ["linux/arm64"], absent: ["linux/amd64"], uncheckedLayers: [] }]);
    const report = await verifyArchive(await openTarStream(Readable.from([bytes()])));
    expect(report.valid).toBe(true);
    expect(report.images.map((image) => [image.rootDigest, image.platform, image.manifestDigest])).toEqual([
      [record!.id, "linux/arm64", "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171"],
    ]);
    expect(report.absent).toEqual([{ rootDigest: record!.id, digest: "sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7", platform: "linux/amd64" }]);
    await expect(saveSelection(store, await selectAll(store), collector().sink, { platforms: [parsePlatform("linux/s390x")] })).rejects.toThrow(
      `image ${record!.id} has no linux/s390x manifest (it has linux/amd64, linux/arm64)`,
    );
  });

  it("--compress gzip and zstd: the whole stream is compressed and reads back", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    for (const [compress, magic] of [
      ["gzip", "1f8b08"],
      ["zstd", "28b52ffd"],
    ] as const) {
      const archive = await saveAll(store, { compress });
      expect(archive.subarray(0, magic.length / 2).toString("hex")).toBe(magic);
      const report = await verifyArchive(await openTarStream(Readable.from([archive])));
      expect([report.valid, report.compression, report.images.map((image) => image.manifestDigest)]).toEqual([
        true,
        compress,
        ["sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf"],
      ]);
    }
  });

  it("a sink that fails its writes fails the save with one line, kind io, compressed or not", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    const outcomes: string[] = [];
    for (const options of [{}, { compress: "gzip" }, { compress: "zstd" }] as SaveOptions[]) {
      const sink = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error("disk gone")) });
      const error = await saveSelection(store, await selectAll(store), sink, options).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      outcomes.push(`${options.compress ?? "plain"}: ${error instanceof LadingError ? error.kind : "untyped"}: ${(error as Error).message}`);
    }
    expect(outcomes).toEqual(["plain", "gzip", "zstd"].map((how) => `${how}: io: writing the archive failed: disk gone`));
  });

  it("a blob damaged in the store fails the save, and saveToFile leaves neither archive nor temp file", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    const [record] = await store.records.list();
    const layer = record!.images[0]!.layers[0]!.digest;
    const path = store.content.blobPath(layer);
    const { chmodSync, writeFileSync, readdirSync } = await import("node:fs");
    chmodSync(path, 0o644);
    const original = readFileSync(path);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 1;
    writeFileSync(path, damaged);
    const out = tempDir();
    await expect(saveToFile(join(out, "x.tar"), (sink) => saveSelection(store, [{ record: record!, names: new Set() }], sink))).rejects.toThrow(
      `blob ${layer} in the store has content ${sha256(damaged)}: the store is damaged (run lading fsck)`,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it("a blob damaged in the store fails a save to a stream too, plain (read directly) and gzip-compressed (through a stream)", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    const [record] = await store.records.list();
    const layer = record!.images[0]!.layers[0]!.digest;
    const path = store.content.blobPath(layer);
    const { chmodSync, writeFileSync } = await import("node:fs");
    chmodSync(path, 0o644);
    const damaged = Buffer.from(readFileSync(path));
    damaged[damaged.length - 1] = damaged[damaged.length - 1]! ^ 1;
    writeFileSync(path, damaged);
    const message = `blob ${layer} in the store has content ${sha256(damaged)}: the store is damaged (run lading fsck)`;
    await expect(saveAll(store)).rejects.toThrow(message);
    await expect(saveAll(store, { compress: "gzip" })).rejects.toThrow(message);
    // What went out ends inside the damaged blob's entry, not at an entry's end, where a tar
    // reader (Go's, and so docker load) would take it for a whole archive without the blob.
    const { sink, bytes } = collector();
    await expect(saveSelection(store, await selectAll(store), sink)).rejects.toThrow(message);
    const header = bytes().lastIndexOf(Buffer.from(blobPath(layer)));
    const declared = parseInt(bytes().subarray(header + 124, header + 136).toString("latin1"), 8);
    expect([header > 0, bytes().length - header, declared]).toEqual([true, 512, damaged.length]);
  });

  it("a blob whose stored size is not the one its image record gives fails the save before writing", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    const [record] = await store.records.list();
    const layer = record!.images[0]!.layers[0]!;
    const path = store.content.blobPath(layer.digest);
    const { chmodSync, writeFileSync } = await import("node:fs");
    chmodSync(path, 0o644);
    writeFileSync(path, readFileSync(path).subarray(0, layer.size - 1));
    const { sink, bytes } = collector();
    await expect(saveSelection(store, [{ record: record!, names: new Set() }], sink)).rejects.toThrow(
      `image ${record!.id}: blob ${layer.digest} has ${layer.size - 1} bytes in the store, ${layer.size} expected`,
    );
    expect(bytes().length).toBe(0);
  });

  it("saveToFile refuses an empty path before the save starts", async () => {
    let started = false;
    const save = async (sink: Writable): Promise<SaveResult> => {
      started = true;
      sink.end();
      return { format: "docker", images: [] };
    };
    await expect(saveToFile("", save)).rejects.toMatchObject({ kind: "invalid", message: "cannot write the archive to an empty path" });
    expect(started).toBe(false);
  });

  it("unknown images and a missing blob fail with one line naming them", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(FIXTURES, "archives/skopeo-oci-archive.tar")));
    await expect(saveImages(store, ["nosuch:1.0"], collector().sink)).rejects.toThrow("No such image: nosuch:1.0");
    const [record] = await store.records.list();
    await store.content.delete(record!.images[0]!.config.digest);
    await expect(saveImages(store, [record!.id], collector().sink)).rejects.toThrow(
      `image ${record!.id} is incomplete: blob ${record!.images[0]!.config.digest} is not in the store`,
    );
  });
});

describe.skipIf(!haveFixtures)("convert and round-trip verification", () => {
  it("convert: an OCI archive keeps its digests; a docker-save archive gets lading's synthesised manifest", async () => {
    const oci = collector();
    const result = await convertArchive(await openArchivePath(join(FIXTURES, "archives/oci-archive-multiplatform.tar")), oci.sink, { format: "oci" });
    expect(result.saved.images.map((image) => image.id)).toEqual(["sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355"]);
    const report = await verifyArchive(await openTarStream(Readable.from([oci.bytes()])));
    expect(report.images.map((image) => [image.platform, image.manifestDigest, image.manifestOrigin])).toEqual([
      ["linux/amd64", "sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7", "archive"],
      ["linux/arm64", "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171", "archive"],
    ]);

    const docker = collector();
    const converted = await convertArchive(await openArchivePath(join(FIXTURES, "archives/docker-save-single.tar")), docker.sink);
    expect(converted.saved.images.map((image) => [image.id, image.origin, image.tags])).toEqual([
      [
        "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1",
        "synthesized",
        ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"],
      ],
    ]);
    // Converting the converted archive again changes nothing.
    const again = collector();
    await convertArchive(await openTarStream(Readable.from([docker.bytes()])), again.sink);
    expect(sha256(again.bytes())).toBe(sha256(docker.bytes()));
  });

  it("verifyRoundtrip proves the same images come back, and says which manifests are synthesised", async () => {
    const report = await verifyRoundtrip(await openArchivePath(join(FIXTURES, "archives/docker-save-multi.tar")));
    expect(report.valid).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.images.map((image) => [image.names, image.origin, image.differences])).toEqual([
      [["docker.io/fixture/derived-b:1.0"], "synthesized", []],
      [["docker.io/fixture/derived-a:1.0"], "synthesized", []],
    ]);
    const oci = await verifyRoundtrip(await openArchivePath(join(FIXTURES, "archives/oci-archive-multiplatform.tar")), { format: "oci" });
    expect([oci.valid, oci.images[0]!.origin, oci.images[0]!.platforms.map((p) => p.manifest)]).toEqual([
      true,
      "archive",
      ["sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7", "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171"],
    ]);
  });
});

describe("a layer addressed by sha512", () => {
  // The manifest names its layer sha512:...; the archive holds it as blobs/sha512/<hex>.
  const plain = makeImage({ seed: "sha512" });
  const layer = plain.layers[0]!;
  const layer512 = `sha512:${createHash("sha512").update(layer.bytes).digest("hex")}`;
  const image = makeImage({ seed: "sha512", editManifest: (m) => ({ ...m, layers: [{ ...(m.layers as Record<string, unknown>[])[0], digest: layer512 }] }) });
  const archive = (): Buffer =>
    buildTar([
      ...withoutFile(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/sha512:1" } })] }), blobPath(layer.digest)),
      { type: "file", name: blobPath(layer512), content: layer.bytes },
    ]);

  it("is stored, saved and converted under that name, and the manifest comes back with its digest", async () => {
    const store = await freshStore();
    await loadBytes(store, archive());
    expect(await store.content.has(layer512)).toBe(true);
    const saved = await saveAll(store);
    const names = (await entriesOf(saved)).map((entry) => entry.name);
    expect(names).toContain(blobPath(layer512));
    expect(names).not.toContain(blobPath(layer.digest));
    const report = await verifyArchive(await openTarStream(Readable.from([saved])));
    expect([report.problems, report.images.map((entry) => entry.manifestDigest)]).toEqual([[], [image.manifest.digest]]);
    const { sink, bytes } = collector();
    await convertArchive(await openTarStream(Readable.from([archive()])), sink, {});
    expect(bytes().equals(saved)).toBe(true);
  });
});

describe("a bare repository name that names an image only by digest", () => {
  it("selects that image, unnamed, as docker save does", async () => {
    const image = makeImage({ seed: "by-digest" });
    const store = await freshStore();
    await loadBytes(store, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/dig:1" } })] })));
    await store.references.update((txn) => txn.delete("example/dig:1"));
    expect((await store.references.references()).map((entry) => entry.reference)).toEqual([`example/dig@${image.manifest.digest}`]);
    const { sink, bytes } = collector();
    const saved = await saveImages(store, ["example/dig"], sink);
    expect(saved.images.map((entry) => [entry.id, entry.tags])).toEqual([[image.manifest.digest, []]]);
    const manifestJson = JSON.parse((await entriesOf(bytes())).find((entry) => entry.name === "manifest.json")!.body.toString()) as { RepoTags: unknown }[];
    expect(manifestJson.map((item) => item.RepoTags)).toEqual([null]);
  });
});

describe("an OCI artifact (a manifest with no image config)", () => {
  const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
  const payload = blobOf('{"chart":"x"}', "application/vnd.example.chart.v1+json");
  const artifact = blobOf(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.chart", config: descriptorOf(empty), layers: [descriptorOf(payload)] }),
    OCI_MANIFEST,
  );
  const archive = (annotations?: Record<string, string>): Buffer =>
    buildTar(ociLayoutItems([], { indexEntries: [descriptorOf(artifact, annotations ? { annotations } : {})], extraBlobs: [artifact, empty, payload] }));

  it("named: the docker format refuses it before writing (manifest.json cannot list it); the OCI format keeps its digest", async () => {
    const store = await freshStore();
    await loadBytes(store, archive({ "io.containerd.image.name": "example.com/charts/x:1" }));
    const { sink, bytes } = collector();
    await expect(saveImages(store, ["example.com/charts/x:1"], sink)).rejects.toThrow(
      `example.com/charts/x:1 is not a container image (${artifact.digest} has no image config), so docker's manifest.json cannot list it: save it with --format oci`,
    );
    expect(bytes().length).toBe(0);
    const oci = collector();
    await saveImages(store, ["example.com/charts/x:1"], oci.sink, { format: "oci" });
    const index = JSON.parse((await entriesOf(oci.bytes())).find((entry) => entry.name === "index.json")!.body.toString()) as { manifests: { digest: string }[] };
    expect(index.manifests.map((entry) => entry.digest)).toEqual([artifact.digest]);
  });

  it("untagged: the docker format carries it in the OCI layout alone, and the archive verifies", async () => {
    const store = await freshStore();
    await loadBytes(store, archive());
    const saved = await saveAll(store);
    const manifestJson = (await entriesOf(saved)).find((entry) => entry.name === "manifest.json")!.body.toString();
    expect(manifestJson).toBe("[]\n");
    const report = await verifyArchive(await openTarStream(Readable.from([saved])));
    expect(report.problems).toEqual([]);
  });
});

describe("an image pinned by digest", () => {
  it("save NAME@DIGEST writes that name to index.json (not manifest.json), and a load on the far side keeps the pinned reference", async () => {
    const image = makeImage({ seed: "pinned", gzip: true });
    const store = await freshStore();
    await loadBytes(store, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "registry.example/team/app:1" } })] })));
    const pinned = `registry.example/team/app@${image.manifest.digest}`;
    const { sink, bytes } = collector();
    const saved = await saveImages(store, [pinned], sink);
    expect(saved.images.map((entry) => [entry.id, entry.tags])).toEqual([[image.manifest.digest, []]]);
    const entries = await entriesOf(bytes());
    const index = JSON.parse(entries.find((entry) => entry.name === "index.json")!.body.toString()) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    expect(index.manifests).toEqual([
      { mediaType: OCI_MANIFEST, digest: image.manifest.digest, size: image.manifest.size, annotations: { "io.containerd.image.name": pinned } },
    ]);
    const manifestJson = JSON.parse(entries.find((entry) => entry.name === "manifest.json")!.body.toString()) as { RepoTags: unknown }[];
    expect(manifestJson.map((item) => item.RepoTags)).toEqual([null]);
    const farSide = await freshStore();
    const loaded = await loadArchive(farSide, await openTarStream(Readable.from([bytes()])));
    expect(loaded.images.map((entry) => [entry.id, entry.tags, entry.digests])).toEqual([[image.manifest.digest, [], [pinned]]]);
    expect(await farSide.references.references()).toEqual([{ reference: pinned, id: image.manifest.digest }]);
    const trip = await verifyRoundtrip(await openTarStream(Readable.from([bytes()])));
    expect([trip.exact, trip.images.map((entry) => [entry.names, entry.differences])]).toEqual([true, [[[pinned], []]]]);
    // Saving the repository: a digest reference beside a tag of the image is implied by the tag
    // (the far side's load records it again); once the tag is gone, it is written itself.
    const namesSaved = async (): Promise<(string | undefined)[]> => {
      const repository = collector();
      await saveImages(store, ["registry.example/team/app"], repository.sink, { format: "oci" });
      const repositoryIndex = JSON.parse((await entriesOf(repository.bytes())).find((entry) => entry.name === "index.json")!.body.toString()) as {
        manifests: { annotations?: Record<string, string> }[];
      };
      return repositoryIndex.manifests.map((entry) => entry.annotations?.["io.containerd.image.name"]);
    };
    expect(await namesSaved()).toEqual(["registry.example/team/app:1"]);
    await store.references.update((txn) => txn.delete("registry.example/team/app:1"));
    expect(await namesSaved()).toEqual([pinned]);
  });
});

describe("names by digest through convert's two paths", () => {
  it("a tag a later image of the archive takes leaves the first image its repo@digest, the same through the store and straight", async () => {
    const first = makeImage({ seed: "first", gzip: true });
    const second = makeImage({ seed: "second", gzip: true });
    const named = (image: TestImage): Record<string, unknown> => descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/a/b:1" } });
    const input = buildTar(ociLayoutItems([first, second], { indexEntries: [named(first), named(second)] }));
    const straight = collector();
    await convertArchive(await openTarStream(Readable.from([input])), straight.sink, { format: "oci" });
    const viaStore = collector();
    await convertViaStore(await openTarStream(Readable.from([input])), viaStore.sink, { format: "oci" });
    expect(straight.bytes().equals(viaStore.bytes())).toBe(true);
    const index = JSON.parse((await entriesOf(straight.bytes())).find((entry) => entry.name === "index.json")!.body.toString()) as {
      manifests: { digest: string; annotations?: Record<string, string> }[];
    };
    expect(index.manifests.map((entry) => [entry.digest, entry.annotations?.["io.containerd.image.name"]]).sort()).toEqual(
      [
        [first.manifest.digest, `docker.io/a/b@${first.manifest.digest}`],
        [second.manifest.digest, "docker.io/a/b:1"],
      ].sort(),
    );
  });

  it("save NAME:TAG@DIGEST writes the name by digest without its tag, and the archive verifies", async () => {
    const image = makeImage({ seed: "tag-and-digest", gzip: true });
    const store = await freshStore();
    await loadBytes(store, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/x/y:1" } })] })));
    const { sink, bytes } = collector();
    await saveImages(store, [`x/y:1@${image.manifest.digest}`], sink);
    const index = JSON.parse((await entriesOf(bytes())).find((entry) => entry.name === "index.json")!.body.toString()) as { manifests: { annotations?: Record<string, string> }[] };
    expect(index.manifests.map((entry) => entry.annotations)).toEqual([{ "io.containerd.image.name": `docker.io/x/y@${image.manifest.digest}` }]);
    expect((await verifyArchive(await openTarStream(Readable.from([bytes()])))).problems).toEqual([]);
  });
});

describe("an image whose foreign layer the store does not hold", () => {
  const withName = (image: TestImage, name: string): TarItem[] =>
    ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name } })] });
  const absentArchive = (image: TestImage, name: string): Buffer => buildTar(withoutFile(withName(image, name), blobPath(image.layers[0]!.digest)));
  const manifestJsonOf = (image: TestImage, name: string): string => {
    const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
    const source = { mediaType: foreign.mediaType, size: foreign.size, digest: foreign.digest, urls: FOREIGN_URLS };
    return `${JSON.stringify([{ Config: blobPath(image.config.digest), RepoTags: [name], Layers: [blobPath(foreign.digest), blobPath(own.digest)], LayerSources: { [foreign.diffId]: source } }])}\n`;
  };

  for (const [title, image, name] of [
    ["a Docker foreign layer", makeForeignImage(), "example.com/win/foreign:1"],
    ["an OCI non-distributable layer", makeForeignImage(OCI_NONDISTRIBUTABLE_LAYER_GZIP, "nondist"), "example.com/win/nondist:1"],
  ] as const) {
    it(`${title}: both formats keep the manifest's bytes and list the layer without its blob, and the archive verifies and loads`, async () => {
      const store = await freshStore();
      await loadBytes(store, absentArchive(image, name));
      const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
      for (const format of ["oci", "docker"] as const) {
        const { sink, bytes } = collector();
        await saveImages(store, [name], sink, { format });
        const entries = await entriesOf(bytes());
        const documents = format === "docker" ? ["oci-layout", "index.json", "manifest.json", "repositories"] : ["oci-layout", "index.json"];
        const blobs = [image.config.digest, image.manifest.digest, own.digest].map(blobPath).sort();
        expect(entries.map((entry) => entry.name)).toEqual([...documents, "blobs/", "blobs/sha256/", ...blobs]);
        expect(entries.find((entry) => entry.name === blobPath(image.manifest.digest))!.body.equals(image.manifest.bytes)).toBe(true);
        if (format === "docker") expect(entries.find((entry) => entry.name === "manifest.json")!.body.toString()).toBe(manifestJsonOf(image, name));
        const report = await verifyArchive(await openTarStream(Readable.from([bytes()])));
        expect([report.problems, report.images.map((entry) => [entry.manifestDigest, entry.layers.map((layer) => layer.absent ?? false)])]).toEqual([[], [[image.manifest.digest, [true, false]]]]);
        expect(report.warnings).toEqual([`${blobPath(image.manifest.digest)} layers[0]: foreign layer ${foreign.digest} is not in the archive; its diff ID ${foreign.diffId} is the config's, unchecked`]);
        const again = await freshStore();
        await loadBytes(again, bytes());
        expect(await again.records.get(image.manifest.digest)).toEqual({ ...(await store.records.get(image.manifest.digest))!, loadedAt: expect.any(String) });
        // convert writes what load then save write.
        const converted = collector();
        await convertArchive(await openTarStream(Readable.from([absentArchive(image, name)])), converted.sink, { format });
        expect(converted.bytes().equals(bytes())).toBe(true);
      }
    });
  }

  it("a foreign layer that came without its blob is left out even when the store holds that blob for another reason: the archive is the one a store without it writes", async () => {
    const image = makeForeignImage();
    const foreign = image.layers[0]!;
    const name = "example.com/win/foreign:1";
    const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
    const payload = blobOf(foreign.bytes, "application/vnd.example.payload");
    const artifact = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example", config: descriptorOf(empty), layers: [descriptorOf(payload)] }), OCI_MANIFEST);
    const holding = await freshStore();
    await loadBytes(holding, buildTar(ociLayoutItems([], { indexEntries: [descriptorOf(artifact, { annotations: { "io.containerd.image.name": "example.com/art:1" } })], extraBlobs: [artifact, empty, payload] })));
    expect(await holding.content.has(foreign.digest)).toBe(true);
    await loadBytes(holding, absentArchive(image, name));
    const fresh = await freshStore();
    await loadBytes(fresh, absentArchive(image, name));
    for (const format of ["oci", "docker"] as const) {
      const [held, alone] = [collector(), collector()];
      const saved = await saveImages(holding, [name], held.sink, { format });
      await saveImages(fresh, [name], alone.sink, { format });
      expect((await entriesOf(held.bytes())).map((entry) => entry.name)).toEqual((await entriesOf(alone.bytes())).map((entry) => entry.name));
      expect(held.bytes().equals(alone.bytes())).toBe(true);
      expect(saved.images.map((entry) => entry.uncheckedLayers)).toEqual([[]]);
    }
  });

  it("a foreign layer the store holds is saved with its blob, and manifest.json gives its descriptor in LayerSources as docker does", async () => {
    const image = makeForeignImage();
    const store = await freshStore();
    await loadBytes(store, buildTar(withName(image, "example.com/win/foreign:1")));
    const { sink, bytes } = collector();
    await saveImages(store, ["example.com/win/foreign:1"], sink);
    const entries = await entriesOf(bytes());
    expect(entries.find((entry) => entry.name === blobPath(image.layers[0]!.digest))!.body.equals(image.layers[0]!.bytes)).toBe(true);
    expect(entries.find((entry) => entry.name === "manifest.json")!.body.toString()).toBe(manifestJsonOf(image, "example.com/win/foreign:1"));
    const report = await verifyArchive(await openTarStream(Readable.from([bytes()])));
    expect([report.problems, report.warnings]).toEqual([[], []]);
  });

  it.skipIf(!requirePeers("skopeo"))("skopeo reads the saved manifest byte for byte from both formats as oci-archive; its docker-archive reader wants every layer file", async () => {
    const image = makeForeignImage();
    const store = await freshStore();
    await loadBytes(store, absentArchive(image, "example.com/win/foreign:1"));
    const dir = tempDir();
    for (const format of ["oci", "docker"] as const) {
      const file = join(dir, `${format}.tar`);
      await saveToFile(file, (sink) => saveImages(store, ["example.com/win/foreign:1"], sink, { format }));
      const raw = await runBytes("skopeo", ["inspect", "--raw", `oci-archive:${file}`]);
      expect([raw.code, raw.stdout.equals(image.manifest.bytes)]).toEqual([0, true]);
    }
    // containers/image builds a docker-archive's manifest from manifest.json's Layers files alone
    // (LayerSources unread): an archive without the foreign blob cannot satisfy it.
    const docker = await run("skopeo", ["inspect", "--raw", `docker-archive:${join(dir, "docker.tar")}`]);
    expect([docker.code, docker.stderr]).toEqual([1, expect.stringContaining("Some layer tarfiles are missing in the tarball")]);
  });
});
