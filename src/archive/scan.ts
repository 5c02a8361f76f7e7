import { open, stat } from "node:fs/promises";
import { invalid } from "../core/errors.js";
import { COMPRESSION_SNIFF_BYTES, detectCompression, type Compression } from "../tar/compression.js";
import type { TarBody } from "../tar/reader.js";
import { safeEntryName } from "../tar/entry-name.js";
import type { ScannedArchive, ScannedFile, ScannedLink } from "./model.js";
import { probeFile, type BlobWriter, type ProbeLimits } from "./probe.js";
import { ProbePool, type ProbeJob } from "./probe-pool.js";
import { fileChunkSource } from "../tar/chunk-source.js";

/** An entry of an archive, from a tar stream or from a directory on disk. */
export interface ArchiveEntry {
  name: string; // already passed through safeEntryName
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  size: number;
  /** For links: the target resolved inside the archive's namespace. */
  resolvedTarget?: string;
  /** The bytes of a file; each chunk is valid only until the next step (copy to keep). Unread bytes are skipped. */
  body: TarBody;
  /** Where a file's bytes lie on disk, when they can be read there directly (and the body left unread). */
  location?: FileLocation;
}

export interface FileLocation {
  path: string;
  offset: number;
}

export interface ScanOptions extends ProbeLimits {
  /** Opens a writer for a file's bytes (the content store's ingest, for a load); `location` as in ArchiveEntry. */
  openWriter?: (name: string, size: number, location?: FileLocation) => Promise<BlobWriter | undefined>;
  /** Probe large files on disk in worker threads (default true). */
  parallel?: boolean;
  /**
   * Called once every entry has been seen, before the files held for the end are probed: work
   * this thread does then is balanced by the workers taking more of those files.
   */
  onEntriesRead?: () => void;
}

/** Smaller files are probed on the main thread: handing them over costs more than it saves. */
const PARALLEL_AT_LEAST = 8 * 1024 * 1024;

/**
 * Whether a file on disk starts uncompressed. Only such files go to workers (unless nothing is
 * decompressed): a compressed one already keeps two threads busy (inflate in the thread pool,
 * hashing here), and two layers decompressing at once take the memory of a second decoder
 * (over 100 MB in all, measured).
 */
async function uncompressedAt(location: FileLocation): Promise<boolean> {
  const handle = await open(location.path, "r");
  try {
    const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, location.offset);
    return detectCompression(head.subarray(0, bytesRead)) === "none";
  } finally {
    await handle.close();
  }
}

/**
 * Reads every entry once. Files are probed (hashed, decompressed, sniffed); links are recorded
 * for resolution at the end. One rule for duplicate names: the same content again is accepted,
 * different content is refused. Nothing may be written "through" a link: an entry below a
 * path that is a link is refused, whichever comes first.
 */
