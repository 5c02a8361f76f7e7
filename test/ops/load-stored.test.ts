// A second load of an archive whose blobs are stored writes nothing, even for legacy entries whose
// names carry no digest (`<v1id>/layer.tar`); a stored look-alike (same size, same first bytes)
// never stands in for the real layer.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, layerTar, type TarItem } from "../support/archive-builder.js";
import { filesUnder } from "../support/store-tree.js";
import { FIXTURES, HAVE_FIXTURES, sharedExpected } from "./load-expectations.js";

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

/** Every file under root with its inode, modification time and size: a file rewritten, even with the same bytes, shows. */
async function fileIdentities(root: string): Promise<Record<string, [number, number, number]>> {
  const identities: Record<string, [number, number, number]> = {};
  for (const file of await filesUnder(root)) {
    const info = await stat(join(root, file));
    identities[file] = [info.ino, info.mtimeMs, info.size];
  }
  return identities;
}

describe("a second load of a stored archive, in the store as a whole", () => {
  it("rewrites no file: the image record, the references and every blob keep their inode and modification time", async () => {
    const root = await tempDir();
    const store = await Store.open(root);
    const path = await archiveFile();
    await loadArchive(store, await openArchivePath(path));
    const before = await fileIdentities(root);
    const [record] = await store.records.list();
    expect(Object.keys(before).filter((file) => file.startsWith("images/"))).toEqual([`images/sha256-${hex(record?.id ?? "")}.json`]);
    expect(Object.keys(before)).toContain("repositories.json");
    const second = await loadArchive(store, await openArchivePath(path));
    expect(second.images.map((image) => image.tags)).toEqual([["stored/test:1"]]);
    expect(await fileIdentities(root)).toEqual(before);
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

  it("from a .tar.gz file (read again, but without file offsets to compare): the layer is still stored under its own digest", async () => {
    const store = await Store.open(await tempDir());
    const decoy = await putBlob(store, lookAlike);
    const path = join(await tempDir(), "legacy.tar.gz");
    await writeFile(path, gzipSync(legacyArchive()));
    const source = await openArchivePath(path);
    const reopen = vi.fn(source.reopen as NonNullable<typeof source.reopen>);
    source.reopen = reopen;
    const result = await loadArchive(store, source);
    expect(reopen).toHaveBeenCalledTimes(1);
    expect(result.images.map((image) => [image.tags, image.configDigest])).toEqual([[["stored/test:1"], CONFIG_DIGEST]]);
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

describe("a stored look-alike read through a pipe (lading load -i <(...))", () => {
  it("is not matched: a pipe cannot be read again, so every unnamed layer is written", async () => {
    const dir = await tempDir();
    const store = await Store.open(dir);
    const lookAlike = Buffer.from(LAYER);
    lookAlike.write("Z", LAYER.length - 2048, "latin1");
    await putBlob(store, lookAlike);
    const fifo = join(dir, "archive.fifo");
    execFileSync("mkfifo", [fifo]);
    const writing = writeFile(fifo, legacyArchive());
    const source = await openArchivePath(fifo);
    expect(source.reopen).toBeUndefined();
    const result = await loadArchive(store, source);
    await writing;
    expect(result.images.map((image) => image.configDigest)).toEqual([CONFIG_DIGEST]);
    expect(await store.content.verifyBlob(DIFF_ID)).toBe(true);
  });
});

describe("an entry named for a stored blob whose bytes are other bytes", () => {
  // Same size as LAYER, so the name and the size both say "stored".
  const decoyBytes = Buffer.from(LAYER);
  decoyBytes.write("Z", 10, "latin1");
  const misnamed = (decoy: string): Buffer =>
    buildTar([
      { type: "file", name: `${hex(decoy)}.tar`, content: LAYER },
      { type: "file", name: `${hex(CONFIG_DIGEST)}.json`, content: CONFIG },
      { type: "file", name: "manifest.json", content: JSON.stringify([{ Config: `${hex(CONFIG_DIGEST)}.json`, RepoTags: ["stored/test:1"], Layers: [`${hex(decoy)}.tar`] }]) },
    ]);

  it("from a file: the archive is read again, and the layer refused for content that is not the digest its name gives", async () => {
    const store = await Store.open(await tempDir());
    const decoy = await putBlob(store, decoyBytes);
    const path = join(await tempDir(), "misnamed.tar");
    await writeFile(path, misnamed(decoy));
    await expect(loadArchive(store, await openArchivePath(path))).rejects.toThrow(
      `manifest.json[0].Layers[0]: ${hex(decoy)}.tar is named for ${hex(decoy)} but its content is ${DIFF_ID}`,
    );
    expect(await readdir(store.paths.ingest)).toEqual([]);
    expect(await store.content.has(DIFF_ID)).toBe(false);
  });

  it("from a stream read once: refused, naming the entry and both digests, with no ingest file left", async () => {
    const store = await Store.open(await tempDir());
    const decoy = await putBlob(store, decoyBytes);
    await expect(loadArchive(store, await openTarStream(Readable.from([misnamed(decoy)])))).rejects.toThrow(
      `${hex(decoy)}.tar is named for the stored blob ${decoy}, but its content is ${DIFF_ID}`,
    );
    expect(await readdir(store.paths.ingest)).toEqual([]);
    expect(await store.content.has(DIFF_ID)).toBe(false);
  });
});

describe.skipIf(!HAVE_FIXTURES)("a symbolic link to an OCI layout directory", () => {
  it("is loaded as the directory it names", async () => {
    const dir = await tempDir();
    const link = join(dir, "layout");
    await symlink(join(FIXTURES, "layouts", "oci-umoci-gzip"), link);
    const store = await Store.open(join(dir, "store"));
    const result = await loadArchive(store, await openArchivePath(link));
    const expected = sharedExpected?.fixtures["oci-umoci-gzip"]?.images.map((image) => image.manifestDigest).sort();
    expect(result.images.map((image) => image.id).sort()).toEqual(expected);
    expect(expected).toHaveLength(3);
  });
});
