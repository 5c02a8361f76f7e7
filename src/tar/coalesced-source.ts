import type { Readable } from "node:stream";
import type { ChunkSource } from "./chunk-source.js";

/** Size of the chunks a coalesced source hands out: as large as a file source's reads. */
export const COALESCED_CHUNK_BYTES = 1024 * 1024;

/** Buffers it cycles through: one the consumer holds, one being filled, the rest filled ahead. */
export const COALESCED_BUFFERS = 4;

export interface CoalescedOptions {
  chunkBytes?: number;
  buffers?: number;
  /** Called with the length of every chunk taken from the input (before it is copied). */
  onInput?: (bytes: number) => void;
}

/**
 * A pull source over a Node stream whose chunks are small (a socket's: 64 KiB or less), that hands
 * them out gathered into chunks of `chunkBytes` (the last may be shorter): the stages after it
 * (tar parsing, hashing, ingest writes) then run per MiB, not per socket read. The bytes are
 * copied into a few buffers used in turn, so that gathering allocates nothing per chunk; as for a
 * file source, a chunk is valid until the next read() or close(). The input is paused while every
 * buffer is full. close() detaches from the input without destroying it (the caller may still want
 * to drain it).
 */
export function coalescedChunkSource(input: Readable, options: CoalescedOptions = {}): ChunkSource {
  const chunkBytes = options.chunkBytes ?? COALESCED_CHUNK_BYTES;
  const free: Buffer[] = Array.from({ length: Math.max(2, options.buffers ?? COALESCED_BUFFERS) }, () => Buffer.allocUnsafe(chunkBytes));
  const full: Buffer[] = []; // filled, in order, not yet handed out
  let filling: Buffer | undefined;
  let filled = 0; // bytes in `filling`
  let leftover: Buffer | undefined; // the part of an input chunk no free buffer had room for
  let held: Buffer | undefined;
  let ended = false;
  let failure: Error | undefined;
  let closed = false;
  let handedOut = 0;
  let wake: (() => void) | undefined;

  const notify = (): void => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  /** Copies as much of `chunk` as the free buffers hold; returns what did not fit. */
  const store = (chunk: Buffer): Buffer | undefined => {
    let offset = 0;
    while (offset < chunk.length) {
      if (filling === undefined) {
        filling = free.pop();
        if (filling === undefined) return chunk.subarray(offset);
      }
      const copied = chunk.copy(filling, filled, offset);
      offset += copied;
      filled += copied;
      if (filled === filling.length) {
        full.push(filling);
        filling = undefined;
        filled = 0;
      }
    }
    return undefined;
  };
  const onData = (chunk: Buffer): void => {
    options.onInput?.(chunk.length);
    // After a pause a stream may still hand out the chunk it was emitting: keep it behind the rest.
    leftover = store(leftover === undefined ? chunk : Buffer.concat([leftover, chunk]));
    if (leftover !== undefined) input.pause();
    if (full.length > 0) notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (error: Error): void => {
    failure ??= error;
    notify();
  };
  const onClose = (): void => {
    if (!ended) failure ??= new Error("the input closed before its end");
    notify();
  };
  const detach = (): void => {
    input.off("data", onData);
    input.off("end", onEnd);
    input.off("error", onError);
    input.off("close", onClose);
  };
  input.on("data", onData);
  input.on("end", onEnd);
  input.on("error", onError);
  input.on("close", onClose);

  return {
    async read() {
      if (closed) return undefined;
      if (held !== undefined) free.push(held);
      held = undefined;
      if (leftover !== undefined) {
        leftover = store(leftover);
        if (leftover === undefined && !ended) input.resume();
      }
      for (;;) {
        if (failure !== undefined) {
          closed = true;
          detach();
          throw failure;
        }
        const next = full.shift();
        if (next !== undefined) {
          held = next;
          handedOut += next.length;
          return next;
        }
        if (ended) {
          if (filling === undefined || filled === 0) {
            closed = true;
            detach();
            return undefined;
          }
          held = filling;
          const last = filling.subarray(0, filled);
          filling = undefined;
          filled = 0;
          handedOut += last.length;
          return last;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    close() {
      if (closed) return;
      closed = true;
      detach();
      notify();
    },
    bytesRead: () => handedOut,
  };
}
