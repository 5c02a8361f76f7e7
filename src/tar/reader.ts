import type { Readable } from "node:stream";
import tarStream from "tar-stream";
import { invalid, LadingError } from "../core/errors.js";
import { safeEntryName } from "./entry-name.js";
import { drained, nodeReadableFrom, type StreamxReadable, type StreamxWritable } from "./streamx-bridge.js";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarEntry {
  /** The name after safeEntryName: no "./", no trailing "/", never unsafe. */
  name: string;
  /** The name as the archive spells it (after PAX / GNU long-name resolution). */
  rawName: string;
  type: TarEntryType;
  /** Bytes in body (0 for directories). */
  size: number;
  /** The raw linkname of a symlink (relative to the link's directory) or hardlink (an archive path). */
  linkTarget?: string;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Offset in the tar stream of the entry's first header block (its PAX or GNU header, if any). */
  offset: number;
  body: Readable;
}

export interface ReadTarOptions {
  /** Entry types to accept; any other type fails with LadingError invalid. Default: all. */
  allowedTypes?: readonly TarEntryType[];
}

/** The tar-stream header fields this reader uses (tar-stream's own shape, not @types/tar-stream's). */
interface ExtractHeader {
  name: string;
  mode: number | null;
  size: number;
  type: string | null;
  linkname: string | null;
  /** Offset of the entry's data. */
  byteOffset: number;
}

interface ExtractEntry extends StreamxReadable {
  header: ExtractHeader;
}

interface Extract extends StreamxWritable {
  [Symbol.asyncIterator](): AsyncIterator<ExtractEntry>;
}

const BLOCK = 512;
const quote = (text: string): string => JSON.stringify(text);
const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

function entryType(type: string | null): TarEntryType {
  switch (type) {
    case "file":
    case "contiguous-file":
      return "file";
    case "directory":
      return "directory";
    case "symlink":
      return "symlink";
    case "link":
      return "hardlink";
    default:
      return "other";
  }
}

/** Where the reader is, for error messages. */
interface Position {
  /** Offset of the next header block expected. */
  nextHeaderOffset: number;
  /** Bytes of the archive handed to the extractor so far. */
  bytesFed: number;
  last: { name: string; size: number; dataOffset: number } | undefined;
}

/** The entry's bytes the archive holds, whether or not a reader has taken them yet. */
const bytesPresent = (entry: { size: number; dataOffset: number }, position: Position): number =>
  Math.max(0, Math.min(entry.size, position.bytesFed - entry.dataOffset));

function truncatedIn(entry: { name: string; size: number; dataOffset: number }, position: Position): LadingError {
  const got = bytesPresent(entry, position);
  return invalid(`unexpected end of archive in entry ${quote(entry.name)} (got ${got} of ${entry.size} bytes)`, entry.name);
}

/** Turns tar-stream's errors into one-line LadingErrors that say where the archive is broken. */
function archiveError(error: unknown, position: Position): unknown {
  if (error instanceof LadingError || !(error instanceof Error)) return error;
  const at = `invalid tar header at offset ${position.nextHeaderOffset}`;
  const last = position.last;
  switch (error.message) {
    case "Unexpected end of data":
      if (last !== undefined && bytesPresent(last, position) < last.size) return truncatedIn(last, position);
      return last === undefined
        ? invalid("unexpected end of archive before the first entry")
        : invalid(`unexpected end of archive after entry ${quote(last.name)}`, last.name);
    case "Header exceeds max size":
      return invalid(`${at}: extended header larger than 4 MiB`);
    case "Invalid header":
      return invalid(`${at}: invalid size field`);
    default:
      if (error.message.startsWith("Invalid tar header")) return invalid(`${at}: checksum mismatch`);
      return error;
  }
}

