import type { Readable } from "node:stream";
import tarStream from "tar-stream";
import { invalid, LadingError, usage } from "../core/errors.js";
import { safeEntryName } from "./entry-name.js";
import { drained, nodeReadableFrom, type StreamxReadable, type StreamxWritable } from "./streamx-bridge.js";

export interface TarWriterOptions {
  /** Modification time of every entry, in seconds since the epoch. Default 0; pass SOURCE_DATE_EPOCH. */
  mtime?: number;
}

/** ustar's 11 octal digits hold sizes up to 8 GiB - 1; larger sizes go into a PAX "size" record. */
export const USTAR_MAX_SIZE = 8 * 1024 ** 3 - 1;

/** tar-stream truncates mtime to a 32-bit signed integer. */
const MAX_MTIME = 2 ** 31 - 1;
const FILE_MODE = 0o644;
const DIRECTORY_MODE = 0o755;

/** tar-stream's header, as its pack() reads it. */
interface PackHeader {
  name: string;
  type: "file" | "directory";
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Date;
  size: number;
  pax?: Record<string, string>;
}

interface Pack extends StreamxReadable {
  entry(header: PackHeader, callback: (error?: Error | null) => void): StreamxWritable;
  entry(header: PackHeader, content: Buffer, callback: (error?: Error | null) => void): StreamxWritable;
  finalize(): void;
}

/** Entry sinks report failures through their callbacks; their "error" events repeat them. */
const ignoreError = (): void => undefined;

/**
 * A deterministic tar writer: the same calls give the same bytes. Every header has uid/gid 0,
 * empty uname/gname, mode 0644 (files) or 0755 (directories), the fixed mtime and the ustar
 * magic. A PAX extended header is added only where ustar cannot hold the entry: names that do not
 * fit the 100-byte name plus 155-byte prefix split, non-ASCII names, and sizes of 8 GiB or more
 * (the PAX "size" record, as Go's archive/tar and so Docker write; the ustar size field then
 * carries the GNU base-256 form of the same value).
 *
 * Names are validated and normalised with safeEntryName. Entries are written in call order; calls
 * may overlap, each waits for the previous one. `stream` must be consumed while entries are added,
 * or the promises wait on backpressure. Any failure (a body of the wrong length, a failing body
 * stream) destroys `stream` with that error, so a broken tar is never mistaken for a whole one.
 */
export class TarWriter {
  readonly stream: Readable;
  readonly #pack: Pack;
  readonly #mtime: Date;
  #queue: Promise<void> = Promise.resolve();
  #finished = false;

  constructor(options: TarWriterOptions = {}) {
    const mtime = options.mtime ?? 0;
    if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
      throw usage(`tar mtime must be a whole number of seconds from 0 to ${MAX_MTIME}, got ${mtime}`);
    }
    this.#mtime = new Date(mtime * 1000);
    this.#pack = tarStream.pack() as unknown as Pack;
    this.stream = nodeReadableFrom(this.#pack);
  }

  /** Adds a directory entry (mode 0755). An unsafe name rejects without harming the archive. */
  addDirectory(name: string): Promise<void> {
    return this.#enqueue(name, () => this.#header(name, "directory", 0), (header) => this.#writeBuffer(header, undefined));
  }

  /** Adds a file entry (mode 0644) from memory. */
  addFile(name: string, content: Buffer | string): Promise<void> {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    return this.#enqueue(name, () => this.#header(name, "file", bytes.length), (header) => this.#writeBuffer(header, bytes));
  }

  /** Streams a body of exactly `size` bytes; a longer or shorter body fails the whole archive. */
  addFileStream(name: string, size: number, body: Readable): Promise<void> {
    const header = (): PackHeader => {
      if (!Number.isSafeInteger(size) || size < 0) {
        throw usage(`entry ${JSON.stringify(name)}: size must be a whole number of bytes, got ${size}`);
      }
      return this.#header(name, "file", size);
    };
    return this.#enqueue(name, header, (checked) => this.#writeStream(checked, body), body);
  }

  /** Writes the two zero blocks that end the archive, after every entry added so far. */
  finish(): Promise<void> {
    if (this.#finished) return Promise.reject(usage("tar writer already finished"));
    this.#finished = true;
    const done = this.#queue.then(() => this.#pack.finalize());
    this.#queue = done;
    return done;
  }

  /** Abandons the archive: `stream` fails with the error. */
  destroy(error?: Error): void {
    this.#pack.destroy(error ?? new Error("tar writer destroyed"));
  }

  #header(rawName: string, type: "file" | "directory", size: number): PackHeader {
    const name = safeEntryName(rawName);
    if (name === "") throw invalid(`cannot write an entry named ${JSON.stringify(rawName)}: it names the archive root`, rawName);
    const header: PackHeader = {
      // Directories carry a trailing slash, as GNU tar and Go's archive/tar write them.
      name: type === "directory" ? `${name}/` : name,
      type,
      mode: type === "directory" ? DIRECTORY_MODE : FILE_MODE,
      uid: 0,
      gid: 0,
      uname: "",
      gname: "",
      mtime: this.#mtime,
      size,
    };
    if (size > USTAR_MAX_SIZE) header.pax = { size: String(size) };
    return header;
  }

  /** Validates first (a refusal leaves the archive intact), then queues the write behind earlier ones. */
  #enqueue(name: string, makeHeader: () => PackHeader, write: (header: PackHeader) => Promise<void>, body?: Readable): Promise<void> {
    let header: PackHeader;
    try {
      if (this.#finished) throw usage(`cannot add ${JSON.stringify(name)}: tar writer already finished`);
      header = makeHeader();
    } catch (error) {
      body?.destroy();
      return Promise.reject(error);
    }
    const result = this.#queue.then(() => write(header)).catch((error: unknown) => {
      body?.destroy();
      const failure = error instanceof Error ? error : new Error(String(error));
      this.#pack.destroy(failure);
      throw failure;
    });
    // A failed entry fails the archive; later entries then fail on the destroyed pack.
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #writeBuffer(header: PackHeader, content: Buffer | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error?: Error | null): void => (error ? reject(error) : resolve());
      const sink = content === undefined ? this.#pack.entry(header, settle) : this.#pack.entry(header, content, settle);
      sink.on("error", ignoreError);
    });
  }

  async #writeStream(header: PackHeader, body: Readable): Promise<void> {
    const quoted = JSON.stringify(header.name);
    let settle!: { resolve: () => void; reject: (error: Error) => void };
    const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // The pack can fail while the body is still being read (its reader gave up): keep that quiet
    // here, the awaited `written` below reports it.
    written.catch(ignoreError);
    const sink = this.#pack.entry(header, (error) => (error ? settle.reject(error) : settle.resolve()));
    sink.on("error", ignoreError);
    let received = 0;
    try {
      for await (const chunk of body) {
        const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        received += bytes.length;
        if (received > header.size) {
          throw invalid(`entry ${quoted}: body is longer than the declared ${header.size} bytes`, header.name);
        }
        if (!sink.write(bytes)) await drained(sink);
        if (sink.destroyed) break;
      }
    } catch (error) {
      const failure =
        error instanceof LadingError
          ? error
          : new LadingError("io", `entry ${quoted}: reading the body failed: ${error instanceof Error ? error.message : String(error)}`, {
              subject: header.name,
              cause: error,
            });
      sink.destroy(failure);
      throw failure;
    }
    if (received !== header.size) {
      const failure = invalid(`entry ${quoted}: body has ${received} bytes, ${header.size} declared`, header.name);
      sink.destroy(failure);
      throw failure;
    }
    sink.end();
    await written;
  }
}
