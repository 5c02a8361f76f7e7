/**
 * The framing of a tar stream, pulled from a ChunkSource: header blocks, PAX and GNU long-name
 * headers, entry data handed out as slices of the source's chunks (no copies), padding skipped.
 * Header rules follow what tar-stream (and so the rest of the ecosystem) accepts: any header whose
 * checksum matches (v7, ustar, GNU), all-zero blocks skipped wherever they are, an archive that
 * ends on a block boundary accepted with or without its end-of-archive blocks.
 */
import { invalid, type LadingError } from "../core/errors.js";
import { quoteName as quote } from "../core/quoted-name.js";
import type { ChunkSource } from "./chunk-source.js";
import { headerChecksum } from "./header-checksum.js";
import { isAllZero } from "./zeros.js";
import { cString, decodePax, numericField } from "./header-fields.js";
import { entryFields } from "./entry-fields.js";

const BLOCK = 512;
/** Largest PAX or GNU long-name header body kept in memory. */
const MAX_EXTENDED_HEADER_BYTES = 4 * 1024 * 1024;
const EMPTY = Buffer.alloc(0);
/** Shorter unread stretches are read through: a seek drops the source's reads ahead. */
const SEEK_AT_LEAST = 4 * 1024 * 1024;
/** What a body answers once the reader has moved past its entry: the end. */
const STALE = Buffer.alloc(0);

/** Type names as tar-stream spells them (shown in error messages). */
const TYPE_NAMES: Record<number, string> = {
  0: "file",
  1: "link",
  2: "symlink",
  3: "character-device",
  4: "block-device",
  5: "directory",
  6: "fifo",
  7: "contiguous-file",
  72: "pax-header",
  55: "pax-global-header",
  27: "gnu-long-link-path",
  28: "gnu-long-path",
  30: "gnu-long-path",
};

export interface ParsedHeader {
  /** After PAX / GNU long-name resolution, as the archive spells it. */
  name: string;
  /** tar-stream's type name ("file", "symlink", "character-device", ...), or null for an unknown flag. */
  typeName: string | null;
  size: number;
  mode: number;
  linkname: string | null;
  /** Offset in the stream of the entry's first data byte. */
  dataOffset: number;
  /** The entry's name as messages show it, once the reader has checked it. */
  label?: string;
  /** How the entry is a GNU sparse file, when it is one (its data is a map of holes, not the file). */
  sparse?: string;
}

/** The data of the current entry: each chunk is valid until the next step of any iteration. */
export interface TarBody extends AsyncIterable<Buffer> {
  next(): Promise<Buffer | undefined>;
}

interface Current {
  header: ParsedHeader;
  remaining: number;
  padding: number;
  body: TarBody;
}

/** How much of what follows the end-of-archive marker is checked to be zeros. */
const MAX_TRAILER_BYTES = 1024 * 1024;

const paddingOf = (size: number): number => (BLOCK - (size % BLOCK)) % BLOCK;

export class TarParser {
  private chunk: Buffer = EMPTY;
  private pos = 0;
  /** Offset in the stream of chunk[pos]. */
  private consumed = 0;
  private current: Current | undefined;
  /** The end-of-archive marker has been read. */
  private ended = false;
  private failure: { error: unknown } | undefined;
  private paxGlobal: Record<string, string> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  /** Offset where the next entry's first header block is expected (for messages; kept by the reader). */
  nextHeaderOffset = 0;
  /** The last entry the reader accepted, named in "unexpected end of archive after entry" messages. */
  lastLabel: string | undefined;

  constructor(private readonly source: ChunkSource) {}

  /** The next entry's header, or undefined at the end. Skips whatever of the previous body is unread. */
  nextHeader(): Promise<ParsedHeader | undefined> {
    return this.serialized(() => this.readHeader());
  }

  /** The body of the entry the last nextHeader() returned. */
  body(): TarBody {
    const current = this.current;
    if (current === undefined) throw new Error("no current entry");
    return current.body;
  }

