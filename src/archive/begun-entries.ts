import type { ArchiveEntry } from "./scan.js";

/**
 * The entries every read so far has begun on, and those of every source closed (OpenedSource.close):
 * either way the source has nothing left to give, and a later job must open it again from its start
 * (see readArchive). Their iterable, not the source, is what a read uses up: a copy of a source
 * (`{ ...source }`) read again must be caught as well.
 */
export const begunEntries = new WeakSet<AsyncIterable<ArchiveEntry>>();
