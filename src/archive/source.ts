import { createReadStream, type Dirent, type Stats } from "node:fs";
import { lstat, open, readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, pipeline } from "node:stream";
import { invalid, LadingError, usage } from "../core/errors.js";
import { fileChunkSource, prefixedSource, streamChunkSource, type ChunkSource } from "../tar/chunk-source.js";
import { COMPRESSION_SNIFF_BYTES, createDecompressor, detectCompression, STREAM_HIGH_WATER_MARK, type Compression } from "../tar/compression.js";
import { resolveLinkTarget, safeEntryName } from "../tar/entry-name.js";
import { readTarChunks, type TarBody } from "../tar/reader.js";
import { deferredBytes, progressOf, type DeferredBytes } from "./deferred-bytes.js";
import { validDigestNamedBy } from "./names.js";
import type { ArchiveEntry } from "./scan.js";
import { isDirLayoutRefusal, namedByManifestJson, readDirectoryManifestJson, type DirectoryManifestJson, type WalkedNames } from "./directory-manifest.js";
import { DEFAULT_LIMITS } from "./read.js";
import type { DockerManifestItem } from "../core/schemas.js";
import { notAnImageArchive } from "./top-level.js";
import { begunEntries } from "./begun-entries.js";

/**
 * An archive opened for reading. Every reader (verify, load, convert, the round trip) goes
 * through readArchive, which reads it once from its start; a second read of the same source
 * opens it again with `reopen` (a file or a directory) and reads that, or, for one that cannot be
 * read again (standard input, a pipe, openTarStream), is refused as already read. `bytesRead`
 * and `totalBytes` count the first read only.
 */
export interface OpenedSource {
  compression: Compression;
  entries: AsyncIterable<ArchiveEntry>;
  /**
   * Bytes read from the underlying file or stream so far (for progress), less the bodies the walk
   * skipped for another reader that has not read them yet (see `deferred`, progressOf).
   */
  bytesRead(): number;
  /** Where the scan counts the bodies it leaves to another reader (a source whose files lie on disk). */
  deferred?: DeferredBytes;
  /** Total size when known (a file), for progress. */
  totalBytes: number | undefined;
  /** The path it was opened by (absent for standard input), to name the archive as a whole in a refusal. */
  path?: string;
  /** Opens the same archive again from its start (absent for standard input). */
  reopen?: () => Promise<OpenedSource>;
  /**
   * Releases what the source holds open (a file descriptor, a stream), for a source that will not
   * be read to its end: a read to the end, a failed read or a read left early releases it already.
   * Idempotent.
   */
  close(): void;
}

export interface OpenPathOptions {
  /** Largest manifest.json to accept (--max-manifest-json-size): a directory's is read before its other files. */
  maxManifestJsonBytes?: number;
  /**
   * A directory whose manifest.json fails its first check (it names no file there, it is no
   * docker save list) is read in full, as before that check, so that the scan reports each image
   * as it does for a tar of the same files (verify's report); by default it is refused at once.
   * A containers/image dir: layout is refused at once either way.
   */
  readOnPastManifestProblems?: boolean;
}

/** Opens an archive given as a path: a tar file (maybe compressed) or a pipe, or an OCI layout or unpacked docker save directory. */
export async function openArchivePath(path: string, options: OpenPathOptions = {}): Promise<OpenedSource> {
  return closedAsRead(await openPath(path, options));
}

/**
 * `source`, whose close() also counts as a read of its entries: a job given it after its close
 * opens it again from its start, or refuses it as already read, rather than read what is left.
 */
function closedAsRead(source: OpenedSource): OpenedSource {
  return {
    ...source,
    close: () => {
      begunEntries.add(source.entries);
      source.close();
    },
  };
}

async function openPath(path: string, options: OpenPathOptions): Promise<OpenedSource> {
  // The path as the user gave it: a symbolic link to a layout directory is that directory.
  const info = await stat(path).catch(() => undefined);
  if (!info) throw invalid(`${path}: no such file or directory`, path);
  const opened = await openPathOnce(path, info, options);
  // A pipe (`-i <(...)`) cannot be read again from its start.
  return info.isFile() || info.isDirectory() ? { ...opened, path, reopen: () => openArchivePath(path, options) } : { ...opened, path };
}

