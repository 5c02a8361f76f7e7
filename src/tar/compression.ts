import { Readable, type Transform, pipeline } from "node:stream";
import { constants as zlibConstants, createGunzip, createGzip } from "node:zlib";
import { usage } from "../core/errors.js";
import { Bzip2Decoder } from "./bzip2-decoder.js";
import { loadLzma, loadZstd } from "./codec-loader.js";
import { GuardedDecoder } from "./guarded-decoder.js";
import { XZ_DICTIONARY_LIMIT, XzFraming, type XzSubject } from "./xz-framing.js";
import { ZstdDecoder } from "./zstd-decoder.js";

export type Compression = "none" | "gzip" | "zstd" | "xz" | "bzip2";

/** How many leading bytes detectCompression needs to tell every format apart (xz's magic is 6). */
export const COMPRESSION_SNIFF_BYTES = 6;

/** Chunk size to ask of file streams feeding the tar reader: large chunks keep per-chunk costs low. */
export const STREAM_HIGH_WATER_MARK = 1024 * 1024;

/** Output slice of each inflate step on the thread pool; larger means fewer round trips. */
const GUNZIP_CHUNK_BYTES = 256 * 1024;
/**
 * liblzma's own limit, beyond the dictionary XzFraming allows (a decoder's state and filters
 * take ~100 KiB more): it holds should the framing not be followed.
 */
const XZ_MEMORY_LIMIT = XZ_DICTIONARY_LIMIT + 1024 * 1024;
/** Input handed to the bzip2 engine at a time, so that it can refuse more while a block waits. */
const BZIP2_SLICE_BYTES = 64 * 1024;

const startsWith = (head: Uint8Array, magic: readonly number[]): boolean =>
  head.length >= magic.length && magic.every((byte, index) => head[index] === byte);

/**
 * Detects the compression of a stream from its first bytes (magic numbers only, never names or
 * media types). A zstd stream may begin with skippable frames (magic 0x184D2A50..5F, little endian).
 */
export function detectCompression(head: Uint8Array): Compression {
  if (startsWith(head, [0x1f, 0x8b, 0x08])) return "gzip";
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return "zstd";
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && startsWith(head.subarray(1), [0x2a, 0x4d, 0x18])) return "zstd";
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return "xz";
  if (startsWith(head, [0x42, 0x5a, 0x68])) return "bzip2";
  return "none";
}

export interface DecompressorOptions {
  /** Fail with LadingError invalid once the output passes this many bytes. */
  maxOutputBytes?: number;
  /**
   * True for a whole archive: zlib stops at a zero byte after the last gzip member and ignores
   * the rest (zero padding, as gzip -t accepts it). Otherwise (a layer) any byte after the last
   * member is refused, as Go's gzip reader in docker and containerd refuses it ("invalid header").
   */
  allowGzipZeroPadding?: boolean;
  /** What a refusal of an xz stream that needs too large a dictionary names: "archive" for a whole archive. */
  xzSubject?: XzSubject;
}

/** zlib's words for bytes after a gzip member that are no gzip header (Go's: "invalid header"). */
const GZIP_TRAILING_DATA = "incorrect header check";

/**
 * A Transform that decodes one format. Corrupt or truncated input fails with LadingError invalid
 * ("corrupt gzip stream: unexpected end of file"); a missing codec library with LadingError
 * unsupported ("xz archives are not supported: <reason>"). Concatenated gzip members, zstd frames
 * and xz streams are all decoded; data after the last gzip member is refused unless
 * `allowGzipZeroPadding` (zstd refuses any data after its last frame).
 */
export function createDecompressor(compression: Exclude<Compression, "none">, options: DecompressorOptions = {}): Transform {
  const guard = { maxOutputBytes: options.maxOutputBytes };
  switch (compression) {
    case "gzip": {
      const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
      const strict = options.allowGzipZeroPadding === true ? {} : { consumedInput: () => gunzip.bytesWritten, unreadInputReason: GZIP_TRAILING_DATA };
      return new GuardedDecoder("gzip", gunzip, { ...guard, reportsConsumption: true, ...strict });
    }
    case "zstd":
      return new GuardedDecoder("zstd", new ZstdDecoder(), { ...guard, reportsConsumption: true });
    case "xz": {
      const framing = new XzFraming(options.xzSubject);
      return new GuardedDecoder("xz", loadLzma().createStream("streamDecoder", { memlimit: XZ_MEMORY_LIMIT }), {
        ...guard,
        split: (chunk) => framing.split(chunk),
      });
    }
    case "bzip2":
      return new GuardedDecoder("bzip2", new Bzip2Decoder(), { ...guard, sliceBytes: BZIP2_SLICE_BYTES });
  }
}

/** A Transform that encodes gzip (zlib levels 0-9, default 6) or zstd (levels 1-19, default 3). */
export function createCompressor(compression: "gzip" | "zstd", level?: number): Transform {
  if (compression === "gzip") {
    if (level !== undefined && !(Number.isInteger(level) && level >= 0 && level <= 9)) {
      throw usage(`gzip compression level must be 0-9, got ${level}`);
    }
    return createGzip({ level: level ?? zlibConstants.Z_DEFAULT_COMPRESSION });
  }
  if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 19)) {
    throw usage(`zstd compression level must be 1-19, got ${level}`);
  }
  const { CompressStream } = loadZstd();
  return new CompressStream({ compressionLevel: level ?? 3 });
}

function asReadable(input: NodeJS.ReadableStream | Readable): Readable {
  if (input instanceof Readable) return input;
  return new Readable({ highWaterMark: STREAM_HIGH_WATER_MARK }).wrap(input);
}

/**
 * Reads the first bytes of a stream, detects its compression and returns the whole stream
 * decoded (or as it is), without losing or repeating a byte. Works for streams shorter than the
 * sniff size, and for empty streams ("none", no bytes). Destroying the returned stream destroys
 * the input.
 */
export async function openDecompressed(
  input: NodeJS.ReadableStream | Readable,
  options: DecompressorOptions = {},
): Promise<{ compression: Compression; stream: Readable }> {
  const chunks = asReadable(input)[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < COMPRESSION_SNIFF_BYTES) {
    const step = await chunks.next();
    if (step.done === true) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(step.value) ? step.value : Buffer.from(step.value);
    headChunks.push(chunk);
    headLength += chunk.length;
  }
  const head = headChunks.length === 1 ? headChunks[0]! : Buffer.concat(headChunks);

  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      if (ended) return;
      for (;;) {
        const step = await chunks.next();
        if (step.done === true) return;
        yield step.value;
      }
    } finally {
      if (!ended) await chunks.return?.();
    }
  }

  const raw = Readable.from(replay(), { objectMode: false, highWaterMark: STREAM_HIGH_WATER_MARK });
  const compression = detectCompression(head);
  if (compression === "none") return { compression, stream: raw };
  let decoder: Transform;
  try {
    decoder = createDecompressor(compression, options);
  } catch (error) {
    raw.destroy();
    throw error;
  }
  pipeline(raw, decoder, () => {
    // Errors reach the consumer through the decoder, which pipeline destroys with them.
  });
  return { compression, stream: decoder };
}
