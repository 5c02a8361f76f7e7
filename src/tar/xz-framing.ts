/**
 * Follows the framing of .xz input as it passes on its way to liblzma (stream headers, block
 * headers, LZMA2 chunk headers, index, footer, stream padding), to bound what decoding it takes:
 *
 * - A block whose LZMA2 dictionary is larger than XZ_DICTIONARY_LIMIT is refused from its header,
 *   before liblzma allocates it. liblzma fills the whole dictionary once the output passes its
 *   size, so a crafted header made a long enough stream take the full size in resident memory.
 * - The input is cut into pieces of bounded output. lzma-native decodes a whole write at once and
 *   keeps all of its output before handing any on; LZMA2 turns ~250 bytes into a 2 MiB chunk of
 *   zeros, so one 16 KiB write of a crafted stream came out as ~130 MiB at once. Each LZMA2 chunk
 *   header declares the size the chunk decodes to, which liblzma holds it to, so a piece holding
 *   the chunks whose sizes add up to OUTPUT_PER_PIECE (the last one may pass it by a chunk's
 *   2 MiB) decodes to no more than that.
 *
 * - Each stream footer is written alone and whole. lzma-native runs liblzma without
 *   LZMA_CONCATENATED and finds where a stream ends by the footer's last two bytes (`YZ`) within
 *   one write: with a write boundary between them, the streams after it were dropped or refused.
 *
 * Nothing here validates: liblzma checks every byte. Framing that cannot be followed (input
 * liblzma is about to refuse) is passed on in small slices instead, whose output is bounded by
 * LZMA2's best ratio.
 */

import { invalid } from "../core/errors.js";

/** xz -9 and -9e use a 64 MiB dictionary, the largest of any preset. */
export const XZ_DICTIONARY_LIMIT = 64 * 1024 * 1024;
/** A piece is cut at the first chunk end once the chunks in it decode to at least this much. */
const OUTPUT_PER_PIECE = 1024 * 1024;
/** Pieces of input whose framing is lost: LZMA2 decodes at most ~8500 bytes per byte read. */
const LOST_SLICE_BYTES = 256;

const STREAM_HEADER_BYTES = 12;
const STREAM_FOOTER_BYTES = 12;
const STREAM_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const LZMA2_FILTER = 0x21;
/** Size of the check field after each block, by check ID (the low nibble of the stream flags). */
const CHECK_BYTES = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const MAX_VARINT_BYTES = 9;
const MAX_BLOCK_HEADER_BYTES = 1024;

type Phase =
  | "stream-header"
  | "block-start"
  | "block-header"
  | "chunk-control"
  | "chunk-header"
  | "chunk-data"
  | "block-tail"
  | "index"
  | "index-tail"
  | "stream-footer"
  | "stream-padding"
  | "lost";

/** What is in a refusal: "xz stream" for a layer, "xz archive" for a whole archive. */
export type XzSubject = "stream" | "archive";

/** The dictionary size an LZMA2 properties byte stands for (0-40), as liblzma reads it. */
export function lzma2DictionarySize(props: number): number | undefined {
  if (props > 40) return undefined;
  if (props === 40) return 0xffffffff;
  return (2 | (props & 1)) * 2 ** (Math.floor(props / 2) + 11);
}