export async function scanEntries(
  entries: AsyncIterable<ArchiveEntry>,
  compression: Compression,
  options: ScanOptions,
): Promise<ScannedArchive> {
  const files = new Map<string, ScannedFile | Promise<ScannedFile>>();
  const links = new Map<string, ScannedLink>();
  const parentDirs = new Set<string>();
  const held: HeldProbe[] = [];
  const duplicates: Promise<void>[] = [];
  let pool: ProbePool | undefined;
  let poolTried = options.parallel === false;
  let archiveSized = false;
  let workerProbes = 0;

  /** First occurrence kept; the same content again is accepted, different content refused. */
  const register = async (name: string, probed: ScannedFile | Promise<ScannedFile>): Promise<void> => {
    const earlier = files.get(name);
    if (earlier === undefined && !links.has(name)) {
      files.set(name, probed);
      for (const ancestor of ancestorsOf(name)) parentDirs.add(ancestor);
      return;
    }
    if (!(earlier instanceof Promise) && !(probed instanceof Promise)) {
      if (earlier?.digest !== probed.digest) throw invalid(`duplicate entry ${JSON.stringify(name)} with different content`, name);
      return;
    }
    // Compared once both are probed: a held probe is not done before the archive has been read.
    const compared = Promise.all([earlier, probed]).then(([first, again]) => {
      if (first?.digest !== again.digest) throw invalid(`duplicate entry ${JSON.stringify(name)} with different content`, name);
    });
    compared.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    duplicates.push(compared);
  };

  try {
    for await (const entry of entries) {
      const { name } = entry;
      if (name === "") continue;
      if (entry.type === "directory") continue;
      if (entry.type === "other") throw invalid(`entry ${JSON.stringify(name)}: unsupported entry type (device, FIFO or similar)`, name);

      for (const ancestor of ancestorsOf(name)) {
        if (links.has(ancestor)) throw invalid(`entry ${JSON.stringify(name)} is beneath the link ${JSON.stringify(ancestor)}`, name);
        if (files.has(ancestor)) throw invalid(`entry ${JSON.stringify(name)} is beneath the file ${JSON.stringify(ancestor)}`, name);
      }

      if (entry.type === "symlink" || entry.type === "hardlink") {
        const target = entry.resolvedTarget;
        if (target === undefined) throw invalid(`entry ${JSON.stringify(name)}: link without a target`, name);
        if (parentDirs.has(name)) throw invalid(`link ${JSON.stringify(name)} replaces a directory of earlier entries`, name);
        const earlier = links.get(name);
        if (files.has(name) || (earlier && earlier.target !== target)) {
          throw invalid(`duplicate entry ${JSON.stringify(name)} with different content`, name);
        }
        links.set(name, { name, kind: entry.type, target });
        continue;
      }

      const location = entry.location;
      if (!poolTried && (location !== undefined || entry.size >= PARALLEL_AT_LEAST)) {
        // Started at the first file on disk when that file (a tar archive) is large, so that the
        // workers are ready by the time its first large entry comes; else at the first large file.
        const large = entry.size >= PARALLEL_AT_LEAST || (location !== undefined && !archiveSized && (await worthWorkers(location)));
        archiveSized = true;
        if (large) {
          poolTried = true;
          pool = ProbePool.create();
          pool?.warmUp();
        }
      }
      const parallel = pool !== undefined && location !== undefined && entry.size >= PARALLEL_AT_LEAST;
      // The body is pulled, so nothing is read (and nothing can fail) until a probe asks.
      const [opened, sniffed] = await Promise.allSettled([
        options.openWriter ? options.openWriter(name, entry.size, location) : undefined,
        parallel && options.decompress !== false ? uncompressedAt(location) : true,
      ]);
      if (opened.status === "rejected") throw opened.reason;
      const writer = opened.value;
      if (sniffed.status === "rejected") {
        await writer?.abort();
        throw sniffed.reason;
      }
      const plain = sniffed.value;
      if (pool !== undefined && location !== undefined && parallel && plain && (writer === undefined || writer.delegate !== undefined)) {
        // Its body is skipped here; a worker probes it now if one is free, else it waits for the
        // end of the archive, when every thread takes its share of what is left.
        if (pool.hasIdleWorker()) {
          const probed = probeInWorker(pool.probe(workerJob(name, entry.size, location, options, writer)), name, entry.size, writer);
          probed.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
          await register(name, probed);
          workerProbes++;
        } else {
          const probe = holdProbe(name, entry.size, location, writer);
          held.push(probe);
          await register(name, probe.done);
        }
        continue;
      }
      const ingestPath = writer?.delegate?.path;
      if (pool !== undefined && location === undefined && entry.size >= PARALLEL_AT_LEAST && ingestPath !== undefined && pool.hasIdleWorker()) {
        // A stream: this thread writes the body into the ingest file, and a worker probes that
        // file while this thread goes on with the stream (unless the body is compressed, see
        // uncompressedAt: then it is probed here as it passes).
        const written = await writeThrough(name, entry.body, options, writer as BlobWriter, ingestPath);
        if ("job" in written) {
          const probed = probeInWorker(pool.probe(written.job), name, entry.size, writer, false);
          probed.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
          await register(name, probed);
          workerProbes++;
          continue;
        }
        const file = await probeFile(name, written.body, options, writer);
        checkSize(name, file, entry.size);
        await register(name, file);
        continue;
      }
      const file = await probeFile(name, entry.body, options, writer);
      checkSize(name, file, entry.size);
      await register(name, file);
    }
    options.onEntriesRead?.();
    if (pool !== undefined && held.length > 0) workerProbes += await probeHeld(pool, held, options);
    const settled = new Map<string, ScannedFile>();
    for (const [name, probed] of files) settled.set(name, await probed);
    for (const compared of duplicates) await compared;
    return { files: settled, links, byDigest: indexByDigest(settled), compression, workerProbes };
  } catch (error) {
    // Workers still copying into ingest files stop before their writers are aborted.
    await pool?.close();
    for (const probe of held) await probe.cancel(error);
    await Promise.allSettled([...files.values(), ...duplicates]);
    throw error;
  } finally {
    await pool?.close();
  }
}