  close(): void {
    this.failure ??= { error: new Error("tar reader closed") };
    this.source.close();
  }

  /** Runs operations one at a time; `idle` answers without touching the input (a stale body). */
  private serialized<T>(operation: () => Promise<T>, idle?: () => T | undefined): Promise<T> {
    const run = this.lock.then(async () => {
      const answer = idle?.();
      if (answer !== undefined) return answer;
      if (this.failure) throw this.failure.error;
      try {
        return await operation();
      } catch (error) {
        this.failure ??= { error };
        throw error;
      }
    });
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Makes chunk[pos] readable; false at the end of the input. */
  private async fill(): Promise<boolean> {
    if (this.pos < this.chunk.length) return true;
    const next = await this.source.read();
    if (next === undefined) {
      this.chunk = EMPTY;
      this.pos = 0;
      return false;
    }
    this.chunk = next;
    this.pos = 0;
    return true;
  }

  /** Exactly n bytes (a slice when they lie in one chunk, else a copy), or how many there were. */
  private async take(n: number): Promise<Buffer | number> {
    if (!(await this.fill())) return 0;
    if (this.chunk.length - this.pos >= n) {
      const slice = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.consumed += n;
      return slice;
    }
    const copy = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      if (!(await this.fill())) return filled;
      const count = Math.min(n - filled, this.chunk.length - this.pos);
      this.chunk.copy(copy, filled, this.pos, this.pos + count);
      this.pos += count;
      this.consumed += count;
      filled += count;
    }
    return copy;
  }

  /** Skips n bytes; returns how many there were. */
  private async skip(n: number): Promise<number> {
    let skipped = 0;
    const buffered = this.chunk.length - this.pos;
    if (n - buffered >= SEEK_AT_LEAST && this.source.skip !== undefined) {
      // A long body nobody read (hashed elsewhere): seek over it instead of reading it.
      this.pos = this.chunk.length;
      this.consumed += buffered;
      const moved = await this.source.skip(n - buffered);
      this.consumed += moved;
      return buffered + moved;
    }
    while (skipped < n) {
      if (!(await this.fill())) break;
      const count = Math.min(n - skipped, this.chunk.length - this.pos);
      this.pos += count;
      this.consumed += count;
      skipped += count;
    }
    return skipped;
  }

  private truncatedIn(header: ParsedHeader, remaining: number): LadingError {
    const name = header.label ?? header.name;
    return invalid(`unexpected end of archive in entry ${quote(name)} (got ${header.size - remaining} of ${header.size} bytes)`, name);
  }

  private endedEarly(): LadingError {
    const name = this.lastLabel;
    if (name === undefined) return invalid("unexpected end of archive before the first entry");
    return invalid(`unexpected end of archive after entry ${quote(name)}`, name);
  }

  private headerError(problem: string): LadingError {
    return invalid(`invalid tar header at offset ${this.nextHeaderOffset}: ${problem}`);
  }

  private async finishCurrent(): Promise<void> {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    if (current.remaining > 0) {
      const skipped = await this.skip(current.remaining);
      current.remaining -= skipped;
      if (current.remaining > 0) throw this.truncatedIn(current.header, current.remaining);
    }
    if ((await this.skip(current.padding)) < current.padding) throw this.endedEarly();
  }

  /**
   * After a zero block: the end of the archive, as Go's archive/tar (docker's reader) and GNU tar
   * see it. A second zero block (or the end of the input) ends it; a header after one zero block
   * is refused, as Go refuses it. What follows the marker must be zeros (padding to a record
   * size): entries there are read by some unpackers and not by others, so they are refused too.
   * Only the first MiB after the marker is looked at; an endless stream of zeros ends there.
   */
  private async readEnd(): Promise<undefined> {
    const offset = this.consumed - BLOCK;
    const second = await this.take(BLOCK);
    if (typeof second !== "number" && headerChecksum(second) !== 8 * 0x20) {
      throw invalid(`invalid tar header at offset ${offset}: a lone zero block before more entries (the end of an archive is two)`);
    }
    if (typeof second === "number" && second !== 0) throw this.endedEarly();
    for (let looked = 0; looked < MAX_TRAILER_BYTES && (await this.fill()); ) {
      const count = Math.min(this.chunk.length - this.pos, MAX_TRAILER_BYTES - looked);
      const piece = this.chunk.subarray(this.pos, this.pos + count);
      if (!isAllZero(piece)) throw invalid(`data after the end-of-archive marker, at offset ${this.consumed + piece.findIndex((byte) => byte !== 0)}`);
      this.pos += count;
      this.consumed += count;
      looked += count;
    }
    this.ended = true;
    return undefined;
  }

