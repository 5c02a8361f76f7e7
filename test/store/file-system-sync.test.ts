// Many files are made durable by one syncfs (coreutils `sync -f`), few by an fsync each, and
// every file by an fsync each when `sync` cannot be run. writeFilesAtomic writes through it.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { writeFilesAtomic } from "../../src/store/atomic-file.js";
import { SYNCFS_AT_LEAST, syncAll } from "../../src/store/file-system-sync.js";

let dir: string;
const savedPath = process.env.PATH;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "lading-fs-sync-"));
});
afterEach(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

async function files(count: number): Promise<string[]> {
  const paths = Array.from({ length: count }, (_, i) => join(dir, `f${i}`));
  await Promise.all(paths.map((path, i) => writeFile(path, `file ${i}\n`)));
  return paths;
}

it("fsyncs each of fewer files than the syncfs threshold", async () => {
  const paths = await files(SYNCFS_AT_LEAST - 1);
  const fsynced: string[] = [];
  await syncAll(paths, (path) => path, async (path) => void fsynced.push(path));
  expect(fsynced.sort()).toEqual([...paths].sort());
});

it("makes as many files as the threshold durable with one syncfs, and no fsync of any", async () => {
  const paths = await files(SYNCFS_AT_LEAST);
  const fsynced: string[] = [];
  await syncAll(paths, (path) => path, async (path) => void fsynced.push(path));
  expect(fsynced).toEqual([]);
});

it("fsyncs each file when `sync` cannot be run", async () => {
  const paths = await files(SYNCFS_AT_LEAST);
  process.env.PATH = dir; // holds no `sync`
  const fsynced: string[] = [];
  await syncAll(paths, (path) => path, async (path) => void fsynced.push(path));
  expect(fsynced.sort()).toEqual([...paths].sort());
});

it("fsyncs each file when `sync -f` fails (a file that is gone)", async () => {
  const paths = [...(await files(SYNCFS_AT_LEAST - 1)), join(dir, "missing", "f")];
  const fsynced: string[] = [];
  await syncAll(paths, (path) => path, async (path) => void fsynced.push(path));
  expect(fsynced).toHaveLength(SYNCFS_AT_LEAST);
});

it("writeFilesAtomic writes every file whole with its mode, replacing what was there, and leaves no temp file", async () => {
  await writeFile(join(dir, "r0.json"), "old");
  const written = Array.from({ length: SYNCFS_AT_LEAST + 3 }, (_, i) => ({ path: join(dir, `r${i}.json`), data: `{"n":${i}}` }));
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
