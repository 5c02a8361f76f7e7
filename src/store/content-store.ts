/**
 * The content-addressed blob store: blobs/<alg>/<hex>, written the way containerd does it.
 *
 * A blob is first written to ingest/<owner>-<random> (owner: see process-alive.ts) while it is hashed, then committed: checked
 * against the expected size and digest, fsynced, and renamed into blobs/. Rename is the only way
 * a file appears under blobs/, so nothing half-written is ever visible there. A blob that is
 * already present is never written again: its commit just drops the ingest file.
 *
 * Blob files are mode 0444: content-addressed files must never change in place. (Deleting them
 * needs only write access to the directory.) An ingest file is created 0600, since a probe worker
 * opens it by path to write into it, which a user other than root may not do to a 0444 file; it
 * becomes 0444 when finished, before it can be renamed into blobs/.
 */
import { randomBytes, type Hash } from "node:crypto";
import { createReadStream, openSync } from "node:fs";
import { lstat, open, readdir, rename, rmdir, stat as fsStat, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Writable, type Readable } from "node:stream";
import { createDigester, isValidDigest, parseDigest, type DigestAlgorithm, type ParsedDigest } from "../core/digest.js";
import { cannotWrite, invalid, LadingError, notFound } from "../core/errors.js";
import { pageAlignedBuffers } from "../tar/page-aligned.js";
import { writeAllAt } from "../tar/write-at.js";
import { removeIfPresent } from "./atomic-file.js";
import { removeOnExit } from "./exit-cleanup.js";
import { eachFile, fsyncPath } from "./file-batches.js";
import { isOpenFileLimit } from "./open-file-limit.js";
import { addLeftovers, isThisProcess, NO_LEFTOVERS, ownerGone, ownerOfTaggedName, ownerTag, type FileOwner, type Leftovers } from "./process-alive.js";
import type { StorePaths } from "./root.js";

export const BLOB_MODE = 0o444;
const INGEST_MODE = 0o600;
const ALGORITHMS: readonly DigestAlgorithm[] = ["sha256", "sha512"];
const VERIFY_CHUNK = 1 << 20;

export interface ExpectedBlob {
  digest?: string;
  size?: number;
}

export interface CommitOptions {
  /** fsync the blob and its directory before returning (default true). */
  sync?: boolean;
}

export interface IngestResult {
  digest: string;
  size: number;
}

export interface Ingest {
  readonly path: string;
  readonly algorithm: DigestAlgorithm;
  /** Bytes accepted by write() so far (for progress). */
  readonly size: number;
  /**
   * For an ingest opened with `digestedByCaller`: the digest the caller computed over exactly the
   * bytes it wrote (so they are hashed once, not twice). Must be called before finish().
   */
  setDigest(digest: string): void;
  /**
   * For an ingest opened with `digestedByCaller` and not written through write(): another thread
   * (or process) wrote `size` bytes into `path`. Call before finish().
   */
  wroteElsewhere(size: number): void;
  /**
   * Every byte is written: starts flushing them to disk now, so that commit's fsync finds little
   * left, and the disk works while the rest of a load is being read. Optional.
   */
  flushAhead(): void;
  /** A Writable over write(), for pipeline(); ending it does not finish the ingest. */
  readonly writable: Writable;
  /**
   * Hashes the chunk now and writes it at the next offset. Calls may overlap: each one's offset
   * is fixed when it is made. Do not change the chunk until the returned promise settles.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Waits for pending writes, closes the file, returns digest and size. Does not make the blob visible. Idempotent. */
  finish(): Promise<IngestResult>;
  /**
   * Checks size then digest against `expected`, fsyncs (unless sync: false) and renames into
   * blobs/<alg>/<hex>; when that blob is already present, just removes the ingest file. On a
   * mismatch the ingest is aborted and a LadingError "invalid" naming the expected digest is thrown.
   */
  commit(expected?: ExpectedBlob, opts?: CommitOptions): Promise<string>;
  /** Removes the ingest file. Idempotent; a no-op after commit. */
  abort(): Promise<void>;
}

/** What is under a blob's name in blobs/ but is not a file. */
export interface NotABlobFile {
  digest: string;
  path: string;
  what: "a directory" | "a symbolic link" | "a special file";
}

export interface StoredBlob {
  digest: string;
  size: number;
}

