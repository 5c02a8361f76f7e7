/**
 * The bytes of one blob upload, read in order, hashed, and written into HTTP requests range by
 * range: one range for a monolithic PUT, one per PATCH of a chunked upload.
 *
 * A source that reads at an offset into a caller's buffer (a PositionalReadable: a stored blob
 * file) is read into a few buffers of the upload's own, each refilled only once the socket has
 * taken what it held, so an upload allocates nothing per read. Consuming a stream instead hands every
 * piece a fresh buffer; at transfer speed enough of them are still queued when a young-generation
 * collection runs that they are promoted, and the old generation frees them only after the
 * process's external memory has grown by tens of megabytes (a 1 GiB push peaked at 100 MB, 25%
 * above a 256 MiB one). Any other Readable is still accepted, piece by piece.
 *
 * The size and the digest are checked before the last piece is written, so a registry never
 * receives a whole body for bytes that do not match their descriptor.
 */
import type { Readable, Writable } from "node:stream";
import { createDigester, formatDigest, parseDigest, type DigestAlgorithm } from "../core/digest.js";
import type { LadingError } from "../core/errors.js";
import { transferred } from "../tar/transfer-garbage.js";
import type { BodyWriter } from "./transport.js";
import type { BlobDescriptor } from "./verify-stream.js";

/** A Readable whose bytes can also be read at any offset into the caller's buffer. */
export interface PositionalReadable extends Readable {
  /** Fills `into` (or less of it at the end) from byte `position`; resolves to the count, 0 past the end. */
  readAt(into: Buffer, position: number): Promise<number>;
}

export function isPositional(source: Readable): source is PositionalReadable {
  return typeof (source as Partial<PositionalReadable>).readAt === "function";
}

/** Bytes per read and per write. */
const PIECE_BYTES = 256 << 10;
/** Pieces read ahead of the socket: enough to keep it fed on a busy machine; four uploads hold 4 MiB. */
const BUFFERS = 4;
const NOTHING = Buffer.alloc(0);

export class UploadBody {
  private readonly algorithm: DigestAlgorithm;
  private readonly hash: ReturnType<typeof createDigester>;
  private readonly positional: PositionalReadable | undefined;
  private readonly buffers: Buffer[] = [];
  private pieces: AsyncIterator<Buffer> | undefined;
  private carry: Buffer | undefined;
  /** Bytes read and hashed so far. */
  private done = 0;
  /** The end checks, run once all bytes are read. */
  private completion: Promise<void> | undefined;

  /** `fail(detail)` makes the error for a size or digest mismatch ("digest mismatch (got …)"). */
  constructor(
    private readonly source: Readable,
    private readonly blob: BlobDescriptor,
    private readonly fail: (detail: string) => LadingError,
  ) {
    this.algorithm = parseDigest(blob.digest).algorithm;
    this.hash = createDigester(this.algorithm);
    this.positional = isPositional(source) ? source : undefined;
  }

  /** A request body of the next `length` bytes; ranges must be written in order, each once. */
  range(length: number): BodyWriter {
    let stopped = false;
    return {
      writeTo: (out) => this.write(out, length, () => stopped),
      stop: () => {
        stopped = true;
      },
    };
  }

  /** Checks that every byte was read and matched (a chunked upload does before its final PUT; a monolithic body already has). */
  async finish(): Promise<void> {
    if (this.done !== this.blob.size) throw this.fail(`size mismatch (got ${this.done} bytes, expected ${this.blob.size})`);
    await (this.completion ??= this.checkComplete());
  }

  /** Releases the source (closes the file); the body must not be written afterwards. */
  close(): void {
    this.source.destroy();
  }

  private async write(out: Writable, length: number, stopped: () => boolean): Promise<void> {
    if (this.done === this.blob.size) await this.finish(); // an empty blob
    // Piece i goes through buffer i % BUFFERS, refilled once the socket has taken piece i - BUFFERS.
    const inFlight: Array<Promise<Error | undefined>> = [];
    for (let remaining = length, turn = 0; remaining > 0; turn = (turn + 1) % BUFFERS) {
      await settled(inFlight[turn]);
      const piece = await this.read(this.buffer(turn), Math.min(PIECE_BYTES, remaining));
      if (piece.length === 0) throw this.fail(`size mismatch (got ${this.done} bytes, expected ${this.blob.size})`);
      this.done += piece.length;
      remaining -= piece.length;
      this.hash.update(piece);
      // The buffers are reused, but each piece's promises and write requests are young garbage.
      transferred(piece.length);
      if (this.done === this.blob.size) await this.finish();
      if (stopped()) return;
      inFlight[turn] = written(out, piece);
    }
    for (const write of inFlight) await settled(write);
  }

  private buffer(turn: number): Buffer {
    if (this.positional === undefined) return NOTHING;
    this.buffers[turn] ??= Buffer.allocUnsafe(PIECE_BYTES);
    return this.buffers[turn];
  }

  /** The next at most `max` bytes (empty at the end): in `scratch` from a positional source, else a piece of the stream's own. */
  private async read(scratch: Buffer, max: number): Promise<Buffer> {
    if (this.positional !== undefined) {
      const count = await this.positional.readAt(scratch.subarray(0, max), this.done);
      return scratch.subarray(0, count);
    }
    this.pieces ??= (this.source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    let piece = this.carry;
    this.carry = undefined;
    while (piece === undefined || piece.length === 0) {
      const next = await this.pieces.next();
      if (next.done === true) return NOTHING;
      piece = next.value;
    }
    if (piece.length > max) {
      this.carry = piece.subarray(max);
      piece = piece.subarray(0, max);
    }
    return piece;
  }

  /** All `size` bytes are read: nothing may follow, and they must hash to the digest. */
  private async checkComplete(): Promise<void> {
    const beyond = await this.read(Buffer.allocUnsafe(1), 1);
    if (beyond.length > 0) throw this.fail(`size mismatch (more than ${this.blob.size} bytes)`);
    const actual = formatDigest(this.algorithm, this.hash);
    if (actual !== this.blob.digest) throw this.fail(`digest mismatch (got ${actual})`);
  }
}

/** Waits for a write, if any, and throws its error. */
async function settled(write: Promise<Error | undefined> | undefined): Promise<void> {
  const error = await write;
  if (error !== undefined) throw error;
}

/** Resolves once `out` has handed `piece` on (its buffer may then be reused), to the write's error if any. */
function written(out: Writable, piece: Buffer): Promise<Error | undefined> {
  return new Promise((resolve) => {
    out.write(piece, (error) => resolve(error ?? undefined));
  });
}
