import type { FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";

/**
 * A pull source of bytes. A chunk returned by read() stays valid only until the next call to
 * read() or close(): a file source reads into a few buffers it reuses, so a consumer that keeps
 * bytes past that point must copy them. Calls must not overlap.
 */
export interface ChunkSource {
  /** The next chunk (never empty), or undefined at the end. Failures of the input reject unchanged. */
  read(): Promise<Buffer | undefined>;
  /** Stops reading and releases the input. Idempotent. */
  close(): void;
  /** Bytes taken from the input so far. */
  bytesRead(): number;
}

/** Read size for files: large reads keep the per-chunk costs (promises, hash calls) low. */
export const FILE_CHUNK_BYTES = 1024 * 1024;

/**
 * Reads a regular file sequentially into two buffers used in turn, one read always in flight
 * while the consumer works on the other: no allocation per chunk, so nothing for the garbage
 * collector to chase. Closes the handle at the end, on failure and on close().
 */
export function fileChunkSource(handle: FileHandle, chunkBytes = FILE_CHUNK_BYTES): ChunkSource {
  const buffers = [Buffer.allocUnsafe(chunkBytes), Buffer.allocUnsafe(chunkBytes)];
  let turn = 0;
  let position = 0;
  let inFlight: Promise<number> | undefined;
  let closed = false;
  let finished = false;

  const readInto = (buffer: Buffer): Promise<number> => handle.read(buffer, 0, buffer.length, position).then(({ bytesRead }) => bytesRead);
  const release = (): void => {
    if (closed) return;
    closed = true;
    const pending = inFlight ?? Promise.resolve(0);
    inFlight = undefined;
    void pending.then(
      () => handle.close(),
      () => handle.close(),
    ).catch(() => undefined);
  };

  return {
    async read() {
      if (closed || finished) return undefined;
      const buffer = buffers[turn] as Buffer;
      let bytesRead: number;
      try {
        bytesRead = await (inFlight ?? readInto(buffer));
      } catch (error) {
        inFlight = undefined;
        release();
        throw error;
      }
      inFlight = undefined;
      if (bytesRead === 0 || closed) {
        finished = true;
        release();
        return undefined;
      }
      position += bytesRead;
      // The buffer handed out last time is free again: read ahead into it.
      turn ^= 1;
      inFlight = readInto(buffers[turn] as Buffer);
      inFlight.catch(() => undefined);
      return buffer.subarray(0, bytesRead);
    },
    close: release,
    bytesRead: () => position,
  };
}

/** The chunks of a Node stream (fresh buffers, never reused). close() destroys the stream. */
export function streamChunkSource(input: NodeJS.ReadableStream | Readable): ChunkSource {
  const iterator = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let read = 0;
  let done = false;
  return {
    async read() {
      while (!done) {
        const step = await iterator.next();
        if (step.done === true) {
          done = true;
          return undefined;
        }
        const chunk = typeof step.value === "string" ? Buffer.from(step.value) : step.value;
        if (chunk.length === 0) continue;
        read += chunk.length;
        return chunk;
      }
      return undefined;
    },
    close() {
      if (done) return;
      done = true;
      const stream = input as Partial<Readable>;
      if (typeof stream.destroy === "function") stream.destroy();
      void iterator.return?.()?.catch(() => undefined);
    },
    bytesRead: () => read,
  };
}

/** A source that first hands out `head` (already taken from `rest`), then the rest. */
export function prefixedSource(head: readonly Buffer[], rest: ChunkSource): ChunkSource {
  const pending = head.filter((chunk) => chunk.length > 0);
  return {
    read: async () => pending.shift() ?? rest.read(),
    close: () => {
      pending.length = 0;
      rest.close();
    },
    bytesRead: () => rest.bytesRead(),
  };
}