/** fsync of a blob directory after renames into it: one that fails did not make them durable. */
async function syncBlobDirectory(dir: string): Promise<void> {
  await fsyncPath(dir).catch((error: unknown) => Promise.reject(cannotWrite(dir, error)));
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

type IngestState = "open" | "finished" | "committed" | "aborted";

export interface CleanIngestOptions {
  olderThanMs?: number;
  remove?: boolean;
  /** Gives, when called, whether the owner of a file from another pid namespace is gone. */
  foreignOwners?: () => Promise<(owner: FileOwner) => boolean>;
  othersGone?: boolean;
}

class FileIngest implements Ingest {
  readonly path: string;
  readonly algorithm: DigestAlgorithm;
  size = 0;
  private state: IngestState = "open";
  private readonly hash: Hash | undefined;
  private callerDigest: string | undefined;
  private handle: FileHandle | undefined;
  private readonly pending = new Set<Promise<void>>();
  private writeError: unknown;
  private finishing: Promise<IngestResult> | undefined;
  private committedDigest: string | undefined;
  private writableStream: Writable | undefined;
  /** The flush flushAhead started, and the size it covers. */
  private flushing: { done: Promise<void>; size: number } | undefined;

  constructor(
    private readonly store: ContentStore,
    file: string,
    handle: FileHandle,
    algorithm: DigestAlgorithm,
    digestedByCaller: boolean,
    private readonly forgetOnExit: () => void,
  ) {
    this.path = file;
    this.handle = handle;
    this.algorithm = algorithm;
    this.hash = digestedByCaller ? undefined : createDigester(algorithm);
  }

  setDigest(digest: string): void {
    if (this.hash !== undefined) throw invalid(`ingest ${this.path}: hashes its own bytes; a digest cannot be given`, this.path);
    if (!isValidDigest(digest) || parseDigest(digest).algorithm !== this.algorithm) {
      throw invalid(`ingest ${this.path}: ${JSON.stringify(digest)} is not a ${this.algorithm} digest`, this.path);
    }
    this.callerDigest = digest;
  }

  wroteElsewhere(size: number): void {
    if (this.hash !== undefined || this.size !== 0 || this.state !== "open" || this.finishing !== undefined) {
      throw invalid(`ingest ${this.path}: bytes written elsewhere can only be adopted by an unwritten ingest whose caller hashes`, this.path);
    }
    this.size = size;
  }

  get writable(): Writable {
    this.writableStream ??= new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _encoding, callback) => {
        this.write(chunk).then(() => callback(), callback);
      },
    });
    return this.writableStream;
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.state !== "open" || this.finishing !== undefined || this.handle === undefined) {
      return Promise.reject(invalid(`ingest ${this.path}: write after finish or abort`, this.path));
    }
    if (chunk.length === 0) return Promise.resolve();
    const position = this.size;
    this.size += chunk.length;
    const written = writeAllAt(this.handle.fd, [chunk], position).catch((error: unknown) => {
      const failure = cannotWrite(this.path, error);
      this.writeError ??= failure;
      throw failure;
    });
    // Hash after the write is queued, so hashing here overlaps the write in the thread pool.
    this.hash?.update(chunk);
    this.pending.add(written);
    const forget = (): void => void this.pending.delete(written);
    written.then(forget, forget);
    return written;
  }

  finish(): Promise<IngestResult> {
    if (this.state === "aborted") return Promise.reject(invalid(`ingest ${this.path}: finish after abort`, this.path));
    this.finishing ??= this.finishOnce();
    return this.finishing;
  }

  private async finishOnce(): Promise<IngestResult> {
    await Promise.allSettled([...this.pending]);
    if (this.writeError === undefined) await this.handle?.chmod(BLOB_MODE).catch((error: unknown) => (this.writeError = cannotWrite(this.path, error)));
    await this.closeHandle();
    if (this.writeError !== undefined) {
      await this.abort();
      throw this.writeError;
    }
    if (this.state === "aborted") throw invalid(`ingest ${this.path}: aborted while finishing`, this.path);
    const digest = this.hash !== undefined ? `${this.algorithm}:${this.hash.digest("hex")}` : this.callerDigest;
    if (digest === undefined) {
      await this.abort();
      throw invalid(`ingest ${this.path}: finished without the digest its caller computes`, this.path);
    }
    this.state = "finished";
    return { digest, size: this.size };
  }

  async commit(expected: ExpectedBlob = {}, opts: CommitOptions = {}): Promise<string> {
    if (this.committedDigest !== undefined) return this.committedDigest;
    const result = await this.checked(expected);
    const sync = opts.sync ?? true;
    const placed = await this.place(result, sync);
    if (placed && sync) await syncBlobDirectory(path.dirname(this.store.blobPath(result.digest)));
    return result.digest;
  }

  /** Finishes and checks size then digest; aborts the ingest on a mismatch. */
  async checked(expected: ExpectedBlob): Promise<IngestResult> {
    const result = await this.finish();
    const mismatch = this.mismatch(result, expected);
    if (mismatch !== undefined) {
      await this.abort();
      throw mismatch;
    }
    return result;
  }

  private mismatch(result: IngestResult, expected: ExpectedBlob): LadingError | undefined {
    const name = expected.digest ?? result.digest;
    if (expected.size !== undefined && expected.size !== result.size) {
      return invalid(`blob ${name}: size ${result.size} does not match the expected ${expected.size}`, name);
    }
    if (expected.digest === undefined) return undefined;
    let want: ParsedDigest;
    try {
      want = parseDigest(expected.digest);
    } catch (error) {
      return error instanceof LadingError ? error : invalid(String(error));
    }
    if (want.algorithm !== this.algorithm) {
      return invalid(`blob ${expected.digest}: ingest hashed with ${this.algorithm}, cannot check a ${want.algorithm} digest`, expected.digest);
    }
    if (expected.digest !== result.digest) {
      return invalid(`blob ${expected.digest}: content has digest ${result.digest}`, expected.digest);
    }
    return undefined;
  }

  flushAhead(): void {
    if (this.state !== "open" || this.flushing !== undefined) return;
    const done = Promise.allSettled([...this.pending]).then(() => fsyncPath(this.path));
    done.catch(() => undefined); // awaited by syncFile; an ingest aborted meanwhile never is
    this.flushing = { done, size: this.size };
  }

  /** fsyncs the finished ingest file (reopened read-only: fine on Linux and macOS, not on Windows). */
  async syncFile(): Promise<void> {
    try {
      if (this.flushing !== undefined && this.flushing.size === this.size) await this.flushing.done;
      else await fsyncPath(this.path);
    } catch (error) {
      throw cannotWrite(this.path, error);
    }
  }

  /**
   * Renames the finished ingest into blobs/, or drops it when an intact copy is already there.
   * Returns whether a new file appeared under blobs/.
   */
  async place(result: IngestResult, sync: boolean, alreadySynced = false): Promise<boolean> {
    const target = this.store.blobPath(result.digest);
    const existing = await this.store.stat(result.digest);
    if (existing?.size === result.size) {
      await removeIfPresent(this.path);
      this.markCommitted(result.digest);
      return false;
    }
    if (sync && !alreadySynced) await this.syncFile();
    try {
      await rename(this.path, target);
    } catch (error) {
      if (errorCode(error) !== "EISDIR") throw cannotWrite(target, error);
      throw new LadingError("io", `${target}: is a directory where blob ${result.digest} belongs (lading fsck --repair removes an empty one)`, { subject: target, cause: error });
    }
    this.markCommitted(result.digest);
    return true;
  }

  private markCommitted(digest: string): void {
    this.forgetOnExit();
    this.state = "committed";
    this.committedDigest = digest;
  }

  async abort(): Promise<void> {
    if (this.state === "committed" || this.state === "aborted") return;
    this.state = "aborted";
    await Promise.allSettled([...this.pending]);
    await this.closeHandle();
    await removeIfPresent(this.path);
    this.forgetOnExit();
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }
}

