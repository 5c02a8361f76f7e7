/**
 * The reference store for long-running readers (`lading serve`, library users): reads are served
 * from memory, and `repositories.json` is re-read only when it changed on disk. Before each read a
 * stat compares inode, size, mtime and ctime with the file last read; a watcher on the directory
 * reloads as soon as a change lands, so `'change'` fires without waiting for a read.
 *
 * A file that fails to parse or validate never replaces the state: reads keep the last good one,
 * the error is kept in `problem` and announced once by an `'invalid'` event, and the first valid
 * file after it by a `'recovered'` event. Until a valid file has been read there is no good state
 * to keep: reads fail with the file's error, as a plain ReferenceStore's do (an empty state served
 * instead would show every image as untagged). Because writers replace the file by rename, a read never
 * sees a torn file; a hand edit in place might, so a failed parse is retried a few times before
 * the file counts as invalid.
 *
 * A file missing at the first read is an empty store, as dockerd reads it at its start. One that
 * goes missing after a file was read (moved or deleted by hand, a symbolic link whose target went
 * away, an editor between renaming the old file away and writing the new one) is a problem like
 * an invalid file: the last good state is served, and updates are refused rather than start a new
 * file from nothing, which would leave every image untagged. Except when the store's image
 * records are gone too (`recordsGone`: the store was emptied, not the file moved), and on
 * reload(), an operator's explicit request: then no file is an empty store again.
 *
 * A stamp is trusted only once the file is older than the timestamp granularity allows a second
 * write to hide in (git's "racily clean" rule): a file replaced twice within one clock tick, by
 * a same-sized file that got the freed inode back, would otherwise look unchanged. A reload is
 * cheap when nothing changed (byte comparison) and, when something did, reuses every repository
 * that did not change (see parseRepositoriesJson).
 *
 * Updates are the base class's: locked, re-read strictly under the lock (an invalid file fails
 * the update instead of being overwritten), atomic rename.
 */
import { EventEmitter } from "node:events";
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { LadingError } from "../core/errors.js";
import { readWithStamp, sameStamp, statStamp, type FileStamp } from "./file-stamp.js";
import {
  indexRepositories,
  parseRepositoriesJson,
  ReferenceStore,
  sameBytes,
  type ReferenceState,
  type ReferenceStoreOptions,
  type ReferenceTxn,
  type RepositoriesFile,
  type UpdateOptions,
  type UpdateResult,
} from "./reference-store.js";
import { asReferencesFileError, missingReferencesFile, type ReferencesFileError } from "./references-file-error.js";

export interface WatchedReferencesOptions extends ReferenceStoreOptions {
  /** Watch the directory for changes (push); without it, changes are noticed on the next read. Default true. */
  watch?: boolean;
  /** Retries of a failed parse before the file counts as invalid; default 3. */
  parseRetries?: number;
  /** Milliseconds between those retries; default 20. */
  retryDelayMs?: number;
  /** Whether the store holds no image record any more (see above); default: never. */
  recordsGone?: () => Promise<boolean>;
  /** What makes this reader take a missing file as an empty store, for the error's remedy; default "call reload()". */
  reloadHint?: string;
}

export interface WatchedReferencesEvents {
  /** A new valid document was adopted. */
  change: [state: ReferenceState];
  /** The file on disk is invalid, or missing after one was read; reads keep serving the last good state. */
  invalid: [error: LadingError];
  /** The file on disk is valid again after an 'invalid': its state is served. */
  recovered: [state: ReferenceState];
}

const WATCH_DEBOUNCE_MS = 5;
/** A file changed less than this before it was read may change again unseen by its stamp. */
const RACY_WINDOW_NS = 100_000_000n;

export class WatchedReferences extends ReferenceStore {
  /** The last valid state read; undefined until a valid file (or none) has been read. */
  private good: ReferenceState | undefined;
  private goodBytes: Buffer | null = null;
  /** The stamp of the file last read, valid or not; undefined before the first read. */
  private seen: FileStamp | undefined;
  /** Whether `seen` was read so soon after its change that an equal stamp proves nothing. */
  private seenRacy = false;
  private invalidFile: LadingError | undefined;
  /** Whether `invalidFile` says the file is missing (see above). */
  /** The bytes that gave `invalidFile`, so that re-reading them does not parse and retry again. */
  private invalidBytes: Buffer | null = null;
  private refreshing: Promise<ReferenceState> | undefined;
  private readonly events = new EventEmitter<WatchedReferencesEvents>();
  private watcher: FSWatcher | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private readonly parseRetries: number;
  private readonly retryDelayMs: number;
  private readonly recordsGone: () => Promise<boolean>;
  private readonly reloadHint: string;

