/**
 * Reading the fields of tar header blocks and extended-header bodies, as the tar reader reads
 * them (and convert's offset index, which must name entries the same way).
 */

/** A numeric field: octal text (leading spaces and NULs skipped, ends at a space), or base-256. */
export function numericField(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (((field[0] as number) & 0x80) !== 0) return base256(field);
  let start = 0;
  while (start < field.length && field[start] === 0x20) start++;
  let end = field.indexOf(0x20, start);
  if (end === -1) end = field.length;
  while (start < end && field[start] === 0) start++;
  if (start === end) return 0;
  return parseInt(field.toString("latin1", start, end), 8);
}

/** GNU's base-256 form, big-endian two's complement after a first byte of 0x80 (positive) or 0xff (negative). */
function base256(field: Buffer): number {
  const positive = field[0] === 0x80;
  if (!positive && field[0] !== 0xff) return NaN;
  let value = 0;
  for (let i = 1; i < field.length; i++) value = value * 256 + (positive ? (field[i] as number) : 0xff - (field[i] as number));
  return positive ? value : -value - 1;
}

/**
 * A numeric field read as Go's archive/tar reads it: octal digits only (ending at a NUL, spaces
 * around them), or base-256. NaN for anything else, where numericField reads what it can.
 */
export function strictNumericField(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (((field[0] as number) & 0x80) !== 0) return base256(field);
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  return /^[0-7]+$/.test(text) ? parseInt(text, 8) : NaN;
}

export function cString(bytes: Buffer, offset: number, length: number): string {
  const end = bytes.indexOf(0, offset);
  return bytes.toString("utf8", offset, end === -1 || end > offset + length ? offset + length : end);
}

/** The entry name of a header block: its name field, after the ustar prefix when there is one. */
export function headerName(block: Buffer): string {
  const name = cString(block, 0, 100);
  return isUstar(block) && block[345] !== 0 ? `${cString(block, 345, 155)}/${name}` : name;
}

function isUstar(block: Buffer): boolean {
  return block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72 && block[262] === 0;
}

export interface PaxRecords {
  records: Record<string, string>;
  /** A record was malformed: the records before it are kept, none after it. */
  malformed: boolean;
}

/**
 * PAX records "<length> <key>=<value>\n", where <length> counts the whole record in decimal. A
 * NUL where a record would start ends them.
 */
export function readPaxRecords(body: Buffer): PaxRecords {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const space = body.indexOf(0x20, offset);
    const lengthText = space === -1 ? "" : body.toString("latin1", offset, space);
    const length = /^[0-9]+$/.test(lengthText) ? Number(lengthText) : 0;
    const end = offset + length;
    if (length <= space - offset + 1 || end > body.length || body[end - 1] !== 0x0a) return { records, malformed: true };
    const record = body.toString("utf8", space + 1, end - 1);
    const equals = record.indexOf("=");
    if (equals === -1) return { records, malformed: true };
    records[record.slice(0, equals)] = record.slice(equals + 1);
    offset = end;
  }
  return { records, malformed: false };
}

/** PAX records; parsing stops at the first malformed record. */
export function decodePax(body: Buffer): Record<string, string> {
  return readPaxRecords(body).records;
}

/**
 * A PAX `size` record: decimal digits only, as GNU tar and Go's archive/tar read it (parseInt
 * would take "5abc" for 5 and "1e3" for 1); undefined for anything else.
 */
export function paxDecimal(value: string): number | undefined {
  return /^[0-9]+$/.test(value) ? Number(value) : undefined;
}
