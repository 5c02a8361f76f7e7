/**
 * The header blocks of lading's deterministic tar entries, encoded without a stream: the same
 * bytes TarWriter (tar-stream's pack) writes for the same entry, so an archive written straight to
 * a file descriptor is byte-identical to one written through TarWriter.
 */
import { invalid, usage } from "../core/errors.js";
import { safeEntryName } from "./entry-name.js";
import { USTAR_MAX_SIZE } from "./writer.js";
import { headerChecksum } from "./header-checksum.js";

export const BLOCK_SIZE = 512;

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK_SIZE);

const MAX_MTIME = 2 ** 31 - 1;
const FILE_MODE = 0o644;
const DIRECTORY_MODE = 0o755;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;
const TYPE_FILE = "0".charCodeAt(0);
const TYPE_DIRECTORY = "5".charCodeAt(0);
const TYPE_PAX = "x".charCodeAt(0);
/** The PAX header and the entry after it are both named this, as tar-stream names them; readers take the PAX "path". */
const PAX_ENTRY_NAME = "PaxHeader";

export type EntryType = "file" | "directory";

/** Zero bytes that pad `size` bytes of data up to a whole block (empty when already whole). */
export function paddingFor(size: number): Buffer {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK_SIZE - rest);
}

/** Checks a tar mtime (seconds since the epoch) as TarWriter does. */
export function checkedMtime(mtime: number): number {
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
    throw usage(`tar mtime must be a whole number of seconds from 0 to ${MAX_MTIME}, got ${mtime}`);
  }
  return mtime;
}

/**
 * The header block(s) of one entry: a ustar header, preceded by a PAX header and its records when
 * ustar cannot hold the name (longer than the name/prefix split allows, or not ASCII) or the size
 * (8 GiB or more; the ustar size field then carries the GNU base-256 form). Validates the name
 * with safeEntryName; directories get a trailing slash.
 */
export function entryHeader(rawName: string, type: EntryType, size: number, mtime: number): Buffer {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw usage(`entry ${JSON.stringify(rawName)}: size must be a whole number of bytes, got ${size}`);
  }
  const safe = safeEntryName(rawName);
  if (safe === "") throw invalid(`cannot write an entry named ${JSON.stringify(rawName)}: it names the archive root`, rawName);
  const name = type === "directory" ? `${safe}/` : safe;
  const typeflag = type === "directory" ? TYPE_DIRECTORY : TYPE_FILE;
  const mode = type === "directory" ? DIRECTORY_MODE : FILE_MODE;
  const split = size > USTAR_MAX_SIZE ? undefined : splitName(name);
  if (split) return ustarBlock(split.name, split.prefix, mode, size, mtime, typeflag);
  const records = paxRecord("path", name) + (size > USTAR_MAX_SIZE ? paxRecord("size", String(size)) : "");
  const pax = Buffer.from(records, "utf8");
  return Buffer.concat([
    ustarBlock(PAX_ENTRY_NAME, "", mode, pax.length, mtime, TYPE_PAX),
    pax,
    paddingFor(pax.length),
    ustarBlock(PAX_ENTRY_NAME, "", mode, size, mtime, typeflag),
  ]);
}

/** ustar's name and prefix fields for `name`, split at the first slashes; undefined when they cannot hold it. */
function splitName(full: string): { name: string; prefix: string } | undefined {
  if (Buffer.byteLength(full) !== full.length) return undefined; // not ASCII
  let name = full;
  let prefix = "";
  while (name.length > NAME_BYTES) {
    const slash = name.indexOf("/");
    if (slash === -1) return undefined;
    prefix = prefix === "" ? name.slice(0, slash) : `${prefix}/${name.slice(0, slash)}`;
    name = name.slice(slash + 1);
  }
  return prefix.length > PREFIX_BYTES ? undefined : { name, prefix };
}

/** One PAX record, `<length> <key>=<value>\n`, the length counting its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = Buffer.byteLength(body);
  let digits = String(bodyBytes).length;
  if (bodyBytes + digits >= 10 ** digits) digits += 1;
  return `${bodyBytes + digits}${body}`;
}

function ustarBlock(name: string, prefix: string, mode: number, size: number, mtime: number, typeflag: number): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  block.write(name, 0, NAME_BYTES, "utf8");
  block.write(octal(mode, 6), 100, "ascii");
  block.write(octal(0, 6), 108, "ascii"); // uid
  block.write(octal(0, 6), 116, "ascii"); // gid
  if (size.toString(8).length > 11) writeBase256(block, size, 124);
  else block.write(octal(size, 11), 124, "ascii");
  block.write(octal(mtime, 11), 136, "ascii");
  block[156] = typeflag;
  block.write("ustar\0", 257, "ascii");
  block.write("00", 263, "ascii");
  // uname and gname (265, 297) stay empty.
  block.write(octal(0, 6), 329, "ascii"); // devmajor
  block.write(octal(0, 6), 337, "ascii"); // devminor
  if (prefix !== "") block.write(prefix, 345, PREFIX_BYTES, "utf8");
  block.write(octal(headerChecksum(block), 6), 148, "ascii");
  return block;
}

/** `digits` octal digits, zero-padded, and a space. */
function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, "0")} `;
}

/** GNU base-256: a 0x80 marker byte, then the value big-endian in the field's other 11 bytes. */
function writeBase256(block: Buffer, value: number, offset: number): void {
  block[offset] = 0x80;
  let rest = value;
  for (let i = 11; i > 0; i--) {
    block[offset + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}

