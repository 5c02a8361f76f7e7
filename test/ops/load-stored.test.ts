// A second load of an archive whose blobs are stored writes nothing, even for legacy entries whose
// names carry no digest (`<v1id>/layer.tar`); a stored look-alike (same size, same first bytes)
// never stands in for the real layer.
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, layerTar, type TarItem } from "../support/archive-builder.js";

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-load-stored-"));
  roots.push(dir);
  return dir;
}
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const hex = (digest: string): string => digest.slice("sha256:".length);

/** 600 KiB of text that differs along its whole length, so a prefix says nothing about the rest. */
const bigText = (seed: string): string => Array.from({ length: 12_000 }, (_, i) => `${seed} line ${i} ${"x".repeat(36)}\n`).join("");

const LAYER = layerTar({ "data/big.txt": bigText("a"), "etc/hello.txt": "hello\n" });
const DIFF_ID = sha256(LAYER);
const CONFIG = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [DIFF_ID] }, history: [{ created_by: "test" }] }));
const CONFIG_DIGEST = sha256(CONFIG);
const V1_ID = "1".repeat(64);

/** A legacy docker-save archive: the layer is `<v1id>/layer.tar`, a name without its digest. */
function legacyArchive(): Buffer {
  const items: TarItem[] = [
    { type: "dir", name: `${V1_ID}/` },
    { type: "file", name: `${V1_ID}/VERSION`, content: "1.0" },
    { type: "file", name: `${V1_ID}/json`, content: JSON.stringify({ id: V1_ID, os: "linux" }) },
    { type: "file", name: `${V1_ID}/layer.tar`, content: LAYER },
    { type: "file", name: `${hex(CONFIG_DIGEST)}.json`, content: CONFIG },
    { type: "file", name: "manifest.json", content: JSON.stringify([{ Config: `${hex(CONFIG_DIGEST)}.json`, RepoTags: ["stored/test:1"], Layers: [`${V1_ID}/layer.tar`] }]) },
  ];
  return buildTar(items);
}

async function archiveFile(): Promise<string> {
  const path = join(await tempDir(), "legacy.tar");
  await writeFile(path, legacyArchive());
  return path;
}

async function putBlob(store: Store, bytes: Buffer): Promise<string> {
  const ingest = await store.content.openIngest();
  await ingest.write(bytes);
  return ingest.commit({ size: bytes.length });
}

describe("a second load of a stored archive", () => {
  it("opens no ingest and leaves every blob file as it was", async () => {
    const store = await Store.open(await tempDir());
    const path = await archiveFile();
    const first = await loadArchive(store, await openArchivePath(path));
    const layerFile = store.content.blobPath(DIFF_ID);
    const before = await stat(layerFile);
    const openIngest = vi.spyOn(store.content, "openIngest");
    const second = await loadArchive(store, await openArchivePath(path));
    expect(openIngest).not.toHaveBeenCalled();
    expect(second.images).toEqual(first.images);
    expect(second.images.map((image) => [image.tags, image.configDigest])).toEqual([[["stored/test:1"], CONFIG_DIGEST]]);
    const after = await stat(layerFile);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(await readdir(store.paths.ingest)).toEqual([]);
  });
});

describe("a stored look-alike of an unnamed layer", () => {
  // Same size and same first 256 KiB as LAYER, different after that.
  const lookAlike = Buffer.from(LAYER);
  lookAlike.write("Z", LAYER.length - 2048, "latin1");

  it("from a file: the layer is still stored under its own digest (the archive is read again)", async () => {
    const store = await Store.open(await tempDir());
    expect(lookAlike.length).toBe(LAYER.length);
    expect(lookAlike.subarray(0, 256 * 1024).equals(LAYER.subarray(0, 256 * 1024))).toBe(true);
    const decoy = await putBlob(store, lookAlike);
    const source = await openArchivePath(await archiveFile());
    const reopen = vi.fn(source.reopen as NonNullable<typeof source.reopen>);
    source.reopen = reopen;
    const result = await loadArchive(store, source);
    expect(reopen).toHaveBeenCalledTimes(1);
    expect(result.images.map((image) => image.configDigest)).toEqual([CONFIG_DIGEST]);
    expect(await store.content.verifyBlob(DIFF_ID)).toBe(true);
    expect(await store.content.verifyBlob(decoy)).toBe(true);
    expect(await readdir(store.paths.ingest)).toEqual([]);
  });

  it("from a stream that cannot be read again: every unnamed layer is written, never matched", async () => {
    const store = await Store.open(await tempDir());
    await putBlob(store, lookAlike);
    const result = await loadArchive(store, await openTarStream(Readable.from([legacyArchive()])));
    expect(result.images.map((image) => image.configDigest)).toEqual([CONFIG_DIGEST]);
    expect(await store.content.verifyBlob(DIFF_ID)).toBe(true);
  });
});
