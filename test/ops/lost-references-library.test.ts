// The library's tagImage and removeImage on a store whose repositories.json was lost (moved away
// while the store holds images): refused with the remedy before a name is looked up, rather than
// "No such image" for a name the lost file held, and the store left as it was.
import { mkdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { removeImage, tagImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { scratchDirectory } from "../support/in-process-cli.js";
import { snapshotTree } from "../support/store-tree.js";

const ARCHIVE = join(import.meta.dirname, "..", "..", "testdata", "docker-archive.tar");

const { newPath } = scratchDirectory("lading-lost-library-");

describe("tagImage and removeImage by name on a store whose repositories.json was lost", () => {
  it("reject with the remedy, not No such image, and change nothing", async () => {
    const dir = newPath("case");
    await mkdir(dir);
    const store = await Store.open(join(dir, "store"));
    await loadArchive(store, await openArchivePath(ARCHIVE));
    await rename(store.paths.repositoriesJson, join(dir, "moved.json"));
    const before = await snapshotTree(store.paths.root);
    const remedy = `${store.paths.repositoriesJson}: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or run lading fsck --repair`;
    await expect(tagImage(store, "lading-testdata/app:1.0", "new/app:1")).rejects.toThrow(remedy);
    await expect(removeImage(store, "lading-testdata/app:1.0")).rejects.toThrow(remedy);
    await expect(removeImage(store, "lading-testdata/app:1.0", true)).rejects.toThrow(remedy);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });
});
