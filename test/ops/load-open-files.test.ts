// A load holds no file descriptor per archive entry until its commit: an archive with more
// entries (or synthesised manifests) than the open-file limit loads, and running out of file
// descriptors anyway is said naming the entry and the limit, with the store left as it was.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeAll, expect, it, vi } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { HELD_ENTRY_MAX_BYTES } from "../../src/ops/held-entries.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, ensureBuilt, failureOf, layerTar, makeImage, runLading } from "../support/archive-builder.js";
import { scratchDirectory } from "../support/in-process-cli.js";
import { snapshotTree } from "../support/store-tree.js";

beforeAll(() => ensureBuilt(), 120_000);

const scratch = scratchDirectory("lading-open-files-");
async function tempDir(): Promise<string> {
  const dir = scratch.newPath("dir");
  await mkdir(dir);
  return dir;
}
afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A manifest.json-only docker archive of `count` one-layer images: 2 entries and 1 synthesised
 * manifest each. Layers of `layerBytes` or more go to ingest files as they are read (smaller
 * entries are held in memory until commit).
 */
async function manyImagesArchive(count: number, layerBytes = 0): Promise<string> {
  const layer = (i: number) => layerTar({ "etc/hello.txt": `hello ${i}\n`, "etc/padding": "x".repeat(layerBytes) });
  const images = Array.from({ length: count }, (_, i) => ({ image: makeImage({ layers: [layer(i)] }), repoTags: [`many/app:${i}`] }));
  const path = join(await tempDir(), "many.tar");
  await writeFile(path, buildTar(dockerArchiveItems(images)));
  return path;
}

/** Loads `archive` into a new store whose third ingest file cannot be opened (EMFILE); the failure's message, and the store's tree before. */
async function loadRunningOutOfFiles(archive: string): Promise<{ message: string; store: Store; before: Awaited<ReturnType<typeof snapshotTree>> }> {
  const store = await Store.open(await tempDir());
  const before = await snapshotTree(store.paths.root);
  const openIngest = store.content.openIngest.bind(store.content);
  let opened = 0;
  vi.spyOn(store.content, "openIngest").mockImplementation((opts) => {
    if (++opened < 3) return openIngest(opts);
    return Promise.reject(Object.assign(new Error("EMFILE: too many open files, open '/x/ingest/y'"), { code: "EMFILE" }));
  });
  return { message: await failureOf(loadArchive(store, await openArchivePath(archive))), store, before };
}

it("loads 400 entries and 200 synthesised manifests with an open-file limit of 128", async () => {
  const archive = await manyImagesArchive(200, HELD_ENTRY_MAX_BYTES);
  const root = await tempDir();
  const result = await runLading(["--root", root, "load", "-q", "-i", archive], { through: ["prlimit", "--nofile=128:128"] });
  expect(result.stderr).not.toMatch(/EMFILE|open-file limit/);
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split("\n")).toHaveLength(200);
}, 60_000);

it("names the entry and the open-file limit when a descriptor cannot be had, and stores nothing", async () => {
  const archive = await manyImagesArchive(3, HELD_ENTRY_MAX_BYTES);
  const { message, store, before } = await loadRunningOutOfFiles(archive);
  expect(message).toMatch(/^entry "[0-9a-f]{64}\.(json|tar)": cannot open a file to store it: this process's open-file limit is reached \(EMFILE(; ulimit -n is \d+)?\): raise it with ulimit -n$/);
  expect(await snapshotTree(store.paths.root)).toEqual(before);
});

it("opens a file only for the entries an image uses when they are small: an unused one is never written", async () => {
  const image = makeImage({ seed: "used" });
  const unused = Array.from({ length: 50 }, (_, i) => ({ type: "file" as const, name: `extra/unused-${i}`, content: `unused ${i}\n` }));
  const path = join(await tempDir(), "unused.tar");
  await writeFile(path, buildTar([...dockerArchiveItems([{ image, repoTags: ["few/app:1"] }]), ...unused]));
  const store = await Store.open(await tempDir());
  const opened = vi.spyOn(store.content, "openIngest");
  const result = await loadArchive(store, await openArchivePath(path));
  expect(result.images.map((loaded) => loaded.tags)).toEqual([["few/app:1"]]);
  // The config, the layer and the manifest synthesised for the manifest.json entry, each written at commit.
  expect(opened).toHaveBeenCalledTimes(3);
  expect(await readFile(store.content.blobPath(image.config.digest))).toEqual(image.config.bytes);
  expect(await readFile(store.content.blobPath(image.layers[0]!.digest))).toEqual(image.layers[0]!.bytes);
});

it("names the blob when a small entry held in memory cannot be given a file at commit, and stores nothing", async () => {
  const archive = await manyImagesArchive(3);
  const { message, store, before } = await loadRunningOutOfFiles(archive);
  expect(message).toMatch(/^blob sha256:[0-9a-f]{64}: cannot open a file to store it: this process's open-file limit is reached \(EMFILE(; ulimit -n is \d+)?\): raise it with ulimit -n$/);
  expect(await snapshotTree(store.paths.root)).toEqual(before);
});
