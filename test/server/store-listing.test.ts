import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { StoreListing } from "../../src/server/store-listing.js";
import { Store } from "../../src/store/store.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/fixtures");
const SINGLE = path.join(fixtures, "archives/docker-save-single.tar");
const ID = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
const LAYER = "sha256:83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e";
/** Longer than the 100 ms in which a directory stamp is not trusted: the cached path is taken. */
const SETTLE_MS = 150;

let root = "";
let store: Store;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "lading-listing-"));
  store = await Store.open(root);
  await loadArchive(store, await openArchivePath(SINGLE));
  await delay(SETTLE_MS);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("StoreListing", () => {
  it("keeps records while images/ is unchanged and re-reads a record rewritten under it", async () => {
    const listing = new StoreListing();
    const first = await listing.records(store);
    expect(first.map((record) => record.id)).toEqual([ID]);
    expect(await listing.records(store)).toBe(first);

    const record = first[0];
    if (!record) throw new Error("no record");
    await store.records.put({ ...record, loadedAt: "2030-01-01T00:00:00.000Z" });
    const second = await listing.records(store);
    expect(second).not.toBe(first);
    expect(second.map((entry) => entry.loadedAt)).toEqual(["2030-01-01T00:00:00.000Z"]);
    // Read within 100 ms of the change, that answer is checked again once; then it is trusted.
    await delay(SETTLE_MS);
    const settled = await listing.records(store);
    expect(settled).toEqual(second);
    expect(await listing.records(store)).toBe(settled);

    await store.records.delete(ID);
    expect(await listing.records(store)).toEqual([]);
  });

  it("notices a blob that goes and comes back, also after the cached answer was trusted", async () => {
    const listing = new StoreListing();
    const records = await listing.records(store);
    const complete = await listing.missingBlobs(store, records);
    expect(complete.get(ID)).toBeNull();
    expect(await listing.missingBlobs(store, records)).toBe(complete);

    const blob = store.content.blobPath(LAYER);
    await rename(blob, `${root}/layer-aside`);
    expect((await listing.missingBlobs(store, records)).get(ID)).toBe(LAYER);
    await delay(SETTLE_MS);
    const stillMissing = await listing.missingBlobs(store, records);
    expect(stillMissing.get(ID)).toBe(LAYER);
    expect(await listing.missingBlobs(store, records)).toBe(stillMissing);

    await rename(`${root}/layer-aside`, blob);
    expect((await listing.missingBlobs(store, records)).get(ID)).toBeNull();
  });

  it("remembers a value while its inputs are the same objects", async () => {
    const listing = new StoreListing();
    const a = {};
    const b = {};
    let computed = 0;
    const compute = () => Promise.resolve(++computed);
    expect(await listing.remember("k", [a, b], compute)).toBe(1);
    expect(await listing.remember("k", [a, b], compute)).toBe(1);
    expect(await listing.remember("other", [a, b], compute)).toBe(2);
    expect(await listing.remember("k", [a, {}], compute)).toBe(3);
    expect(await listing.remember("k", [a, b], compute)).toBe(4);
  });
});
