import { EventEmitter } from "node:events";
import { Bzip2BitReader, InputExhausted } from "./bzip2-bit-reader.js";
import { loadBzip2Blocks, type Bzip2Blocks, type DuplexLike } from "./codec-loader.js";

/** Output is emitted in pieces of this size as a block decodes, so a limit can stop it mid-block. */
const OUTPUT_SLICE_BYTES = 64 * 1024;

/**
 * How much unread input to hold before decoding a block (unbzip2-stream's own bound: a block of
 * size level N takes at most about N * 100 kB compressed). A block that still runs out is decoded
 * again once twice as much input is held.
 */
const blockInputBound = (blockSizeLevel: number): number => (blockSizeLevel === 0 ? 4 : 25_000 + 100_000 * blockSizeLevel);

/** Stops a block part way once the consumer has destroyed the decoder. */
class Aborted extends Error {}

/**
 * A bzip2 decoding engine that keeps backpressure: it decodes one block at a time on its own
 * turn of the event loop, and only while it is not paused, refusing more input (write returns
 * false, then "drain") while a block's worth is waiting. unbzip2-stream's stream instead decodes
 * every block its input holds in the write that completes them, and all of the last 900 kB at
 * end(), queuing the output whatever the consumer does.
 *
 * A block cannot be paused part way (its decoder is synchronous): each block writes at most
 * 900 kB times 51 (bzip2's first run-length stage turns 5 bytes into as many as 255), about
 * 46 MB, through a consumer that has asked to pause; it stops at once if the consumer is destroyed.
 */
export class Bzip2Decoder extends EventEmitter implements DuplexLike {
  /** The block decoder keeps per-stream tables on `this`, so each decoder gets its own. */
  readonly #blocks: Bzip2Blocks = Object.create(loadBzip2Blocks()) as Bzip2Blocks;
  readonly #reader = new Bzip2BitReader();
  #blockSizeLevel = 0;
  #streamCRC: number | null = null;
  #workspace = new Int32Array(0);
  #inputNeeded = blockInputBound(0);
  #slice = Buffer.allocUnsafe(OUTPUT_SLICE_BYTES);
  #sliceLength = 0;
  #inputEnded = false;
  #paused = false;
  #stopped = false;
  #drainOwed = false;
  #scheduled = false;

  write(chunk: Buffer): boolean {
    if (this.#stopped) return false;
    this.#reader.append(chunk);
    this.#schedule();
    if (this.#reader.unreadBytes < this.#inputNeeded) return true;
    this.#drainOwed = true;
    return false;
  }

  end(): void {
    this.#inputEnded = true;
    this.#schedule();
  }

  pause(): this {
    this.#paused = true;
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#schedule();
    return this;
  }

  destroy(): this {
    this.#stopped = true;
    this.#reader.clear();
    this.#workspace = new Int32Array(0);
    return this;
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => this.#step());
  }

  /** One header or block per turn of the event loop, so that the consumer can pause or stop us. */
  #step(): void {
    this.#scheduled = false;
    if (this.#stopped || this.#paused) return;
    const unread = this.#reader.unreadBytes;
    if (!this.#inputEnded && unread < this.#inputNeeded) {
      if (this.#drainOwed) {
        this.#drainOwed = false;
        this.emit("drain");
      }
      return;
    }
    if (this.#inputEnded && unread === 0) {
      this.#stopped = true;
      if (this.#streamCRC !== null || this.#blockSizeLevel !== 0) this.emit("error", new InputExhausted());
      else this.emit("end");
      return;
    }
    try {
      this.#decodeNext();
      this.#inputNeeded = blockInputBound(this.#blockSizeLevel);
    } catch (error) {
      if (error instanceof Aborted) return;
      if (error instanceof InputExhausted && !this.#inputEnded) {
        this.#reader.rewind();
        this.#inputNeeded = 2 * unread;
        this.#schedule();
        return;
      }
      this.#stopped = true;
      this.emit("error", error);
      return;
    }
    this.#schedule();
  }

  #decodeNext(): void {
    this.#reader.mark();
    if (this.#blockSizeLevel === 0) {
      this.#blockSizeLevel = this.#blocks.header(this.#reader.bits);
      this.#streamCRC = 0;
      return;
    }
    const workspaceSize = 100_000 * this.#blockSizeLevel;
    if (this.#workspace.length !== workspaceSize) this.#workspace = new Int32Array(workspaceSize);
    this.#streamCRC = this.#blocks.decompress(this.#reader.bits, this.#writeByte, this.#workspace, workspaceSize, this.#streamCRC);
    this.#flushSlice();
    if (this.#streamCRC === null) this.#blockSizeLevel = 0; // end of stream: a next one may follow
  }

  readonly #writeByte = (byte: number): void => {
    this.#slice[this.#sliceLength++] = byte;
    if (this.#sliceLength === OUTPUT_SLICE_BYTES) this.#flushSlice();
  };

  #flushSlice(): void {
    if (this.#sliceLength === 0) return;
    const output = this.#slice.subarray(0, this.#sliceLength);
    this.#slice = Buffer.allocUnsafe(OUTPUT_SLICE_BYTES);
    this.#sliceLength = 0;
    this.emit("data", output);
    if (this.#stopped) throw new Aborted();
  }
}
