// A compressed layer's diff ID, once a load has decompressed it, is kept in the store
// (diffids/sha256/<blob hex>): a later load of the same blob checks its digest as always but does
// not decompress it again. The record must never vouch for other bytes, and a load that took the
// diff ID on trust (--skip-diff-id-check) must not write one.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { pruneBlobs, removeImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { blobPath, buildTar, dockerArchiveItems, hexOf, layerTar, makeImage, ociLayoutItems, withFile, type TestImage } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "lading-known-diffids-"));
  dirs.push(dir);
  return dir;
}

async function archiveFile(items: Parameters<typeof buildTar>[0]): Promise<string> {
  const file = path.join(await scratch(), "archive.tar");
  await writeFile(file, buildTar(items));
  return file;
}

const load = async (store: Store, file: string, options: Parameters<typeof loadArchive>[2] = {}) => loadArchive(store, await openArchivePath(file), options);

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** Bytes that do not compress, the same for the same seed (sha256 in counter mode). */
function noise(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, counter = 0; offset < size; offset += 32, counter++) createHash("sha256").update(`${seed}/${counter}`).digest().copy(out, offset);
  return out;
}

/** Two gzip layers, the second still over 8 MiB compressed, so that a worker probes it. */
function gzipImage(seed: string): TestImage {
  const image = makeImage({ gzip: true, seed, layers: [layerTar({ "etc/hello.txt": `hello ${seed}\n` }), layerTar({ "data/big.bin": noise(seed, 9 * 1024 * 1024).toString("latin1") })] });
  expect((image.layers[1] as TestImage["layers"][0]).size).toBeGreaterThan(8 * 1024 * 1024);
  return image;
}

async function recordsOf(store: Store): Promise<Record<string, string>> {
  const dir = path.join(store.paths.diffIds, "sha256");
  const names = await readdir(dir).catch(() => [] as string[]);
  return Object.fromEntries(await Promise.all(names.sort().map(async (name) => [name, await readFile(path.join(dir, name), "utf8")] as const)));
}