  /** A reload (SIGHUP) took a missing file as an empty store: a write may start a new one. */
  private missingAccepted = false;

  constructor(filePath: string, options: WatchedReferencesOptions = {}) {
    super(filePath, options);
    this.parseRetries = options.parseRetries ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 20;
    this.recordsGone = options.recordsGone ?? (async () => false);
    this.reloadHint = options.reloadHint ?? "call reload()";
    if (options.watch !== false) this.startWatching();
  }

  /** The error that keeps the file on disk from being used, while it lasts. */
  get problem(): LadingError | undefined {
    return this.invalidFile;
  }

  /** Whether the problem, while there is one, is that the file went missing after one was read. */
  get missing(): boolean {
    return this.invalidFile !== undefined && this.invalidBytes === null;
  }

  /** Whether reads have a good state to serve (false while only an invalid file has been read). */
  get hasGoodState(): boolean {
    return this.good !== undefined;
  }

  /** Whether the state served is that of no file: an empty store (see above). */
  get servingNoFile(): boolean {
    return this.good !== undefined && this.goodBytes === null;
  }

  /** Whether a directory watcher is active (false where fs.watch is unavailable: reads still stat). */
  get watching(): boolean {
    return this.watcher !== undefined;
  }

  /**
   * Re-reads the file whatever its stamp says (SIGHUP); a missing file is taken as an empty store.
   * Resolves to the state now served.
   */
  async reload(): Promise<ReferenceState> {
    await this.refreshing?.catch(() => undefined);
    this.missingAccepted = true;
    return this.refresh({ acceptMissing: true });
  }

  on<E extends keyof WatchedReferencesEvents>(event: E, listener: (...args: WatchedReferencesEvents[E]) => void): this {
    this.events.on(event, listener as never);
    return this;
  }

  off<E extends keyof WatchedReferencesEvents>(event: E, listener: (...args: WatchedReferencesEvents[E]) => void): this {
    this.events.off(event, listener as never);
    return this;
  }

  once<E extends keyof WatchedReferencesEvents>(event: E, listener: (...args: WatchedReferencesEvents[E]) => void): this {
    this.events.once(event, listener as never);
    return this;
  }