async function openPathOnce(path: string, info: Stats, options: OpenPathOptions): Promise<OpenedSource> {
  if (info.isDirectory()) return openDirectory(path, options);
  // A socket cannot be opened (ENXIO); a device gives no archive (a terminal or a serial line
  // waits for input forever, /dev/null reads as an empty one): neither is read.
  const what = info.isSocket() ? "a socket" : info.isCharacterDevice() ? "a character device file" : info.isBlockDevice() ? "a block device file" : undefined;
  if (what !== undefined) throw invalid(`${path}: not an image archive: it is ${what}`, path);
  const handle = await open(path, "r");
  try {
    const opened = await handle.stat();
    // A FIFO is read through the descriptor just opened: closing it and opening the path again
    // would leave the writer without a reader for a moment (EPIPE, and the bytes in the pipe lost).
    if (!opened.isFile()) return await openTarSource(streamChunkSource(handle.createReadStream({ highWaterMark: STREAM_HIGH_WATER_MARK })));
    const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    if (detectCompression(head.subarray(0, bytesRead)) === "none") {
      // The fast path: the tar read straight from the file through reused buffers.
      const source = fileChunkSource(handle);
      const deferred = deferredBytes();
      return { compression: "none", entries: tarEntries(source, path), bytesRead: progressOf(source.bytesRead, deferred), totalBytes: opened.size, deferred, close: source.close };
    }
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  await handle.close();
  return openTarSource(streamChunkSource(createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK })), info.size);
}

/**
 * Opens a tar stream (maybe compressed): standard input, or a library caller's stream. A failure
 * of the stream itself is said as `reading the archive failed: …` (a path's file or FIFO is read
 * without it: its failures keep the system's words, as the tar file read in place gives them).
 */
export async function openTarStream(input: NodeJS.ReadableStream | Readable | AsyncIterable<Buffer>, totalBytes?: number): Promise<OpenedSource> {
  return openTarSource(failingAsReadFailure(streamChunkSource(input)), totalBytes);
}

