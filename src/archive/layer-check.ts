/**
 * Watches the bytes of a layer tar go by and checks the names inside it, without extracting
 * anything: an entry or hard link whose path climbs out of the root (`../evil`) makes the layer
 * unsafe to unpack, even though its digests may be perfectly consistent. Only headers are parsed;
 * file bodies are skipped, so the cost per byte is close to nothing.
 */
import { cString, headerName } from "../tar/header-fields.js";
import { isAllZero } from "../tar/zeros.js";

const BLOCK = 512;
const MAX_META_BYTES = 1 << 20;

export class LayerTarChecker {
  /** The first problem found, or undefined while the layer looks sound. */
  problem: string | undefined;
  entries = 0;
  private header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private skip = 0; // body + padding bytes still to pass over
  private metaType = ""; // "x", "L" or "K" while collecting an extended header body
  private metaChunks: Buffer[] = [];
  private metaRemaining = 0;
  private metaPadding = 0;
  private pendingName: string | undefined;
  private pendingLink: string | undefined;
  /** A zero block was read: the first half of the end-of-archive marker. */
  private zeroBlock = false;
  private ended = false;

  push(chunk: Uint8Array): void {
    let offset = 0;
    if (this.ended) return this.checkTrailer(chunk, offset);
    while (offset < chunk.length && !this.ended && this.problem === undefined) {
      if (this.metaRemaining > 0) {
        const take = Math.min(this.metaRemaining, chunk.length - offset);
        this.metaChunks.push(Buffer.from(chunk.subarray(offset, offset + take)));
        this.metaRemaining -= take;
        offset += take;
        if (this.metaRemaining === 0) {
          this.finishMeta();
          this.skip = this.metaPadding;
        }
        continue;
      }
      if (this.skip > 0) {
        const take = Math.min(this.skip, chunk.length - offset);
        this.skip -= take;
        offset += take;
        continue;
      }
      const take = Math.min(BLOCK - this.headerFill, chunk.length - offset);
      this.header.set(chunk.subarray(offset, offset + take), this.headerFill);
      this.headerFill += take;
      offset += take;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.onHeader();
      }
    }
    if (this.ended) this.checkTrailer(chunk, offset);
  }

  /**
   * What follows the end-of-archive marker must be zeros: Go's archive/tar (docker, containerd)
   * stops at the marker, but other unpackers (tar-stream, for one) read entries after it.
   */
  private checkTrailer(chunk: Uint8Array, offset: number): void {
    if (this.problem === undefined && !isAllZero(chunk.subarray(offset))) {
      this.problem = "layer tar has data after its end-of-archive marker";
    }
  }

  /** Call at the end of the layer bytes; returns the problem, if any. */
  end(): string | undefined {
    if (this.problem === undefined && !this.ended && (this.headerFill > 0 || this.skip > 0 || this.metaRemaining > 0)) {
      this.problem = "layer tar is truncated";
    }
    return this.problem;
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((byte) => byte === 0)) {
      if (this.zeroBlock) this.ended = true;
      this.zeroBlock = true;
      return;
    }
    if (this.zeroBlock) {
      // Go's archive/tar refuses this (ErrHeader); GNU tar warns of a lone zero block and reads on.
      this.problem = `layer tar has a lone zero block before entry ${this.entries + 1} (the end of an archive is two)`;
      return;
    }
    if (!checksumMatches(h)) {
      this.problem = `layer tar has a bad header checksum at entry ${this.entries + 1}`;
      return;
    }
    const size = parseSize(h.subarray(124, 136));
    if (size === undefined) {
      this.problem = `layer tar has an invalid size field at entry ${this.entries + 1}`;
      return;
    }
    const type = String.fromCharCode(h[156] ?? 0);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x" || type === "L" || type === "K") {
      if (size > MAX_META_BYTES) {
        this.problem = `layer tar has an extended header of ${size} bytes`;
        return;
      }
      this.metaType = type;
      this.metaChunks = [];
      this.metaRemaining = size;
      this.metaPadding = padded - size;
      if (size === 0) this.finishMeta();
      return;
    }
    if (type === "g") {
      this.skip = padded;
      return;
    }
    this.entries++;
    const name = this.pendingName ?? headerName(h);
    const link = this.pendingLink ?? cString(h, 157, 100);
    this.pendingName = undefined;
    this.pendingLink = undefined;
    this.checkPath(name, "entry");
    if (type === "1") this.checkPath(link, `hard link target of ${JSON.stringify(name)}`);
    // Links, devices, directories and FIFOs carry no body whatever the size field says.
    this.skip = "123456".includes(type) ? 0 : padded;
  }

  private finishMeta(): void {
    const body = Buffer.concat(this.metaChunks);
    this.metaChunks = [];
    if (this.metaType === "L") this.pendingName = cString(body, 0, body.length);
    else if (this.metaType === "K") this.pendingLink = cString(body, 0, body.length);
    else {
      const records = parsePax(body);
      if (records === undefined) {
        this.problem = `layer tar has a malformed PAX header at entry ${this.entries + 1}`;
        return;
      }
      if (records.path !== undefined) this.pendingName = records.path;
      if (records.linkpath !== undefined) this.pendingLink = records.linkpath;
    }
  }

  private checkPath(path: string, what: string): void {
    if (this.problem !== undefined) return;
    if (path.includes("\0")) {
      this.problem = `layer tar ${what} ${JSON.stringify(path)} contains a NUL byte`;
      return;
    }
    let depth = 0;
    for (const part of path.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") depth--;
      else depth++;
      if (depth < 0) {
        this.problem = `layer tar ${what} ${JSON.stringify(path)} escapes the root`;
        return;
      }
    }
  }
}

/** A first block that is a valid tar header, or the all-zero end marker of an empty tar. */
export function looksLikeTarBlock(block: Buffer): boolean {
  return block.length === BLOCK && (block.every((byte) => byte === 0) || checksumMatches(block));
}

function checksumMatches(h: Buffer): boolean {
  const stored = parseOctal(h.subarray(148, 156));
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function parseOctal(field: Buffer): number | undefined {
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

function parseSize(field: Buffer): number | undefined {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  return parseOctal(field);
}

/** PAX records are "<length> <key>=<value>\n"; returns undefined when a record is malformed. */
function parsePax(body: Buffer): Record<string, string> | undefined {
  const records: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length) {
    if (body[offset] === 0) break;
    const space = body.indexOf(0x20, offset);
    if (space === -1) return undefined;
    const length = Number(body.subarray(offset, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= 0 || offset + length > body.length) return undefined;
    const record = body.subarray(space + 1, offset + length - 1).toString("utf8");
    const equals = record.indexOf("=");
    if (equals === -1) return undefined;
    records[record.slice(0, equals)] = record.slice(equals + 1);
    offset += length;
  }
  return records;
}