/** A file smaller than this cannot hold a large entry and anything else. */
const WORKERS_FOR_FILES_OF = 2 * PARALLEL_AT_LEAST;

/** Whether the file an entry lies in is large enough to start the workers before a large entry is met. */
async function worthWorkers(location: FileLocation): Promise<boolean> {
  const info = await stat(location.path).catch(() => undefined);
  return info !== undefined && info.size >= WORKERS_FOR_FILES_OF;
}

/** A large file on disk whose probe waits until the whole archive has been read. */
interface HeldProbe {
  name: string;
  size: number;
  location: FileLocation;
  writer: BlobWriter | undefined;
  done: Promise<ScannedFile>;
  settle(result: Promise<ScannedFile>): void;
  /** Fails a probe not yet settled, aborting its writer. */
  cancel(error: unknown): Promise<void>;
}

function holdProbe(name: string, size: number, location: FileLocation, writer: BlobWriter | undefined): HeldProbe {
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
async function probeHeld(pool: ProbePool, held: HeldProbe[], limits: ProbeLimits): Promise<number> {
  held.sort((a, b) => b.size - a.size);
  const shared = pool.share(held.map((probe) => workerJob(probe.name, probe.size, probe.location, limits, probe.writer)));
  const mine = new Set<number>();
  for (let index = shared.claim(); index !== undefined; index = shared.claim()) {
    mine.add(index);
    const probe = held[index] as HeldProbe;
    const body = await openRange(probe.location, probe.size);
    const probed = probeFile(probe.name, body, limits, probe.writer).then((file) => {
      checkSize(probe.name, file, probe.size);
      return file;
    });
    probe.settle(probed);
    // A failure is reported in archive order with the others, once every file has settled.
    if ((await probed.then(() => true, () => false)) === false) break;
  }
  held.forEach((probe, index) => {
    if (!mine.has(index)) probe.settle(probeInWorker(shared.result(index), probe.name, probe.size, probe.writer));
  });
  return held.length - mine.size;
}

/** The bytes of a file on disk, as a probe's body. */
async function openRange(location: FileLocation, size: number): Promise<AsyncIterable<Buffer>> {
  const source = fileChunkSource(await open(location.path, "r"), undefined, undefined, { start: location.offset, length: size });
  return {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<Buffer>> => {
        const chunk = await source.read();
        return chunk === undefined ? { done: true, value: undefined } : { done: false, value: chunk };
      },
      return: async (): Promise<IteratorResult<Buffer>> => {
        source.close();
        return { done: true, value: undefined };
      },
    }),
  };
}