/** `source`, its stream's own failures (a connection reset, a destroyed stream) said as lading says them. */
function failingAsReadFailure(source: ChunkSource): ChunkSource {
  return {
    ...source,
    read: () =>
      source.read().catch((error: unknown) => {
        if (error instanceof LadingError) throw error;
        throw new LadingError("io", `reading the archive failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }),
  };
}

/**
 * Opens a tar (maybe compressed) pulled from `raw`. With `reusesBuffers` (a source whose chunks
 * are valid only until its next read, see ChunkSource), what is kept across reads is copied: the
 * first chunks, looked at for the compression, and whatever goes to a decompressor (which may
 * hold a chunk past the next read). An uncompressed tar is parsed from the chunks themselves.
 */
export async function openTarSource(raw: ChunkSource, totalBytes?: number, options: { reusesBuffers?: boolean } = {}): Promise<OpenedSource> {
  return closedAsRead(await tarSource(raw, totalBytes, options));
}

async function tarSource(raw: ChunkSource, totalBytes: number | undefined, options: { reusesBuffers?: boolean }): Promise<OpenedSource> {
  const kept = (chunk: Buffer): Buffer => (options.reusesBuffers ? Buffer.from(chunk) : chunk);
  const head: Buffer[] = [];
  let headLength = 0;
  try {
    while (headLength < COMPRESSION_SNIFF_BYTES) {
      const chunk = await raw.read();
      if (chunk === undefined) break;
      head.push(kept(chunk));
      headLength += chunk.length;
    }
  } catch (error) {
    raw.close();
    throw error;
  }
  const compression = detectCompression(head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head));
  const whole = prefixedSource(head, raw);
  if (compression === "none") return { compression, entries: tarEntries(whole), bytesRead: raw.bytesRead, totalBytes, close: whole.close };
  let decoder;
  try {
    // Zero padding after a gzip-compressed archive is read as gzip -t reads it; a layer gets none.
    decoder = createDecompressor(compression, { allowGzipZeroPadding: true, xzSubject: "archive" });
  } catch (error) {
    whole.close();
    throw error;
  }
  pipeline(Readable.from(chunksOf(whole, kept), { objectMode: false, highWaterMark: STREAM_HIGH_WATER_MARK }), decoder, () => {
    // Errors reach the reader through the decoder, which pipeline destroys with them.
  });
  const close = (): void => {
    // Before the decompressor has asked for a chunk, its input's generator has not begun, and
    // ending it would not close the input: closed here as well.
    decoder.destroy();
    whole.close();
  };
  return { compression, entries: tarEntries(streamChunkSource(decoder)), bytesRead: raw.bytesRead, totalBytes, close };
}

async function* chunksOf(source: ChunkSource, kept: (chunk: Buffer) => Buffer): AsyncGenerator<Buffer> {
  try {
    for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) yield kept(chunk);
  } finally {
    source.close();
  }
}

/** The entries of a tar; `path` is the uncompressed tar file the source reads, if it is one. */
async function* tarEntries(source: ChunkSource, path?: string): AsyncGenerator<ArchiveEntry> {
  for await (const entry of readTarChunks(source)) {
    const archiveEntry: ArchiveEntry = { name: entry.name, type: entry.type, size: entry.size, body: entry.body };
    if (path !== undefined && entry.type === "file") archiveEntry.location = { path, offset: entry.dataOffset };
    if (entry.type === "symlink") archiveEntry.resolvedTarget = resolveLinkTarget(entry.name, entry.linkTarget ?? "");
    if (entry.type === "hardlink") archiveEntry.resolvedTarget = hardLinkTarget(entry.name, entry.linkTarget ?? "");
    yield archiveEntry;
  }
}

/** Hard link targets in a tar are names from the archive root. */
function hardLinkTarget(name: string, target: string): string {
  try {
    return safeEntryName(target);
  } catch {
    throw invalid(`hard link ${JSON.stringify(name)} points outside the archive (${JSON.stringify(target)})`, name);
  }
}

const METADATA_FIRST = ["oci-layout", "index.json", "manifest.json"];

/** An OCI layout or unpacked docker save directory, read as if it were a tar with its metadata first. */
async function openDirectory(root: string, options: OpenPathOptions): Promise<OpenedSource> {
  // Its top level alone says whether it can be an image archive: one that cannot (`-i .`, a
  // typo) is refused before its tree is walked or any of its files read.
  const top = await readdir(root, { withFileTypes: true });
  const present = (name: string): boolean => top.some((dirent) => dirent.name === name && !dirent.isDirectory());
  const refusal = notAnImageArchive({ index: present("index.json") || present("oci-layout"), manifestJson: present("manifest.json"), repositories: present("repositories") });
  if (refusal !== undefined) throw invalid(`${root}: ${refusal}`, root);
  // manifest.json, small, is read first: what it cannot describe is refused before any layer is
  // read, and what it names is all an image can use. (One that is a link, or no file, is left to
  // the scan, which follows or refuses it as in a tar; every file is read then.)
  const maxBytes = options.maxManifestJsonBytes ?? DEFAULT_LIMITS.maxManifestJsonBytes;
  const readOn = <T>(error: unknown): T | undefined => {
    if (options.readOnPastManifestProblems && !isDirLayoutRefusal(error)) return undefined;
    throw error;
  };
  const manifestJson = top.some((dirent) => dirent.name === "manifest.json" && dirent.isFile()) ? await readDirectoryManifestJson(root, maxBytes).catch(readOn<DirectoryManifestJson>) : undefined;
  const unreadable: UnreadableDirectory[] = [];
  const found = await walk(root, "", top, unreadable);
  found.sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A directory this user may not list (lost+found at the top of a file system) is passed by as an
  // unused file is, unless it may hold a file an image uses: then the system's error stands.
  const refuseIfNeeded = (holdsUsable: (below: string) => boolean): void => {
    const needed = unreadable.find(({ name }) => holdsUsable(`${name}/`));
    if (needed !== undefined) throw needed.error;
  };
  if (manifestJson !== undefined) refuseIfNeeded((below) => manifestJsonPaths(manifestJson.items).some((path) => path.startsWith(below)));
  let named: Set<string> | undefined;
  try {
    named = manifestJson && namedByManifestJson(root, manifestJson.items, walkedNames(found));
  } catch (error) {
    named = readOn<Set<string>>(error);
  }
  const usable = present("manifest.json") && named === undefined ? () => true : await usableInLayout(root, found, named);
  refuseIfNeeded((below) => usable(`${below}-`));
  let finishedBytes = 0;
  let current: ChunkSource | undefined;
  async function* entries(): AsyncGenerator<ArchiveEntry> {
    for (const { name } of found) {
      if (manifestJson !== undefined && name === "manifest.json") {
        // The bytes checked above, not read again.
        yield { name, type: "file", size: manifestJson.bytes.length, body: bytesBody(manifestJson.bytes) };
        finishedBytes += manifestJson.bytes.length;
        continue;
      }
      const path = join(root, name);
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        const target = await readlink(path);
        yield { name, type: "symlink", size: 0, resolvedTarget: resolveLinkTarget(name, target), body: emptyBody() };
      } else if (info.isFile() && !usable(name)) {
        yield { name, type: "file", size: info.size, body: emptyBody(), unused: true };
      } else if (info.isFile()) {
        const source = fileChunkSource(await open(path, "r"));
        current = source;
        try {
          yield { name, type: "file", size: info.size, body: bodyOf(source), location: { path, offset: 0 } };
        } finally {
          source.close();
        }
        finishedBytes += info.size; // read here or, unread here, by a worker
        current = undefined;
      } else {
        yield { name, type: "other", size: 0, body: emptyBody() };
      }
    }
  }
  const deferred = deferredBytes();
  const bytesRead = progressOf(() => finishedBytes + (current?.bytesRead() ?? 0), deferred);
  // Files are opened one at a time as the walk reaches them: only the current one is open.
  return { compression: "none", entries: entries(), bytesRead, totalBytes: undefined, deferred, close: () => current?.close() };
}

function rank(name: string): number {
  const index = METADATA_FIRST.indexOf(name);
  return index === -1 ? METADATA_FIRST.length : index;
}

/**
 * Which files of a directory an image can use: the layout's own (`oci-layout`, `index.json`,
 * `manifest.json`, anything under `blobs/`), the legacy docker save documents (`repositories`,
 * `<v1id>/json`, `<v1id>/VERSION`), those manifest.json names (`named`), any named for a digest
 * (which must hold it, used or not: checkBlobNames) and any a link points at. Neither index.json
 * nor manifest.json can name the rest (a disk image beside the layout): the scan holds them to the
 * size limit and passes them by unread.
 */
async function usableInLayout(root: string, found: readonly WalkedName[], named: ReadonlySet<string> = new Set()): Promise<(name: string) => boolean> {
  const linkedTo = new Set<string>();
  for (const { name, isLink } of found) {
    if (!isLink) continue;
    try {
      linkedTo.add(resolveLinkTarget(name, await readlink(join(root, name))));
    } catch {
      // A target out of the archive is refused when the entries reach the link.
    }
  }
  return (name) =>
    LAYOUT_NAMES.includes(name) || LEGACY_DOCUMENT.test(name) || name.startsWith("blobs/") || named.has(name) || validDigestNamedBy(name) !== undefined || linkedTo.has(name);
}

const LAYOUT_NAMES = [...METADATA_FIRST, "repositories"];
/** A legacy docker save's per-layer documents beside its `<v1id>/layer.tar` (which manifest.json names). */
const LEGACY_DOCUMENT = /^[^/]+\/(VERSION|json)$/;

interface WalkedName {
  name: string;
  isLink: boolean;
}

function walkedNames(found: readonly WalkedName[]): WalkedNames {
  return {
    files: new Set(found.filter((walked) => !walked.isLink).map((walked) => walked.name)),
    links: new Set(found.filter((walked) => walked.isLink).map((walked) => walked.name)),
  };
}

interface UnreadableDirectory {
  name: string;
  error: unknown;
}

/**
 * The names below `prefix`, whose own entries are `listed` when they have been read already.
 * Sockets are left out, as tar leaves them out of an archive; a subdirectory that may not be
 * listed is put in `unreadable`, for the caller to judge.
 */
async function walk(root: string, prefix: string, listed: Dirent[] | undefined, unreadable: UnreadableDirectory[]): Promise<WalkedName[]> {
  let dirents = listed;
  if (dirents === undefined) {
    try {
      dirents = await readdir(join(root, prefix), { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EACCES" && code !== "EPERM") throw error;
      unreadable.push({ name: prefix, error });
      return [];
    }
  }
  const found: WalkedName[] = [];
  for (const dirent of dirents) {
    const name = prefix ? `${prefix}/${dirent.name}` : dirent.name;
    safeEntryName(name);
    if (dirent.isDirectory()) found.push(...(await walk(root, name, undefined, unreadable)));
    else if (!dirent.isSocket()) found.push({ name, isLink: dirent.isSymbolicLink() });
  }
  return found;
}

/** The paths manifest.json gives (configs and layers), as entry names where they are safe ones (namedByManifestJson refuses the others). */
function manifestJsonPaths(items: readonly DockerManifestItem[]): string[] {
  return items.flatMap((item) => [item.Config, ...item.Layers]).flatMap((path) => {
    try {
      return [safeEntryName(path)];
    } catch {
      return [];
    }
  });
}

/** A whole file as a body: chunks valid until the next step, like a tar entry's. */
function bodyOf(source: ChunkSource): TarBody {
  return {
    next: () => source.read(),
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const value = await source.read();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
    }),
  };
}

function bytesBody(bytes: Buffer): TarBody {
  let given = false;
  return bodyOf({
    read: async () => {
      if (given) return undefined;
      given = true;
      return bytes;
    },
    close: () => undefined,
    bytesRead: () => (given ? bytes.length : 0),
  });
}

function emptyBody(): TarBody {
  return bodyOf({ read: async () => undefined, close: () => undefined, bytesRead: () => 0 });
}

export function refuseTerminalInput(stdin: NodeJS.ReadStream): void {
  if (stdin.isTTY) throw usage("requested load from stdin, but stdin is empty or a terminal; use -i FILE or redirect");
}
