import { invalid } from "../core/errors.js";
import type { Compression } from "../tar/compression.js";
import type { TarBody } from "../tar/reader.js";
import { overLimit } from "../tar/guarded-decoder.js";
import { safeEntryName } from "../tar/entry-name.js";
import type { ScannedArchive, ScannedFile, ScannedLink } from "./model.js";
import { probeFile, type BlobWriter, type ProbeLimits } from "./probe.js";
import { defer, type DeferredBytes } from "./deferred-bytes.js";
import { ProbePool } from "./probe-pool.js";
import {
  checkSize,
  holdProbe,
  PARALLEL_AT_LEAST,
  probeHeld,
  probeInWorker,
  uncompressedAt,
  workerJob,
  streamToWorker,
  type HeldProbe,
} from "./worker-probes.js";

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
  /** A file no image can use (a stray file beside a layout directory): held to the size limit, then passed by unread. */
  unused?: boolean;
}

export interface FileLocation {
  path: string;
  offset: number;
}

export interface ScanOptions extends ProbeLimits {
  /** Opens a writer for a file's bytes (the content store's ingest, for a load); `location` as in ArchiveEntry. */
  openWriter?: (name: string, size: number, location?: FileLocation) => Promise<BlobWriter | undefined>;
  /**
   * The diff ID already known for a file (see KnownDiffId), which is then not decompressed:
   * given only when the file's digest turns out to be the one named; else the layer is refused.
   */
  knownDiffId?: (name: string) => Promise<KnownDiffId | undefined>;
  /** Probe large files on disk in worker threads (default true). */
  parallel?: boolean;
  /**
   * Called once every entry has been seen and this thread has probed its share: it has nothing
   * left to do but wait for the workers' last files.
   */
  onEntriesRead?: () => void;
  /** Counts the bodies on disk this walk leaves to a worker or to later, until they are read (see DeferredBytes). */
  deferred?: DeferredBytes;
}

/** What decompressing a compressed blob showed once (a store keeps it), for a file named for that blob. */
export interface KnownDiffId {
  /** The blob the file must turn out to be. */
  digest: string;
  diffId: string;
  /** Decompressed size. */
  size: number;
  /** Where the diff ID comes from, for messages. */
  source: string;
}

/**
 * A file probed without decompressing it, given the diff ID known for the blob it claims to be.
 * A known decompressed size over the limit refuses the layer as decompressing it would have (the
 * record may come from a load with a higher limit), in the decompressor's words.
 */
