import path from "node:path";
import { removeStaleTemporaries } from "./atomic-file.js";
import { addLeftovers, NO_LEFTOVERS, type Leftovers } from "./process-alive.js";
import { ContentStore } from "./content-store.js";
import { DiffIdRecords } from "./diff-id-records.js";
import { GcLock } from "./gc-lock.js";
import { ImageRecords } from "./image-records.js";
import { ReferenceStore } from "./reference-store.js";
import { ensureStoreLayout, type StorePaths } from "./root.js";

export interface StoreOptions {
  /** Makes the reference store (e.g. a WatchedReferences for a long-running reader); default a plain ReferenceStore. */
  references?: (repositoriesJson: string) => ReferenceStore;
}

/** The local store: blobs, per-image records and the reference store, under one root. */
export class Store {
  readonly content: ContentStore;
  readonly references: ReferenceStore;
  readonly records: ImageRecords;
  readonly diffIds: DiffIdRecords;
  readonly gc: GcLock;

  private constructor(
    readonly paths: StorePaths,
    options: StoreOptions,
  ) {
    this.content = new ContentStore(paths);
    this.references = options.references?.(paths.repositoriesJson) ?? new ReferenceStore(paths.repositoriesJson);
    this.records = new ImageRecords(paths.images, () => this.references.snapshot());
    this.diffIds = new DiffIdRecords(paths.diffIds);
    this.gc = new GcLock(paths.root);
  }

  /**
   * Makes again any directory of the layout removed since the store was opened: a long-running
   * reader's store may be emptied or replaced by a copy (rsync --delete) under it.
   */
  async restoreLayout(): Promise<void> {
    await ensureStoreLayout(this.paths.root);
  }

  /** Removes (or with `remove: false` only counts) the temp files of record and reference writes whose process was killed. */
  async cleanTemporaries(options: { remove?: boolean } = {}): Promise<Leftovers> {
    const dirs = [this.paths.root, this.paths.images, this.records.pendingDirectory, path.join(this.paths.diffIds, "sha256"), path.join(this.paths.diffIds, "sha512")];
    let found = NO_LEFTOVERS;
    for (const dir of dirs) found = addLeftovers(found, await removeStaleTemporaries(dir, options));
    return found;
  }

  /** Opens the store at `root`, creating its layout on first use. */
  static async open(root: string, options: StoreOptions = {}): Promise<Store> {
    return new Store(await ensureStoreLayout(root), options);
  }
}
