/**
 * Standard input as an archive, read to its end once the command is done, as docker's client reads
 * its input whole: a writer into the pipe (`cat padded.tar | lading load`) then finishes instead of
 * dying of SIGPIPE when bytes follow the tar's end-of-archive blocks (zero padding to a record).
 */
import type { Readable } from "node:stream";
import { openArchivePath, openTarStream, type OpenedSource, type OpenPathOptions } from "../archive/source.js";

let archiveInput: Readable | undefined;

/** The archive a command is given: standard input for `-`, read as above, else the path. */
export function openArchiveArgument(input: string, options: OpenPathOptions): Promise<OpenedSource> {
  return input === "-" ? openTarStream(standardInputArchive()) : openArchivePath(input, options);
}

/** Standard input for openTarStream: a reader that stops at the archive's end leaves it open. */
function standardInputArchive(input: Readable = process.stdin): AsyncIterable<Buffer> {
  archiveInput = input;
  return { [Symbol.asyncIterator]: () => input.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer> };
}

/** Reads and drops what is left of standard input, when a command read an archive from it. */
export async function drainStandardInput(): Promise<void> {
  const input = archiveInput;
  archiveInput = undefined;
  if (input === undefined || input.readableEnded || input.destroyed) return;
  for await (const chunk of input.iterator({ destroyOnReturn: false })) void chunk;
}

/**
 * Stops reading standard input after a failure: what is left may be anything, even endless, and a
 * writer that keeps the pipe open would otherwise keep the command from exiting.
 */
export function releaseStandardInput(): void {
  const input = archiveInput;
  archiveInput = undefined;
  input?.destroy();
}