/** Copies the input into the extractor; any failure of the input destroys the extractor with it. */
async function feed(input: Readable, extract: Extract, position: Position): Promise<void> {
  try {
    for await (const chunk of input) {
      if (extract.destroying || extract.destroyed) return;
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      position.bytesFed += bytes.length;
      if (!extract.write(bytes)) await drained(extract);
    }
    extract.end();
  } catch (error) {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

function toTarEntry(source: ExtractEntry, position: Position, options: ReadTarOptions): TarEntry | undefined {
  const header = source.header;
  const rawName = header.name;
  const offset = position.nextHeaderOffset;
  const type = entryType(header.type);
  const size = header.size;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw invalid(`invalid tar header at offset ${offset}: invalid size for entry ${quote(rawName)}`, rawName);
  }
  // tar-stream never reads the data of a directory, so a sized one would desynchronise the stream.
  if (type === "directory" && size > 0) {
    throw invalid(`invalid tar header at offset ${offset}: directory entry ${quote(rawName)} has a size of ${size}`, rawName);
  }
  position.nextHeaderOffset = header.byteOffset + padded(size);
  const name = safeEntryName(rawName);
  if (name === "") {
    if (type === "directory") return undefined;
    throw invalid(`unsafe entry name ${quote(rawName)}: a ${type} entry names the archive root`, rawName);
  }
  if (options.allowedTypes !== undefined && !options.allowedTypes.includes(type)) {
    throw invalid(`entry ${quote(name)} has a type (${header.type ?? "unknown"}) that is not allowed here`, name);
  }
  const last = { name, size, dataOffset: header.byteOffset };
  position.last = last;
  const body = nodeReadableFrom(source, {
    mapError: (error) => {
      if (error instanceof LadingError) return error;
      return bytesPresent(last, position) < size ? truncatedIn(last, position) : error;
    },
  });
  const entry: TarEntry = { name, rawName, type, size, mode: (header.mode ?? 0) & 0o7777, offset, body };
  if (type === "symlink" || type === "hardlink") {
    if (!header.linkname) throw invalid(`${type} entry ${quote(name)} has an empty target`, name);
    entry.linkTarget = header.linkname;
  }
  return entry;
}

/**
 * Iterates the entries of an uncompressed tar stream. Each entry's body must be consumed, or
 * resume()d, before the next entry can arrive; asking for the next entry resumes (and so
 * discards) whatever of the previous body is still unread. The archive root ("./") is skipped,
 * PAX global headers are skipped, PAX and GNU long names are resolved by tar-stream and then
 * validated with safeEntryName.
 *
 * Errors are LadingError invalid: unsafe names, bad header checksums ("invalid tar header at
 * offset N: checksum mismatch"), truncation inside an entry ("unexpected end of archive in entry
 * "x" (got N of M bytes)") or after one, in its padding or the next header. An archive that ends
 * exactly after an entry's padding, without the two zero blocks, is accepted as most tools do.
 * Failures of the input stream itself (I/O, corrupt compression) pass through unchanged.
 *
 * Stopping early (break, throw) destroys the input. For speed, open file inputs with a large
 * highWaterMark (STREAM_HIGH_WATER_MARK, 1 MiB).
 */
export async function* readTar(input: Readable, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  // Pre-POSIX (v7) headers carry no magic; their checksum still guards against garbage.
  const createExtract = tarStream.extract as unknown as (options: { allowUnknownFormat: boolean }) => Extract;
  const extract = createExtract({ allowUnknownFormat: true });
  const entries = extract[Symbol.asyncIterator]();
  const position: Position = { nextHeaderOffset: 0, bytesFed: 0, last: undefined };
  void feed(input, extract, position);
  let finished = false;
  let previousBody: Readable | undefined;
  try {
    for (;;) {
      if (previousBody !== undefined && !previousBody.readableEnded && !previousBody.destroyed) previousBody.resume();
      let step: IteratorResult<ExtractEntry>;
      try {
        step = await entries.next();
      } catch (error) {
        throw archiveError(error, position);
      }
      if (step.done === true) {
        finished = true;
        return;
      }
      const entry = toTarEntry(step.value, position, options);
      if (entry === undefined) continue;
      previousBody = entry.body;
      yield entry;
    }
  } finally {
    if (!finished) {
      extract.destroy();
      input.destroy();
    }
  }
}
