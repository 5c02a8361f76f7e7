/**
 * Work on many files at once: writes, fsyncs and renames of a batch run a bounded number at a
 * time, so that the disk can take them together (one journal commit may cover several fsyncs)
 * while the process stays within its open-file limit. One syncfs(2) for a whole batch was tried
 * and left out: on FUSE (sshfs, bindfs, fuse-overlayfs) it flushes to the FUSE server without
 * asking it to write to disk, and it reports a writeback error only to a caller that has not been
 * beaten to it by another syncfs.
 */
import { open } from "node:fs/promises";
import { eachAtMost } from "../core/bounded.js";

/** File operations of a batch run at once (each holds a descriptor; libuv runs four at a time, the disk queues the rest). */
const FILES_AT_ONCE = 16;

/** Runs `task` on each item, a bounded number at once. */
export async function eachFile<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  await eachAtMost(FILES_AT_ONCE, items, (item) => task(item));
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
