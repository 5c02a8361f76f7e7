/**
 * Makes many files' bytes durable: an fsync of each, a bounded number at once, so that the disk
 * can take them together (one journal commit may cover several) while the process stays within
 * its open-file limit. One syncfs(2) for them all was tried and left out: on FUSE (sshfs, bindfs,
 * fuse-overlayfs) it flushes to the FUSE server without asking it to write to disk, and it reports
 * a writeback error only to a caller that has not been beaten to it by another syncfs.
 */
import { open } from "node:fs/promises";
import { eachAtMost } from "../core/bounded.js";

/** fsyncs run at once (each holds a descriptor; libuv runs four at a time, the disk queues the rest). */
const FSYNCS_AT_ONCE = 16;

/** Runs `fsyncOne` on each item, a bounded number at once. */
export async function fsyncEach<T>(items: readonly T[], fsyncOne: (item: T) => Promise<void>): Promise<void> {
  await eachAtMost(FSYNCS_AT_ONCE, items, (item) => fsyncOne(item));
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
