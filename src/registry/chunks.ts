import { Readable } from "node:stream";

/**
 * Cuts a stream into consecutive sub-streams of given lengths without buffering more than the
 * source's own pieces: each `take(n)` streams the next n bytes. Takes must be consumed in order.
 */
export class ChunkReader {
  private readonly iterator: AsyncIterator<Buffer>;
  private carry: Buffer | undefined;

  constructor(private readonly source: Readable) {
    this.iterator = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  take(length: number): Readable {
    return Readable.from(this.pieces(length), { objectMode: false });
  }

  /** Waits for the source's end (where a verifying source reports a mismatch); fails if bytes remain. */
  async end(): Promise<void> {
    if (this.carry !== undefined && this.carry.length > 0) throw new Error("stream longer than its chunks");
    const next = await this.iterator.next();
    if (next.done !== true) throw new Error("stream longer than its chunks");
  }

  close(): void {
    this.source.destroy();
  }

  private async *pieces(length: number): AsyncGenerator<Buffer> {
    let remaining = length;
    while (remaining > 0) {
      let piece = this.carry;
      this.carry = undefined;
      if (piece === undefined) {
        const next = await this.iterator.next();
        if (next.done === true) throw new Error(`stream ended ${remaining} bytes before the end of a chunk`);
        piece = next.value;
      }
      if (piece.length > remaining) {
        this.carry = piece.subarray(remaining);
        piece = piece.subarray(0, remaining);
      }
      remaining -= piece.length;
      yield piece;
    }
  }
}
