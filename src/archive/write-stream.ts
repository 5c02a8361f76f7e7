/**
 * An archive plan written as a tar, maybe compressed, into a stream: the path of `save` and
 * `convert` when the output is no file they write directly (a pipe, a library caller's sink, a
 * compressed archive).
 */
import type { Readable, Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createCompressor } from "../tar/compression.js";
import { archiveWriteFailure } from "../tar/tar-sink-target.js";
import { TarWriter } from "../tar/writer.js";
import { writePlan, type ArchivePlan, type BlobToWrite } from "./write-layout.js";

/**
 * Writes `plan` into `sink`, `openBlob` giving each blob's bytes. A failure on either side tears
 * both down and rejects with one LadingError (archiveWriteFailure).
 */
export async function writePlanToStream(
  plan: ArchivePlan,
  sink: Writable,
  openBlob: (blob: BlobToWrite) => Readable,
  options: { mtime: number; compress?: "gzip" | "zstd" | undefined },
): Promise<void> {
  const writer = new TarWriter({ mtime: options.mtime });
  const stages: (Readable | Writable | Transform)[] = [writer.stream];
  if (options.compress) stages.push(createCompressor(options.compress));
  const bodies = new Set<Readable>();
  const writing = writePlan(plan, writer, (blob) => {
    const body = openBlob(blob);
    bodies.add(body);
    body.once("close", () => bodies.delete(body));
    return body;
  });
  const piping = pipeline([...stages, sink]);
  try {
    await Promise.all([writing, piping]);
  } catch (error) {
    writer.destroy(error instanceof Error ? error : new Error(String(error)));
    // A body the tar writer is waiting on may never move again once the pipeline is torn down
    // (a reader that went away): stopping it makes the writer give up instead of hanging.
    for (const body of bodies) body.destroy();
    await Promise.allSettled([writing, piping]);
    throw archiveWriteFailure(error);
  }
}