describe("diff IDs kept for the next load", () => {
  it("a first load records each gzip layer's diff ID and decompressed size, worked out here from the blob", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("first");
    await load(store, await archiveFile(ociLayoutItems([image])));
    const expected = Object.fromEntries(
      image.layers.map((layer) => {
        const tar = gunzipSync(layer.bytes);
        return [hexOf(layer.digest), `${sha256(tar)} ${tar.length} layer-checked\n`];
      }),
    );
    expect(await recordsOf(store)).toEqual(expected);
    expect(image.layers.map((layer) => layer.diffId)).toEqual(image.layers.map((layer) => sha256(gunzipSync(layer.bytes))));
  });

  it("a second load takes the diff IDs from the records (a tampered record shows it), and says where they came from", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("second");
    const file = await archiveFile(ociLayoutItems([image]));
    await load(store, file);
    const again = await load(store, file);
    expect(again.images.map((loaded) => loaded.id)).toEqual([image.manifest.digest]);

    const [small, big] = image.layers as [TestImage["layers"][0], TestImage["layers"][0]];
    const wrong = `sha256:${"0".repeat(64)}`;
    const record = store.diffIds.recordPath(big.digest) as string;
    await writeFile(record, `${wrong} 123 layer-checked\n`);
    const before = await snapshotTree(store.paths.root);
    await expect(load(store, file)).rejects.toThrow(
      `${blobPath(image.manifest.digest)} layers[1]: layer ${blobPath(big.digest)} has diff ID ${wrong} (as the store's record ${record} says), but ${blobPath(image.config.digest)} rootfs.diff_ids[1] is ${big.diffId}`,
    );
    expect(await snapshotTree(store.paths.root)).toEqual(before);
    expect(small.diffId).not.toBe(wrong);
  });

  it("fsck reads again a layer whose record disagrees with an image, and rewrites a wrong record (without --repair): the load it refused then passes", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("wrong-record");
    const file = await archiveFile(ociLayoutItems([image]));
    await load(store, file);
    const big = image.layers[1] as TestImage["layers"][0];
    const record = store.diffIds.recordPath(big.digest) as string;
    const right = await readFile(record, "utf8");
    const wrong = `sha256:${"1".repeat(64)}`;
    await writeFile(record, `${wrong} 30208 layer-checked\n`);
    await expect(load(store, file)).rejects.toThrow(`has diff ID ${wrong} (as the store's record ${record} says)`);

    const report = await fsckStore(store);
    const size = gunzipSync(big.bytes).length;
    expect([report.layersDecompressed, report.diffIdsRecorded, report.problems]).toEqual([
      1,
      1,
      [{ kind: "wrong-diff-id-record", subject: big.digest, message: `layer ${big.digest}: its diff-ID record ${record} says it decompresses to ${wrong} (30208 bytes), but it decompresses to ${big.diffId} (${size} bytes)`, repaired: true }],
    ]);
    expect(await readFile(record, "utf8")).toBe(right);
    expect((await load(store, file)).images.map((loaded) => loaded.id)).toEqual([image.manifest.digest]);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("a record never stands in for other bytes: a layer named for a stored blob but not that blob is refused, store unchanged", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("bytes");
    await load(store, await archiveFile(ociLayoutItems([image])));
    const big = image.layers[1] as TestImage["layers"][0];
    // Same size, one byte of the deflate stream changed: the name still claims the stored blob.
    const other = Buffer.from(big.bytes);
    other[other.length >> 1] = (other[other.length >> 1] as number) ^ 0xff;
    const file = await archiveFile(withFile(ociLayoutItems([image]), blobPath(big.digest), other));
    const before = await snapshotTree(store.paths.root);
    await expect(load(store, file)).rejects.toMatchObject({ kind: "invalid", message: expect.stringContaining(`${blobPath(big.digest)}: content does not match its name (content is ${sha256(other)})`) });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("a docker-save archive's gzip layers named <hex>.tar use the records too", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("docker");
    await load(store, await archiveFile(ociLayoutItems([image])));
    const big = image.layers[1] as TestImage["layers"][0];
    const record = store.diffIds.recordPath(big.digest) as string;
    const wrong = `sha256:${"1".repeat(64)}`;
    await writeFile(record, `${wrong} 5 layer-checked\n`);
    await expect(load(store, await archiveFile(dockerArchiveItems([{ image, repoTags: ["known/diffids:docker"] }])))).rejects.toThrow(
      `layer ${hexOf(big.digest)}.tar has diff ID ${wrong} (as the store's record ${record} says)`,
    );
  });

  it("a recorded decompressed size over --max-layer-size refuses the layer as decompressing it does, store unchanged", async () => {
    // Stored within the limit (every entry is held to it), decompressed beyond it.
    const layer = layerTar({ "data/some.bin": noise("limit", 16 * 1024).toString("latin1") + "\0".repeat(48 * 1024) });
    expect(layer.length).toBeGreaterThan(64 * 1024);
    const first = makeImage({ gzip: true, layers: [layer] });
    const second = makeImage({ gzip: true, layers: [layer], editConfig: (config) => ({ ...config, author: "another" }) });
    const blob = first.layers[0] as TestImage["layers"][0];
    expect((second.layers[0] as TestImage["layers"][0]).digest).toBe(blob.digest);
    expect(second.config.digest).not.toBe(first.config.digest);
    const secondFile = await archiveFile(ociLayoutItems([second]));
    const limit = 32 * 1024;
    const expected = `${blobPath(second.manifest.digest)} layers[0]: layer ${blobPath(blob.digest)}: decompressed size exceeds the limit of ${limit} bytes`;

    const fresh = await Store.open(await scratch());
    const freshError = await load(fresh, secondFile, { maxLayerBytes: limit }).then(() => undefined, (error: unknown) => error);
    expect(freshError).toMatchObject({ kind: "invalid", message: expected });

    const store = await Store.open(await scratch());
    await load(store, await archiveFile(ociLayoutItems([first])));
    expect(Object.keys(await recordsOf(store))).toEqual([hexOf(blob.digest)]);
    const before = await snapshotTree(store.paths.root);
    const knownError = await load(store, secondFile, { maxLayerBytes: limit }).then(() => undefined, (error: unknown) => error);
    expect(knownError).toMatchObject({ kind: "invalid", message: expected });
    expect((knownError as Error).message).toBe((freshError as Error).message);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
    // A limit of exactly the recorded size takes the layer, as the decompressor does.
    const loaded = await load(store, secondFile, { maxLayerBytes: layer.length });
    expect(loaded.images.map((image) => image.id)).toEqual([second.manifest.digest]);
  });

  it("a load with --skip-diff-id-check writes no record, and one that decompressed writes them after", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("trusted");
    const file = await archiveFile(ociLayoutItems([image]));
    await load(store, file, { checkCompressedLayers: false });
    expect(await recordsOf(store)).toEqual({});
    await load(store, file);
    expect(Object.keys(await recordsOf(store))).toEqual(image.layers.map((layer) => hexOf(layer.digest)).sort());
  });

  it("a prune that deletes a layer blob deletes its record too", async () => {
    const store = await Store.open(await scratch());
    const image = gzipImage("pruned");
    await load(store, await archiveFile(ociLayoutItems([image])), { name: "known/diffids" });
    expect(Object.keys(await recordsOf(store))).toHaveLength(2);
    await removeImage(store, image.manifest.digest, true);
    const pruned = await pruneBlobs(store);
    expect(pruned.deleted).toEqual(expect.arrayContaining(image.layers.map((layer) => layer.digest)));
    expect(await recordsOf(store)).toEqual({});
  });
});
