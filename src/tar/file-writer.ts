/**
 * The tar writer of `save -o FILE`: DirectTarWriter writing straight to a file descriptor at
 * known offsets (positioned writes, so no file position is shared), or around the page cache
 * through direct stages, with optional fdatasyncs in the background while the archive is being made.
 */
import { fdatasync } from "node:fs";
import { DIRECT_ALIGNMENT, openDirectSync } from "./direct-io.js";
import { DirectStages } from "./direct-stages.js";
import { DirectTarWriter, type TarTarget } from "./tar-direct-writer.js";
import { writeAllAt } from "./write-at.js";

export interface FileTarWriterOptions {
  /** Modification time of every entry, in seconds since the epoch. Default 0. */
  mtime?: number;
  /** Offset in the file of the archive's first byte. Default 0. */
  position?: number;
  /**
   * Starts an fdatasync in the background each time this many more bytes are written (none while
   * one is running), so the disk takes the archive while it is being made and the caller's final
   * fsync has little left to wait for. Off by default.
   */
  syncEvery?: number;
  /**
   * The file's path, to write it around the page cache through a second descriptor (see
   * direct-stages.ts) where the file system allows it and the archive starts on a page boundary.
   */
  directPath?: string;
}

export class FileTarWriter extends DirectTarWriter {
  readonly #start: number;

  constructor(fd: number, options: FileTarWriterOptions = {}) {
    super(new FileTarget(fd, options.position ?? 0, options.syncEvery ?? Infinity, options.directPath), options);
    this.#start = options.position ?? 0;
  }

  /** Writes the end of the archive; returns the offset just past it (the archive's length when it starts at 0). */
  override async finish(): Promise<number> {
    return this.#start + (await super.finish());
  }
}

/** Positioned writes from a starting offset, with the background syncs. */
class FileTarget implements TarTarget {
  readonly #fd: number;
  #position: number;
  readonly #syncEvery: number;
  #syncedUpTo: number;
  #syncing: Promise<void> | undefined;
  #syncFailure: Error | undefined;
  readonly #stages: DirectStages | undefined;

  constructor(fd: number, position: number, syncEvery: number, directPath: string | undefined) {
    this.#fd = fd;
    this.#position = position;
    this.#syncEvery = syncEvery;
    this.#syncedUpTo = position;
    const direct = directPath !== undefined && position % DIRECT_ALIGNMENT === 0 ? openDirectSync(directPath) : undefined;
    if (direct !== undefined) this.#stages = new DirectStages(fd, direct, position);
  }

  write(buffers: Buffer[]): Promise<void> {
    const position = this.#position;
    for (const buffer of buffers) this.#position += buffer.length;
    const written = this.#stages !== undefined ? this.#stages.write(buffers) : writeAllAt(this.#fd, buffers, position);
    return written.then(() => this.#syncInBackground());
  }

  async finish(): Promise<void> {
    await this.#stages?.finish();
    await this.#syncing;
    // Reported here: a later fsync through another descriptor may no longer see a writeback error.
    if (this.#syncFailure) throw this.#syncFailure;
  }

  async abandon(): Promise<void> {
    await this.#stages?.abandon();
    await this.#syncing;
  }

  #syncInBackground(): void {
    if (this.#syncing !== undefined || this.#position - this.#syncedUpTo < this.#syncEvery) return;
    this.#syncedUpTo = this.#position;
    this.#syncing = new Promise<void>((resolve) =>
      fdatasync(this.#fd, (error) => {
        this.#syncFailure ??= error ?? undefined;
        this.#syncing = undefined;
        resolve();
      }),
    );
  }
}
