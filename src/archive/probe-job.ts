/**
 * One probe job done on the calling thread: its range of the file read with blocking reads into
 * `buffer` (see blockingFileChunkSource), or a streamed file's bytes taken from its ring (see
 * stream-ring.ts), counted off its deferred bytes, probed, and copied into its ingest file when
 * it names one. What a probe worker does with each job, and what the main
 * thread does with its share of the held files once the archive has been read.
 */
import { blockingFileChunkSource, chunksOf, type ChunkSource } from "../tar/chunk-source.js";
import { countedDown } from "./deferred-bytes.js";
import type { ScannedFile } from "./model.js";
import { probeFile } from "./probe.js";
import { poolClosed, type ProbeJob } from "./probe-pool.js";
import { openRangeWriter } from "./range-writer.js";
import { ringChunkSource } from "./stream-ring.js";

/** `stopped`: whether the worker's pool has closed; the job then fails at its next read, its files closed. */
export async function runProbeJob(job: Omit<ProbeJob, "id">, buffer: Buffer, stopped: () => boolean = () => false): Promise<ScannedFile> {
  if (stopped()) throw poolClosed();
  const source =
    job.ring !== undefined ? ringChunkSource(job.ring, stopped, poolClosed) : stoppable(blockingFileChunkSource(job.path, { start: job.offset, length: job.size }, buffer), stopped);
  const body = countedDown(chunksOf(source), job.deferred);
  try {
    const writer = job.writeTo === undefined ? undefined : await openRangeWriter(job.writeTo);
    return await probeFile(job.name, body, job.limits, writer);
  } finally {
    source.close();
  }
}

function stoppable(source: ChunkSource, stopped: () => boolean): ChunkSource {
  return { ...source, read: () => (stopped() ? Promise.reject(poolClosed()) : source.read()) };
}
