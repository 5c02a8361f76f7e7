import { Transform, type TransformCallback } from "node:stream";
import { invalid, LadingError } from "../core/errors.js";
import type { DuplexLike } from "./codec-loader.js";

export interface GuardedDecoderOptions {
  /** Fail once the decoded output passes this many bytes (decompression bomb guard). */
  maxOutputBytes?: number;
  /** Feed the engine at most this many bytes at a time, waiting for "drain" when it asks. */
  sliceBytes?: number;
  /**
   * Instead of slices: cuts each input chunk into the pieces to write (XzFraming's split), each
   * written once the engine has called back for the one before. lzma-native decodes all of a
   * write before handing any output on, so only small writes keep its bursts bounded; and its
   * stream joins the writes it holds into one (_writev) while write() still returns true, so
   * waiting for "drain" would not keep them apart. May throw to refuse the input: the decoder
   * fails with that error.
   */
  split?: (chunk: Buffer) => Buffer[];
  /**
   * The engine calls a write's callback only once it no longer needs that chunk (Node's zlib
   * streams and ZstdDecoder do). Then a write to the decoder completes only when the engine is
   * done with its bytes, and the writer may reuse its buffer. Other engines (lzma-native,
   * Bzip2Decoder) may keep a chunk after accepting it, so the decoder gives them a copy.
   */
  reportsConsumption?: boolean;
  /**
   * With `reportsConsumption`: how many input bytes the engine has consumed so far. When given,
   * input the engine leaves unread once it has done with a chunk (bytes after the end of the
   * compressed stream, at which the engine stopped) fails the decoder with `unreadInputReason`.
   */
  consumedInput?: () => number;
  unreadInputReason?: string;
}

/** An engine whose write takes a callback (a Node stream). */
interface CallbackWriter {
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean;
}

const READABLE_HIGH_WATER_MARK = 1024 * 1024;

const TRUNCATED = "unexpected end of file";

