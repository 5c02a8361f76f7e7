import { Transform, type TransformCallback } from "node:stream";
import { loadZstdBinding } from "./codec-loader.js";

/**
 * Streaming zstd decoder on zstd-napi's DCtx. Unlike zstd-napi's DecompressStream, which pushes
 * all output of an input chunk at once (a few KiB of RLE blocks can expand to gigabytes), this one
 * stops when the readable side is full and resumes when it is read.
 */
export class ZstdDecoder extends Transform {
  readonly #outputSize: number;
  readonly #dctx: InstanceType<ReturnType<typeof loadZstdBinding>["DCtx"]>;
  #output: Buffer;
  #input: Buffer | undefined;
  #callback: TransformCallback | undefined;
  #inFrame = false;
  #waitingForRead = false;
  #pumping = false;

  constructor(options: { readableHighWaterMark?: number } = {}) {
    super({ readableHighWaterMark: options.readableHighWaterMark });
    const binding = loadZstdBinding();
    this.#dctx = new binding.DCtx();
    this.#outputSize = binding.dStreamOutSize();
    this.#output = Buffer.allocUnsafe(this.#outputSize);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#input = chunk;
    this.#callback = callback;
    this.#pump();
  }

  override _read(size: number): void {
    if (this.#waitingForRead && !this.#pumping) {
      this.#waitingForRead = false;
      this.#pump();
    }
    super._read(size);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.#inFrame ? new Error("unexpected end of file") : null);
  }

  #pump(): void {
    this.#pumping = true;
    try {
      while (this.#input !== undefined && !this.destroyed) {
        const [remaining, produced, consumed] = this.#dctx.decompressStream(this.#output, this.#input);
        this.#input = this.#input.subarray(consumed);
        const outputFull = produced === this.#outputSize;
        const wantsMore = produced > 0 ? this.push(this.#takeOutput(produced)) : true;
        if (this.#input.length === 0 && (!outputFull || remaining === 0)) {
          this.#inFrame = remaining !== 0;
          this.#finishChunk(null);
          return;
        }
        if (produced === 0 && consumed === 0) throw new Error("decoder made no progress");
        if (!wantsMore) {
          this.#waitingForRead = true;
          return;
        }
      }
    } catch (error) {
      this.#finishChunk(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.#pumping = false;
    }
  }

  /** Hands over large outputs without copying, and copies small ones so they do not pin the buffer. */
  #takeOutput(produced: number): Buffer {
    if (produced * 2 < this.#outputSize) return Buffer.from(this.#output.subarray(0, produced));
    const taken = this.#output.subarray(0, produced);
    this.#output = Buffer.allocUnsafe(this.#outputSize);
    return taken;
  }

  #finishChunk(error: Error | null): void {
    const callback = this.#callback;
    this.#input = undefined;
    this.#callback = undefined;
    callback?.(error);
  }
}