function withKnownDiffId(file: ScannedFile, known: KnownDiffId | undefined, maxLayerBytes: number): ScannedFile {
  if (known === undefined || file.compression === "none") return file;
  if (file.digest !== known.digest) {
    return { ...file, layerProblem: `its content (${file.digest}) is not the blob ${known.digest} it is named for, and it was not decompressed to check its diff ID` };
  }
  if (known.size > maxLayerBytes) return { ...file, layerProblem: overLimit(maxLayerBytes) };
  return { ...file, diffId: known.diffId, uncompressedSize: known.size, diffIdSource: known.source };
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

  /** Registers the file a worker is probing (`wroteElsewhere`: the worker, not this thread, wrote its bytes). */
  const registerFromWorker = async (name: string, size: number, result: Promise<ScannedFile>, writer: BlobWriter | undefined, wroteElsewhere: boolean): Promise<void> => {
    const probed = probeInWorker(result, name, size, writer, wroteElsewhere);
    probed.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
    await register(name, probed);
    workerProbes++;
  };

  try {
    for await (const entry of entries) {
      const { name } = entry;
      if (name === "") continue;
      if (entry.type === "directory") {
        // As Docker unpacks it, a directory entry removes a file or link of that name before it.
        const dir = name.replace(/\/+$/, "");
        if (files.has(dir) || links.has(dir)) throw invalid(`directory ${JSON.stringify(dir)} replaces the ${files.has(dir) ? "file" : "link"} of an earlier entry`, name);
        continue;
      }
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
        for (const ancestor of ancestorsOf(name)) parentDirs.add(ancestor);
        continue;
      }
      // Docker unpacks the archive before reading it, and a file there removes the directory it replaces.
      if (parentDirs.has(name)) throw invalid(`file ${JSON.stringify(name)} replaces a directory of earlier entries`, name);

      // Held to the limit before its body is read or written anywhere, referenced or not: a small
      // compressed archive can declare an entry of gigabytes, and only later metadata could say
      // whether it is needed.
      if (entry.size > options.maxLayerBytes) throw invalid(`entry ${JSON.stringify(name)}: size ${entry.size} exceeds the limit of ${options.maxLayerBytes} bytes (--max-layer-size)`, name);
      if (entry.unused) continue;

      const location = entry.location;
      if (!poolTried && entry.size >= PARALLEL_AT_LEAST) {
        // Its workers start when given a first file: an archive of compressed layers needs none.
        poolTried = true;
        pool = ProbePool.create();
      }
      const parallel = pool !== undefined && location !== undefined && entry.size >= PARALLEL_AT_LEAST;
      const known = options.decompress !== false && options.knownDiffId ? await options.knownDiffId(name) : undefined;
      const limits: ScanOptions = known === undefined ? options : { ...options, decompress: false };
      const completed = (result: Promise<ScannedFile>): Promise<ScannedFile> => (known === undefined ? result : result.then((file) => withKnownDiffId(file, known, options.maxLayerBytes)));
      // The body is pulled, so nothing is read (and nothing can fail) until a probe asks.
      const [opened, sniffed] = await Promise.allSettled([
        options.openWriter ? options.openWriter(name, entry.size, location) : undefined,
        // Read here and now, but its failure is taken after the writer's (and aborts it).
        new Promise<boolean>((resolve) => resolve(parallel && limits.decompress !== false ? uncompressedAt(location) : true)),
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
        defer(options.deferred, entry.size);
        if (pool.hasIdleWorker()) {
          await registerFromWorker(name, entry.size, completed(pool.probe(workerJob(name, entry.size, location, limits, writer, options.deferred))), writer, true);
        } else {
          const probe = holdProbe(name, entry.size, location, writer, limits, options.deferred);
          held.push(probe);
          const done = completed(probe.done);
          done.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
          await register(name, done);
        }
        continue;
      }
      let body: AsyncIterable<Buffer> = entry.body;
      const ingestPath = writer?.delegate?.path;
      if (pool !== undefined && location === undefined && entry.size >= PARALLEL_AT_LEAST && ingestPath !== undefined) {
        // A stream: this thread passes the body to a worker, which probes it and writes it into
        // the ingest file (unless the body is compressed, see uncompressedAt: then it is probed
        // here as it passes). Even when every worker is busy (the body then waits at the ring
        // for one): a worker hashes faster than a stream arrives here, and hashing on this
        // thread would slow the stream down (measured: ~5% on a 1 GiB docker load through the
        // server, when the worker still read the body back from the ingest file).
        const passed = await streamToWorker(pool, name, entry.body, limits, writer as BlobWriter, ingestPath);
        if ("result" in passed) {
          await registerFromWorker(name, entry.size, completed(passed.result), writer, true);
          continue;
        }
        body = passed.body;
      }
      const file = withKnownDiffId(await probeFile(name, body, limits, writer), known, options.maxLayerBytes);
      checkSize(name, file, entry.size);
      await register(name, file);
    }
    if (pool !== undefined && held.length > 0) workerProbes += await probeHeld(pool, held);
    options.onEntriesRead?.();
    const settled = new Map<string, ScannedFile>();
    for (const [name, probed] of files) settled.set(name, await probed);
    for (const compared of duplicates) await compared;
    // Every worker is done: they stop while the caller goes on (with the graph), unwaited for.
    void pool?.close();
    return { files: settled, links, byDigest: indexByDigest(settled), compression, workerProbes };
  } catch (error) {
    // Workers still copying into ingest files stop before their writers are aborted.
    await pool?.close();
    for (const probe of held) await probe.cancel(error);
    await Promise.allSettled([...files.values(), ...duplicates]);
    throw error;
  }
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

/**
 * True when nothing in the archive answers to `path`: no file, no link, no link above it. An
 * unsafe path is not absent but wrong, as lookupFile says.
 */
export function isAbsentPath(archive: { files: { has(name: string): boolean }; links: { has(name: string): boolean } }, path: string): boolean {
  let name: string;
  try {
    name = safeEntryName(path);
  } catch {
    return false;
  }
  return !archive.files.has(name) && !archive.links.has(name) && !ancestorsOf(name).some((ancestor) => archive.links.has(ancestor));
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
  let followed: ScannedLink | undefined;
  for (let depth = 0; depth <= MAX_LINK_DEPTH; depth++) {
    const file = archive.files.get(current);
    if (file) return file;
    const link = archive.links.get(current);
    if (!link) {
      const through = ancestorsOf(current).find((ancestor) => archive.links.has(ancestor));
      if (through) throw invalid(`${field}: ${JSON.stringify(path)} reaches a file through the link ${JSON.stringify(through)}`, field);
      if (followed) throw invalid(`${field}: ${danglingLinkWords(path, followed, depth === 1)}, which is not in the archive`, field);
      throw invalid(`${field}: ${JSON.stringify(path)} is not in the archive`, field);
    }
    followed = link;
    current = link.target;
  }
  throw invalid(`${field}: ${JSON.stringify(path)} is a chain of more than ${MAX_LINK_DEPTH} links (or a loop)`, field);
}

/** `path` as a link whose target is missing: the entry is there, what it points at is not (GNU tar: "Cannot hard link to"). */
function danglingLinkWords(path: string, last: ScannedLink, pathIsLast: boolean): string {
  const kind = last.kind === "hardlink" ? "a hard link" : "a symbolic link";
  const target = JSON.stringify(last.target);
  if (pathIsLast) return `${JSON.stringify(path)} is ${kind} to ${target}`;
  return `${JSON.stringify(path)} leads through links to ${JSON.stringify(last.name)}, ${kind} to ${target}`;
}
