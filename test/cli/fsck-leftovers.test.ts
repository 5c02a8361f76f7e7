// fsck of what a command killed at the wrong moment leaves beside repositories.json: a lock
// directory nobody refreshes any more, built by hand here as a SIGKILL leaves it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";

const roots: string[] = [];
beforeAll(() => ensureBuilt());
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

/** Runs the CLI on the store at `root`: exit code, stdout, stderr. */
function lading(root: string, ...args: string[]): [number | null, string, string] {
  const run = spawnSync(process.execPath, ["bin/lading.js", "--root", root, ...args], { encoding: "utf8" });
  return [run.status, run.stdout, run.stderr];
}

/** A new, empty store. */
async function newStore(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "lading-fsck-leftovers-"));
  roots.push(root);
  expect(lading(root, "fsck")[0]).toBe(0);
  return root;
}

/** A lock directory as a command killed `ageMs` ago leaves it (its mtime its last refresh). */
async function leftLock(path: string, ageMs: number): Promise<void> {
  await mkdir(path);
  const then = new Date(Date.now() - ageMs);
  await utimes(path, then, then);
}

describe("fsck and lock directories of killed commands", () => {
  it("a lock not refreshed for over 10 s is a leftover: fsck reports it and changes nothing; --repair removes it", async () => {
    const root = await newStore();
    await leftLock(join(root, "repositories.json.lock"), 60_000);
    await leftLock(join(root, "gc.lock"), 60_000);
    const before = await snapshotTree(root);
    expect(lading(root, "fsck")).toEqual([
      0,
      `leftover: ${root}/repositories.json.lock: the lock of a killed command, not refreshed for over 10 s (--repair or prune removes them)\n` +
        `leftover: ${root}/gc.lock: the lock of a killed command, not refreshed for over 10 s (--repair or prune removes them)\n` +
        "checked 0 blobs, 0 images, 0 references: 2 problem(s)\n",
      "",
    ]);
    expect(await snapshotTree(root)).toEqual(before);
    expect(lading(root, "fsck", "--repair")).toEqual([
      0,
      `repaired: ${root}/repositories.json.lock: the lock of a killed command, not refreshed for over 10 s\n` +
        `repaired: ${root}/gc.lock: the lock of a killed command, not refreshed for over 10 s\n` +
        "checked 0 blobs, 0 images, 0 references: 2 problem(s)\n",
      "",
    ]);
    expect([existsSync(join(root, "repositories.json.lock")), existsSync(join(root, "gc.lock"))]).toEqual([false, false]);
    expect(lading(root, "fsck")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
  });

  it("a lock refreshed within 10 s may be a live command's: no problem, and --repair leaves it", async () => {
    const root = await newStore();
    await leftLock(join(root, "repositories.json.lock"), 1000);
    expect(lading(root, "fsck", "--repair")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
    expect(existsSync(join(root, "repositories.json.lock"))).toBe(true);
  });
});
