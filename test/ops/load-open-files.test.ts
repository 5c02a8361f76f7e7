// A load holds no file descriptor per archive entry until its commit: an archive with more
// entries (or synthesised manifests) than the open-file limit loads, and running out of file
// descriptors anyway is said naming the entry and the limit, with the store left as it was.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, expect, it, vi } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, ensureBuilt, failureOf, makeImage, runLading } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";

beforeAll(() => ensureBuilt(), 120_000);

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-open-files-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A manifest.json-only docker archive of `count` one-layer images: 2 entries and 1 synthesised manifest each. */
async function manyImagesArchive(count: number): Promise<string> {
  const images = Array.from({ length: count }, (_, i) => ({ image: makeImage({ seed: `image ${i}` }), repoTags: [`many/app:${i}`] }));
  const path = join(await tempDir(), "many.tar");
  await writeFile(path, buildTar(dockerArchiveItems(images)));
  return path;
}

it("loads 400 entries and 200 synthesised manifests with an open-file limit of 128", async () => {
  const archive = await manyImagesArchive(200);
  const root = await tempDir();
  const result = await runLading(["--root", root, "load", "-q", "-i", archive], { through: ["prlimit", "--nofile=128:128"] });
  expect(result.stderr).not.toMatch(/EMFILE|open-file limit/);
  expect(result.code).toBe(0);
  expect(result.stdout.trim().split("\n")).toHaveLength(200);
}, 60_000);

it("names the entry and the open-file limit when a descriptor cannot be had, and stores nothing", async () => {
  const archive = await manyImagesArchive(3);
  const store = await Store.open(await tempDir());
  const before = await snapshotTree(store.paths.root);
  const openIngest = store.content.openIngest.bind(store.content);
  let opened = 0;
  vi.spyOn(store.content, "openIngest").mockImplementation((opts) => {
    if (++opened < 3) return openIngest(opts);
    return Promise.reject(Object.assign(new Error("EMFILE: too many open files, open '/x/ingest/y'"), { code: "EMFILE" }));
  });
  const message = await failureOf(loadArchive(store, await openArchivePath(archive)));
  expect(message).toMatch(/^entry "[0-9a-f]{64}\.(json|tar)": cannot open a file to store it: this process's open-file limit is reached \(EMFILE(; ulimit -n is \d+)?\): raise it with ulimit -n$/);
  expect(await snapshotTree(store.paths.root)).toEqual(before);
});
