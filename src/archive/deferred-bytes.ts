/**
 * Bytes of an archive's files that its walk passed over unread, left to another reader (a probe
 * worker, or this thread once the walk is done), and not read yet. An archive's byte count for
 * progress counts such a body when the walk skips it; taking these off shows the bytes that are
 * really still to be read. In shared memory, so that workers count down as they read.
 */
export type DeferredBytes = BigInt64Array;

export function deferredBytes(): DeferredBytes {
  return new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT));
}

/** Counts `size` bytes as skipped by the walk and not read yet. */
export function defer(deferred: DeferredBytes | undefined, size: number): void {
  if (deferred !== undefined) Atomics.add(deferred, 0, BigInt(size));
}

/** Bytes skipped and not read yet. */
export function pendingBytes(deferred: DeferredBytes): number {
  return Number(Atomics.load(deferred, 0));
}

/**
 * A source's progress: `passed` (the bytes it has read or skipped) less those deferred and not
 * read yet, never less than it was. The walk defers a body before its source has skipped it, so
 * for that moment the difference falls short by the body's size (below zero, for the first
 * layer): it is a lower bound of the bytes read, exact between skips, and kept at its highest it
 * neither goes back nor below zero.
 */
export function progressOf(passed: () => number, deferred: DeferredBytes): () => number {
  let highest = 0;
  return () => (highest = Math.max(highest, passed() - pendingBytes(deferred)));
}

/** `body`, counting each chunk off `deferred` as it is read (`body` itself when nothing is counted). */
export function countedDown(body: AsyncIterable<Buffer>, deferred: DeferredBytes | undefined): AsyncIterable<Buffer> {
  return deferred === undefined ? body : countingDown(body, deferred);
}

async function* countingDown(body: AsyncIterable<Buffer>, deferred: DeferredBytes): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    Atomics.sub(deferred, 0, BigInt(chunk.length));
    yield chunk;
  }
}