  /** Stops watching. Reads keep working, by stat check. */
  close(): void {
    clearTimeout(this.watchTimer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  /** A write is adopted at once, so that its 'change' event does not wait for the watcher. */
  override async update<T>(
    fn: (txn: ReferenceTxn) => T | Promise<T>,
    afterWrite?: (value: T) => Promise<void>,
    onFailure?: (current: RepositoriesFile | undefined) => Promise<void>,
    options?: UpdateOptions,
  ): Promise<UpdateResult<T>> {
    const result = await super.update(fn, afterWrite, onFailure, options);
    if (result.changed) await this.load();
    return result;
  }

  /** No new file in place of one that was read and has gone missing (see above). */
  protected override async checkBeforeUpdate(bytesRead: Buffer | null, acceptMissing: boolean): Promise<void> {
    const problem = bytesRead === null ? await this.missingFileProblem(acceptMissing) : undefined;
    if (problem !== undefined) throw problem;
    // One missing since before the start, in a store that holds images, was lost too: the rule of
    // every write, until a reload (SIGHUP) takes the missing file as an empty store.
    if (!this.missingAccepted) await super.checkBeforeUpdate(bytesRead, acceptMissing);
  }

  /**
   * The error a missing file is (see above), or undefined where it is an empty store: no file was
   * read before, the store's image records are gone too, or the absence was `accepted` (reload()).
   */
  private async missingFileProblem(accepted: boolean): Promise<ReferencesFileError | undefined> {
    if (this.goodBytes === null || accepted || (await this.recordsGone())) return undefined;
    return missingReferencesFile(this.filePath, this.reloadHint);
  }

  protected override async load(): Promise<ReferenceState> {
    for (;;) {
      const stamp = await statStamp(this.filePath);
      if (this.seen !== undefined && !this.seenRacy && sameStamp(stamp, this.seen)) return this.served();
      if (this.refreshing === undefined) return this.refresh();
      // A read already in flight may have started before this change: wait for it, then check again.
      await this.refreshing.catch(() => undefined);
    }
  }

  private refresh({ acceptMissing = false } = {}): Promise<ReferenceState> {
    const reading = this.readAndAdopt(acceptMissing).finally(() => {
      if (this.refreshing === reading) this.refreshing = undefined;
    });
    this.refreshing = reading;
    return reading;
  }

  private async readAndAdopt(acceptMissing: boolean): Promise<ReferenceState> {
    for (let attempt = 0; ; attempt++) {
      const { stamp, bytes, racy } = await readStamped(this.filePath);
      this.seenRacy = racy;
      if (this.good !== undefined && sameBytes(bytes, this.goodBytes)) {
        this.adopt(stamp, bytes, this.good);
        return this.good;
      }
      if (this.invalidFile !== undefined && bytes !== null && sameBytes(bytes, this.invalidBytes)) {
        this.rejectFile(stamp, bytes, this.invalidFile);
        return this.served();
      }
      let state: ReferenceState;
      try {
        const missing = bytes === null ? await this.missingFileProblem(acceptMissing) : undefined;
        if (missing !== undefined) throw missing;
        state = indexRepositories(parseRepositoriesJson(bytes ?? "{}", this.filePath, this.good?.file));
      } catch (error) {
        if (attempt < this.parseRetries) {
          await delay(this.retryDelayMs);
          continue;
        }
        this.rejectFile(stamp, bytes, error);
        return this.served();
      }
      this.adopt(stamp, bytes, state);
      return state;
    }
  }

  private adopt(stamp: FileStamp, bytes: Buffer | null, state: ReferenceState): void {
    this.seen = stamp;
    const recovered = this.invalidFile !== undefined;
    this.invalidFile = undefined;
    this.invalidBytes = null;
    const first = this.good === undefined;
    if (first || !sameBytes(bytes, this.goodBytes)) {
      this.good = state;
      this.goodBytes = bytes;
      // No 'change' for the empty state of a missing file read first: nothing was there before either.
      if (!first || bytes !== null) this.events.emit("change", state);
    }
    // Also when the file went back to the last good bytes: it is no longer invalid either way.
    if (recovered) this.events.emit("recovered", state);
  }

  /** The last good state, or the file's error while there has never been one. */
  private served(): ReferenceState {
    if (this.good !== undefined) return this.good;
    throw this.invalidFile ?? new Error(`${this.filePath}: not read yet`);
  }

  private rejectFile(stamp: FileStamp, bytes: Buffer | null, error: unknown): void {
    const problem = asReferencesFileError(error);
    this.seen = stamp;
    this.invalidBytes = bytes;
    const repeated = this.invalidFile?.message === problem.message;
    this.invalidFile = problem;
    if (!repeated) this.events.emit("invalid", problem);
  }

  private startWatching(): void {
    const name = path.basename(this.filePath);
    try {
      this.watcher = watch(path.dirname(this.filePath), { persistent: false }, (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.watchTimer);
        this.watchTimer = setTimeout(() => void this.load().catch(() => undefined), WATCH_DEBOUNCE_MS);
        this.watchTimer.unref();
      });
      this.watcher.on("error", () => this.close());
    } catch {
      this.watcher = undefined;
    }
  }
}

/**
 * The bytes and the stamp of the same file version, and `racy`: the file changed within
 * RACY_WINDOW_NS of this read (or its times lie in the future).
 */
async function readStamped(filePath: string): Promise<{ stamp: FileStamp; bytes: Buffer | null; racy: boolean }> {
  const { stamp, bytes } = await readWithStamp(filePath);
  const now = BigInt(Date.now()) * 1_000_000n;
  const changed = stamp === null ? 0n : stamp.ctimeNs > stamp.mtimeNs ? stamp.ctimeNs : stamp.mtimeNs;
  return { stamp, bytes, racy: stamp !== null && now - changed < RACY_WINDOW_NS };
}
