/**
 * The writer a probe thread uses to copy a file's bytes into an ingest file that the main thread
 * created: in order, each chunk at the next offset. Whole pages from a page-aligned buffer go
 * around the page cache (O_DIRECT); anything else, such as a file's last partial page, through it.
 * A load's blobs are not read back, and on the 2-CPU bench VM putting 1 GiB into the page cache
 * took 1-4 s of system time (and the fsyncs at commit 0.9 s more), against ~0.4 s around it.
 */
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import type { BlobWriter } from "./probe.js";

/** The alignment O_DIRECT asks of offsets, lengths and buffer addresses (the largest logical block size in use). */
const DIRECT_ALIGNMENT = 4096;

export interface RangeWriter extends BlobWriter {
  /** How many of the bytes written so far went around the page cache. */
  directBytes(): number;
}

/** Opens `path` (existing, empty) for writing from its start. */
export async function openRangeWriter(path: string): Promise<RangeWriter> {
  const buffered = await open(path, "r+");
  const direct = await openDirect(path);
  let useDirect = direct !== undefined;
  let position = 0;
  let directBytes = 0;
  const closeAll = async (): Promise<void> => {
    await Promise.all([direct?.close(), buffered.close()]);
  };
  return {
    async write(chunk) {
      let done = 0;
      if (useDirect && isAligned(position, chunk)) {
        try {
          done = await writeAll(direct as FileHandle, chunk, 0, position);
          directBytes += done;
        } catch (error) {
          // EINVAL: this chunk's memory is not aligned after all, or the file system wants a larger block.
          if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
          useDirect = false;
        }
      }
      if (done < chunk.length) await writeAll(buffered, chunk, done, position);
      position += chunk.length;
    },
    close: closeAll,
    abort: closeAll,
    directBytes: () => directBytes,
  };
}

/** A descriptor that writes around the page cache, or undefined where the file system refuses one. */
async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (constants.O_DIRECT === undefined) return undefined;
  try {
    return await open(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch {
    return undefined;
  }
}

function isAligned(position: number, chunk: Buffer): boolean {
  return position % DIRECT_ALIGNMENT === 0 && chunk.length % DIRECT_ALIGNMENT === 0 && chunk.length > 0 && chunk.byteOffset % DIRECT_ALIGNMENT === 0;
}

/** Writes chunk[from..] at `position + from` until every byte is down; returns the chunk's length. */
async function writeAll(handle: FileHandle, chunk: Buffer, from: number, position: number): Promise<number> {
  for (let done = from; done < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
  return chunk.length;
}
