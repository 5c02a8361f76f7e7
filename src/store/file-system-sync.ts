/**
 * Makes many files' bytes durable at once. An fsync of each costs one journal commit apiece: a
 * load of 1500 small blobs spent seconds on them. Where there are many, one syncfs(2) of the file
 * system holding them does the same for all (it writes back every dirty page and inode of that
 * file system and waits, as fsync does for one file), through coreutils' `sync -f`, since Node has
 * no binding for it. Only Linux 5.8 and later report a writeback error from syncfs; elsewhere, or
 * when `sync -f` is missing or fails, each file is fsynced, which reports errors file by file.
 */
import { execFile } from "node:child_process";
import { open } from "node:fs/promises";
import { release } from "node:os";
import path from "node:path";
import { eachAtMost } from "../core/bounded.js";

/** From this many files, one syncfs is cheaper than an fsync each (spawning `sync` costs a few ms). */
export const SYNCFS_AT_LEAST = 32;
/** fsyncs run at once (each holds a descriptor; the disk queues them anyway). */
const FSYNCS_AT_ONCE = 16;

/**
 * Makes the bytes of `items` durable: `fsyncOne` each, or, for many, one syncfs of each file
 * system holding them (`pathOf` gives an item's path; the files must exist).
 */
export async function syncAll<T>(items: readonly T[], pathOf: (item: T) => string, fsyncOne: (item: T) => Promise<void>): Promise<void> {
  if (items.length >= SYNCFS_AT_LEAST && syncfsReportsErrors() && (await syncFileSystems(items.map(pathOf)))) return;
  await eachAtMost(FSYNCS_AT_ONCE, items, (item) => fsyncOne(item));
}

function syncfsReportsErrors(): boolean {
  if (process.platform !== "linux") return false;
  const [major = 0, minor = 0] = release().split(".").map((part) => Number.parseInt(part, 10));
  return major > 5 || (major === 5 && minor >= 8);
}

/** One `sync -f` over the directories of `files`; false if it could not be run or failed. */
function syncFileSystems(files: readonly string[]): Promise<boolean> {
  const directories = [...new Set(files.map((file) => path.dirname(file)))];
  return new Promise((resolve) => {
    execFile("sync", ["--file-system", "--", ...directories], { timeout: 0 }, (error) => resolve(error === null));
  });
}

/** fsync of one file (or directory), opened read-only for it. */
export async function fsyncPath(target: string): Promise<void> {
  const handle = await open(target, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
