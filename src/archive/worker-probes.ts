/**
 * How the scan hands large files to the probe pool's workers: at once when a worker is free, else
 * held to the end of the archive and shared; for a stream, passed to a worker through shared
 * memory, which probes it and writes it into the ingest file. What comes back from a worker is completed here as a main-thread probe would be.
 */
import { invalid } from "../core/errors.js";
import { FILE_CHUNK_BYTES, readFileRangeSync } from "../tar/chunk-source.js";
import { pageAlignedBuffers } from "../tar/page-aligned.js";
import { COMPRESSION_SNIFF_BYTES, detectCompression } from "../tar/compression.js";
import type { TarBody } from "../tar/reader.js";
import type { DeferredBytes } from "./deferred-bytes.js";
import type { ScannedFile } from "./model.js";
import type { BlobWriter, ProbeLimits } from "./probe.js";
import type { ProbeJob, ProbePool } from "./probe-pool.js";
import { runProbeJob } from "./probe-job.js";
import { ringProducer, type RingMemory } from "./stream-ring.js";
import type { FileLocation } from "./scan.js";

/** Smaller files are probed on the main thread: handing them over costs more than it saves. */
export const PARALLEL_AT_LEAST = 8 * 1024 * 1024;

/**
 * Whether a file on disk starts uncompressed. Only such files go to workers (unless nothing is
 * decompressed): a compressed one already keeps two threads busy (inflate in the thread pool,
 * hashing here), and two layers decompressing at once take the memory of a second decoder
 * (over 100 MB in all, measured).
 */
export function uncompressedAt(location: FileLocation): boolean {
  const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
  const bytesRead = readFileRangeSync(location.path, location.offset, head);
  return detectCompression(head.subarray(0, bytesRead)) === "none";
}

/** A large file on disk whose probe waits until the whole archive has been read. */
export interface HeldProbe {
  name: string;
  size: number;
  location: FileLocation;
  writer: BlobWriter | undefined;
  /** This file's limits (a layer whose diff ID is already known is not decompressed). */
  limits: ProbeLimits;
  /** Where its bytes are counted off as they are read (see DeferredBytes). */
  deferred: DeferredBytes | undefined;
  done: Promise<ScannedFile>;
  settle(result: Promise<ScannedFile>): void;
  /** Fails a probe not yet settled, aborting its writer. */
  cancel(error: unknown): Promise<void>;
}

export function holdProbe(
  name: string,
  size: number,
  location: FileLocation,
  writer: BlobWriter | undefined,
  limits: ProbeLimits,
  deferred: DeferredBytes | undefined,
): HeldProbe {
  let resolve!: (file: ScannedFile) => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<ScannedFile>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  done.catch(() => undefined); // awaited by the caller; a failure must not go unhandled meanwhile
  let settled = false;
  return {
    name,
    size,
    location,
    writer,
    limits,
    deferred,
    done,
    settle(result) {
      settled = true;
      result.then(resolve, reject);
    },
    async cancel(error) {
      if (settled) return;
      settled = true;
      await writer?.abort();
      reject(error);
    },
  };
}

/**
 * Probes the held files, largest first, on the workers and on this thread together, each taking
 * the next file when done with its last. Returns how many the workers took.
 */
export async function probeHeld(pool: ProbePool, held: HeldProbe[]): Promise<number> {
  held.sort((a, b) => b.size - a.size);
  const jobs = held.map((probe) => workerJob(probe.name, probe.size, probe.location, probe.limits, probe.writer, probe.deferred));
  const shared = pool.share(jobs);
  const mine = new Set<number>();
  // One read buffer for all of them: a new one per file would stay allocated until a collection.
  const [buffer] = pageAlignedBuffers(1, FILE_CHUNK_BYTES) as [Buffer];
  for (let index = shared.claim(); index !== undefined; index = shared.claim()) {
    mine.add(index);
    const probe = held[index] as HeldProbe;
    // The whole archive has been read: this thread takes its share as a worker would, blocking
    // nothing else (see blockingFileChunkSource) and writing around the page cache.
    const probed = probeInWorker(runProbeJob(jobs[index] as Omit<ProbeJob, "id">, buffer), probe.name, probe.size, probe.writer, true);
    probe.settle(probed);
    // A failure is reported in archive order with the others, once every file has settled.
    if ((await probed.then(() => true, () => false)) === false) break;
  }
  held.forEach((probe, index) => {
    if (!mine.has(index)) probe.settle(probeInWorker(shared.result(index), probe.name, probe.size, probe.writer, true));
  });
  return held.length - mine.size;
}

