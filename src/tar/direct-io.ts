/**
 * Descriptors that write around the page cache (O_DIRECT), for files lading writes once and does
 * not read back soon: a load's blobs, a saved archive. On the 2-CPU bench VM, putting 1 GiB into
 * the page cache took 1-4 s of system time, against ~0.2 s around it. Where the file system or
 * platform refuses O_DIRECT there is no such descriptor, and everything goes through the cache.
 */
import { constants, openSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

/** The alignment O_DIRECT asks of offsets, lengths and buffer addresses (the largest logical block size in use). */
export const DIRECT_ALIGNMENT = 4096;

const DIRECT_WRITE_FLAGS = constants.O_DIRECT === undefined ? undefined : constants.O_WRONLY | constants.O_DIRECT;

/** A descriptor of the existing file at `path` that writes around the page cache, or undefined where the file system refuses one. */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (DIRECT_WRITE_FLAGS === undefined) return undefined;
  try {
    return await open(path, DIRECT_WRITE_FLAGS);
  } catch {
    return undefined;
  }
}

/** openDirect's descriptor, opened on the calling thread. */
export function openDirectSync(path: string): number | undefined {
  if (DIRECT_WRITE_FLAGS === undefined) return undefined;
  try {
    return openSync(path, DIRECT_WRITE_FLAGS);
  } catch {
    return undefined;
  }
}

/**
 * Whether a direct write failed for its alignment (memory, offset or length not what the file
 * system wants after all): the bytes are then written through the cache, as are all later ones.
 */
export function refusedDirect(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === "EINVAL";
}