  private async readHeader(): Promise<ParsedHeader | undefined> {
    if (this.ended) return undefined;
    await this.finishCurrent();
    let pax: Record<string, string> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.take(BLOCK);
      if (typeof block === "number") {
        if (block === 0) return undefined;
        throw this.endedEarly();
      }
      const sum = headerChecksum(block);
      if (sum === 8 * 0x20) return this.readEnd(); // an all-zero block
      if (sum !== numericField(block, 148, 8)) throw this.headerError("checksum mismatch");
      const flag = block[156] === 0 ? 0 : (block[156] as number) - 0x30;
      const typeName = TYPE_NAMES[flag] ?? null;
      const size = numericField(block, 124, 12);
      if (typeName === "pax-header" || typeName === "pax-global-header" || typeName === "gnu-long-path" || typeName === "gnu-long-link-path") {
        if (size > MAX_EXTENDED_HEADER_BYTES) throw this.headerError("extended header larger than 4 MiB");
        if (!(size >= 0)) throw this.headerError("invalid size field");
        const body = size === 0 ? EMPTY : await this.take(size);
        if (typeof body === "number") throw this.endedEarly();
        if (typeName === "pax-header") pax = { ...this.paxGlobal, ...decodePax(body) };
        else if (typeName === "pax-global-header") this.paxGlobal = decodePax(body);
        else if (typeName === "gnu-long-path") longName = cString(body, 0, body.length);
        else longLink = cString(body, 0, body.length);
        if ((await this.skip(paddingOf(size))) < paddingOf(size)) throw this.endedEarly();
        continue;
      }
      if (Number.isNaN(size)) throw this.headerError("invalid size field");
      const fields = entryFields(block, size, { pax, longName, longLink });
      if (fields.problem !== undefined) throw this.headerError(fields.problem);
      const { name, linkname, sparse } = fields;
      const header: ParsedHeader = { name, typeName, size: fields.size, mode: numericField(block, 100, 8), linkname, dataOffset: this.consumed };
      if (sparse !== undefined) header.sparse = sparse;
      // Directories and empty entries carry no data; any other entry's data follows, padded.
      const hasData = fields.size > 0 && typeName !== "directory";
      this.current = { header, remaining: hasData ? fields.size : 0, padding: hasData ? paddingOf(fields.size) : 0, body: this.bodyFor(header) };
      return header;
    }
  }

  private bodyFor(header: ParsedHeader): TarBody {
    const next = (): Promise<Buffer | undefined> =>
      this.serialized(async () => {
        const current = this.current;
        if (current === undefined || current.header !== header || current.remaining === 0) return undefined;
        if (!(await this.fill())) throw this.truncatedIn(header, current.remaining);
        const count = Math.min(current.remaining, this.chunk.length - this.pos);
        const slice = this.chunk.subarray(this.pos, this.pos + count);
        this.pos += count;
        this.consumed += count;
        current.remaining -= count;
        return slice;
      }, () => (this.current?.header !== header ? STALE : undefined)).then((value) => (value === STALE ? undefined : value));
    return {
      next,
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const value = await next();
          return value === undefined ? { done: true, value: undefined } : { done: false, value };
        },
        // Leaving a body early is fine: the next header skips what is left of it.
        return: async () => ({ done: true, value: undefined }),
      }),
    };
  }
}
