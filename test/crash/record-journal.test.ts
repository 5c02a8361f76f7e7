// A command killed between its image records and its references (SIGKILL, at exactly that point,
// by the process itself): the next command that takes the references' lock settles what it left
// (see record-journal.ts), so that no image appears that no command reported, and an rmi that
// had untagged an image but not yet removed it is finished. fsck says what it settled.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { listImages, pruneBlobs, removeImage, tagImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import type { ImageRecord } from "../../src/store/image-records.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage, type TestImage } from "../support/archive-builder.js";
import { REPO_ROOT } from "../ops/load-expectations.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
beforeAll(() => ensureBuilt());

async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-journal-"));
  dirs.push(dir);
  return dir;
}

/** A store holding `image` as example/NAME:1, loaded as a user loads it. */
async function storeWith(image: TestImage, name: string): Promise<{ root: string; store: Store; record: ImageRecord }> {
  const dir = await scratch();
  const archive = join(dir, "archive.tar");
  await writeFile(archive, buildTar(dockerArchiveItems([{ image, repoTags: [`example/${name}:1`] }])));
  const root = join(dir, "store");
  const store = await Store.open(root);
  const { images } = await loadArchive(store, await openArchivePath(archive));
  return { root, store, record: (await store.records.get(images[0]!.id))! };
}

/**
 * Runs `body` (the inside of an update, given `store`, `txn` and `record`) in a process of its own,
 * on the built store module, with `afterWrite` as the update's; the process kills itself with
 * SIGKILL where the body or afterWrite says `die()`.
 */
function killedUpdate(root: string, record: ImageRecord, body: string, afterWrite = ""): void {
  const script = `
    import { Store } from ${JSON.stringify(join(REPO_ROOT, "dist", "store", "store.js"))};
    const store = await Store.open(${JSON.stringify(root)});
    const record = ${JSON.stringify(record)};
    const die = () => process.kill(process.pid, "SIGKILL");
    await store.references.update(async (txn) => { ${body} }, async () => { ${afterWrite} });
    console.log("not killed");
  `;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  expect([child.signal, child.stdout, child.stderr]).toEqual(["SIGKILL", "", ""]);
}

const journalOf = (root: string): string => join(root, "records-journal");
const EXTRA_BLOB = `sha256:${"e".repeat(64)}`;

describe("a command killed between its image records and its references", () => {
  it("a load killed after writing its record, before its tag: the record is not listed once fsck has settled it, and prune then reclaims the blobs", async () => {
    const image = makeImage({ seed: "killed-load" });
    const { root, store, record } = await storeWith(image, "killed");
    await removeImage(store, "example/killed:1");
    expect(await store.records.get(record.id)).toBeUndefined();

    killedUpdate(root, record, `txn.addTag("example/killed:1", record.id); await store.journal.begin(txn, { add: [record] }); await store.records.add(record); die();`);
    // What the killed process left: the record, no tag, and the journal that says to put it back.
    expect([(await store.records.get(record.id))?.id, await store.references.get("example/killed:1"), existsSync(journalOf(root))]).toEqual([record.id, undefined, true]);

    const report = await fsckStore(store);
    expect(report.problems).toEqual([
      { kind: "interrupted-command", subject: root, message: `image records: put back ${record.id} as they were before a load or pull that was killed before it wrote its references`, repaired: true },
    ]);
    expect([await listImages(store), existsSync(journalOf(root))]).toEqual([[], false]);
    expect((await pruneBlobs(store)).deleted.sort()).toEqual([record.id, image.config.digest, image.layers[0]!.digest].sort());
  });

  it("a killed load of an untagged image (no reference changes, so its end is its commit point) leaves nothing; a record it was merging into goes back as it was", async () => {
    const image = makeImage({ seed: "killed-untagged" });
    const { root, store, record } = await storeWith(image, "kept");
    // The same root again, bringing another blob: the stored record merges it in.
    const again: ImageRecord = { ...record, otherBlobs: [...record.otherBlobs, EXTRA_BLOB] };
    killedUpdate(root, again, `await store.journal.begin(txn, { add: [record] }); await store.records.add(record); die();`);
    expect((await store.records.get(record.id))?.otherBlobs).toEqual(again.otherBlobs);
    // Any command that takes the lock settles it: here a tag of another name.
    await tagImage(store, "example/kept:1", "example/other:1");
    expect([await store.records.get(record.id), existsSync(journalOf(root))]).toEqual([record, false]);
  });

  it("an rmi killed after writing the references, before deleting the record: the next command finishes it", async () => {
    const image = makeImage({ seed: "killed-rmi" });
    const { root, store, record } = await storeWith(image, "gone");
    killedUpdate(root, record, `txn.delete("example/gone:1"); await store.journal.begin(txn, { delete: [record.id] }); return record.id;`, `die();`);
    expect([await store.references.get("example/gone:1"), (await store.records.get(record.id))?.id]).toEqual([undefined, record.id]);
    const report = await fsckStore(store);
    expect(report.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([
      ["interrupted-command", `image records: removed ${record.id}, which an rmi killed after it wrote its references had left`, true],
    ]);
    expect(await listImages(store)).toEqual([]);
  });

  it("killed after writing the references, before settling its journal: a load's records stay, as its tags name them", async () => {
    const image = makeImage({ seed: "killed-late" });
    const { root, store, record } = await storeWith(image, "late");
    await removeImage(store, "example/late:1");
    killedUpdate(root, record, `txn.addTag("example/late:1", record.id); await store.journal.begin(txn, { add: [record] }); await store.records.add(record);`, `die();`);
    expect((await fsckStore(store)).problems).toEqual([]);
    expect((await listImages(store)).map((summary) => [summary.id, summary.repoTags])).toEqual([[record.id, ["example/late:1"]]]);
    expect(existsSync(journalOf(root))).toBe(false);
  });

  it("a load that changes no record writes no journal: a second load of the same archive writes nothing", async () => {
    const image = makeImage({ seed: "again" });
    const { root, store, record } = await storeWith(image, "again");
    let journals = 0;
    const update = store.references.update.bind(store.references);
    store.references.update = (async (fn: Parameters<typeof update>[0], afterWrite?: Parameters<typeof update>[1]) =>
      update(async (txn) => {
        const value = await fn(txn);
        if (existsSync(journalOf(root))) journals++;
        return value;
      }, afterWrite)) as typeof store.references.update;
    const archive = join(root, "..", "archive.tar");
    await loadArchive(store, await openArchivePath(archive));
    await loadArchive(store, await openArchivePath(archive));
    expect([journals, (await store.records.get(record.id))?.id]).toEqual([0, record.id]);
  });

  it("an update that fails after writing records puts them back under the lock, as they were", async () => {
    const image = makeImage({ seed: "failed" });
    const { root, store, record } = await storeWith(image, "failed");
    const again: ImageRecord = { ...record, otherBlobs: [...record.otherBlobs, EXTRA_BLOB] };
    const failure = store.references.update(async (txn) => {
      txn.addTag("example/failed:2", record.id);
      await store.journal.begin(txn, { add: [again] });
      expect((await store.records.add(again)).changed).toBe(true);
      throw new Error("the disk is full");
    });
    await expect(failure).rejects.toThrow("the disk is full");
    expect([await store.records.get(record.id), await store.references.get("example/failed:2"), existsSync(journalOf(root))]).toEqual([record, undefined, false]);
  });
});
