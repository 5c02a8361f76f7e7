/**
 * Where each regular file's data lies in an uncompressed tar file, found by reading only the
 * header blocks (one positioned read per header, the data skipped). `convert` uses it to copy a
 * blob out of its input a second time instead of keeping a copy of it.
 *
 * Follows the framing rules of the tar reader (checksummed headers, all-zero blocks skipped, PAX
 * `path`/`size`, GNU long names, the ustar prefix, names through safeEntryName) but is only an
 * index: anything it does not expect (a PAX global header, a bad checksum, an unsafe name) makes
 * it give up and answer undefined, and callers check the bytes they read at an offset anyway.
 */
import type { FileHandle } from "node:fs/promises";
import { safeEntryName } from "../tar/entry-name.js";
import { headerChecksum } from "../tar/header-checksum.js";
import { cString, decodePax, headerName, numericField } from "../tar/header-fields.js";

export interface TarFileSpan {
  /** Offset in the file of the entry's first data byte. */
  offset: number;
  size: number;
}

const BLOCK = 512;
const MAX_EXTENDED_HEADER_BYTES = 4 * 1024 * 1024;
/** Past this many entries the index is not worth its memory: callers fall back to their own copy. */
const MAX_ENTRIES = 1_000_000;

const FILE_FLAGS = new Set([0, 0x30, 0x37]); // NUL, '0', '7' (contiguous file)
const PAX = 0x78; // 'x'
const PAX_GLOBAL = 0x67; // 'g'
const GNU_LONG_NAME = 0x4c; // 'L'
const GNU_LONG_LINK = 0x4b; // 'K'
const DIRECTORY = 0x35; // '5'

/**
 * Regular files by normalised name. A name that occurs more than once maps to undefined (the
 * caller does not know which occurrence it was given). Undefined when the file cannot be indexed.
 */
export async function indexTarFile(handle: FileHandle): Promise<Map<string, TarFileSpan | undefined> | undefined> {
  const spans = new Map<string, TarFileSpan | undefined>();
  const block = Buffer.alloc(BLOCK);
  let position = 0;
  let pax: Record<string, string> | undefined;
  let longName: string | undefined;
  try {
    for (let count = 0; count < MAX_ENTRIES; count++) {
      const { bytesRead } = await handle.read(block, 0, BLOCK, position);
      if (bytesRead < BLOCK) return spans;
      const sum = headerChecksum(block);
      if (sum === 8 * 0x20) {
        position += BLOCK;
        continue;
      }
      if (sum !== numericField(block, 148, 8)) return undefined;
      const flag = block[156] as number;
      let size = numericField(block, 124, 12);
      if (!Number.isSafeInteger(size) || size < 0) return undefined;
      if (flag === PAX || flag === GNU_LONG_NAME || flag === GNU_LONG_LINK || flag === PAX_GLOBAL) {
        if (flag === PAX_GLOBAL || size > MAX_EXTENDED_HEADER_BYTES) return undefined;
        const body = Buffer.alloc(size);
        if ((await handle.read(body, 0, size, position + BLOCK)).bytesRead < size) return undefined;
        if (flag === PAX) pax = decodePax(body);
        else if (flag === GNU_LONG_NAME) longName = cString(body, 0, body.length);
        position += BLOCK + padded(size);
        continue;
      }
      let name = headerName(block);
      if (longName !== undefined) name = longName;
      if (pax?.path) name = pax.path;
      if (pax?.size) size = parseInt(pax.size, 10);
      pax = undefined;
      longName = undefined;
      if (!Number.isSafeInteger(size) || size < 0) return undefined;
      const dataOffset = position + BLOCK;
      const hasData = size > 0 && flag !== DIRECTORY;
      position = dataOffset + (hasData ? padded(size) : 0);
      if (!FILE_FLAGS.has(flag)) continue;
      const normalised = safeEntryName(name);
      spans.set(normalised, spans.has(normalised) ? undefined : { offset: dataOffset, size });
    }
    return undefined;
  } catch {
    return undefined;
  }
}

const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;