function shownSize(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** Why a stream whose dictionary passes XZ_DICTIONARY_LIMIT is refused. */
function dictionaryOverLimit(subject: XzSubject, dictionaryBytes: number): string {
  return `xz ${subject} needs a ${shownSize(dictionaryBytes)} dictionary, more than the limit of ${shownSize(XZ_DICTIONARY_LIMIT)}`;
}

export class XzFraming {
  readonly #subject: XzSubject;
  #phase: Phase = "stream-header";
  /** Header bytes collected so far (stream header, block header, chunk header, footer). */
  readonly #header = Buffer.alloc(MAX_BLOCK_HEADER_BYTES);
  #headerLength = 0;
  #headerNeed = STREAM_HEADER_BYTES;
  #checkBytes = 0;
  /** Bytes of the current block so far (its padding aligns header and data to four bytes). */
  #blockBytes = 0;
  #skip = 0;
  /** Decoded size the chunk headers declared since the last cut. */
  #declaredOutput = 0;
  #cut = false;
  #indexBytes = 0;
  /** Varints of the index still to read; undefined before its record count. */
  #indexVarints: number | undefined;
  #varintBytes = 0;
  #varint = 0;

  constructor(subject: XzSubject = "stream") {
    this.#subject = subject;
  }

  /**
   * The pieces to hand liblzma, one write each, for the next input chunk (subarrays of it).
   * Throws LadingError invalid for a block whose dictionary passes the limit.
   */
  split(chunk: Buffer): Buffer[] {
    const pieces: Buffer[] = [];
    let start = 0;
    let offset = 0;
    while (offset < chunk.length && this.#phase !== "lost") {
      const inFooter = this.#phase === "stream-footer";
      offset = this.#advance(chunk, offset);
      if (!inFooter && this.#phase === "stream-footer") {
        // The footer goes to liblzma in a write of its own (see the class comment): cut before it.
        if (offset > start) pieces.push(chunk.subarray(start, offset));
        start = offset;
      } else if (inFooter && this.#phase !== "stream-footer") {
        // Whole now, in #header, perhaps from several input chunks.
        pieces.push(Buffer.from(this.#header.subarray(0, STREAM_FOOTER_BYTES)));
        start = offset;
      } else if (this.#cut) {
        this.#cut = false;
        pieces.push(chunk.subarray(start, offset));
        start = offset;
      }
    }
    // A footer cut short by the chunk's end waits in #header for the rest.
    if (this.#phase === "stream-footer") return pieces;
    const step = this.#phase === "lost" ? LOST_SLICE_BYTES : chunk.length;
    for (; start < chunk.length; start += step) pieces.push(chunk.subarray(start, Math.min(chunk.length, start + step)));
    return pieces;
  }

  /** Reads on from `offset` through at most one field or run of data; returns where it stopped. */
  #advance(chunk: Buffer, offset: number): number {
    switch (this.#phase) {
      case "stream-header":
      case "block-header":
      case "chunk-header":
      case "stream-footer":
        return this.#collect(chunk, offset);
      case "chunk-data":
      case "block-tail":
      case "index-tail": {
        const taken = Math.min(this.#skip, chunk.length - offset);
        this.#skip -= taken;
        if (this.#skip === 0) this.#skipped();
        return offset + taken;
      }
      case "block-start":
        this.#blockStart(chunk[offset]!);
        return offset + 1;
      case "chunk-control":
        this.#chunkControl(chunk[offset]!);
        return offset + 1;
      case "index":
        this.#indexByte(chunk[offset]!);
        return offset + 1;
      case "stream-padding":
        this.#paddingByte(chunk[offset]!);
        return offset + 1;
      case "lost":
        return chunk.length;
    }
  }

  #expect(phase: Phase, bytes: number): void {
    this.#phase = phase;
    this.#headerLength = 0;
    this.#headerNeed = bytes;
  }

  #collect(chunk: Buffer, offset: number): number {
    const taken = Math.min(this.#headerNeed - this.#headerLength, chunk.length - offset);
    chunk.copy(this.#header, this.#headerLength, offset, offset + taken);
    this.#headerLength += taken;
    if (this.#headerLength === this.#headerNeed) this.#collected(this.#header.subarray(0, this.#headerLength));
    return offset + taken;
  }

  #collected(header: Buffer): void {
    switch (this.#phase) {
      case "stream-header":
        return this.#streamHeader(header);
      case "block-header":
        return this.#blockHeader(header);
      case "chunk-header":
        return this.#chunkHeader(header);
      case "stream-footer":
        this.#phase = FOOTER_MAGIC.every((byte, index) => header[STREAM_FOOTER_BYTES - 2 + index] === byte) ? "stream-padding" : "lost";
        return;
      default:
        this.#phase = "lost";
    }
  }

  #streamHeader(header: Buffer): void {
    if (!STREAM_MAGIC.every((byte, index) => header[index] === byte) || header[6] !== 0 || header[7]! > 0x0f) {
      this.#phase = "lost";
      return;
    }
    this.#checkBytes = CHECK_BYTES[header[7]!]!;
    this.#phase = "block-start";
  }

  #blockStart(byte: number): void {
    if (byte === 0) {
      this.#phase = "index";
      this.#indexBytes = 1;
      this.#indexVarints = undefined;
      this.#varintBytes = 0;
      this.#varint = 0;
      return;
    }
    this.#expect("block-header", (byte + 1) * 4);
    this.#header[0] = byte;
    this.#headerLength = 1;
  }

  #blockHeader(header: Buffer): void {
    const dictionary = lzma2Dictionary(header);
    if (dictionary === undefined) {
      this.#phase = "lost";
      return;
    }
    if (dictionary > XZ_DICTIONARY_LIMIT) throw invalid(dictionaryOverLimit(this.#subject, dictionary));
    this.#blockBytes = header.length;
    this.#phase = "chunk-control";
  }

  #chunkControl(control: number): void {
    this.#blockBytes++;
    if (control === 0) {
      // The end of the LZMA2 data: block padding, then the check.
      this.#skip = ((4 - (this.#blockBytes % 4)) % 4) + this.#checkBytes;
      this.#phase = "block-tail";
      if (this.#skip === 0) this.#skipped();
    } else if (control === 1 || control === 2) {
      this.#expect("chunk-header", 3);
      this.#header[0] = control;
      this.#headerLength = 1;
    } else if (control >= 0x80) {
      // An LZMA chunk: new properties (a byte more) from 0xc0 on.
      this.#expect("chunk-header", control >= 0xc0 ? 6 : 5);
      this.#header[0] = control;
      this.#headerLength = 1;
    } else {
      this.#phase = "lost";
    }
  }

  #chunkHeader(header: Buffer): void {
    const control = header[0]!;
    let packed: number;
    let unpacked: number;
    if (control < 0x80) {
      packed = unpacked = header.readUInt16BE(1) + 1;
    } else {
      unpacked = (control & 0x1f) * 0x10000 + header.readUInt16BE(1) + 1;
      packed = header.readUInt16BE(3) + 1;
    }
    this.#declaredOutput += unpacked;
    this.#blockBytes += header.length - 1 + packed;
    this.#skip = packed;
    this.#phase = "chunk-data";
  }

  #skipped(): void {
    switch (this.#phase) {
      case "chunk-data":
        if (this.#declaredOutput >= OUTPUT_PER_PIECE) {
          this.#declaredOutput = 0;
          this.#cut = true;
        }
        this.#phase = "chunk-control";
        return;
      case "block-tail":
        this.#phase = "block-start";
        return;
      case "index-tail":
        this.#expect("stream-footer", STREAM_FOOTER_BYTES);
        return;
      default:
        this.#phase = "lost";
    }
  }

  /** The index: its record count, then two varints per record, then padding and a CRC32. */
  #indexByte(byte: number): void {
    this.#indexBytes++;
    if (this.#varintBytes === MAX_VARINT_BYTES) {
      this.#phase = "lost";
      return;
    }
    this.#varint += (byte & 0x7f) * 2 ** (7 * this.#varintBytes++);
    if (byte & 0x80) return;
    const value = this.#varint;
    this.#varint = 0;
    this.#varintBytes = 0;
    if (this.#indexVarints === undefined) this.#indexVarints = 2 * value;
    else this.#indexVarints--;
    if (this.#indexVarints > 0) return;
    this.#skip = ((4 - (this.#indexBytes % 4)) % 4) + 4;
    this.#phase = "index-tail";
  }

  /** Zero bytes may follow a stream (in fours); another stream may follow them. */
  #paddingByte(byte: number): void {
    if (byte === 0) return;
    if (byte !== STREAM_MAGIC[0]) {
      this.#phase = "lost";
      return;
    }
    this.#expect("stream-header", STREAM_HEADER_BYTES);
    this.#header[0] = byte;
    this.#headerLength = 1;
  }
}

/**
 * The dictionary size of a block header's filter chain, which must end with LZMA2 (as liblzma
 * requires), or undefined when the header cannot be read that way.
 */
function lzma2Dictionary(header: Buffer): number | undefined {
  const flags = header[1]!;
  if ((flags & 0x3c) !== 0) return undefined;
  const end = header.length - 4;
  let offset = 2;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; offset < end && shift < 7 * MAX_VARINT_BYTES; shift += 7) {
      const byte = header[offset++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  };
  if ((flags & 0x40) !== 0 && varint() === undefined) return undefined;
  if ((flags & 0x80) !== 0 && varint() === undefined) return undefined;
  const filters = (flags & 0x03) + 1;
  for (let filter = 1; filter <= filters; filter++) {
    const id = varint();
    const propsBytes = varint();
    if (id === undefined || propsBytes === undefined || offset + propsBytes > end) return undefined;
    if (filter === filters) return id === LZMA2_FILTER && propsBytes === 1 ? lzma2DictionarySize(header[offset]!) : undefined;
    offset += propsBytes;
  }
  return undefined;
}
