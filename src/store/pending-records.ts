/**
 * Image records a load or pull has written but whose references it has not yet written.
 *
 * A load or pull writes its image records before the repositories.json update that names them,
 * so that no reference ever names a missing record. A command killed between the two would
 * leave an image no command reported (a `<none>` row). So before it writes a record that did not
 * exist, it writes a marker `images/pending/<owner tag>-<random>.json` saying which records it is
 * about to write (each with the sha256 of its bytes) and the digest of the references as it read
 * them under their lock; once the references are written it removes the marker.
 *
 * While a marker is there, a record it lists is uncommitted when all of these hold:
 * - the references are still as the command read them (it never wrote them: any later writer
 *   under the lock would first have settled a dead command's marker);
 * - no reference names the record (a record a reference names is never hidden or removed, so a
 *   tag added by hand keeps its image);
 * - the record's bytes are still those the command wrote (a later load of the same image that
 *   rewrote it owns it now).
 * Readers leave uncommitted records out. Once the marker's process is gone, the next load, pull
 * or prune removes them under the references' lock, and then the marker; fsck reports such a
 * marker and settles it with --repair. A marker that cannot be read hides nothing.
 *
 * Whether the process of a marker from another pid namespace (a container sharing the store) is
 * gone cannot be asked of this namespace's process table: a caller that can tell (by the gc
 * lock's leases, which every load and pull holds while its marker exists) passes `foreignOwners`;
 * without it such a marker is never settled here.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { digestOf } from "../core/digest.js";
import { buildDigestString, lazySchema, parseDocument } from "../core/schemas.js";
import type { ZodSubset } from "../core/zod-subset.js";
import { cannotCreateDirectory, isLadingError } from "../core/errors.js";
import { removeIfPresent, syncDirectory, writeFileAtomic } from "./atomic-file.js";
import { makeDirectories } from "./root.js";
import { inThisNamespace, isThisProcess, OWNER_TAG, ownerGone, ownerTag, parseOwnerTag, processStartTime, type FileOwner } from "./process-alive.js";
import { serializeRepositoriesJson, type RepositoriesFile } from "./reference-store.js";

const MARKER_VERSION = 1;
const MARKER_NAME = new RegExp(`^(${OWNER_TAG})-[0-9a-f]{12}\\.json$`);

const buildMarker = (zod: ZodSubset) =>
  zod.object({
    version: zod.literal(MARKER_VERSION),
    /** When the owner process started, so that a reused pid is not taken for it. */
    startedAt: zod.string(),
    /** sha256 of the references document as the command read it under the lock. */
    references: buildDigestString(zod),
    records: zod.array(zod.object({ id: buildDigestString(zod), sha256: buildDigestString(zod) })),
  });

const markerSchema = lazySchema(buildMarker);
type MarkerBody = z.infer<ReturnType<typeof buildMarker>>;

/** A marker as found on disk; `body` is undefined when it cannot be read. */
export interface PendingMarker {
  file: string;
  owner: FileOwner | undefined;
  body: MarkerBody | undefined;
  /** Why it cannot be read. */
  problem?: string;
}

/** What settling the markers of gone processes did. */
export interface SettledMarker {
  file: string;
  /** The records it removed, as uncommitted. */
  removed: string[];
  problem?: string;
}

/** A marker of another pid namespace's process that may still be running, and the records it hides now. */
export interface ForeignMarker {
  file: string;
  owner: FileOwner;
  hidden: string[];
  problem?: string;
}

/** Says, when asked after the markers are listed, whether the owner of another pid namespace's marker is gone. */
export type ForeignOwners = () => Promise<(owner: FileOwner, startedAt?: string) => boolean>;

/** The sha256 digest of a references document in its canonical form. */
export function referencesDigest(file: RepositoriesFile): string {
  return digestOf(serializeRepositoriesJson(file));
}

/** Every image ID a reference names. */
export function namedIds(file: RepositoriesFile): Set<string> {
  const ids = new Set<string>();
  for (const refs of Object.values(file.Repositories)) for (const id of Object.values(refs)) ids.add(id);
  return ids;
}

export class PendingRecords {
  readonly directory: string;

  /** `recordPath` gives the file of an image's record. */
  constructor(
    imagesDirectory: string,
    private readonly recordPath: (id: string) => string,
  ) {
    this.directory = path.join(imagesDirectory, "pending");
  }

  /**
   * Writes the marker for records about to be written for the first time (`bytes` is what each
   * record file will hold), before any of them is written. Call under the references' lock.
   */
  async begin(base: RepositoriesFile, records: readonly { id: string; bytes: string }[]): Promise<PendingWrite> {
    const body: MarkerBody = {
      version: MARKER_VERSION,
      startedAt: processStartTime(process.pid) ?? "",
      references: referencesDigest(base),
      records: records.map(({ id, bytes }) => ({ id, sha256: digestOf(bytes) })),
    };
    await makeDirectories(this.directory).catch((error: unknown) => Promise.reject(cannotCreateDirectory(this.directory, error)));
    const file = path.join(this.directory, `${ownerTag()}-${randomBytes(6).toString("hex")}.json`);
    await writeFileAtomic(file, JSON.stringify(body), 0o644);
    return new PendingWrite(file, body, this.recordPath);
  }

