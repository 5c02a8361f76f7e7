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

/** `body`, counting each chunk off `deferred` as it is read. */
export async function* countedDown(body: AsyncIterable<Buffer>, deferred: DeferredBytes): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    Atomics.sub(deferred, 0, BigInt(chunk.length));
    yield chunk;
  }
}