export class ContentStore {
  constructor(readonly paths: StorePaths) {}

  /** blobs/<alg>/<hex>; the digest is validated before it becomes a path. */
  blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return path.join(this.paths.blobs, algorithm, encoded);
  }

  async has(digest: string, size?: number): Promise<boolean> {
    const found = await this.stat(digest);
    return found !== undefined && (size === undefined || found.size === size);
  }

  async stat(digest: string): Promise<{ size: number } | undefined> {
    const file = this.blobPath(digest);
    try {
      const info = await lstat(file);
      return info.isFile() ? { size: info.size } : undefined;
    } catch (error) {
      if (errorCode(error) === "ENOENT") return undefined;
      throw error;
    }
  }

  /**
   * Opens an ingest file. With `digestedByCaller` the ingest does not hash what it is given: the
   * caller, which hashes the same bytes anyway, hands over the digest with setDigest().
   */
  async openIngest(opts: { algorithm?: DigestAlgorithm; digestedByCaller?: boolean } = {}): Promise<Ingest> {
    const algorithm = opts.algorithm ?? "sha256";
    if (!ALGORITHMS.includes(algorithm)) throw invalid(`unsupported digest algorithm ${JSON.stringify(algorithm)}`);
    const file = path.join(this.paths.ingest, `${ownerTag()}-${randomBytes(12).toString("hex")}`);
    const forget = removeOnExit(file);
    const handle = await open(file, "wx", INGEST_MODE).catch((error: unknown) => {
      forget();
      // Out of descriptors is not the store's fault: the caller names it (open-file-limit.ts).
      throw isOpenFileLimit(error) ? error : cannotWrite(file, error);
    });
    return new FileIngest(this, file, handle, algorithm, opts.digestedByCaller ?? false, forget);
  }

  /**
   * Opens the blob now (so a missing blob throws here, naming the digest) and streams it.
   * Throws LadingError "not-found" when absent, "invalid" for a bad digest.
   */
  readStream(digest: string, opts: { highWaterMark?: number } = {}): Readable {
    const file = this.blobPath(digest);
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (error) {
      throw this.openError(digest, error);
    }
    return createReadStream(file, { fd, highWaterMark: opts.highWaterMark ?? 1 << 20 });
  }

  /** Reads a small blob (a JSON document) whole; refuses one larger than maxBytes. */
  async readBuffer(digest: string, maxBytes: number): Promise<Buffer> {
    const handle = await this.openBlob(digest);
    try {
      const { size } = await handle.stat();
      if (size > maxBytes) throw invalid(`blob ${digest}: ${size} bytes, more than the limit of ${maxBytes}`, digest);
      const buffer = Buffer.alloc(size);
      let filled = 0;
      while (filled < size) {
        const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled !== size) throw invalid(`blob ${digest}: read ${filled} of ${size} bytes`, digest);
      return buffer;
    } finally {
      await handle.close();
    }
  }

  /** Every committed sha256 blob by size (for recognising a stored blob among unnamed archive entries). */
  async digestsBySize(): Promise<Map<number, string[]>> {
    const bySize = new Map<number, string[]>();
    for await (const blob of this.list()) {
      if (!blob.digest.startsWith("sha256:")) continue;
      const list = bySize.get(blob.size);
      if (list) list.push(blob.digest);
      else bySize.set(blob.size, [blob.digest]);
    }
    return bySize;
  }

  /** Fills `into` with the blob's bytes from `offset`; returns how many were there. */
  async readAt(digest: string, offset: number, into: Buffer): Promise<number> {
    const handle = await this.openBlob(digest);
    try {
      let filled = 0;
      while (filled < into.length) {
        const { bytesRead } = await handle.read(into, filled, into.length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled;
    } finally {
      await handle.close();
    }
  }

  /** Re-hashes the blob on disk; false when its content no longer matches its name. */
  async verifyBlob(digest: string): Promise<boolean> {
    const { algorithm } = parseDigest(digest);
    const handle = await this.openBlob(digest);
    try {
      const hash = createDigester(algorithm);
      const [buffer] = pageAlignedBuffers(1, VERIFY_CHUNK) as [Buffer];
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
      }
      return `${algorithm}:${hash.digest("hex")}` === digest;
    } finally {
      await handle.close();
    }
  }

  /**
   * Every committed blob, sorted by digest; stray files with names that are not digests are
   * skipped. What is under a blob's name but no file (a directory made by hand) is no blob
   * either: it is skipped too, and told to `notAFile` (fsck reports it).
   */
  async *list(notAFile?: (entry: NotABlobFile) => void): AsyncGenerator<StoredBlob> {
    for (const algorithm of ALGORITHMS) {
      const dir = path.join(this.paths.blobs, algorithm);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if (errorCode(error) === "ENOENT") continue;
        throw error;
      }
      for (const name of names.sort()) {
        const digest = `${algorithm}:${name}`;
        if (!isValidDigest(digest)) continue;
        const file = path.join(dir, name);
        const info = await lstat(file).catch((error: unknown) => {
          if (errorCode(error) === "ENOENT") return undefined;
          throw error;
        });
        if (info?.isFile()) yield { digest, size: info.size };
        else if (info !== undefined) notAFile?.({ digest, path: file, what: info.isDirectory() ? "a directory" : info.isSymbolicLink() ? "a symbolic link" : "a special file" });
      }
    }
  }

  /**
   * Removes a blob, or what is in its place instead (see list): a directory only when it is
   * empty, as what is in it is none of the store's. False when nothing was there (two collectors
   * may race).
   */
  async delete(digest: string): Promise<boolean> {
    const file = this.blobPath(digest);
    try {
      return await removeIfPresent(file);
    } catch (error) {
      // unlink of a directory: EISDIR on Linux, EPERM elsewhere.
      if (!(errorCode(error) === "EISDIR" || errorCode(error) === "EPERM") || !(await lstat(file)).isDirectory()) throw error;
      await rmdir(file);
      return true;
    }
  }

  /**
   * Commits many ingests with one barrier: checks every one first (nothing is renamed if any
   * mismatches, and then all are aborted), fsyncs the files, renames each into place, then
   * fsyncs each blob directory once. Returns the digests in input order.
   */
  async commitAll(entries: ReadonlyArray<{ ingest: Ingest; expected?: ExpectedBlob }>, opts: CommitOptions = {}): Promise<string[]> {
    const sync = opts.sync ?? true;
    const ingests = entries.map(({ ingest }) => this.own(ingest));
    let results: IngestResult[];
    try {
      results = await Promise.all(entries.map(({ expected }, i) => ingests[i]!.checked(expected ?? {})));
    } catch (error) {
      await Promise.allSettled(ingests.map((ingest) => ingest.abort()));
      throw error;
    }
    if (sync) {
      const present = await Promise.all(results.map((result) => this.has(result.digest, result.size)));
      const toSync = ingests.filter((_, i) => !present[i]);
      await eachFile(toSync, (ingest) => ingest.syncFile());
    }
    const touchedDirs = new Set<string>();
    // Ingests of the same blob one at a time, so that it is placed once; different blobs a few at once.
    const byDigest = new Map<string, number[]>();
    for (const [i, result] of results.entries()) byDigest.set(result.digest, [...(byDigest.get(result.digest) ?? []), i]);
    await eachFile([...byDigest.values()], async (indexes) => {
      for (const i of indexes) {
        const result = results[i]!;
        if (await ingests[i]!.place(result, sync, true)) touchedDirs.add(path.dirname(this.blobPath(result.digest)));
      }
    });
    if (sync) await Promise.all([...touchedDirs].map(syncBlobDirectory));
    return results.map((result) => result.digest);
  }

  /**
   * Removes ingest files left by processes that died (a killed load). Files of live processes are
   * kept unless `olderThanMs` is given and the file was last written longer ago than that, which
   * also covers a dead owner whose pid was reused. Files of this process are always kept. Whether
   * the owner of a file from another pid namespace (another container or host sharing the store)
   * is gone, the predicate `foreignOwners` gives says; by default such files are kept. A caller that knows no other
   * process is loading (prune, once no lease is live) passes `othersGone`: then only this process's
   * own files are kept. With `remove: false` they are only counted.
   */
  async cleanIngest({ olderThanMs, remove = true, foreignOwners, othersGone = false }: CleanIngestOptions = {}): Promise<Leftovers> {
    let names: string[];
    try {
      names = await readdir(this.paths.ingest);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return NO_LEFTOVERS;
      throw error;
    }
    // Asked only now, after the listing: a load's lease exists before its first ingest file, so
    // every file listed belongs to a lease this snapshot sees, if it is live.
    const foreignOwnerGone = (await foreignOwners?.()) ?? ((): boolean => false);
    const now = Date.now();
    let found = NO_LEFTOVERS;
    for (const name of names) {
      const owner = ownerOfTaggedName(name);
      if (owner !== undefined && isThisProcess(owner)) continue;
      const file = path.join(this.paths.ingest, name);
      const info = await fsStat(file).catch(() => undefined);
      if (info === undefined || !info.isFile()) continue;
      const gone = othersGone || (owner !== undefined && ownerGone(owner, () => foreignOwnerGone(owner)));
      if (!gone && (olderThanMs === undefined || now - info.mtimeMs <= olderThanMs)) continue;
      if (!remove || (await removeIfPresent(file))) found = addLeftovers(found, { files: 1, bytes: info.size });
    }
    return found;
  }

  private own(ingest: Ingest): FileIngest {
    if (!(ingest instanceof FileIngest)) throw invalid(`ingest ${ingest.path}: not made by this content store`, ingest.path);
    return ingest;
  }

  private async openBlob(digest: string): Promise<FileHandle> {
    const file = this.blobPath(digest);
    try {
      return await open(file, "r");
    } catch (error) {
      throw this.openError(digest, error);
    }
  }

  private openError(digest: string, error: unknown): unknown {
    if (errorCode(error) === "ENOENT") return notFound(`blob ${digest} not found in the content store`, digest);
    return error;
  }
}