  /** Every marker there is; none when the directory does not exist. */
  async markers(): Promise<PendingMarker[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const markers: PendingMarker[] = [];
    for (const name of names.sort()) {
      const tag = MARKER_NAME.exec(name)?.[1];
      if (tag === undefined) continue;
      const file = path.join(this.directory, name);
      const owner = parseOwnerTag(tag);
      try {
        markers.push({ file, owner, body: parseDocument(markerSchema, await readFile(file), `pending-records marker ${file}`) });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        if (!isLadingError(error)) throw error;
        markers.push({ file, owner, body: undefined, problem: error.message });
      }
    }
    return markers;
  }

  /** The records that `markers` list and that are uncommitted against the references `current` (see above). */
  async uncommitted(markers: readonly PendingMarker[], current: RepositoriesFile): Promise<Set<string>> {
    const ids = new Set<string>();
    if (markers.length === 0) return ids;
    const digest = referencesDigest(current);
    const named = namedIds(current);
    for (const { body } of markers) {
      if (body === undefined || body.references !== digest) continue;
      for (const record of body.records) {
        if (!named.has(record.id) && (await holdsWritten(this.recordPath(record.id), record.sha256))) ids.add(record.id);
      }
    }
    return ids;
  }

  /** Whether the marker's process is gone; for one of another pid namespace, what `foreignGone` says. */
  static abandoned(marker: PendingMarker, foreignGone: (owner: FileOwner, startedAt?: string) => boolean): boolean {
    const { owner } = marker;
    if (owner === undefined || isThisProcess(owner)) return false;
    return ownerGone(owner, () => foreignGone(owner, marker.body?.startedAt), marker.body?.startedAt);
  }

  /**
   * Settles the markers of gone processes against the references `current`: removes the records
   * each left uncommitted, then the marker. Call under the references' lock (`current` is the
   * document read under it); `remove: false` only says what it would do.
   */
  async settleAbandoned(current: RepositoriesFile, { remove = true, foreignOwners }: { remove?: boolean; foreignOwners?: ForeignOwners } = {}): Promise<SettledMarker[]> {
    const markers = await this.markers();
    // Asked only now, after the listing: a command's lease exists before its marker.
    const foreignGone = (await foreignOwners?.()) ?? ((): boolean => false);
    const settled: SettledMarker[] = [];
    for (const marker of markers) {
      if (!PendingRecords.abandoned(marker, foreignGone)) continue;
      const removed = [...(await this.uncommitted([marker], current))];
      if (remove) {
        for (const id of removed) await removeIfPresent(this.recordPath(id));
        // The removals are made durable first: a marker gone while its records came back would leave them for good.
        if (removed.length > 0) await syncDirectory(path.dirname(this.directory));
        await removeIfPresent(marker.file);
        await syncDirectory(this.directory);
      }
      settled.push({ file: marker.file, removed, ...(marker.problem === undefined ? {} : { problem: marker.problem }) });
    }
    return settled;
  }

  /** The markers of other pid namespaces' processes that `foreignOwners` does not call gone, with what each hides against `current`. */
  async ofLiveForeignOwners(current: RepositoriesFile, foreignOwners: ForeignOwners): Promise<ForeignMarker[]> {
    const markers = await this.markers();
    const foreignGone = await foreignOwners();
    const held: ForeignMarker[] = [];
    for (const marker of markers) {
      const { owner } = marker;
      if (owner === undefined || inThisNamespace(owner) || foreignGone(owner, marker.body?.startedAt)) continue;
      const hidden = [...(await this.uncommitted([marker], current))];
      held.push({ file: marker.file, owner, hidden, ...(marker.problem === undefined ? {} : { problem: marker.problem }) });
    }
    return held;
  }
}

/** One command's marker, from begin() until its references are written (commit) or it gives up. */
export class PendingWrite {
  constructor(
    readonly file: string,
    private readonly body: MarkerBody,
    private readonly recordPath: (id: string) => string,
  ) {}

  /** The references are written: the records are committed. The removal is made durable, since a marker that came back would uncommit them. */
  async commit(): Promise<void> {
    await unlink(this.file);
    await syncDirectory(path.dirname(this.file));
  }

  /** The IDs of the records it lists. */
  get ids(): string[] {
    return this.body.records.map((record) => record.id);
  }

  /**
   * The command failed before its references, and holds their lock: removes each record it wrote
   * that no reference in `current` names (one tagged by hand meanwhile stays) and that still holds
   * what it wrote (another command may have rewritten one since), then the marker.
   */
  async abandon(current: RepositoriesFile): Promise<void> {
    const named = namedIds(current);
    for (const record of this.body.records) {
      const file = this.recordPath(record.id);
      if (!named.has(record.id) && (await holdsWritten(file, record.sha256))) await removeIfPresent(file);
    }
    await syncDirectory(path.dirname(path.dirname(this.file)));
    await removeIfPresent(this.file);
  }
}

/** Whether the record file `file` still holds the bytes whose digest a marker lists (none: it is gone). */
async function holdsWritten(file: string, digest: string): Promise<boolean> {
  try {
    return digestOf(await readFile(file)) === digest;
  } catch {
    return false;
  }
}
