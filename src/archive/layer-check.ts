/**
 * Watches the bytes of a layer tar go by and checks the names inside it, without extracting
 * anything: an entry or hard link whose path climbs out of the root (`../evil`) makes the layer
 * unsafe to unpack, even though its digests may be perfectly consistent. Only headers are parsed;
 * file bodies are skipped, so the cost per byte is close to nothing. Entries are framed as the
 * archive reader frames them (entry-fields.ts), and every name some extractor would use is checked.
 */
import { entryFields, type ExtendedHeaders } from "../tar/entry-fields.js";
import { cString, readPaxRecords, strictNumericField } from "../tar/header-fields.js";
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
  private metaType = ""; // "x", "g", "L" or "K" while collecting an extended header body
  private metaChunks: Buffer[] = [];
  private metaRemaining = 0;
  private metaPadding = 0;
  private extended: ExtendedHeaders = {};
  /** The names of the entries read so far, normalised. */
  private seen = new Set<string>();
  /** Hard link targets no entry before the link had: target -> the link's name. */
  private linksAhead = new Map<string, string>();
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
    const headerSize = strictNumericField(h, 124, 12);
    if (Number.isNaN(headerSize)) {
      this.problem = `layer tar has an invalid size field at entry ${this.entries + 1}`;
      return;
    }
    const type = String.fromCharCode(h[156] ?? 0);
    if (type === "x" || type === "g" || type === "L" || type === "K") {
      if (headerSize < 0) {
        this.problem = `layer tar has an invalid size field at entry ${this.entries + 1}`;
        return;
      }
      if (headerSize > MAX_META_BYTES) {
        this.problem = `layer tar has an extended header of ${headerSize} bytes`;
        return;
      }
      this.metaType = type;
      this.metaChunks = [];
      this.metaRemaining = headerSize;
      this.metaPadding = paddedSize(headerSize) - headerSize;
      if (headerSize === 0) this.finishMeta();
      return;
    }
    this.entries++;
    const fields = entryFields(h, headerSize, this.extended);
    this.extended = {};
    if (fields.problem !== undefined) {
      this.problem = `layer tar: ${fields.problem}`;
      return;
    }
    if (!Number.isSafeInteger(fields.size)) {
      this.problem = `layer tar has an invalid size field at entry ${this.entries}`;
      return;
    }
    // Go's archive/tar reads the sparse map after such a header, but docker and containerd both
    // refuse to unpack the entry ("unhandled tar header type 83"). PAX sparse files they unpack.
    if (type === "S") {
      this.problem = `layer tar entry ${JSON.stringify(fields.name)} is a GNU sparse file of type 'S', which docker and containerd refuse to unpack`;
      return;
    }
    for (const name of fields.names) this.checkPath(name, "entry");
    if (type === "1") for (const link of fields.links) this.checkPath(link, `hard link target of ${JSON.stringify(fields.name)}`);
    this.checkLinkOrder(type, fields.name, fields.names, fields.linkname);
    // Links, devices, directories and FIFOs carry no body whatever the size field says.
    this.skip = "123456".includes(type) ? 0 : paddedSize(fields.size);
  }

  /**
   * A hard link to an entry that comes after it in the same layer: docker and containerd both
   * fail to unpack it ("link f l: no such file or directory"). A target no entry of the layer
   * names may be in a layer below, where containerd finds it, so that one passes.
   */
  private checkLinkOrder(type: string, name: string, names: string[], linkname: string | null): void {
    if (this.problem !== undefined) return;
    const normalised = names.map(normalisedPath);
    for (const path of normalised) {
      const link = this.linksAhead.get(path);
      if (link !== undefined) {
        this.problem = `layer tar hard link ${JSON.stringify(link)} points to ${JSON.stringify(name)}, which comes after it in the layer (docker and containerd cannot make the link)`;
        return;
      }
    }
    if (type === "1" && linkname !== null) {
      const target = normalisedPath(linkname);
      if (!this.seen.has(target)) this.linksAhead.set(target, name);
    }
    for (const path of normalised) this.seen.add(path);
  }

  private finishMeta(): void {
    const body = Buffer.concat(this.metaChunks);
    this.metaChunks = [];
    if (this.metaType === "L") this.extended.longName = cString(body, 0, body.length);
    else if (this.metaType === "K") this.extended.longLink = cString(body, 0, body.length);
    else {
      const { records, malformed } = readPaxRecords(body);
      if (malformed) {
        this.problem = `layer tar has a malformed PAX header at entry ${this.entries + 1}`;
        return;
      }
      if (this.metaType === "x") this.extended.pax = records;
      else this.checkGlobalRecords(records);
    }
  }

  /**
   * Go's archive/tar (docker, containerd) ignores PAX global headers; GNU tar and Python's tarfile
   * apply their records to the entries after them. Records that would rename or reframe entries
   * are refused.
   */
  private checkGlobalRecords(records: Record<string, string>): void {
    const key = Object.keys(records).find((k) => k === "path" || k === "linkpath" || k === "size" || k.startsWith("GNU.sparse."));
    if (key !== undefined) this.problem = `layer tar has a PAX global header with a ${JSON.stringify(key)} record before entry ${this.entries + 1}, which extractors apply differently`;
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
  const stored = strictNumericField(h, 148, 8);
  if (Number.isNaN(stored)) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

const paddedSize = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

/** A path as an extractor resolves it under the root ("./a//b/../c" is "a/c"); it does not escape (checked before). */
function normalisedPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}
