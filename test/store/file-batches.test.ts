// writeFilesAtomic writes many files durably as one batch: every temp file, then an fsync of
// each (a bounded number at once), then the renames; nothing is renamed if a step before fails.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { writeFilesAtomic } from "../../src/store/atomic-file.js";
import { eachFile } from "../../src/store/file-batches.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lading-fs-sync-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("runs the task on every item, at most 16 at once", async () => {
  let running = 0;
  let most = 0;
  const synced: number[] = [];
  await eachFile(Array.from({ length: 40 }, (_, i) => i), async (item) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, 1));
    synced.push(item);
    running--;
  });
  expect(synced.sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  expect(most).toBe(16);
});

it("writeFilesAtomic writes every file whole with its mode, replacing what was there, and leaves no temp file", async () => {
  await writeFile(join(dir, "r0.json"), "old");
  const written = Array.from({ length: 40 }, (_, i) => ({ path: join(dir, `r${i}.json`), data: `{"n":${i}}` }));
  await writeFilesAtomic(written, 0o644);
  expect((await readdir(dir)).sort()).toEqual(written.map(({ path }) => path.slice(dir.length + 1)).sort());
  for (const { path, data } of written) {
    expect(await readFile(path, "utf8")).toBe(data);
    expect((await stat(path)).mode & 0o777).toBe(0o644);
  }
});

it("writeFilesAtomic renames nothing, and removes its temp files, when beforeRename throws", async () => {
  await writeFile(join(dir, "r0.json"), "old");
  const written = [0, 1, 2].map((i) => ({ path: join(dir, `r${i}.json`), data: `{"n":${i}}` }));
  const failed = writeFilesAtomic(written, 0o644, {
    beforeRename: async () => {
      throw new Error("lost the lock");
    },
  });
  await expect(failed).rejects.toThrow(/^lost the lock$/);
  expect(await readdir(dir)).toEqual(["r0.json"]);
  expect(await readFile(join(dir, "r0.json"), "utf8")).toBe("old");
});
