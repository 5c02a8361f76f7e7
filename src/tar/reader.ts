import { Readable } from "node:stream";
import { invalid } from "../core/errors.js";
import { quoteName as quote } from "../core/quoted-name.js";
import { streamChunkSource, type ChunkSource } from "./chunk-source.js";
import { STREAM_HIGH_WATER_MARK } from "./compression.js";
import { safeEntryName } from "./entry-name.js";
import { TarParser, type ParsedHeader, type TarBody } from "./tar-parser.js";

export type { TarBody } from "./tar-parser.js";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

/** One entry of a tar stream; Body is a Node Readable (readTar) or a TarBody (readTarChunks). */
export interface TarEntryOf<Body> {
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
  /** Offset in the tar stream of the entry's first data byte. */
  dataOffset: number;
  body: Body;
}

export type TarEntry = TarEntryOf<Readable>;

export interface ReadTarOptions {
  /** Entry types to accept; any other type fails with LadingError invalid. Default: all. */
  allowedTypes?: readonly TarEntryType[];
}

const BLOCK = 512;
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

/** Checks a header and names its entry; undefined for the archive root directory ("./"). */
function describe(header: ParsedHeader, parser: TarParser, options: ReadTarOptions): Omit<TarEntryOf<never>, "body"> | undefined {
  const rawName = header.name;
  const offset = parser.nextHeaderOffset;
  const type = entryType(header.typeName);
  const size = header.size;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw invalid(`invalid tar header at offset ${offset}: invalid size for entry ${quote(rawName)}`, rawName);
  }
  if (type === "directory" && size > 0) {
    throw invalid(`invalid tar header at offset ${offset}: directory entry ${quote(rawName)} has a size of ${size}`, rawName);
  }
  parser.nextHeaderOffset = header.dataOffset + padded(size);
  const name = safeEntryName(rawName);
  if (name === "") {
    if (type === "directory") return undefined;
    throw invalid(`unsafe entry name ${quote(rawName)}: a ${type} entry names the archive root`, rawName);
  }
  // Its data is the stored pieces only: read as a plain file it would be other bytes, or another name.
  if (header.sparse !== undefined) throw invalid(`entry ${quote(name)} is a sparse file (${header.sparse}), which lading does not read`, name);
  if (options.allowedTypes !== undefined && !options.allowedTypes.includes(type)) {
    throw invalid(`entry ${quote(name)} has a type (${header.typeName ?? "unknown"}) that is not allowed here`, name);
  }
  header.label = name;
  parser.lastLabel = name;
  const entry: Omit<TarEntryOf<never>, "body"> = {
    name,
    rawName,
    type,
    size,
    mode: (header.mode || 0) & 0o7777,
    offset,
    dataOffset: header.dataOffset,
  };
  if (type === "symlink" || type === "hardlink") {
    if (!header.linkname) throw invalid(`${type} entry ${quote(name)} has an empty target`, name);
    entry.linkTarget = header.linkname;
  }
  return entry;
}

/**
 * The entries of an uncompressed tar pulled from a ChunkSource, each body a TarBody whose chunks
 * are slices of the source's chunks: valid until the next step of any iteration (copy to keep).
 * Same rules and errors as readTar; the fast path for archives read from files.
 */
export async function* readTarChunks(source: ChunkSource, options: ReadTarOptions = {}): AsyncGenerator<TarEntryOf<TarBody>> {
  const parser = new TarParser(source);
  let finished = false;
  try {
    for (;;) {
      const header = await parser.nextHeader();
      if (header === undefined) {
        finished = true;
        return;
      }
      const entry = describe(header, parser, options);
      if (entry !== undefined) yield { ...entry, body: parser.body() };
    }
  } finally {
    if (!finished) parser.close();
  }
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
 * "x" (got N of M bytes)") or after one, in its padding or the next header, GNU tar's sparse
 * files (type 'S', PAX GNU.sparse.* records), named by their real name. An archive that ends
 * exactly after an entry's padding, without the two zero blocks, is accepted as most tools do.
 * Failures of the input stream itself (I/O, corrupt compression) pass through unchanged.
 *
 * Stopping early (break, throw) destroys the input. For speed, open file inputs with a large
 * highWaterMark (STREAM_HIGH_WATER_MARK, 1 MiB).
 */
export async function* readTar(input: Readable, options: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  for await (const entry of readTarChunks(streamChunkSource(input), options)) {
    // The input's chunks are fresh buffers, never reused, so the Readable may hold on to them.
    yield { ...entry, body: Readable.from(entry.body, { objectMode: false, highWaterMark: STREAM_HIGH_WATER_MARK }) };
  }
}