export function workerJob(
  name: string,
  size: number,
  location: FileLocation,
  limits: ProbeLimits,
  writer: BlobWriter | undefined,
  deferred?: DeferredBytes,
  ring?: RingMemory,
): Omit<ProbeJob, "id"> {
  const writeTo = writer?.delegate?.path;
  return {
    name,
    path: location.path,
    offset: location.offset,
    size,
    limits: { maxJsonBytes: limits.maxJsonBytes, maxLayerBytes: limits.maxLayerBytes, ...(limits.decompress === false ? { decompress: false } : {}) },
    ...(writeTo !== undefined ? { writeTo } : {}),
    ...(deferred !== undefined ? { deferred } : {}),
    ...(ring !== undefined ? { ring } : {}),
  };
}

/**
 * Hands a streamed body to a worker, when it starts uncompressed (or nothing is decompressed):
 * the worker probes the bytes and writes them into the ingest file at `ingestPath` as they pass
 * through a ring of shared memory (see stream-ring.ts), and the result is the worker's, once
 * the body has been passed on whole. A compressed body is left to be probed here as it passes
 * (see uncompressedAt): then the body to probe is returned, its first bytes (already taken, to
 * look at) handed out again.
 */
export async function streamToWorker(
  pool: ProbePool,
  name: string,
  body: TarBody,
  limits: ProbeLimits,
  writer: BlobWriter,
  ingestPath: string,
): Promise<{ result: Promise<ScannedFile> } | { body: AsyncIterable<Buffer> }> {
  // A chunk is valid only until the next is asked for: those taken to reach the sniff length are copied.
  const head: Buffer[] = [];
  let headLength = 0;
  let chunk: Buffer | undefined;
  try {
    chunk = await body.next();
    while (chunk !== undefined && headLength + chunk.length < COMPRESSION_SNIFF_BYTES) {
      head.push(Buffer.from(chunk));
      headLength += chunk.length;
      chunk = await body.next();
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  const taken = chunk === undefined ? head : [...head, chunk];
  if (limits.decompress !== false && detectCompression(Buffer.concat(taken)) !== "none") {
    return { body: replayed(taken, body) };
  }
  let ring: Awaited<ReturnType<typeof ringProducer<ScannedFile>>>;
  try {
    ring = await ringProducer((memory) => pool.probe(workerJob(name, 0, { path: ingestPath, offset: 0 }, limits, writer, undefined, memory)));
  } catch (error) {
    await writer.abort();
    throw error;
  }
  // No ring to be had (an address-space limit): the body is probed here as it passes, as before rings.
  if (ring === undefined) return { body: replayed(taken, body) };
  const result = ring.consumed;
  try {
    for (const piece of taken) await ring.write(piece);
    for (let next = await body.next(); next !== undefined; next = await body.next()) await ring.write(next);
    ring.end();
  } catch (error) {
    ring.abort();
    // The worker stops reading, and leaves the ingest file, before its writer is aborted.
    await result.catch(() => undefined);
    await writer.abort();
    throw error;
  }
  return { result };
}

/** `first`, then the rest of `body`. */
async function* replayed(first: Buffer[], body: TarBody): AsyncGenerator<Buffer> {
  yield* first;
  for (let next = await body.next(); next !== undefined; next = await body.next()) yield next;
}

/** Completes a file a worker probed: its size checked, and its writer told what the worker wrote. */
export async function probeInWorker(result: Promise<ScannedFile>, name: string, size: number, writer: BlobWriter | undefined, wroteElsewhere: boolean): Promise<ScannedFile> {
  let file: ScannedFile;
  try {
    file = await result;
    checkSize(name, file, size);
  } catch (error) {
    await writer?.abort();
    throw error;
  }
  if (wroteElsewhere) writer?.delegate?.wrote(file.size);
  await writer?.close(file);
  return file;
}

export function checkSize(name: string, file: ScannedFile, size: number): void {
  if (file.size !== size) throw invalid(`entry ${JSON.stringify(name)}: size ${file.size} does not match its header (${size})`, name);
}
