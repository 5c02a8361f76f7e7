/**
 * A deterministic tar writer without stream layers: entries become buffer lists handed to a
 * TarTarget (a file descriptor at known offsets, or a Writable sink), with no copy of the data.
 * Its output is byte-identical to TarWriter's for the same entries (same headers, padding and end
 * blocks; see header-writer.ts). Headers and small files are gathered and go down with the next
 * data write, in one gathered write.
 */
import { invalid, usage } from "../core/errors.js";
import type { ChunkSource } from "./chunk-source.js";
import { checkedMtime, END_OF_ARCHIVE, entryHeader, paddingFor } from "./header-writer.js";

/** Where a DirectTarWriter's bytes go. One write at a time: the writer awaits each before the next. */
export interface TarTarget {
  /**
   * Writes `buffers` in order after everything written before. Resolves once the output holds no
   * reference to them any more (a read buffer among them may then be reused); rejects when the
   * output fails or goes away.
   */
  write(buffers: Buffer[]): Promise<void>;
  /** After the last write: waits for what the target still does in the background, reports its failure. */
  finish(): Promise<void>;
  /** After a failure: settles once nothing the target started uses the output any more. */
  abandon(): Promise<void>;
}

export interface DirectTarWriterOptions {
  /** Modification time of every entry, in seconds since the epoch. Default 0. */
  mtime?: number;
}

export class DirectTarWriter {
  readonly #target: TarTarget;
  readonly #mtime: number;
  #length = 0;
  #pending: Buffer[] = [];
  #finished = false;

  constructor(target: TarTarget, options: DirectTarWriterOptions = {}) {
    this.#mtime = checkedMtime(options.mtime ?? 0);
    this.#target = target;
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
   *
   * With `verify`, the last chunk waits until every chunk was inspected and `verify` has passed.
   * When it throws, the entry's header goes out without that chunk: the output ends inside the
   * entry, so that no reader of a stream can take it for a whole archive (one cut at an entry's
   * end reads as a complete tar to Go's archive/tar, and so to docker load).
   */
  async addFileFrom(name: string, size: number, source: ChunkSource, inspect: (chunk: Buffer) => void = () => undefined, verify?: () => void): Promise<void> {
    try {
      this.#open(name);
      this.#pending.push(entryHeader(name, "file", size, this.#mtime));
      const quoted = JSON.stringify(name);
      let received = 0;
      for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
        received += chunk.length;
        if (received > size) throw invalid(`entry ${quoted}: body is longer than the declared ${size} bytes`, name);
        if (verify !== undefined && size > 0 && received === size) {
          inspect(chunk);
          try {
            verify();
          } catch (error) {
            await this.#write(undefined).catch(() => undefined);
            throw error;
          }
          await this.#write(chunk);
          continue;
        }
        const writing = this.#write(chunk);
        try {
          inspect(chunk);
        } finally {
          await writing;
        }
      }
      if (received !== size) throw invalid(`entry ${quoted}: body has ${received} bytes, ${size} declared`, name);
      // An empty body has no last chunk to hold back: it is verified all the same.
      if (size === 0) verify?.();
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
    await this.#target.finish();
    return this.#length;
  }

  /**
   * Stops the writer after a failure: nothing more can be added, and the promise settles once the
   * target no longer uses its output (so the caller may close it).
   */
  async abandon(): Promise<void> {
    this.#finished = true;
    this.#pending = [];
    await this.#target.abandon();
  }

  #open(name: string): void {
    if (this.#finished) throw usage(`cannot add ${JSON.stringify(name)}: tar writer already finished`);
  }

  /** Writes the gathered buffers and `data` after them. */
  #write(data: Buffer | undefined): Promise<void> {
    const buffers = this.#pending.filter((buffer) => buffer.length > 0);
    this.#pending = [];
    if (data !== undefined) buffers.push(data);
    for (const buffer of buffers) this.#length += buffer.length;
    return this.#target.write(buffers);
  }
}
