/**
 * Receives a blob's response body straight from the socket's 'data' events: each chunk is
 * counted and hashed as it arrives and copied into one of a few reused batch buffers, and a full
 * batch is handed to `write` (one large file write instead of one per socket chunk). No stream
 * layers sit between the socket and the file, and the batch memory is allocated once per blob.
 */
import type { IncomingMessage } from "node:http";
import { createDigester, formatDigest, parseDigest } from "../core/digest.js";
import type { LadingError } from "../core/errors.js";
import { transferred } from "../tar/transfer-garbage.js";
import type { BlobDescriptor } from "./verify-stream.js";

/** Takes one batch; the bytes may be reused once the returned promise settles. */
export type BatchWriter = (bytes: Buffer) => Promise<void>;

export interface ReceiveFailures {
  /** A size or digest mismatch: the registry served other bytes. */
  invalid: (detail: string) => LadingError;
  /** The connection broke or stalled after `received` bytes. */
  lost: (received: number, cause: unknown) => LadingError;
}

export const RECEIVE_BATCH_BYTES = 256 << 10;
/** Batches being written at once; one more buffer fills meanwhile. */
const WRITES_IN_FLIGHT = 2;

/**
 * Resolves once every byte is written and the size and digest are the expected ones; rejects
 * (after any write in progress has settled) on a mismatch, a lost connection or a failed write.
 */
export function receiveBlob(res: IncomingMessage, blob: BlobDescriptor, write: BatchWriter, failures: ReceiveFailures, batchBytes = RECEIVE_BATCH_BYTES): Promise<void> {
  const { algorithm } = parseDigest(blob.digest);
  const hash = createDigester(algorithm);
  const batchSize = Math.max(1, Math.min(batchBytes, blob.size));
  const free: Buffer[] = [];
  let current: Buffer = Buffer.allocUnsafe(batchSize);
  let filled = 0;
  let received = 0;
  let inFlight = 0;
  let paused = false;
  let ended = false;
  let failure: { error: unknown } | undefined;

  return new Promise<void>((resolve, reject) => {
    const settle = (): void => {
      if (inFlight > 0) return;
      if (failure !== undefined) reject(failure.error);
      else if (ended) resolve();
    };
    const fail = (error: unknown): void => {
      if (failure !== undefined) return;
      failure = { error };
      detach();
      if (!ended && !res.destroyed) res.destroy();
      settle();
    };
    const issue = (bytes: Buffer, owned: Buffer | undefined): void => {
      inFlight++;
      write(bytes).then(
        () => {
          inFlight--;
          if (owned !== undefined) free.push(owned);
          if (paused && inFlight < WRITES_IN_FLIGHT && failure === undefined) {
            paused = false;
            res.resume();
          }
          settle();
        },
        (error: unknown) => {
          inFlight--;
          fail(error);
        },
      );
      if (inFlight >= WRITES_IN_FLIGHT && !paused) {
        paused = true;
        res.pause();
      }
    };
    const flush = (): void => {
      if (filled === 0) return;
      const full = current;
      issue(full.subarray(0, filled), full);
      current = free.pop() ?? Buffer.allocUnsafe(batchSize);
      filled = 0;
    };
    const onData = (chunk: Buffer): void => {
      if (failure !== undefined) return;
      received += chunk.length;
      if (received > blob.size) {
        fail(failures.invalid(`size mismatch (more than ${blob.size} bytes)`));
        return;
      }
      hash.update(chunk);
      transferred(chunk.length);
      // A full batch waits for the next chunk: the last one is written only once the digest is checked.
      if (filled + chunk.length > batchSize) flush();
      if (chunk.length > batchSize) {
        issue(chunk, undefined); // already a batch of its own, and nobody else holds it
        return;
      }
      chunk.copy(current, filled);
      filled += chunk.length;
    };
    const onEnd = (): void => {
      if (failure !== undefined) return;
      detach();
      if (received !== blob.size) {
        fail(failures.invalid(`size mismatch (got ${received} bytes, expected ${blob.size})`));
        return;
      }
      const actual = formatDigest(algorithm, hash);
      if (actual !== blob.digest) {
        fail(failures.invalid(`digest mismatch (got ${actual})`));
        return;
      }
      flush();
      ended = true;
      settle();
    };
    const onError = (error: unknown): void => fail(failures.lost(received, error));
    const onAborted = (): void => fail(failures.lost(received, undefined));
    const onClose = (): void => {
      if (!res.complete) fail(failures.lost(received, undefined));
    };
    const detach = (): void => {
      res.off("data", onData);
      res.off("end", onEnd);
      res.off("aborted", onAborted);
      res.off("close", onClose);
      // 'error' stays handled: a socket error after the end must not become an uncaught one.
    };
    res.on("data", onData);
    res.once("end", onEnd);
    res.on("error", onError);
    res.once("aborted", onAborted);
    res.once("close", onClose);
  });
}
