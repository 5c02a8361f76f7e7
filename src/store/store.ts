import { stat } from "node:fs/promises";
import path from "node:path";
import { removeStaleTemporaries } from "./atomic-file.js";
import { addLeftovers, NO_LEFTOVERS, type Leftovers } from "./process-alive.js";
import { ContentStore } from "./content-store.js";
import { DiffIdRecords } from "./diff-id-records.js";
import { GcLock } from "./gc-lock.js";
import { ImageRecords, type ImageRecord, type RecordWrites } from "./image-records.js";
import { ReferenceStore, type MissingFileRule, type ReferenceTxn, type RepositoriesFile } from "./reference-store.js";
import { ensureStoreLayout, type StorePaths } from "./root.js";

/** How to go on from a missing repositories.json in a store with image records (see Store.referencesLost). */
export const MISSING_REFERENCES_REMEDY = "run lading fsck --repair";

const NO_REFERENCES: RepositoriesFile = { Repositories: {} };

export interface StoreOptions {
  /**
   * Makes the reference store (e.g. a WatchedReferences for a long-running reader); default a
   * plain ReferenceStore. `recordsGone` says whether the store holds no image record (see
   * ImageRecords.none): a long-running reader's store may be emptied under it. `referencesLost` is
   * the rule the default applies (ReferenceStoreOptions.missingFile): pass it on to keep it.
   */
  references?: (repositoriesJson: string, recordsGone: () => Promise<boolean>, referencesLost: MissingFileRule) => ReferenceStore;
  /** A store lading made for one job in a scratch directory and removes after it (convert, verify --roundtrip). */
  scratch?: boolean;
}

/** The local store: blobs, per-image records and the reference store, under one root. */
export class Store {
  readonly content: ContentStore;
  readonly references: ReferenceStore;
  readonly records: ImageRecords;
  readonly diffIds: DiffIdRecords;
  readonly gc: GcLock;
  /** See StoreOptions.scratch. */
  readonly scratch: boolean;

  private constructor(
    readonly paths: StorePaths,
    options: StoreOptions,
  ) {
    this.content = new ContentStore(paths);
    const missingFile: MissingFileRule = { isLost: () => this.records.anyCommitted(NO_REFERENCES), remedy: MISSING_REFERENCES_REMEDY };
    this.references = options.references?.(paths.repositoriesJson, () => this.records.none(), missingFile) ?? new ReferenceStore(paths.repositoriesJson, { missingFile });
    // A load or pull holds its lease while its marker exists: a marker whose owner has no live lease is abandoned.
    this.records = new ImageRecords(paths.images, () => this.references.snapshot(), () => this.gc.foreignOwnerGone());
    this.diffIds = new DiffIdRecords(paths.diffIds);
    this.gc = new GcLock(paths.root);
    this.scratch = options.scratch ?? false;
  }

  /**
   * Makes again any directory of the layout removed since the store was opened: a long-running
   * reader's store may be emptied or replaced by a copy (rsync --delete) under it.
   */
  async restoreLayout(): Promise<void> {
    await ensureStoreLayout(this.paths.root);
  }

  /**
   * One locked update of the references whose image records are written before them, so that no
   * reference ever names a missing record. `fn` changes the references in `txn` and writes the
   * records with `addRecords` (see ImageRecords.addAll). Their pending-records marker is removed
   * under the same lock once the references are written. If they are not written, the records
   * are put back as they were, under the lock, except any the references name by then (a tag
   * added by hand meanwhile); once the lock is lost nothing is put back, and the marker is left
   * for the next command to settle when this process is gone. Committed blobs stay either way.
   * `referencesWritten` is called once the references are on disk (what fails after it, removing
   * the marker, leaves the new images in place).
   */
  async updateWithRecords<T>(
    fn: (txn: ReferenceTxn, addRecords: (records: readonly ImageRecord[]) => Promise<RecordWrites>) => Promise<T>,
    referencesWritten?: () => void,
  ): Promise<T> {
    let writes: RecordWrites | undefined;
    const { value } = await this.references.update(
      (txn) => fn(txn, async (records) => this.records.addAll(records, txn, (started) => (writes = started))),
      async () => {
        referencesWritten?.();
        await writes?.commit();
      },
      async (current) => {
        await writes?.undo(current);
      },
      // Once the store holds a record it holds the file, so that a missing file means a lost one.
      { createFile: true },
    );
    return value;
  }

  /**
   * Whether repositories.json is missing from a store that holds image records: every command
   * that writes records writes the file too, so it was moved or deleted, and every image now
   * shows untagged. Writes of references refuse (see ReferenceStoreOptions.missingFile); read-only
   * commands warn. Not under the lock: for a warning or a report only.
   */
  async referencesLost(): Promise<boolean> {
    try {
      await stat(this.paths.repositoriesJson);
      return false;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") return false;
    }
    return this.records.anyCommitted(NO_REFERENCES);
  }

  /**
   * Refuses, as a write of references would refuse (in the words, and by the rule, of this store's
   * reference store: `lading serve`'s takes a missing file as empty after SIGHUP), a store whose
   * repositories.json was lost: for a load or pull to say so before its long read or downloads,
   * not after them. The write itself checks again under the lock.
   */
  async refuseLostReferences(): Promise<void> {
    await this.references.refuseIfMissing();
  }

  /** Removes (or with `remove: false` only counts) the temp files of record and reference writes whose process was killed. */
  async cleanTemporaries(options: { remove?: boolean } = {}): Promise<Leftovers> {
    const dirs = [this.paths.root, this.paths.images, this.records.pendingDirectory, path.join(this.paths.diffIds, "sha256"), path.join(this.paths.diffIds, "sha512")];
    let found = NO_LEFTOVERS;
    for (const dir of dirs) found = addLeftovers(found, await removeStaleTemporaries(dir, options));
    return found;
  }

  /**
   * Opens the store at `root`, creating its layout on first use; on a store that cannot be
   * written, without the directories it cannot make (a command that writes restores them first).
   */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    return new Store(await ensureStoreLayout(root, { forWriting: false }), options);
  }
}
