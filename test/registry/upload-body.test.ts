import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { digestOf } from "../../src/core/digest.js";
import { LadingError } from "../../src/core/errors.js";
import { isPositional, UploadBody } from "../../src/registry/upload-body.js";

const PIECE = 256 << 10;

/** Bytes 0..size-1 of a fixed pattern. */
function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) % 253;
  return bytes;
}

/** A positional source over `bytes` that records the offsets read and refuses to be streamed. */
class MemoryFile extends Readable {
  readonly positions: number[] = [];
  constructor(private readonly bytes: Buffer) {
    super();
  }
  readAt(into: Buffer, position: number): Promise<number> {
    this.positions.push(position);
    return Promise.resolve(this.bytes.copy(into, 0, position, Math.min(this.bytes.length, position + into.length)));
  }
  override _read(): void {
    this.destroy(new Error("streamed instead of read at offsets"));
  }
}

/** A sink that copies what it is given and remembers which buffers the pieces lived in. */
function collector(): { sink: Writable; bytes: () => Buffer; sizes: number[]; buffers: Set<ArrayBufferLike> } {
  const copies: Buffer[] = [];
  const sizes: number[] = [];
  const buffers = new Set<ArrayBufferLike>();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      copies.push(Buffer.from(chunk));
      sizes.push(chunk.length);
      buffers.add(chunk.buffer);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(copies), sizes, buffers };
}

const failing = (detail: string): LadingError => new LadingError("invalid", `local blob ${detail}`);
const blobOf = (bytes: Buffer): { digest: string; size: number } => ({ digest: digestOf(bytes), size: bytes.length });

describe("UploadBody", () => {
  it("reads a positional source into four reused buffers and writes exactly its bytes", async () => {
    const bytes = pattern(5 * PIECE + 90_000);
    const file = new MemoryFile(bytes);
    expect(isPositional(file)).toBe(true);
    expect(isPositional(Readable.from([bytes]))).toBe(false);
    const out = collector();
    const body = new UploadBody(file, blobOf(bytes), failing);
    await body.range(bytes.length).writeTo(out.sink);
    await body.finish();
    body.close();
    expect(out.bytes().equals(bytes)).toBe(true);
    expect(out.sizes).toEqual([PIECE, PIECE, PIECE, PIECE, PIECE, 90_000]);
    expect(out.buffers.size).toBe(4);
    // The last read, one byte at the end, checks that nothing follows.
    expect(file.positions).toEqual([0, PIECE, 2 * PIECE, 3 * PIECE, 4 * PIECE, 5 * PIECE, bytes.length]);
  });

  it("writes consecutive ranges for the PATCHes of a chunked upload", async () => {
    const bytes = pattern(700_000);
    const file = new MemoryFile(bytes);
    const body = new UploadBody(file, blobOf(bytes), failing);
    const first = collector();
    const second = collector();
    await body.range(300_000).writeTo(first.sink);
    await body.range(400_000).writeTo(second.sink);
    await body.finish();
    expect(first.sizes).toEqual([PIECE, 300_000 - PIECE]);
    expect(second.sizes).toEqual([PIECE, 400_000 - PIECE]);
    expect(Buffer.concat([first.bytes(), second.bytes()]).equals(bytes)).toBe(true);
    expect(file.positions).toEqual([0, PIECE, 300_000, 300_000 + PIECE, 700_000]);
  });

  it("finds a digest mismatch before writing the last piece", async () => {
    const bytes = pattern(PIECE + 1000);
    const altered = Buffer.from(bytes);
    altered.writeUInt8(altered.readUInt8(PIECE + 999) ^ 1, PIECE + 999);
    const out = collector();
    const body = new UploadBody(new MemoryFile(altered), blobOf(bytes), failing);
    await expect(body.range(bytes.length).writeTo(out.sink)).rejects.toThrow(`local blob digest mismatch (got ${digestOf(altered)})`);
    expect(out.sizes).toEqual([PIECE]);
  });

  it("refuses a source shorter or longer than the descriptor", async () => {
    const bytes = pattern(5000);
    const short = new UploadBody(new MemoryFile(bytes.subarray(0, 4000)), blobOf(bytes), failing);
    await expect(short.range(5000).writeTo(collector().sink)).rejects.toThrow("local blob size mismatch (got 4000 bytes, expected 5000)");
    const long = new UploadBody(new MemoryFile(Buffer.concat([bytes, Buffer.from("x")])), blobOf(bytes), failing);
    await expect(long.range(5000).writeTo(collector().sink)).rejects.toThrow("local blob size mismatch (more than 5000 bytes)");
    const unfinished = new UploadBody(new MemoryFile(bytes), blobOf(bytes), failing);
    await unfinished.range(3000).writeTo(collector().sink);
    await expect(unfinished.finish()).rejects.toThrow("local blob size mismatch (got 3000 bytes, expected 5000)");
  });

  it("checks an empty blob, which writes nothing", async () => {
    const empty = Buffer.alloc(0);
    const out = collector();
    await new UploadBody(new MemoryFile(empty), blobOf(empty), failing).range(0).writeTo(out.sink);
    expect(out.sizes).toEqual([]);
    const notEmpty = new UploadBody(new MemoryFile(Buffer.from("x")), blobOf(empty), failing);
    await expect(notEmpty.range(0).writeTo(collector().sink)).rejects.toThrow("local blob size mismatch (more than 0 bytes)");
  });

  it("takes a plain Readable piece by piece, cut where a range ends", async () => {
    const bytes = pattern(10_000);
    const body = new UploadBody(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), blobOf(bytes), failing);
    const first = collector();
    const second = collector();
    await body.range(4096).writeTo(first.sink);
    await body.range(5904).writeTo(second.sink);
    await body.finish();
    expect(first.sizes).toEqual([1000, 3096]);
    expect(second.sizes).toEqual([5904]);
    expect(Buffer.concat([first.bytes(), second.bytes()]).equals(bytes)).toBe(true);
  });

  it("writes nothing more once stopped", async () => {
    const bytes = pattern(3 * PIECE);
    const sizes: number[] = [];
    const writer = new UploadBody(new MemoryFile(bytes), blobOf(bytes), failing).range(bytes.length);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        sizes.push(chunk.length);
        writer.stop();
        callback();
      },
    });
    await writer.writeTo(sink);
    expect(sizes).toEqual([PIECE]);
  });

  it("fails with the sink's error", async () => {
    const bytes = pattern(2 * PIECE);
    const sink = new Writable({
      write(_chunk: Buffer, _encoding, callback) {
        callback(new Error("socket gone"));
      },
    });
    sink.on("error", () => undefined);
    await expect(new UploadBody(new MemoryFile(bytes), blobOf(bytes), failing).range(bytes.length).writeTo(sink)).rejects.toThrow("socket gone");
  });
});
