/**
 * The writer a probe thread uses to copy a file's bytes into an ingest file that the main thread
 * created: in order, each chunk at the next offset. Whole pages from a page-aligned buffer go
 * around the page cache (see direct-io.ts); anything else, such as a file's last partial page,
 * through it. A load's blobs are not read back, and writing around the cache also left the
 * fsyncs at commit little to do (8 ms for a 1 GiB load, against 0.9 s).
 */
import { open, type FileHandle } from "node:fs/promises";
import { cannotWrite } from "../core/errors.js";
import { DIRECT_ALIGNMENT, openDirect, refusedDirect } from "../tar/direct-io.js";
import { writeAllAt } from "../tar/write-at.js";
import type { BlobWriter } from "./probe.js";

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
          await writeAllAt((direct as FileHandle).fd, [chunk], position);
          done = chunk.length;
          directBytes += done;
        } catch (error) {
          if (!refusedDirect(error)) throw cannotWrite(path, error);
          useDirect = false;
        }
      }
      if (done < chunk.length) await writeAllAt(buffered.fd, [chunk.subarray(done)], position + done).catch((error: unknown) => Promise.reject(cannotWrite(path, error)));
      position += chunk.length;
    },
    close: closeAll,
    abort: closeAll,
    directBytes: () => directBytes,
  };
}

function isAligned(position: number, chunk: Buffer): boolean {
  return position % DIRECT_ALIGNMENT === 0 && chunk.length % DIRECT_ALIGNMENT === 0 && chunk.length > 0 && chunk.byteOffset % DIRECT_ALIGNMENT === 0;
}
