/**
 * Per-image records: images/<alg>/<hex>.json, one per image ID (the digest of the image's root
 * object). A record says how the image came in and what it holds, so listing and inspecting
 * need no walk of the blob graph, and so that a synthesised manifest is never mistaken for a
 * registry's. Written atomically, after the blobs and before the references.
 */
import { constants } from "node:fs";
import { access, lstat, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { z } from "zod";
import { parseDigest } from "../core/digest.js";
import { cannotRemove, invalid, isLadingError, isSystemError, systemReason } from "../core/errors.js";
import { buildDigestString, lazySchema, parseDocument } from "../core/schemas.js";
import type { ZodSubset } from "../core/zod-subset.js";
import { removeIfPresent, writeFileAtomic, writeFilesAtomic } from "./atomic-file.js";
import { PendingRecords, type ForeignMarker, type ForeignOwners, type PendingWrite, type SettledMarker } from "./pending-records.js";
import type { ReferenceTxn, RepositoriesFile } from "./reference-store.js";

/** Records are readable by all, as docker's image store is. */
const RECORD_MODE = 0o644;
/** The name of a record's file: the algorithm and hex of its image ID. */
const RECORD_FILE = /^(sha256|sha512)-([0-9a-f]+)\.json$/;

/**
 * Everything later code takes from a record as it is: digests become blob paths, sizes go into
 * descriptors and checks, media types decide how a blob is read and are sent as content types.
 * So each is held to what the writers of records guarantee (what the descriptor schema passes),
 * and a record that breaks that is an unreadable record (fsck reports and removes it).
 */
const buildDescriptorFields = (zod: ZodSubset) => ({
  mediaType: zod.string().min(1),
  digest: buildDigestString(zod),
  size: zod.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

const buildPlatformImage = (zod: ZodSubset) =>
  zod.object({
    platform: zod.string(),
    manifest: zod.object(buildDescriptorFields(zod)),
    config: zod.object(buildDescriptorFields(zod)),
    layers: zod.array(
      zod.object({
        ...buildDescriptorFields(zod),
        diffId: buildDigestString(zod).nullable(),
        /** A foreign layer that came without its blob: the store need not hold it. */
        absent: zod.literal(true).optional(),
        /** Where a foreign layer may be fetched from, as its descriptor says. */
        urls: zod.array(zod.string()).optional(),
      }),
    ),
  });

const buildImageRecord = (zod: ZodSubset) => {
  const { mediaType, digest, size } = buildDescriptorFields(zod);
  return zod.object({
    id: digest,
    mediaType,
    size,
    /** "archive": the root object's bytes came from an archive or registry; "synthesized": lading made them. */
    origin: zod.enum(["archive", "synthesized"]),
    loadedAt: zod.string(),
    images: zod.array(buildPlatformImage(zod)),
    /** Index children the store does not hold (a sparse image). */
    absent: zod.array(zod.object({ digest, mediaType, platform: zod.string().nullable() })),
    /** Every other blob the image needs besides manifests, configs and layers: indexes, attestations. */
    otherBlobs: zod.array(digest),
  });
};

/** Built on first use, like the document schemas. */
export const imageRecordSchema = lazySchema(buildImageRecord);
export type ImageRecord = z.infer<ReturnType<typeof buildImageRecord>>;
export type PlatformImage = z.infer<ReturnType<typeof buildPlatformImage>>;
export type LayerRecord = PlatformImage["layers"][number];

/** The record of a layer as read from an archive; an absent foreign layer says so, with its urls. */
export function layerRecordOf(layer: { mediaType: string; digest: string; size: number; diffId: string | undefined; absent?: true; urls?: string[] }): LayerRecord {
  return {
    mediaType: layer.mediaType,
    digest: layer.digest,
    size: layer.size,
    diffId: layer.diffId ?? null,
    ...(layer.absent ? { absent: true as const } : {}),
    ...(layer.urls ? { urls: layer.urls } : {}),
  };
}

/** What addAll() did to one record: `previous` is the record before (undefined: there was none), `stored` the record now. */
export interface RecordChange {
  id: string;
  previous: ImageRecord | undefined;
  stored: ImageRecord;
  changed: boolean;
}

/** The records one command wrote, until its references are written (commit) or it gives up (undo). */
export class RecordWrites {
  constructor(
    readonly changes: readonly RecordChange[],
    private readonly records: ImageRecords,
    private readonly pending: PendingWrite | undefined,
  ) {}

  /** The references naming the records are written. */
  async commit(): Promise<void> {
    await this.pending?.commit();
  }

  /**
   * Puts back what addAll() changed, for a command that failed before its references, under
   * their lock: `current` is the references as they are now (undefined: unreadable, and then
   * nothing is removed). A record is put back only while it holds what this command wrote.
   */
  async undo(current: RepositoriesFile | undefined): Promise<void> {
    const listed = new Set(this.pending?.ids ?? []);
    const originals = new Map<string, ImageRecord | undefined>();
    for (const { id, previous } of this.changes) if (!originals.has(id)) originals.set(id, previous);
    for (const [id, original] of originals) {
      if (listed.has(id) || original === undefined) continue;
      const last = this.changes.findLast((change) => change.id === id && change.changed);
      if (last !== undefined && (await this.records.holds(id, last.stored))) await this.records.put(original);
    }
    if (current !== undefined) await this.pending?.abandon(current);
  }
}

export interface UnreadableRecord {
  id: string;
  file: string;
  message: string;
  /** The system's error when the file could not be read at all (this user may not): its content may be sound. */
  readError?: NodeJS.ErrnoException;
}

export class ImageRecords {
  private readonly pending: PendingRecords;

  /**
   * `currentReferences` gives the references as they are now, which decide what a pending-records
   * marker hides; `foreignOwners`, whether the command of another pid namespace's marker is gone
   * (see pending-records.ts), for addAll to settle such markers as it settles this namespace's.
   */
  constructor(
    private readonly directory: string,
    private readonly currentReferences: () => Promise<RepositoriesFile> = async () => ({ Repositories: {} }),
    private readonly foreignOwners?: ForeignOwners,
  ) {
    this.pending = new PendingRecords(directory, (id) => this.pathOf(id));
  }

  private pathOf(id: string): string {
    const { algorithm, encoded } = parseDigest(id, "image ID");
    return path.join(this.directory, `${algorithm}-${encoded}.json`);
  }

  /**
   * The record of image `id`; undefined also for one a running or killed load or pull has
   * written but not committed (see pending-records.ts). One whose own ID is another (a record
   * copied to another name) is unreadable: listed under its file name, it would show an image
   * twice, once under an ID no command can remove.
   */
  async get(id: string): Promise<ImageRecord | undefined> {
    const record = await this.read(id);
    return record === undefined || (await this.uncommittedNow()).has(id) ? undefined : record;
  }

  private async read(id: string): Promise<ImageRecord | undefined> {
    const file = this.pathOf(id);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const record = parseDocument(imageRecordSchema, bytes, `image record ${id}`);
    if (record.id !== id) throw invalid(`image record ${id}: id: ${record.id} is not the ID its file name ${path.basename(file)} gives`, id);
    return record;
  }

  /** The records pending-records markers hide now; none when the references cannot be read (nothing to judge by). */
  private async uncommittedNow(): Promise<ReadonlySet<string>> {
    const markers = await this.pending.markers();
    if (markers.length === 0) return new Set();
    let current: RepositoriesFile;
    try {
      current = await this.currentReferences();
    } catch {
      return new Set();
    }
    return this.pending.uncommitted(markers, current);
  }

  async put(record: ImageRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(record.id), JSON.stringify(record), RECORD_MODE);
  }

  /**
   * Stores `records` for a command that then writes the references naming them: each merged
   * into the stored record of the same image if there is one (see mergeImageRecords). A merge
   * that changes nothing writes nothing, so that loading or pulling an image the store already
   * has leaves the store untouched. A record written for the first time is listed in a
   * pending-records marker first, so that until the command commits it is not seen, and is
   * removed if the command dies. Call under the references' lock, with `base` the references
   * as read under it; it first settles what dead commands left.
   */
  async addAll(records: readonly ImageRecord[], txn: ReferenceTxn, started?: (writes: RecordWrites) => void): Promise<RecordWrites> {
    await this.settleInterrupted(txn.base);
    // Records another command has written and not committed (a load stopped while holding the
    // lock, which was then taken over): each is merged into and rewritten, so that its marker no
    // longer hides it, and listed in this command's marker until this command commits.
    const adopted = await this.pending.uncommitted(await this.pending.markers(), txn.base);
    const current = new Map<string, ImageRecord | undefined>();
    const changes: RecordChange[] = [];
    for (const record of records) {
      const existing = current.has(record.id) ? current.get(record.id) : await this.read(record.id);
      const merged = existing === undefined ? record : mergeImageRecords(existing, record);
      const stored = adopted.has(record.id) && !current.has(record.id) ? { ...merged, loadedAt: record.loadedAt } : merged;
      const changed = existing === undefined || JSON.stringify(stored) !== JSON.stringify(existing);
      changes.push({ id: record.id, previous: existing, stored: changed ? stored : (existing as ImageRecord), changed });
      current.set(record.id, changed ? stored : existing);
    }
    const firstWritten = new Set(changes.filter((change) => change.previous === undefined || adopted.has(change.id)).map((change) => change.id));
    const toWrite = [...current].filter(([id]) => changes.some((change) => change.id === id && change.changed));
    const pending =
      firstWritten.size === 0
        ? undefined
        : await this.pending.begin(
            txn.base,
            [...firstWritten].map((id) => ({ id, bytes: JSON.stringify(current.get(id)) })),
          );
    const writes = new RecordWrites(changes, this, pending);
    started?.(writes);
    const files = toWrite.map(([id, record]) => ({ path: this.pathOf(id), data: JSON.stringify(record) }));
    await writeFilesAtomic(files, RECORD_MODE, { beforeRename: async () => txn.assertHeld() });
    return writes;
  }

  /** Whether the record file of `record.id` holds `record` as put() writes it. */
  async holds(id: string, record: ImageRecord): Promise<boolean> {
    const bytes = await readFile(this.pathOf(id)).catch(() => undefined);
    return bytes !== undefined && bytes.toString("utf8") === JSON.stringify(record);
  }

  /** Removes the record of `id`; false if there was none. */
  async delete(id: string): Promise<boolean> {
    const file = this.pathOf(id);
    return removeIfPresent(file).catch((error: unknown) => Promise.reject(cannotRemove(file, error)));
  }

  /**
   * Throws what delete() would when the record of `id` is there but its directory takes no
   * removal (not this user's to write, read-only media), without removing anything: rmi asks
   * before it removes the references. Not every refusal shows beforehand (a sticky directory,
   * an I/O error), so delete() can still fail.
   */
  async assertRemovable(id: string): Promise<void> {
    const file = this.pathOf(id);
    try {
      await access(this.directory, constants.W_OK | constants.X_OK);
    } catch (error) {
      // No directory, or no record in it: nothing to remove.
      if (await lstat(file).then(() => false, (statError: unknown) => (statError as NodeJS.ErrnoException).code === "ENOENT")) return;
      throw cannotRemove(file, error);
    }
  }

  /**
   * Settles what killed loads and pulls left (see pending-records.ts) against `current`, the
   * references read under their lock; `remove: false` only says what it would remove. Another
   * pid namespace's markers are judged by `foreignOwners`, by default the one this was made with.
   */
  settleInterrupted(current: RepositoriesFile, { remove, foreignOwners = this.foreignOwners }: { remove?: boolean; foreignOwners?: ForeignOwners } = {}): Promise<SettledMarker[]> {
    return this.pending.settleAbandoned(current, { remove, foreignOwners });
  }

  /** The markers of other pid namespaces' commands that `foreignOwners` does not call gone (see pending-records.ts). */
  pendingInOtherNamespaces(current: RepositoriesFile, foreignOwners: ForeignOwners): Promise<ForeignMarker[]> {
    return this.pending.ofLiveForeignOwners(current, foreignOwners);
  }

  /** Where pending-records markers are (their temp files are cleaned with the store's). */
  get pendingDirectory(): string {
    return this.pending.directory;
  }

  /**
   * Whether the store holds no image record at all: the directory is missing or has no record
   * file in it (the store was emptied), whatever the references say.
   */
  async none(): Promise<boolean> {
    try {
      return !(await readdir(this.directory)).some((name) => RECORD_FILE.test(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return true;
      throw error;
    }
  }

  /**
   * Whether the store holds a record that no pending-records marker hides against the references
   * `current`: one a load or pull committed (or one a killed command left, once the references moved on).
   */
  async anyCommitted(current: RepositoriesFile): Promise<boolean> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
    const ids = names.flatMap((name) => {
      const match = RECORD_FILE.exec(name);
      return match ? [`${match[1]}:${match[2]}`] : [];
    });
    if (ids.length === 0) return false;
    const hidden = await this.pending.uncommitted(await this.pending.markers(), current);
    return ids.some((id) => !hidden.has(id));
  }

  /** Every record; one that cannot be read fails the listing (fsck reports and removes it). */
  async list(options: { uncommitted?: "hide" | "include" } = {}): Promise<ImageRecord[]> {
    const { records, unreadable } = await this.scan(options);
    const [first] = unreadable;
    if (first?.readError !== undefined) throw first.readError;
    if (first !== undefined) throw invalid(`${first.message} (lading fsck --repair removes it)`, first.id);
    return records;
  }

  /**
   * Every record that can be read, and the ID and error of every one that cannot (the system's
   * error, as `readError`, for a file that could not be read at all). Records not
   * committed yet (see get) are left out, unless `uncommitted: "include"` (prune must keep their
   * blobs until they are settled).
   */
  async scan({ uncommitted = "hide" }: { uncommitted?: "hide" | "include" } = {}): Promise<{ records: ImageRecord[]; unreadable: UnreadableRecord[] }> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { records: [], unreadable: [] };
      throw error;
    }
    const hidden = uncommitted === "hide" ? await this.uncommittedNow() : new Set<string>();
    const records: ImageRecord[] = [];
    const unreadable: UnreadableRecord[] = [];
    for (const name of names.sort()) {
      const match = RECORD_FILE.exec(name);
      if (!match) continue;
      const id = `${match[1]}:${match[2]}`;
      const file = path.join(this.directory, name);
      try {
        const record = await this.read(id);
        if (record && !hidden.has(id)) records.push(record);
      } catch (error) {
        if (isSystemError(error) && error.path === file) {
          unreadable.push({ id, file, message: `image record ${id}: ${file}: ${systemReason(error)}`, readError: error });
          continue;
        }
        if (!isLadingError(error)) throw error;
        unreadable.push({ id, file, message: error.message });
      }
    }
    return { records, unreadable };
  }
}

/** Every blob digest an image record needs. */
export function blobsOfRecord(record: ImageRecord): string[] {
  const digests = new Set<string>([record.id, ...record.otherBlobs]);
  for (const image of record.images) {
    digests.add(image.manifest.digest);
    digests.add(image.config.digest);
    for (const layer of image.layers) if (!layer.absent) digests.add(layer.digest);
  }
  return [...digests];
}

/**
 * The record after the same root arrives again (a load or pull that may bring other platforms):
 * the union of platform images, and a child is absent only while it is stored neither as a
 * platform image nor as another blob. Bytes from an archive or a registry are originals, so one
 * such arrival makes the record's origin "archive". A foreign layer is absent only while no
 * arrival brought its blob.
 */
export function mergeImageRecords(existing: ImageRecord, incoming: ImageRecord): ImageRecord {
  const images = existing.images.map((known) => {
    const again = incoming.images.find((image) => image.manifest.digest === known.manifest.digest);
    return again ? withLayersBrought(known, again) : known;
  });
  for (const image of incoming.images) {
    if (!images.some((known) => known.manifest.digest === image.manifest.digest)) images.push(image);
  }
  const present = new Set(images.map((image) => image.manifest.digest));
  const otherBlobs = [...new Set([...existing.otherBlobs, ...incoming.otherBlobs])];
  const absent = [...existing.absent, ...incoming.absent].filter(
    (child, position, all) => !present.has(child.digest) && !otherBlobs.includes(child.digest) && all.findIndex((other) => other.digest === child.digest) === position,
  );
  const origin = existing.origin === "archive" || incoming.origin === "archive" ? "archive" : "synthesized";
  return { ...existing, origin, images, absent, otherBlobs };
}

/** `known` with every absent foreign layer that `again` (the same manifest) brought. */
function withLayersBrought(known: PlatformImage, again: PlatformImage): PlatformImage {
  const broughtAt = (position: number): LayerRecord | undefined => {
    const layer = again.layers[position];
    return known.layers[position]?.absent && layer !== undefined && !layer.absent ? layer : undefined;
  };
  if (!known.layers.some((_, position) => broughtAt(position) !== undefined)) return known;
  return { ...known, layers: known.layers.map((layer, position) => broughtAt(position) ?? layer) };
}