/** Library messages that are unhelpful or whimsical (unbzip2-stream's "moo i'm a cow"), made plain. */
function plainReason(format: string, error: unknown, text: string): string {
  if (format === "xz" && /no progress is possible/i.test(text)) return TRUNCATED;
  if (format === "bzip2") {
    // unbzip2-stream's block decoder reads past its input with a TypeError when a stream is cut short.
    if (error instanceof TypeError || /ended prematurely/i.test(text)) return TRUNCATED;
    if (/crc32 do not match/i.test(text)) return "checksum mismatch";
    if (/no magic number|not a bzip archive/i.test(text)) return "bad stream header";
    return "data is corrupt";
  }
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** Why a layer that decompresses to more than `maxOutputBytes` is refused. */
export function overLimit(maxOutputBytes: number): string {
  return `decompressed size exceeds the limit of ${maxOutputBytes} bytes`;
}

/** One line naming the format: "corrupt gzip stream: unexpected end of file". */
export function decodeError(format: string, error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  const text = (error instanceof Error ? error.message : String(error)).split("\n")[0]?.trim() || "unknown error";
  return new LadingError("invalid", `corrupt ${format} stream: ${plainReason(format, error, text)}`, { cause: error });
}

/**
 * Wraps a decoding engine (zlib, zstd, lzma-native or Bzip2Decoder, whatever its stream flavour)
 * in a Node Transform that keeps backpressure, turns every engine failure into a one-line
 * LadingError invalid and stops at the output size limit.
 */
export class GuardedDecoder extends Transform {
  readonly #format: string;
  readonly #engine: DuplexLike;
  readonly #maxOutputBytes: number;
  readonly #sliceBytes: number;
  readonly #split: ((chunk: Buffer) => Buffer[]) | undefined;
  readonly #reportsConsumption: boolean;
  readonly #consumedInput: (() => number) | undefined;
  readonly #unreadInputReason: string;
  #inputBytes = 0;
  #outputBytes = 0;
  #flushCallback: TransformCallback | undefined;
  /**
   * zlib ends a gzip stream on its own when a zero byte follows the last member, and ignores
   * everything from there (zero padding, or anything else after a zero).
   */
  #engineEnded = false;

  constructor(format: string, engine: DuplexLike, options: GuardedDecoderOptions = {}) {
    super({ readableHighWaterMark: READABLE_HIGH_WATER_MARK });
    this.#format = format;
    this.#engine = engine;
    this.#maxOutputBytes = options.maxOutputBytes ?? Number.POSITIVE_INFINITY;
    this.#sliceBytes = options.sliceBytes ?? Number.POSITIVE_INFINITY;
    this.#split = options.split;
    this.#reportsConsumption = options.reportsConsumption ?? false;
    this.#consumedInput = this.#reportsConsumption ? options.consumedInput : undefined;
    this.#unreadInputReason = options.unreadInputReason ?? "data after the end of the stream";
    engine.on("data", (chunk: Buffer) => this.#onEngineData(chunk));
    engine.on("end", () => this.#onEngineEnd());
    engine.on("error", (error: unknown) => this.destroy(decodeError(this.#format, error)));
  }

  /** Total decoded bytes so far. */
  get outputBytes(): number {
    return this.#outputBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#reportsConsumption) this.#writeWhole(chunk, callback);
    else if (this.#split) this.#writePieces(this.#split, Buffer.from(chunk), callback);
    else this.#writeSlices(Buffer.from(chunk), 0, callback);
  }

  /** Completes the write when the engine is done with the chunk, not when it has queued it. */
  #writeWhole(chunk: Buffer, callback: TransformCallback): void {
    this.#inputBytes += chunk.length;
    (this.#engine as unknown as CallbackWriter).write(chunk, (error) => {
      // An engine failure reaches the reader through the "error" handler, with its plain message.
      if (error || this.destroyed) return;
      if (this.#consumedInput && this.#consumedInput() < this.#inputBytes) {
        this.destroy(decodeError(this.#format, this.#unreadInputReason));
        return;
      }
      callback();
    });
  }

  override _flush(callback: TransformCallback): void {
    if (this.#engineEnded) {
      callback();
      return;
    }
    this.#flushCallback = callback;
    this.#engine.end();
  }

  override _read(size: number): void {
    this.#engine.resume();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#engine.destroy();
    callback(error);
  }

  #writePieces(split: (chunk: Buffer) => Buffer[], chunk: Buffer, callback: TransformCallback): void {
    let pieces: Buffer[];
    try {
      pieces = split(chunk);
    } catch (error) {
      callback(decodeError(this.#format, error));
      return;
    }
    const writeFrom = (index: number): void => {
      if (this.destroyed) return;
      if (index === pieces.length) {
        callback();
        return;
      }
      (this.#engine as unknown as CallbackWriter).write(pieces[index]!, (error) => {
        // An engine failure reaches the reader through the "error" handler, with its plain message.
        if (!error) writeFrom(index + 1);
      });
    };
    writeFrom(0);
  }

  #writeSlices(chunk: Buffer, offset: number, callback: TransformCallback): void {
    while (offset < chunk.length) {
      if (this.destroyed) return;
      const end = Math.min(chunk.length, offset + this.#sliceBytes);
      const accepted = this.#engine.write(chunk.subarray(offset, end));
      offset = end;
      if (!accepted) {
        this.#engine.once("drain", () => this.#writeSlices(chunk, offset, callback));
        return;
      }
    }
    callback();
  }

  #onEngineData(chunk: Buffer): void {
    if (this.destroyed) return;
    this.#outputBytes += chunk.length;
    if (this.#outputBytes > this.#maxOutputBytes) {
      this.destroy(invalid(overLimit(this.#maxOutputBytes)));
      return;
    }
    if (!this.push(chunk)) this.#engine.pause();
  }

  #onEngineEnd(): void {
    this.#engineEnded = true;
    const callback = this.#flushCallback;
    this.#flushCallback = undefined;
    if (!this.destroyed) callback?.();
  }
}
