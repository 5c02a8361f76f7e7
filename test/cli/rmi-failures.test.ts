// An rmi whose image record cannot be removed fails with the store as it was (README, "When a
// write fails"): its references are not removed, or are put back when the removal fails after
// them. The arguments of the same rmi removed before it are said, as docker says each as it goes.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { ladingAsNobody, NOBODY, RUNS_AS_NOBODY } from "../support/as-nobody.js";
import { ladingOnStore as lading } from "../support/cli-sync.js";
import { snapshotTree } from "../support/store-tree.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");
const IMAGE = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
const RECORD = `images/sha256-${IMAGE.slice(7)}.json`;

let dir = "";
let loaded = "";
let counter = 0;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-rmi-failures-"));
  // Entered by the user below, who is not root.
  chmodSync(dir, 0o755);
  loaded = join(dir, "loaded");
  expect(lading(loaded, "load", "-q", "-i", ARCHIVE)[0]).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** Runs the CLI as nobody when this is root. */
const ladingAsUser = (root: string, ...args: string[]): [number | null, string, string] => ladingAsNobody(["--root", root, ...args]);

/** A copy of the loaded store (testdata's image, tagged lading-testdata/app:1.0 and :latest) that belongs to the user ladingAsUser runs as. */
function storeOfUser(): string {
  const root = join(dir, `store-${counter++}`);
  execFileSync("cp", ["-a", loaded, root]);
  if (RUNS_AS_NOBODY) execFileSync("chown", ["-R", `${NOBODY}:${NOBODY}`, root]);
  return root;
}

/** Runs `use` with `root`/images/ not writable by its user, then makes it writable again. */
async function withImagesReadOnly(root: string, use: () => Promise<void>): Promise<void> {
  chmodSync(join(root, "images"), 0o555);
  try {
    await use();
  } finally {
    chmodSync(join(root, "images"), 0o755);
  }
}

describe("rmi of an image whose record cannot be removed", () => {
  it("images/ this user may not write: rmi -f by ID says so, naming the record, prints nothing, and the store is byte-for-byte as it was", async () => {
    const root = storeOfUser();
    await withImagesReadOnly(root, async () => {
      const before = await snapshotTree(root);
      expect(ladingAsUser(root, "rmi", "-f", "c2c6")).toEqual([1, "", `Error: cannot remove ${join(root, RECORD)}: permission denied\n`]);
      expect(ladingAsUser(root, "rmi", "lading-testdata/app")).toEqual([0, "Untagged: lading-testdata/app:latest\n", ""]);
      const untagged = await snapshotTree(root);
      expect(ladingAsUser(root, "rmi", "lading-testdata/app:1.0")).toEqual([1, "", `Error: cannot remove ${join(root, RECORD)}: permission denied\n`]);
      expect(await snapshotTree(root)).toEqual(untagged);
      expect(untagged).toEqual({ ...before, "repositories.json": untagged["repositories.json"] });
    });
  });

  it("several arguments: those removed before the one that fails are printed, and that one changes nothing", async () => {
    const root = storeOfUser();
    await withImagesReadOnly(root, async () => {
      const before = await snapshotTree(root);
      expect(ladingAsUser(root, "rmi", "lading-testdata/app:1.0", "lading-testdata/app:latest")).toEqual([
        1,
        "Untagged: lading-testdata/app:1.0\n",
        `Error: cannot remove ${join(root, RECORD)}: permission denied\n`,
      ]);
      expect(readFileSync(join(root, "repositories.json"), "utf8")).toBe(`{"Repositories":{"lading-testdata/app":{"lading-testdata/app:latest":"${IMAGE}"}}}`);
      const after = await snapshotTree(root);
      expect(after).toEqual({ ...before, "repositories.json": after["repositories.json"] });
      expect(ladingAsUser(root, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")).toEqual([0, `lading-testdata/app:latest ${IMAGE.slice(7, 19)}\n`, ""]);
    });
  });

  // A sticky images/ of root's: this user may write the directory, but not remove root's record from it.
  it.skipIf(!RUNS_AS_NOBODY)("a refusal the directory does not show beforehand (sticky, the record root's): the references are put back", async () => {
    const root = storeOfUser();
    chownSync(join(root, "images"), 0, 0);
    chownSync(join(root, RECORD), 0, 0);
    chmodSync(join(root, "images"), 0o1777);
    const before = await snapshotTree(root);
    const error = `Error: cannot remove ${join(root, RECORD)}: operation not permitted\n`;
    expect(ladingAsUser(root, "rmi", "-f", "c2c6")).toEqual([1, "", error]);
    expect(await snapshotTree(root)).toEqual(before);
    expect(ladingAsUser(root, "rmi", "lading-testdata/app:1.0", "lading-testdata/app:latest")).toEqual([1, "Untagged: lading-testdata/app:1.0\n", error]);
    expect(readFileSync(join(root, "repositories.json"), "utf8")).toBe(`{"Repositories":{"lading-testdata/app":{"lading-testdata/app:latest":"${IMAGE}"}}}`);
    expect(lading(root, "fsck")).toEqual([0, "checked 5 blobs, 1 images, 1 references: 0 problem(s)\n", ""]);
  });
});
