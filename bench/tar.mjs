// Just enough of a ustar writer for the benchmark's generated archives: headers, padding, the end marker.
const BLOCK = 512;
const FIXED_MTIME = 1_700_000_000; // 2023-11-14: archives are byte-for-byte reproducible

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

export function paddedSize(size) {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Bytes of padding after a body of `size` bytes. */
export function padding(size) {
  return Buffer.alloc(paddedSize(size) - size);
}

/** Bytes an entry of `size` takes in a tar: header, body, padding. */
export function entryBytes(size) {
  return BLOCK + paddedSize(size);
}

function putString(header, offset, length, value) {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`tar field too long: ${value}`);
  bytes.copy(header, offset);
}

function putOctal(header, offset, length, value) {
  const text = value.toString(8).padStart(length - 1, "0");
  if (text.length > length - 1) throw new Error(`tar numeric field overflow: ${value}`);
  putString(header, offset, length, text + "\0");
}

/** A ustar header for a regular file ("0") or directory ("5"); names must fit in 100 bytes. */
export function tarHeader(name, size, type = "0") {
  const header = Buffer.alloc(BLOCK);
  putString(header, 0, 100, name);
  putOctal(header, 100, 8, type === "5" ? 0o755 : 0o644);
  putOctal(header, 108, 8, 0);
  putOctal(header, 116, 8, 0);
  putOctal(header, 124, 12, size);
  putOctal(header, 136, 12, FIXED_MTIME);
  header.fill(0x20, 148, 156);
  header.write(type, 156, "latin1");
  putString(header, 257, 6, "ustar\0");
  putString(header, 263, 2, "00");
  putString(header, 265, 32, "root");
  putString(header, 297, 32, "root");
  let sum = 0;
  for (const byte of header) sum += byte;
  putString(header, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

/** A whole small entry (header, body, padding) for JSON documents and other short files. */
export function smallEntry(name, body) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  return Buffer.concat([tarHeader(name, bytes.length), bytes, padding(bytes.length)]);
}
