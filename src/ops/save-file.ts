/**
 * The direct path of an uncompressed save: the plan's entries go straight to the output with
 * DirectTarWriter (a file's descriptor, or any Writable sink: standard output, an HTTP response),
 * each blob read from the store into a few buffers shared by all and hashed while it is being
 * written. The bytes are those of the stream path (writePlan through TarWriter); a blob whose
 * content no longer matches its digest fails the save.
 */
import { open } from "node:fs/promises";
import type { WriteStream } from "node:fs";
import type { Writable } from "node:stream";
import { createDigester, parseDigest } from "../core/digest.js";
import { invalid, notFound } from "../core/errors.js";
import type { ArchivePlan } from "../archive/write-layout.js";
import type { Store } from "../store/store.js";
import { FileTarWriter } from "../tar/file-writer.js";
import { DirectTarWriter } from "../tar/tar-direct-writer.js";
import { SinkTarget } from "../tar/tar-sink-target.js";
import type { ChunkSource } from "../tar/chunk-source.js";
import { BlobReadBuffers } from "./save-blob-source.js";
import { countForFullCollection } from "../tar/transfer-garbage.js";

/**
 * The archive goes to disk in the background every this many bytes (saveToFile's fsync at the end
 * then waits for the last stretch only): measured on 256 MiB, a fifth less wall time than one
 * fsync of everything at the end.
 */
const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

export interface DirectSaveOptions {
  mtime: number;
  progress: { done: number };
}

/** Where a direct write takes each blob's bytes from, and how it checks the digest they hashed to. */
export interface DirectBlobSource {
  open(blob: { name: string; digest: string; size: number }, buffers: BlobReadBuffers): Promise<{ source: ChunkSource; check(actual: string): void }>;
}

/** Writes the whole archive of `plan` into `file` from offset 0; returns its length in bytes. */
export async function writePlanToFile(store: Store, plan: ArchivePlan, file: OutputFile, options: DirectSaveOptions): Promise<number> {
  return writePlanDirect(plan, fileTarWriter(file, options.mtime), storeBlobs(store), options.progress);
}

/**
 * Writes the whole archive of `plan` into `sink` (which it neither ends nor destroys); returns its
 * length in bytes. Rejects as soon as the sink fails or closes. The read buffers are reused once
 * the sink's callback says it is done with them; a sink that may keep written chunks gets copies
 * (see SinkTarget).
 */
export async function writePlanToSink(store: Store, plan: ArchivePlan, sink: Writable, options: DirectSaveOptions): Promise<number> {
  return writePlanDirect(plan, new DirectTarWriter(new SinkTarget(sink), { mtime: options.mtime }), storeBlobs(store), options.progress);
}

/** A new file an archive is written into: its descriptor and its path. */
export interface OutputFile {
  fd: number;
  path: string;
}

/**
 * Sinks that saveToFile made, with their file: an uncompressed archive goes straight to its
 * descriptor from offset 0 (when nothing has been written through the stream yet), and the
 * stream is then ended, which closes it.
 */
const outputFiles = new WeakMap<Writable, OutputFile>();

export function markOutputFile(sink: Writable, file: OutputFile): void {
  outputFiles.set(sink, file);
}

/** The file of a saveToFile sink nothing went through yet. */
export function outputFileOf(sink: Writable): OutputFile | undefined {
  const file = outputFiles.get(sink);
  if (file === undefined) return undefined;
  const stream = sink as WriteStream;
  return stream.bytesWritten === 0 && stream.writableLength === 0 ? file : undefined;
}

/**
 * The tar writer of a direct save into a file (synced in the background as it grows), written
 * around the page cache where the file system allows it: an archive is carried away, not read
 * back, and on the bench VM putting 1 GiB into the cache took more system time than all else.
 */
export function fileTarWriter(file: OutputFile, mtime: number): FileTarWriter {
  return new FileTarWriter(file.fd, { mtime, syncEvery: SYNC_EVERY_BYTES, directPath: file.path });
}

/**
 * Writes the plan through `writer`, each blob read through one set of shared buffers and hashed
 * while it is being written; returns the archive's length. Abandons the writer on failure.
 */
export async function writePlanDirect(plan: ArchivePlan, writer: DirectTarWriter, blobs: DirectBlobSource, progress: { done: number }): Promise<number> {
  const buffers = new BlobReadBuffers();
  try {
    for (const document of plan.documents) writer.addFile(document.name, document.content);
    for (const entry of plan.entries) {
      if (entry.kind === "directory") writer.addDirectory(entry.name);
      else await writeVerifiedBlob(writer, buffers, blobs, entry, progress);
    }
    return await writer.finish();
  } catch (error) {
    await writer.abandon();
    throw error;
  }
}

async function writeVerifiedBlob(
  writer: DirectTarWriter,
  buffers: BlobReadBuffers,
  blobs: DirectBlobSource,
  blob: { name: string; digest: string; size: number },
  progress: { done: number },
): Promise<void> {
  const { algorithm } = parseDigest(blob.digest);
  const hash = createDigester(algorithm);
  const { source, check } = await blobs.open(blob, buffers);
  const verify = (): void => check(`${algorithm}:${hash.digest("hex")}`);
  const inspect = (chunk: Buffer): void => {
    hash.update(chunk);
    progress.done += chunk.length;
    countForFullCollection(chunk.length);
  };
  await writer.addFileFrom(blob.name, blob.size, source, inspect, verify);
}

/** The store's blobs: content that no longer matches its digest means a damaged store. */
function storeBlobs(store: Store): DirectBlobSource {
  return {
    open: async (blob, buffers) => ({
      source: buffers.source(await openBlob(store, blob.digest), blob.size),
      check: (actual) => {
        if (actual !== blob.digest) {
          throw invalid(`blob ${blob.digest} in the store has content ${actual}: the store is damaged (run lading fsck)`, blob.digest);
        }
      },
    }),
  };
}

async function openBlob(store: Store, digest: string): Promise<Awaited<ReturnType<typeof open>>> {
  try {
    return await open(store.content.blobPath(digest), "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw notFound(`blob ${digest} not found in the content store`, digest);
    throw error;
  }
}
