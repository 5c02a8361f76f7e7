/**
 * A deterministic tar writer that writes straight to a file descriptor at known offsets: no
 * stream layers, no copies of the data. Its output is byte-identical to TarWriter's for the same
 * entries (same headers, padding and end blocks; see header-writer.ts). Headers and small files
 * are gathered and go down with the next data write, in one writev.
 */
import { fdatasync, write as fsWrite, writev as fsWritev } from "node:fs";
import { invalid, usage } from "../core/errors.js";
import type { ChunkSource } from "./chunk-source.js";
import { checkedMtime, END_OF_ARCHIVE, entryHeader, paddingFor } from "./header-writer.js";

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
}

export class FileTarWriter {
  readonly #fd: number;
  readonly #mtime: number;
  #position: number;
  #pending: Buffer[] = [];
  #finished = false;
  readonly #syncEvery: number;
  #syncedUpTo = 0;
  #syncing: Promise<void> | undefined;
  #syncFailure: Error | undefined;

  constructor(fd: number, options: FileTarWriterOptions = {}) {
    this.#fd = fd;
    this.#mtime = checkedMtime(options.mtime ?? 0);
    this.#position = options.position ?? 0;
    this.#syncEvery = options.syncEvery ?? Infinity;
    this.#syncedUpTo = this.#position;
  }

  /** Adds a directory entry (mode 0755). */
  addDirectory(name: string): void {
    this.#open(name);
    this.#pending.push(entryHeader(name, "directory", 0, this.#mtime));
  }

  /** Adds a file entry (mode 0644) from memory. */
  addFile(name: string, content: Buffer | string): void {
    this.#open(name);
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    this.#pending.push(entryHeader(name, "file", bytes.length, this.#mtime), bytes, paddingFor(bytes.length));
  }

  /**
   * Adds a file entry of exactly `size` bytes read from `source`, which it closes. Each chunk is
   * handed to `inspect` (to hash it) while it is being written, so that work overlaps the write;
   * `inspect` must not keep the chunk. A longer or shorter body rejects.
   */
  async addFileFrom(name: string, size: number, source: ChunkSource, inspect: (chunk: Buffer) => void = () => undefined): Promise<void> {
    try {
      this.#open(name);
      this.#pending.push(entryHeader(name, "file", size, this.#mtime));
      const quoted = JSON.stringify(name);
      let received = 0;
      for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
        received += chunk.length;
        if (received > size) throw invalid(`entry ${quoted}: body is longer than the declared ${size} bytes`, name);
        const writing = this.#write(chunk);
        try {
          inspect(chunk);
        } finally {
          await writing;
        }
      }
      if (received !== size) throw invalid(`entry ${quoted}: body has ${received} bytes, ${size} declared`, name);
      this.#pending.push(paddingFor(size));
    } finally {
      source.close();
    }
  }

  /** Writes what is gathered and the two zero blocks that end the archive; returns the archive's length. */
  async finish(): Promise<number> {
    this.#open("the end of the archive");
    this.#finished = true;
    this.#pending.push(END_OF_ARCHIVE);
    await this.#write(undefined);
    await this.#syncing;
    // Reported here: a later fsync through another descriptor may no longer see a writeback error.
    if (this.#syncFailure) throw this.#syncFailure;
    return this.#position;
  }

  /**
   * Stops the writer after a failure: nothing more can be added, and the promise settles once no
   * background sync uses the descriptor any more (so the caller may close it).
   */
  async abandon(): Promise<void> {
    this.#finished = true;
    this.#pending = [];
    await this.#syncing;
  }

  #open(name: string): void {
    if (this.#finished) throw usage(`cannot add ${JSON.stringify(name)}: tar writer already finished`);
  }

  /** Writes the gathered buffers and `data` after them, at the current offset. */
  #write(data: Buffer | undefined): Promise<void> {
    const buffers = this.#pending.filter((buffer) => buffer.length > 0);
    this.#pending = [];
    if (data !== undefined) buffers.push(data);
    const length = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    const position = this.#position;
    this.#position += length;
    return writeAllAt(this.#fd, buffers, position).then(() => this.#syncInBackground());
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

/** Writes every byte of `buffers` from `position`, going on after short writes. */
function writeAllAt(fd: number, buffers: Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let rest = buffers;
    let at = position;
    const next = (): void => {
      if (rest.length === 0) return resolve();
      const done = (error: NodeJS.ErrnoException | null, written: number): void => {
        if (error) return reject(error);
        at += written;
        rest = after(rest, written);
        next();
      };
      if (rest.length === 1) fsWrite(fd, rest[0] as Buffer, 0, (rest[0] as Buffer).length, at, done);
      else fsWritev(fd, rest, at, done);
    };
    next();
  });
}

/** What is left of `buffers` once their first `count` bytes are written. */
function after(buffers: Buffer[], count: number): Buffer[] {
  let skip = count;
  const left: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    left.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return left;
}
