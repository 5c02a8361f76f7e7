/**
 * The reference store: `repositories.json` in Docker's exact shape and with Docker's rules
 * (moby reference/store.go), but safe to share between processes: every change takes a file
 * lock, re-reads the file under it, and replaces the file atomically.
 *
 * In memory there is nothing but a pure function of the file's text:
 *   text --parseRepositoriesJson--> RepositoriesFile (frozen) --indexRepositories--> ReferenceState
 * so reloading after someone else's change is a rebuild from scratch, never a patch.
 */
import { mkdir, readFile, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { conflict, invalid, notFound, systemReason, toLadingError, LadingError } from "../core/errors.js";
import { findGoReadingProblem } from "../core/go-reading.js";
import { goRepositoriesJson } from "../core/go-structs.js";
import { isJsonObject, parseJsonStrict } from "../core/json.js";
import {
  familiarName,
  formatReference,
  parseReference,
  parseRepository,
  withDefaultTag,
  type ImageReference,
} from "../core/reference.js";
import { writeFileAtomic } from "./atomic-file.js";
import { readWithStamp, sameStamp, statStamp } from "./file-stamp.js";
import { asReferencesFileError, missingReferencesFile, referencesFileError } from "./references-file-error.js";
import { LockLostError, withFileLock, type FileLockOptions, type HeldLock } from "./lock.js";

/** The document, keyed by familiar repository name, then familiar reference; values are image IDs. */
export interface RepositoriesFile {
  readonly Repositories: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface ReferenceEntry {
  /** Familiar form: "busybox:latest", "busybox@sha256:...", "localhost:5000/team/x:v1". */
  reference: string;
  /** "sha256:<64 hex>" */
  id: string;
}

/**
 * The digest a reference by digest gives when it is not the ID of the image it points at: lading
 * records `repo@<image ID>` only, so such an entry was written by hand, and names its image
 * wrongly (fsck reports it, no command resolves it, listings leave it out).
 */
export function wrongDigestOf(entry: ReferenceEntry): string | undefined {
  const at = entry.reference.indexOf("@");
  if (at < 0) return undefined;
  const digest = entry.reference.slice(at + 1);
  return digest === entry.id ? undefined : digest;
}

/** Everything readers need, derived from one RepositoriesFile and never changed afterwards. */
export interface ReferenceState {
  readonly file: RepositoriesFile;
  /** Built on first use: the store's own lookups go through `file`, so a reload need not build it. */
  readonly idByReference: ReadonlyMap<string, string>;
  /** Every reference, sorted by reference. */
  readonly entries: readonly ReferenceEntry[];
}

export interface AddOptions {
  /** Let an existing tag move to another image. Never moves a digest reference. */
  force?: boolean;
}

export interface AddResult {
  changed: boolean;
  /** The image the tag pointed to before it moved. */
  replaced?: string;
}

/** The operations available inside one locked read-modify-write. */
export interface ReferenceTxn {
  /** The document as read under the lock, before any change of this update. */
  readonly base: RepositoriesFile;
  /** Throws if the lock was lost (see HeldLock): call before each write that goes with the references. */
  assertHeld(): void;
  addTag(ref: string | ImageReference, id: string, opts?: AddOptions): AddResult;
  addDigest(ref: string | ImageReference, id: string, opts?: AddOptions): { changed: boolean };
  /** Removes a reference and returns the image ID it pointed to. */
  delete(ref: string | ImageReference): string;
  get(ref: string | ImageReference): string | undefined;
  references(id?: string): ReferenceEntry[];
}

export interface UpdateResult<T = void> {
  /** Whether the file was rewritten. */
  changed: boolean;
  /** What the update function returned. */
  value: T;
  /** The document as it is after the update. */
  snapshot: RepositoriesFile;
}

export interface UpdateOptions {
  /**
   * Write the file when there is none, even if the update changes no reference: for a command
   * that writes image records (see ReferenceStoreOptions.missingIsLost).
   */
  createFile?: boolean;
  /** Take a missing file as an empty store even where it was lost (see ReferenceStoreOptions.missingFile): fsck --repair's explicit request. */
  acceptMissing?: boolean;
  /**
   * If `afterWrite` fails, put the file back as it was read, still under the lock, before the
   * failure is thrown: for a change whose afterWrite completes it (rmi deleting the record of an
   * image the references no longer name), so that a failed one leaves the store as it was.
   */
  putBackIfAfterWriteFails?: boolean;
}

/** When a missing repositories.json was lost (see ReferenceStoreOptions.missingFile), and what the refusal offers as its remedy. */
export interface MissingFileRule {
  isLost: () => Promise<boolean>;
  remedy: string;
}

export interface ReferenceStoreOptions {
  lock?: FileLockOptions;
  /**
   * Whether a missing file was lost rather than not written yet: every command that writes image
   * records writes the file too (`createFile`), so a store that holds committed records and no
   * file had it moved or deleted. Updates then refuse, with `remedy` (what makes the absence an
   * empty store) in the error, rather than start a new file that leaves every image untagged.
   * Default: a missing file is an empty store.
   */
  missingFile?: MissingFileRule;
}

const IMAGE_ID = /^sha256:[a-f0-9]{64}$/;
const BARE_IMAGE_ID = /^[a-f0-9]{64}$/;
const FILE_MODE = 0o600;

export class ReferenceStore {
  readonly filePath: string;
  private readonly lockOptions: FileLockOptions;
  private readonly missingFile: ReferenceStoreOptions["missingFile"];
  /** The last bytes read or written, and the state derived from them (null: no file). */
  private cache: { bytes: Buffer | null; state: ReferenceState } | undefined;

  constructor(filePath: string, options: ReferenceStoreOptions = {}) {
    this.filePath = path.resolve(filePath);
    this.lockOptions = options.lock ?? {};
    this.missingFile = options.missingFile;
  }

  addTag(ref: string | ImageReference, id: string, opts?: AddOptions): Promise<AddResult> {
    return this.update((txn) => txn.addTag(ref, id, opts)).then((result) => result.value);
  }

  addDigest(ref: string | ImageReference, id: string, opts?: AddOptions): Promise<{ changed: boolean }> {
    return this.update((txn) => txn.addDigest(ref, id, opts)).then((result) => result.value);
  }

  delete(ref: string | ImageReference): Promise<string> {
    return this.update((txn) => txn.delete(ref)).then((result) => result.value);
  }

  /**
   * One locked read-modify-write: `fn` sees the file as it is now, and its changes are written
   * together, or not at all if it throws. The file is rewritten only when its content changes.
   * `afterWrite` runs once the file is written, still under the lock: what must follow the
   * references on disk (deleting the record of an image no reference names any more) cannot
   * then interleave with another writer (it runs only while the lock is still held).
   * `onFailure` runs when `fn` or the write fails, still under the lock (and not at all once the
   * lock is lost), given the references as they are now (undefined if they cannot be read).
   * What `afterWrite` throws leaves the file written, unless `putBackIfAfterWriteFails`.
   */
  async update<T>(
    fn: (txn: ReferenceTxn) => T | Promise<T>,
    afterWrite?: (value: T) => Promise<void>,
    onFailure?: (current: RepositoriesFile | undefined) => Promise<void>,
    options: UpdateOptions = {},
  ): Promise<UpdateResult<T>> {
    await mkdir(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
    let written = false;
    return withFileLock(
      this.filePath,
      async (lock) => {
        const bytesRead = await readIfExists(this.filePath);
        await this.checkBeforeUpdate(bytesRead, options.acceptMissing === true);
        const before = this.stateOf(bytesRead);
        const txn = new Transaction(before.file, lock);
        let value: T;
        let text: string;
        let changed: boolean;
        try {
          try {
            value = await fn(txn);
          } finally {
            txn.close();
          }
          text = serializeRepositoriesJson(txn.result());
          changed = text !== serializeRepositoriesJson(before.file) || (options.createFile === true && bytesRead === null);
          if (changed) {
            await writeFileAtomic(this.filePath, text, FILE_MODE, { beforeRename: unchangedSinceRead(this.filePath, bytesRead, lock) });
            written = true;
          }
        } catch (error) {
          if (onFailure !== undefined) await this.failedUnderLock(lock, onFailure);
          throw error;
        }
        lock.assertHeld();
        if (!changed) {
          await afterWrite?.(value);
          return { changed: false, value, snapshot: before.file };
        }
        const bytes = Buffer.from(text, "utf8");
        const state = indexRepositories(parseRepositoriesJson(bytes, this.filePath, before.file));
        this.cache = { bytes, state };
        try {
          await afterWrite?.(value);
        } catch (error) {
          if (options.putBackIfAfterWriteFails !== true) throw error;
          await this.putBack(bytesRead, bytes, lock, error);
          this.cache = { bytes: bytesRead, state: before };
          throw error;
        }
        return { changed: true, value, snapshot: state.file };
      },
      this.lockOptions,
    ).catch((error: unknown) => {
      throw error instanceof LockLostError ? lockLostInUpdate(error, this.filePath, written) : error;
    });
  }

  /**
   * Writes `bytesRead` (null: there was no file) back over `written`, this update's own write,
   * after `failure`. If that fails too, the error says both, and what the file holds now; a lost
   * lock is thrown as it is (see lockLostInUpdate).
   */
  private async putBack(bytesRead: Buffer | null, written: Buffer, lock: HeldLock, failure: unknown): Promise<void> {
    try {
      if (bytesRead === null) {
        lock.assertHeld();
        await unlink(this.filePath);
      } else {
        await writeFileAtomic(this.filePath, bytesRead, FILE_MODE, { beforeRename: unchangedSinceRead(this.filePath, written, lock) });
      }
    } catch (error) {
      if (error instanceof LockLostError) throw error;
      const name = path.basename(this.filePath);
      const reason = error instanceof LadingError ? error.message : `cannot write ${this.filePath}: ${systemReason(error)}`;
      // A conflict is unchangedSinceRead's refusal: another program wrote the file after this update did.
      const outcome =
        error instanceof LadingError && error.kind === "conflict"
          ? `${name} was not put back as it was: another program changed it meanwhile`
          : `${name} could not be put back as it was (${reason}), so it stays as this command changed it`;
      throw new LadingError("io", `${toLadingError(failure).message}; ${outcome}`, { subject: this.filePath, cause: failure });
    }
  }

  /**
   * Refuses, as an update would, while the file is missing and that refuses updates (see
   * ReferenceStoreOptions.missingFile; a long-running reader's own rule): for a command to say so
   * before its long read or its downloads. Not under the lock: the update checks again.
   */
  async refuseIfMissing(): Promise<void> {
    const missing = await stat(this.filePath).then(
      () => false,
      (error: NodeJS.ErrnoException) => error.code === "ENOENT",
    );
    if (missing) await this.checkBeforeUpdate(null, false);
  }

  /**
   * Refuses an update of the file as read under the lock (null: there is none) by throwing: a
   * missing file that was lost (see ReferenceStoreOptions.missingFile); a subclass may have its own rule.
   */
  protected async checkBeforeUpdate(bytesRead: Buffer | null, acceptMissing: boolean): Promise<void> {
    if (bytesRead === null && !acceptMissing && this.missingFile !== undefined && (await this.missingFile.isLost())) {
      throw await missingReferencesFile(this.filePath, this.missingFile.remedy);
    }
  }

  private async failedUnderLock(lock: HeldLock, onFailure: (current: RepositoriesFile | undefined) => Promise<void>): Promise<void> {
    try {
      lock.assertHeld();
    } catch {
      return;
    }
    let current: RepositoriesFile | undefined;
    try {
      const bytes = await readIfExists(this.filePath);
      current = bytes === null ? emptyRepositories() : parseRepositoriesJson(bytes, this.filePath);
    } catch {
      current = undefined;
    }
    await onFailure(current).catch(() => undefined);
  }

  async get(ref: string | ImageReference): Promise<string | undefined> {
    const { repository, reference } = lookupKey(toReference(ref));
    return idIn((await this.load()).file, repository, reference);
  }

  /** All references, or those of one image, sorted by reference. */
  async references(id?: string): Promise<ReferenceEntry[]> {
    return filterById((await this.load()).entries, id);
  }

  /** The state reads are served from: the document, and its references sorted. */
  state(): Promise<ReferenceState> {
    return this.load();
  }

  /** The current file, parsed and validated; an absent file is an empty store. */
  async snapshot(): Promise<RepositoriesFile> {
    return (await this.load()).file;
  }

  /** The state reads are served from. A subclass may serve a cached or last-good state instead. */
  protected load(): Promise<ReferenceState> {
    return this.readCurrent();
  }

  /**
   * Reads the file and returns its state, rebuilt from scratch whenever the text changed since
   * the last read. No lock is needed: writers replace the file by rename, so a read sees either
   * the old or the new document. Updates always use this strict read.
   */
  private async readCurrent(): Promise<ReferenceState> {
    return this.stateOf(await readIfExists(this.filePath));
  }

  private stateOf(bytes: Buffer | null): ReferenceState {
    if (this.cache !== undefined && sameBytes(this.cache.bytes, bytes)) return this.cache.state;
    let file: RepositoriesFile;
    try {
      file = bytes === null ? emptyRepositories() : parseRepositoriesJson(bytes, this.filePath, this.cache?.state.file);
    } catch (error) {
      throw asReferencesFileError(error);
    }
    const state = indexRepositories(file);
    this.cache = { bytes, state };
    return state;
  }
}

/**
 * Parses and validates a repositories.json text. Every repository key must be a familiar
 * repository name, every reference key a familiar tag or digest reference of that repository,
 * every value an image ID `sha256:<64 hex>`. The error names the key at fault (the first in
 * byte order, when there are several).
 *
 * Reloads of a large file must be quick, so the common case takes shortcuts that accept exactly
 * what the full checks accept: a repository whose references and IDs are those of the same
 * repository in `previous` (a document this function returned) is taken from it as it is; a
 * repository name once found valid is remembered (validity depends on the string alone); a
 * reference key is its repository name followed by `:tag` or `@algorithm:hex`, which one anchored
 * pattern decides. Only a key that fails a shortcut goes through the full grammar, which then
 * names the problem.
 */
export function parseRepositoriesJson(text: string | Uint8Array, source: string, previous?: RepositoriesFile): RepositoriesFile {
  const document = parseJsonStrict(text, source);
  if (!isJsonObject(document)) throw invalid(`${source}: expected a JSON object`, source);
  // dockerd reads "repositories" as "Repositories": read as absent, the next write would drop every reference in it.
  const goProblem = findGoReadingProblem(document, goRepositoriesJson);
  if (goProblem !== undefined) throw invalid(`${source}: ${goProblem.message}`, source);
  const repositories = document.Repositories;
  if (repositories === undefined || repositories === null) return emptyRepositories();
  if (!isJsonObject(repositories)) throw invalid(`${source}: "Repositories" must be an object`, source);

  const reusable = previous !== undefined && validatedFiles.has(previous) ? previous.Repositories : undefined;
  const result: Record<string, Readonly<Record<string, string>>> = {};
  for (const repoName of keysInByteOrder(repositories)) {
    const refs = repositories[repoName];
    const before = reusable !== undefined && Object.hasOwn(reusable, repoName) ? reusable[repoName] : undefined;
    if (before !== undefined && isJsonObject(refs) && sameReferences(before, refs)) {
      result[repoName] = before;
      continue;
    }
    const where = (): string => `${source}: Repositories[${JSON.stringify(repoName)}]`;
    if (!knownRepositoryKeys.has(repoName)) {
      checkRepositoryKey(repoName, where());
      rememberRepositoryKey(repoName);
    }
    if (!isJsonObject(refs)) throw invalid(`${where()} must be an object`, source);
    const refKeys = keysInByteOrder(refs);
    for (const refKey of refKeys) {
      const id = refs[refKey];
      if (!isReferenceKeyOf(refKey, repoName)) checkReferenceKey(refKey, repoName, `${where()}[${JSON.stringify(refKey)}]`);
      if (typeof id !== "string" || !isImageId(id)) {
        const refWhere = `${where()}[${JSON.stringify(refKey)}]`;
        throw invalid(`${refWhere}: invalid image ID ${JSON.stringify(id)} (want sha256:<64 lowercase hex>)`, source);
      }
    }
    result[repoName] = Object.freeze(inKeyOrder(refs as Record<string, string>, refKeys));
  }
  const file = Object.freeze({ Repositories: Object.freeze(result) });
  validatedFiles.add(file);
  return file;
}

/** Documents parseRepositoriesJson returned: only their repositories may be reused unchecked. */
const validatedFiles = new WeakSet<RepositoriesFile>();

/** Same keys with the same values; `before` is known valid, `refs` is fresh from the parser. */
function sameReferences(before: Readonly<Record<string, string>>, refs: Record<string, unknown>): boolean {
  let count = 0;
  for (const key in refs) {
    if (!Object.hasOwn(before, key) || before[key] !== refs[key]) return false;
    count++;
  }
  return Object.keys(before).length === count;
}

/** Docker's form: compact, keys sorted at both levels, no trailing newline. */
export function serializeRepositoriesJson(file: RepositoriesFile): string {
  const repositories = sortedKeys(file.Repositories).map((repoName) => {
    const refs = file.Repositories[repoName] ?? {};
    const members = sortedKeys(refs).map((key) => `${JSON.stringify(key)}:${JSON.stringify(refs[key])}`);
    return `${JSON.stringify(repoName)}:{${members.join(",")}}`;
  });
  return `{"Repositories":{${repositories.join(",")}}}`;
}

/** Builds the lookup maps of a document. Pure: the same file always gives the same state. */
export function indexRepositories(file: RepositoriesFile): ReferenceState {
  const entries: ReferenceEntry[] = [];
  for (const repoName in file.Repositories) {
    const refs = file.Repositories[repoName] as Readonly<Record<string, string>>;
    for (const reference in refs) entries.push({ reference, id: refs[reference] as string });
  }
  // Repositories in byte order give references almost in byte order: the sort has little to do.
  entries.sort((a, b) => compareStrings(a.reference, b.reference));
  return new IndexedState(file, Object.freeze(entries));
}

class IndexedState implements ReferenceState {
  private lookup: Map<string, string> | undefined;

  constructor(
    readonly file: RepositoriesFile,
    readonly entries: readonly ReferenceEntry[],
  ) {}

  get idByReference(): ReadonlyMap<string, string> {
    return (this.lookup ??= new Map(this.entries.map((entry) => [entry.reference, entry.id])));
  }
}

/** The image ID a stored reference key points to, looked up in the document itself. */
function idIn(file: RepositoriesFile, repository: string, reference: string): string | undefined {
  const refs = Object.hasOwn(file.Repositories, repository) ? file.Repositories[repository] : undefined;
  return refs !== undefined && Object.hasOwn(refs, reference) ? refs[reference] : undefined;
}

/** A working copy of the document with Docker's rules for each change. */
class Transaction implements ReferenceTxn {
  private readonly repositories = new Map<string, Map<string, string>>();
  private open = true;

  constructor(
    readonly base: RepositoriesFile,
    private readonly lock: HeldLock,
  ) {
    for (const [repoName, refs] of Object.entries(base.Repositories)) {
      this.repositories.set(repoName, new Map(Object.entries(refs)));
    }
  }

  addTag(ref: string | ImageReference, id: string, opts: AddOptions = {}): AddResult {
    this.checkOpen();
    const parsed = toReference(ref);
    if (parsed.digest !== undefined) {
      throw invalid(`refusing to create a tag with a digest reference: ${formatReference(parsed, "familiar")}`);
    }
    return this.addReference(withDefaultTag(parsed), id, opts.force === true);
  }

  addDigest(ref: string | ImageReference, id: string, opts: AddOptions = {}): { changed: boolean } {
    this.checkOpen();
    const parsed = toReference(ref);
    if (parsed.digest === undefined) {
      throw invalid(`refusing to create a digest reference without a digest: ${formatReference(parsed, "familiar")}`);
    }
    const { changed } = this.addReference({ domain: parsed.domain, path: parsed.path, digest: parsed.digest }, id, opts.force === true);
    return { changed };
  }

  delete(ref: string | ImageReference): string {
    this.checkOpen();
    const { repository, reference } = lookupKey(toReference(ref));
    const refs = this.repositories.get(repository);
    const id = refs?.get(reference);
    if (refs === undefined || id === undefined) throw notFound(`reference does not exist: ${reference}`, reference);
    refs.delete(reference);
    if (refs.size === 0) this.repositories.delete(repository);
    return id;
  }

  assertHeld(): void {
    this.lock.assertHeld();
  }

  get(ref: string | ImageReference): string | undefined {
    this.checkOpen();
    const { repository, reference } = lookupKey(toReference(ref));
    return this.repositories.get(repository)?.get(reference);
  }

  references(id?: string): ReferenceEntry[] {
    this.checkOpen();
    return filterById(indexRepositories(this.result()).entries, id);
  }

  /** The document as changed so far. */
  result(): RepositoriesFile {
    const repositories: Record<string, Record<string, string>> = {};
    for (const [repoName, refs] of this.repositories) repositories[repoName] = Object.fromEntries(refs);
    return { Repositories: repositories };
  }

  close(): void {
    this.open = false;
  }

  private addReference(ref: ImageReference, id: string, force: boolean): AddResult {
    const imageId = normalizeImageId(id);
    const repository = familiarName(ref);
    if (repository === "sha256") {
      throw invalid("refusing to create an ambiguous tag using digest algorithm as name", formatReference(ref, "familiar"));
    }
    const reference = formatReference(ref, "familiar");
    const refs = this.repositories.get(repository) ?? new Map<string, string>();
    const oldId = refs.get(reference);
    if (oldId === imageId) return { changed: false };
    if (oldId !== undefined) {
      if (ref.digest !== undefined) throw conflict(`Cannot overwrite digest ${ref.digest}`, reference);
      if (!force) {
        throw conflict(
          `Conflict: Tag ${reference} is already set to image ${oldId}, if you want to replace it, please use the force option`,
          reference,
        );
      }
    }
    refs.set(reference, imageId);
    this.repositories.set(repository, refs);
    return oldId === undefined ? { changed: true } : { changed: true, replaced: oldId };
  }

  private checkOpen(): void {
    if (!this.open) throw new LadingError("usage", "reference store transaction used after its update finished");
  }
}

function checkRepositoryKey(repoName: string, where: string): void {
  let familiar: string;
  try {
    familiar = familiarName(parseRepository(repoName));
  } catch (error) {
    throw invalid(`${where}: not a repository name: ${(error as Error).message}`, repoName);
  }
  if (familiar !== repoName) throw invalid(`${where}: not in familiar form (want ${JSON.stringify(familiar)})`, repoName);
  if (repoName === "sha256") throw invalid(`${where}: a repository named "sha256" is refused (ambiguous with an image ID)`, repoName);
}

function checkReferenceKey(refKey: string, repoName: string, where: string): void {
  let ref: ImageReference;
  try {
    ref = parseReference(refKey);
  } catch (error) {
    throw invalid(`${where}: not a reference: ${(error as Error).message}`, refKey);
  }
  if (familiarName(ref) !== repoName) throw invalid(`${where}: reference of another repository`, refKey);
  if (ref.tag === undefined && ref.digest === undefined) throw invalid(`${where}: reference has neither tag nor digest`, refKey);
  if (ref.tag !== undefined && ref.digest !== undefined) {
    throw invalid(`${where}: reference has both a tag and a digest (Docker stores the digest alone)`, refKey);
  }
  const familiar = formatReference(ref, "familiar");
  if (familiar !== refKey) throw invalid(`${where}: not in familiar form (want ${JSON.stringify(familiar)})`, refKey);
}

/** The keys a reference is stored under: a digest wins over a tag, a bare name means :latest. */
function lookupKey(ref: ImageReference): { repository: string; reference: string } {
  const key = ref.digest !== undefined ? { domain: ref.domain, path: ref.path, digest: ref.digest } : withDefaultTag(ref);
  return { repository: familiarName(key), reference: formatReference(key, "familiar") };
}

/** Strings are parsed; objects are re-parsed from their full form, so only valid, normalised ones pass. */
function toReference(ref: string | ImageReference): ImageReference {
  return parseReference(typeof ref === "string" ? ref : formatReference(ref, "full"));
}

function normalizeImageId(id: string): string {
  const full = BARE_IMAGE_ID.test(id) ? `sha256:${id}` : id;
  if (!IMAGE_ID.test(full)) throw invalid(`invalid image ID ${JSON.stringify(id)} (want sha256:<64 lowercase hex>)`, id);
  return full;
}

function filterById(entries: readonly ReferenceEntry[], id: string | undefined): ReferenceEntry[] {
  if (id === undefined) return [...entries];
  const imageId = normalizeImageId(id);
  return entries.filter((entry) => entry.id === imageId);
}

/**
 * The check before an update's rename. Other lading processes wait for the lock; a hand edit (an
 * editor that renames the file away and writes a new one, a cp over it) does not. Replacing a
 * file that is not the one read would lose that edit, or, read in the moment the file was
 * missing, every reference.
 */
export function unchangedSinceRead(filePath: string, bytesRead: Buffer | null, lock: HeldLock): () => Promise<void> {
  const changed = (): LadingError =>
    conflict(`${filePath} changed while this command was updating it (edited by another program?); nothing was written: run the command again`, filePath);
  return async () => {
    lock.assertHeld();
    const current = await readWithStamp(filePath);
    if (!sameBytes(current.bytes, bytesRead)) throw changed();
    // A replacement since that read, and the last check before the rename: one stat is over
    // sooner than a read, so an edit saved in between has a window of one system call to land in.
    if (!sameStamp(await statStamp(filePath), current.stamp)) throw changed();
  };
}

async function readIfExists(filePath: string): Promise<Buffer | null> {
  try {
    return await readFile(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw referencesFileError(filePath, error);
  }
}

/**
 * What a lock lost during an update means for the file: written or not, said so that the user
 * knows whether to run the command again.
 */
function lockLostInUpdate(error: LockLostError, filePath: string, written: boolean): LadingError {
  const outcome = written
    ? `${path.basename(filePath)} had been written already, but another command may have changed it since: check the result before running this command again`
    : `${path.basename(filePath)} was not changed: run the command again`;
  return new LadingError("io", `${error.message}; ${outcome}`, { subject: error.lockPath, cause: error });
}

export function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function emptyRepositories(): RepositoriesFile {
  return Object.freeze({ Repositories: Object.freeze({}) });
}

/** Byte order, as Go's encoding/json sorts map keys (the keys here are ASCII). */
function sortedKeys(object: object): string[] {
  return Object.keys(object).sort(compareStrings);
}

/** Object.keys in byte order; a file written by Docker or lading is in that order already. */
function keysInByteOrder(object: object): string[] {
  const keys = Object.keys(object);
  for (let i = 1; i < keys.length; i++) {
    if ((keys[i - 1] as string) > (keys[i] as string)) return keys.sort(compareStrings);
  }
  return keys;
}

/** The object itself when its own key order is `keys` already (JSON.parse's fresh object), else a copy in that order. */
function inKeyOrder(object: Record<string, string>, keys: string[]): Record<string, string> {
  let i = 0;
  let ordered = true;
  for (const key in object) {
    if (key !== keys[i++]) {
      ordered = false;
      break;
    }
  }
  if (ordered) return object;
  const copy: Record<string, string> = {};
  for (const key of keys) copy[key] = object[key] as string;
  return copy;
}

/** Repository keys already found valid: a pure function of the string, so safe to share across stores. */
const knownRepositoryKeys = new Set<string>();
const KNOWN_REPOSITORY_KEYS_MAX = 100_000;

function rememberRepositoryKey(repoName: string): void {
  if (knownRepositoryKeys.size >= KNOWN_REPOSITORY_KEYS_MAX) knownRepositoryKeys.clear();
  knownRepositoryKeys.add(repoName);
}

// Given a valid familiar repository name R, the full check accepts exactly R:TAG and R@DIGEST
// (distribution/reference's tag grammar; a digest go-digest accepts): R fixes the name, and a
// tag or digest cannot contain a "/", so the name part cannot be read differently.
const TAG_AFTER_NAME = /:[\w][\w.-]{0,127}$/y;
const DIGEST_AFTER_NAME = /@(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/y;

function isReferenceKeyOf(refKey: string, repoName: string): boolean {
  if (refKey.length <= repoName.length || !refKey.startsWith(repoName)) return false;
  const pattern = refKey.charCodeAt(repoName.length) === 0x3a /* : */ ? TAG_AFTER_NAME : DIGEST_AFTER_NAME;
  pattern.lastIndex = repoName.length;
  return pattern.test(refKey);
}

/** sha256:<64 lowercase hex>, without a regular expression: this runs once per reference on every reload. */
function isImageId(id: string): boolean {
  if (id.length !== 71 || !id.startsWith("sha256:")) return false;
  for (let i = 7; i < 71; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
