// fsck of what a command killed at the wrong moment leaves beside repositories.json: a lock
// directory nobody refreshes any more, and a copy an fsck --repair made before a rewrite that
// never happened. Both are built by hand here, as a SIGKILL leaves them.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { readOnlyView } from "../support/read-only-view.js";
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

const COPY = "repositories.json.broken-2026-12-03T06-00-00-000Z";
const TRUNCATED = '{"Repositories":{"app":{"app:1":"sha256:';

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

  it("a lock dated ahead of the clock is said to be so, and --repair removes it", async () => {
    const root = await newStore();
    await leftLock(join(root, "gc.lock"), -3_600_000);
    expect(lading(root, "fsck")).toEqual([
      0,
      `leftover: ${root}/gc.lock: a lock dated over 10 s ahead of the clock, which no live command refreshes so (--repair or prune removes them)\n` +
        "checked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect(lading(root, "fsck", "--repair")[0]).toBe(0);
    expect(existsSync(join(root, "gc.lock"))).toBe(false);
  });

  it("a file in the place of a lock is broken, as every command taking that lock fails: exit 1; --repair removes it", async () => {
    const root = await newStore();
    const lockPath = join(root, "repositories.json.lock");
    await writeFile(lockPath, "");
    const message = `${lockPath}: not a directory, so every command that takes this lock fails (ENOTDIR) until it is removed`;
    expect(lading(root, "fsck")).toEqual([1, `broken: ${message}\nchecked 0 blobs, 0 images, 0 references: 1 problem(s)\n`, ""]);
    expect(existsSync(lockPath)).toBe(true);
    expect(lading(root, "fsck", "--repair")).toEqual([0, `repaired: ${message}\nchecked 0 blobs, 0 images, 0 references: 1 problem(s)\n`, ""]);
    expect(existsSync(lockPath)).toBe(false);
    expect(lading(root, "fsck")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
  });

  it("a lock refreshed within 10 s may be a live command's: no problem, and --repair leaves it", async () => {
    const root = await newStore();
    await leftLock(join(root, "repositories.json.lock"), 1000);
    expect(lading(root, "fsck", "--repair")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
    expect(existsSync(join(root, "repositories.json.lock"))).toBe(true);
  });
});

describe("fsck and copies of repositories.json a killed fsck --repair left", () => {
  it("a copy of the unreadable file as it is: reported; --repair keeps it as the file as it was and makes no second", async () => {
    const root = await newStore();
    await writeFile(join(root, "repositories.json"), TRUNCATED);
    await writeFile(join(root, COPY), TRUNCATED);
    const before = await snapshotTree(root);
    expect(lading(root, "fsck")).toEqual([
      1,
      `broken: ${root}/repositories.json: invalid JSON: Unterminated string in JSON at position 40 (--repair replaces it with an empty one, keeping it beside as it is: no entry can be read from it)\n` +
        `leftover: ${root}/${COPY}: a copy of repositories.json, the same bytes, left by an fsck --repair killed before its rewrite (--repair keeps it as the file as it was, rather than make a second)\n` +
        "checked 0 blobs, 0 images, 0 references: 2 problem(s)\n",
      "",
    ]);
    expect(await snapshotTree(root)).toEqual(before);
    expect(lading(root, "fsck", "--repair")).toEqual([
      0,
      `repaired: ${root}/repositories.json: invalid JSON: Unterminated string in JSON at position 40: no entry could be read from it, so none was kept; the file as it was is ${root}/${COPY}\n` +
        "checked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect((await readdir(root)).filter((name) => name.startsWith("repositories.json.broken-"))).toEqual([COPY]);
    expect(await readFile(join(root, COPY), "utf8")).toBe(TRUNCATED);
  });

  it("a copy the same as the readable file: reported, and --repair removes it; a copy that differs is kept and not reported", async () => {
    const root = await newStore();
    const current = '{"Repositories":{}}';
    await writeFile(join(root, "repositories.json"), current);
    const differing = "repositories.json.broken-2026-12-03T05-00-00-000Z";
    await writeFile(join(root, COPY), current);
    await writeFile(join(root, differing), TRUNCATED);
    expect(lading(root, "fsck")).toEqual([
      0,
      `leftover: ${root}/${COPY}: a copy of repositories.json, the same bytes, left by an fsck --repair killed before its rewrite (--repair removes it)\n` +
        "checked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect(lading(root, "fsck", "--repair")).toEqual([
      0,
      `repaired: ${root}/${COPY}: a copy of repositories.json, the same bytes, left by an fsck --repair killed before its rewrite\n` + "checked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect((await readdir(root)).filter((name) => name.startsWith("repositories.json.broken-"))).toEqual([differing]);
    expect(lading(root, "fsck")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
  });
});

describe("fsck --repair of these leftovers on a store it cannot write", () => {
  it("reports each as not repaired, naming what it could not write, and leaves the store as it was", async () => {
    const root = await newStore();
    await writeFile(join(root, "repositories.json"), '{"Repositories":{}}');
    await writeFile(join(root, COPY), '{"Repositories":{}}');
    await leftLock(join(root, "gc.lock"), 60_000);
    const before = await snapshotTree(root);
    const view = readOnlyView(root, await mkdtemp(join(tmpdir(), "lading-fsck-leftovers-view-")));
    try {
      expect(lading(view.path, "fsck", "--repair")).toEqual([
        0,
        `leftover: ${view.path}/gc.lock: the lock of a killed command, not refreshed for over 10 s (not repaired: ${view.path}/gc.lock: ${view.refusal})\n` +
          `leftover: ${view.path}/${COPY}: a copy of repositories.json, the same bytes, left by an fsck --repair killed before its rewrite (not repaired: ${view.path}/repositories.json.lock: ${view.refusal})\n` +
          "checked 0 blobs, 0 images, 0 references: 2 problem(s)\n",
        "",
      ]);
    } finally {
      view.release();
      await rm(view.path, { recursive: true, force: true }).catch(() => undefined);
    }
    expect(await snapshotTree(root)).toEqual(before);
  });
});