function workerJob(name: string, size: number, location: FileLocation, limits: ProbeLimits, writer: BlobWriter | undefined): Omit<ProbeJob, "id"> {
  const delegate = writer?.delegate;
  return {
    name,
    path: location.path,
    offset: location.offset,
    size,
    limits: { maxJsonBytes: limits.maxJsonBytes, maxLayerBytes: limits.maxLayerBytes, ...(limits.decompress === false ? { decompress: false } : {}) },
    ...(delegate?.path !== undefined ? { writeTo: delegate.path } : {}),
  };
}

/**
 * Writes a body into its ingest file without probing it, when it starts uncompressed (or nothing
 * is decompressed), and returns the job that probes the file written. A compressed body is left
 * to be probed here as it passes (see uncompressedAt): then the body to probe is returned, its
 * first bytes (already taken, to look at) handed out again.
 */
async function writeThrough(
  name: string,
  body: TarBody,
  limits: ProbeLimits,
  writer: BlobWriter,
  ingestPath: string,
): Promise<{ job: Omit<ProbeJob, "id"> } | { body: AsyncIterable<Buffer> }> {
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
  let size = 0;
  try {
    for (const piece of taken) {
      await writer.write(piece);
      size += piece.length;
    }
    for (let next = await body.next(); next !== undefined; next = await body.next()) {
      await writer.write(next);
      size += next.length;
    }
  } catch (error) {
    await writer.abort();
    throw error;
  }
  return { job: workerJob(name, size, { path: ingestPath, offset: 0 }, limits, undefined) };
}

/** `first`, then the rest of `body`. */
async function* replayed(first: Buffer[], body: TarBody): AsyncGenerator<Buffer> {
  yield* first;
  for (let next = await body.next(); next !== undefined; next = await body.next()) yield next;
}

/** Completes a file a worker probed: its size checked, and its writer told what the worker wrote. */
async function probeInWorker(result: Promise<ScannedFile>, name: string, size: number, writer: BlobWriter | undefined, wroteElsewhere = true): Promise<ScannedFile> {
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

function checkSize(name: string, file: ScannedFile, size: number): void {
  if (file.size !== size) throw invalid(`entry ${JSON.stringify(name)}: size ${file.size} does not match its header (${size})`, name);
}

function indexByDigest(files: Map<string, ScannedFile>): Map<string, ScannedFile> {
  const byDigest = new Map<string, ScannedFile>();
  for (const file of files.values()) {
    if (!byDigest.has(file.digest)) byDigest.set(file.digest, file);
    if (file.sha512 && !byDigest.has(file.sha512)) byDigest.set(file.sha512, file);
  }
  return byDigest;
}

function ancestorsOf(name: string): string[] {
  const parts = name.split("/");
  const ancestors: string[] = [];
  for (let i = 1; i < parts.length; i++) ancestors.push(parts.slice(0, i).join("/"));
  return ancestors;
}

const MAX_LINK_DEPTH = 16;

/**
 * Finds the file a path names, following links of the final component only (a path that climbs
 * through a linked directory is refused), with a depth limit against chains and loops.
 */
export function lookupFile(archive: ScannedArchive, path: string, field: string): ScannedFile {
  let current: string;
  try {
    current = safeEntryName(path);
  } catch (error) {
    throw invalid(`${field}: unsafe path ${JSON.stringify(path)}: ${(error as Error).message}`, field);
  }
  for (let depth = 0; depth <= MAX_LINK_DEPTH; depth++) {
    const file = archive.files.get(current);
    if (file) return file;
    const link = archive.links.get(current);
    if (!link) {
      const through = ancestorsOf(current).find((ancestor) => archive.links.has(ancestor));
      if (through) throw invalid(`${field}: ${JSON.stringify(path)} reaches a file through the link ${JSON.stringify(through)}`, field);
      throw invalid(`${field}: ${JSON.stringify(path)} is not in the archive`, field);
    }
    current = link.target;
  }
  throw invalid(`${field}: ${JSON.stringify(path)} is a chain of more than ${MAX_LINK_DEPTH} links (or a loop)`, field);
}
