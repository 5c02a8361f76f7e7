/**
 * The reference store: `repositories.json` in Docker's exact shape and with Docker's rules
 * (moby reference/store.go), but safe to share between processes: every change takes a file
 * lock, re-reads the file under it, and replaces the file atomically.
 *
 * In memory there is nothing but a pure function of the file's text:
 *   text --parseRepositoriesJson--> RepositoriesFile (frozen) --indexRepositories--> ReferenceState
 * so reloading after someone else's change is a rebuild from scratch, never a patch.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { conflict, invalid, notFound, toLadingError, LadingError } from "../core/errors.js";
import { parseJsonStrict } from "../core/json.js";
import {
  familiarName,
  formatReference,
  parseReference,
  parseRepository,
  withDefaultTag,
  type ImageReference,
} from "../core/reference.js";
import { writeFileAtomic } from "./atomic-file.js";
import { withFileLock, type FileLockOptions } from "./lock.js";

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

/** Everything readers need, derived from one RepositoriesFile and never changed afterwards. */
export interface ReferenceState {
  readonly file: RepositoriesFile;
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

export interface ReferenceStoreOptions {
  lock?: FileLockOptions;
}

const IMAGE_ID = /^sha256:[a-f0-9]{64}$/;
const BARE_IMAGE_ID = /^[a-f0-9]{64}$/;
const FILE_MODE = 0o600;

export class ReferenceStore {
  readonly filePath: string;
  private readonly lockOptions: FileLockOptions;
  /** The last bytes read or written, and the state derived from them (null: no file). */
  private cache: { bytes: Buffer | null; state: ReferenceState } | undefined;

  constructor(filePath: string, options: ReferenceStoreOptions = {}) {
    this.filePath = path.resolve(filePath);
    this.lockOptions = options.lock ?? {};
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
   */
  async update<T>(fn: (txn: ReferenceTxn) => T | Promise<T>): Promise<UpdateResult<T>> {
    await mkdir(path.dirname(this.filePath), { recursive: true, mode: 0o700 });
    return withFileLock(
      this.filePath,
      async (lock) => {
        const before = await this.readCurrent();
        const txn = new Transaction(before.file);
        let value: T;
        try {
          value = await fn(txn);
        } finally {
          txn.close();
        }
        const after = txn.result();
        const text = serializeRepositoriesJson(after);
        if (text === serializeRepositoriesJson(before.file)) {
          return { changed: false, value, snapshot: before.file };
        }
        lock.assertHeld();
        await writeFileAtomic(this.filePath, text, FILE_MODE);
        const bytes = Buffer.from(text, "utf8");
        const state = indexRepositories(parseRepositoriesJson(bytes, this.filePath));
        this.cache = { bytes, state };
        return { changed: true, value, snapshot: state.file };
      },
      this.lockOptions,
    );
  }

  async get(ref: string | ImageReference): Promise<string | undefined> {
    const state = await this.load();
    return state.idByReference.get(lookupKey(toReference(ref)).reference);
  }

  /** All references, or those of one image, sorted by reference. */
  async references(id?: string): Promise<ReferenceEntry[]> {
    return filterById((await this.load()).entries, id);
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
    const bytes = await readIfExists(this.filePath);
    if (this.cache !== undefined && sameBytes(this.cache.bytes, bytes)) return this.cache.state;
    const state = indexRepositories(bytes === null ? emptyRepositories() : parseRepositoriesJson(bytes, this.filePath));
    this.cache = { bytes, state };
    return state;
  }
}

/**
 * Parses and validates a repositories.json text. Every repository key must be a familiar
 * repository name, every reference key a familiar tag or digest reference of that repository,
 * every value an image ID `sha256:<64 hex>`. The error names the key at fault.
 */
export function parseRepositoriesJson(text: string | Uint8Array, source: string): RepositoriesFile {
  const document = parseJsonStrict(text, source);
  if (!isPlainObject(document)) throw invalid(`${source}: expected a JSON object`, source);
  const repositories = document.Repositories;
  if (repositories === undefined || repositories === null) return emptyRepositories();
  if (!isPlainObject(repositories)) throw invalid(`${source}: "Repositories" must be an object`, source);

  const result: Record<string, Record<string, string>> = {};
  for (const repoName of sortedKeys(repositories)) {
    const where = `${source}: Repositories[${JSON.stringify(repoName)}]`;
    checkRepositoryKey(repoName, where);
    const refs = repositories[repoName];
    if (!isPlainObject(refs)) throw invalid(`${where} must be an object`, source);
    const checked: Record<string, string> = {};
    for (const refKey of sortedKeys(refs)) {
      const refWhere = `${where}[${JSON.stringify(refKey)}]`;
      checkReferenceKey(refKey, repoName, refWhere);
      const id = refs[refKey];
      if (typeof id !== "string" || !IMAGE_ID.test(id)) {
        throw invalid(`${refWhere}: invalid image ID ${JSON.stringify(id)} (want sha256:<64 lowercase hex>)`, source);
      }
      checked[refKey] = id;
    }
    result[repoName] = Object.freeze(checked);
  }
  return Object.freeze({ Repositories: Object.freeze(result) });
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
  for (const refs of Object.values(file.Repositories)) {
    for (const [reference, id] of Object.entries(refs)) entries.push({ reference, id });
  }
  entries.sort((a, b) => compareStrings(a.reference, b.reference));
  return Object.freeze({
    file,
    idByReference: new Map(entries.map((entry) => [entry.reference, entry.id])),
    entries: Object.freeze(entries),
  });
}

/** A working copy of the document with Docker's rules for each change. */
class Transaction implements ReferenceTxn {
  private readonly repositories = new Map<string, Map<string, string>>();
  private open = true;

  constructor(file: RepositoriesFile) {
    for (const [repoName, refs] of Object.entries(file.Repositories)) {
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

async function readIfExists(filePath: string): Promise<Buffer | null> {
  try {
    return await readFile(filePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw toLadingError(error);
  }
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function emptyRepositories(): RepositoriesFile {
  return Object.freeze({ Repositories: Object.freeze({}) });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Byte order, as Go's encoding/json sorts map keys (the keys here are ASCII). */
function sortedKeys(object: object): string[] {
  return Object.keys(object).sort(compareStrings);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
