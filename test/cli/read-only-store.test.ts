// A copy of a store on read-only media that lacks the directories only writes use and that are
// always empty (leases/, ingest/, blobs/sha512/; a copy that skips empty directories leaves them
// out): every command that only reads works on it, and changes nothing; one that writes fails in
// one line naming the directory it cannot make.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { readOnlyView } from "../support/read-only-view.js";
import { ladingOnStore as lading } from "../support/cli-sync.js";
import { snapshotTree } from "../support/store-tree.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");
const IMAGE = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";

let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-read-only-store-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


describe("a read-only store without its always-empty directories", () => {
  it("images, inspect, save -o elsewhere and fsck read it as they read the whole store; load fails naming the directory it cannot make", async () => {
    const root = join(dir, "store");
    expect(lading(root, "load", "-q", "-i", ARCHIVE)[0]).toBe(0);
    expect(lading(root, "save", "-q", "-o", join(dir, "writable.tar"), "lading-testdata/app:1.0")[0]).toBe(0);
    for (const empty of ["leases", "ingest", "blobs/sha512"]) rmSync(join(root, empty), { recursive: true });
    mkdirSync(join(dir, "view"));
    const view = readOnlyView(root, join(dir, "view"));
    try {
      const before = await snapshotTree(view.path);
      expect(lading(view.path, "images", "-q")).toEqual([0, `${IMAGE.slice(7, 19)}\n`.repeat(2), ""]);
      const [inspected, shown] = lading(view.path, "inspect", "lading-testdata/app:1.0");
      expect([inspected, (JSON.parse(shown) as { Id: string }[]).map((image) => image.Id)]).toEqual([0, [IMAGE]]);
      expect(lading(view.path, "save", "-q", "-o", join(dir, "read-only.tar"), "lading-testdata/app:1.0")).toEqual([0, "", ""]);
      expect(readFileSync(join(dir, "read-only.tar")).equals(readFileSync(join(dir, "writable.tar")))).toBe(true);
      const clean = "checked 5 blobs, 1 images, 2 references: 0 problem(s)\n";
      expect(lading(view.path, "fsck")).toEqual([0, clean, ""]);
      expect(lading(view.path, "fsck", "--repair")).toEqual([0, clean, ""]);
      expect(lading(view.path, "load", "-q", "-i", ARCHIVE)).toEqual([1, "", `lading: error: cannot create the directory ${join(view.path, "blobs", "sha512")}: ${view.refusal}\n`]);
      expect(await snapshotTree(view.path)).toEqual(before);
    } finally {
      view.release();
    }
  });
});
