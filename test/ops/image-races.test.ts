// rmi, tag and load in two processes at once: each test runs one of them at the exact moment the
// other is about to take the reference store's lock (what a race between two commands may do),
// and checks that no reference names an image whose record is gone.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { removeImage, tagImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { ReferenceStore, type ReferenceTxn, type RepositoriesFile, type UpdateResult } from "../../src/store/reference-store.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, makeImage } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";

const SINGLE = "../shared/fixtures/archives/docker-save-single.tar";
const IMPORTED = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";

/** A reference store that runs `beforeNextUpdate` (another process's command) just before its next locked update. */
class InterleavedReferences extends ReferenceStore {
  beforeNextUpdate: (() => Promise<unknown>) | undefined;

  override async update<T>(fn: (txn: ReferenceTxn) => T | Promise<T>, afterWrite?: (value: T) => Promise<void>): Promise<UpdateResult<T>> {
    const other = this.beforeNextUpdate;
    this.beforeNextUpdate = undefined;
    await other?.();
    return super.update(fn, afterWrite);
  }
}

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

/** The same store seen by two processes: `mine` interleaves, `other` is plain. */
async function twoViews(): Promise<{ mine: Store; references: InterleavedReferences; other: Store }> {
  const root = await mkdtemp(join(tmpdir(), "lading-races-"));
  roots.push(root);
  let references: InterleavedReferences | undefined;
  const mine = await Store.open(root, { references: (file) => (references = new InterleavedReferences(file)) });
  return { mine, references: references as InterleavedReferences, other: await Store.open(root) };
}

async function problems(store: Store): Promise<string[]> {
  return (await fsckStore(store)).problems.map((problem) => problem.message);
}

describe("rmi, tag and load racing", () => {
  it("tag fails, and tags nothing, when an rmi removed its image after the lookup", async () => {
    const { mine, references, other } = await twoViews();
    await loadArchive(other, await openArchivePath(SINGLE));
    references.beforeNextUpdate = () => removeImage(other, IMPORTED, true);
    await expect(tagImage(mine, "imported-plain", "b:6")).rejects.toThrow(`No such image: imported-plain`);
    expect(await other.references.snapshot()).toEqual({ Repositories: {} });
    expect(await problems(other)).toEqual([]);
  });

  it("a load's tags name a record even when an rmi deleted the stored one while the load read", async () => {
    const { mine, references, other } = await twoViews();
    await loadArchive(other, await openArchivePath(SINGLE));
    const removals = ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"];
    references.beforeNextUpdate = async () => {
      for (const name of removals) await removeImage(other, name);
    };
    const result = await loadArchive(mine, await openArchivePath(SINGLE));
    expect(result.images.map((image) => [image.id, image.tags])).toEqual([[IMPORTED, removals]]);
    expect((await other.records.get(IMPORTED))?.id).toBe(IMPORTED);
    expect(await problems(other)).toEqual([]);
  });

  it("a load whose archive names an image by digest fails before committing anything", async () => {
    const { other } = await twoViews();
    const dir = await mkdtemp(join(tmpdir(), "lading-races-archive-"));
    roots.push(dir);
    const archive = join(dir, "digest-name.tar");
    const digestName = `fixture/x@sha256:${"a".repeat(64)}`;
    await writeFile(archive, buildTar(dockerArchiveItems([{ image: makeImage(), repoTags: [digestName] }])));
    const before = await snapshotTree(other.paths.root);
    await expect(loadArchive(other, await openArchivePath(archive))).rejects.toThrow(`manifest.json[0].RepoTags[0]: "${digestName}" carries a digest`);
    expect(await snapshotTree(other.paths.root)).toEqual(before);
  });

  it("a load whose references cannot be written (a full disk) leaves no image record behind", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-races-"));
    roots.push(root);
    const plain = await Store.open(root);
    await loadArchive(plain, await openArchivePath("../shared/fixtures/archives/ctr-export.tar"));
    const before = Object.fromEntries(Object.entries(await snapshotTree(root)).filter(([name]) => name.startsWith("images/") || name === "repositories.json"));
    /** Runs the update under the real lock, then fails where the file would be written (what follows a write, and puts a failed one back, as the real update). */
    class FullDisk extends ReferenceStore {
      override async update<T>(
        fn: (txn: ReferenceTxn) => T | Promise<T>,
        afterWrite?: (value: T) => Promise<void>,
        onFailure?: (current: RepositoriesFile | undefined) => Promise<void>,
      ): Promise<UpdateResult<T>> {
        return super.update(async (txn) => {
          await fn(txn);
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        }, afterWrite, onFailure);
      }
    }
    const failing = await Store.open(root, { references: (file) => new FullDisk(file) });
    await expect(loadArchive(failing, await openArchivePath(SINGLE))).rejects.toThrow("ENOSPC");
    const after = Object.fromEntries(Object.entries(await snapshotTree(root)).filter(([name]) => name.startsWith("images/") || name === "repositories.json"));
    expect(after).toEqual(before);
  });

  it("a load whose blob is deleted right after it was committed (a prune between) records and tags nothing", async () => {
    const root = await mkdtemp(join(tmpdir(), "lading-races-"));
    roots.push(root);
    const store = await Store.open(root);
    const image = makeImage({ seed: "pruned" });
    const layer = image.layers[0]!.digest;
    const commitAll = store.content.commitAll.bind(store.content);
    store.content.commitAll = async (...args) => {
      const committed = await commitAll(...args);
      expect(committed).toContain(layer);
      await store.content.delete(layer);
      return committed;
    };
    const archive = buildTar(dockerArchiveItems([{ image, repoTags: ["example/pruned:1"] }]));
    await expect(loadArchive(store, await openTarStream(PassThrough.from([archive])))).rejects.toThrow(`blob ${layer} disappeared from the store during the load`);
    expect(await store.records.list()).toEqual([]);
    expect(await store.references.references()).toEqual([]);
  });

  it("a load into a store whose repositories.json is broken fails before committing anything", async () => {
    const { other } = await twoViews();
    await writeFile(other.references.filePath, '{"Repositories":{"busybox":{"busybox:latest":"sha256:zz"}}}');
    const before = await snapshotTree(other.paths.root);
    await expect(loadArchive(other, await openArchivePath(SINGLE))).rejects.toThrow('"busybox:latest"');
    expect(await snapshotTree(other.paths.root)).toEqual(before);
    // ...and before reading the archive: a stream that never ends is not waited for.
    const endless = new PassThrough();
    endless.write(await readFile(SINGLE));
    await expect(loadArchive(other, await openTarStream(endless))).rejects.toThrow('"busybox:latest"');
    expect(await snapshotTree(other.paths.root)).toEqual(before);
  });
});
