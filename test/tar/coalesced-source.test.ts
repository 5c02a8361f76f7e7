import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ChunkSource } from "../../src/tar/chunk-source.js";
import { coalescedChunkSource } from "../../src/tar/coalesced-source.js";

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const pattern = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed * 7) & 0xff));

/** Reads a source to its end, hashing each chunk before the next read (its buffer is reused then). */
async function readAll(source: ChunkSource): Promise<{ sizes: number[]; digest: string; buffers: number }> {
  const sizes: number[] = [];
  const seen = new Set<ArrayBufferLike>();
  const hash = createHash("sha256");
  for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
    sizes.push(chunk.length);
    seen.add(chunk.buffer);
    hash.update(chunk);
  }
  return { sizes, digest: hash.digest("hex"), buffers: seen.size };
}

/** A stream handing out `bytes` in pieces of `piece` bytes. */
function piecesOf(bytes: Buffer, piece: number): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += piece) pieces.push(bytes.subarray(offset, offset + piece));
  return Readable.from(pieces, { objectMode: false });
}

describe("coalescedChunkSource", () => {
  it("gathers small input chunks into full chunks of a few reused buffers, the last one shorter", async () => {
    const bytes = pattern(10_000, 3);
    const inputs: number[] = [];
    const source = coalescedChunkSource(piecesOf(bytes, 700), { chunkBytes: 4096, buffers: 2, onInput: (n) => inputs.push(n) });
    const read = await readAll(source);
    expect(read.sizes).toEqual([4096, 4096, 1808]);
    expect(read.digest).toBe(sha256(bytes));
    expect(read.buffers).toBe(2);
    expect(source.bytesRead()).toBe(10_000);
    expect(inputs.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(inputs.length).toBe(15);
  });

  it("takes input chunks larger than a buffer across several buffers, pausing the input while all are full", async () => {
    const bytes = pattern(50_000, 5);
    const input = piecesOf(bytes, 20_000);
    const source = coalescedChunkSource(input, { chunkBytes: 4096, buffers: 3 });
    const read = await readAll(source);
    expect(read.sizes).toEqual([...Array<number>(12).fill(4096), 848]);
    expect(read.digest).toBe(sha256(bytes));
    expect(read.buffers).toBe(3);
  });

  it("ends at once on an empty input", async () => {
    const source = coalescedChunkSource(Readable.from([], { objectMode: false }), { chunkBytes: 1024 });
    expect(await source.read()).toBeUndefined();
    expect(await source.read()).toBeUndefined();
    expect(source.bytesRead()).toBe(0);
  });

  it("rejects with the input's error, and with a clear one when the input closes before its end", async () => {
    const failing = new PassThrough();
    const source = coalescedChunkSource(failing, { chunkBytes: 1024 });
    failing.write(pattern(100, 1));
    failing.destroy(new Error("connection reset"));
    await expect(source.read()).rejects.toThrow("connection reset");

    const cut = new PassThrough();
    const cutSource = coalescedChunkSource(cut, { chunkBytes: 1024 });
    cut.write(pattern(100, 1));
    cut.destroy();
    await expect(cutSource.read()).rejects.toThrow("the input closed before its end");
  });

  it("close() leaves the input open and paused or flowing as it was, with its listeners gone", async () => {
    const input = new PassThrough();
    const source = coalescedChunkSource(input, { chunkBytes: 1024 });
    input.write(pattern(3000, 2));
    const first = await source.read();
    expect(first?.length).toBe(1024);
    source.close();
    expect(await source.read()).toBeUndefined();
    expect(input.destroyed).toBe(false);
    expect(input.listenerCount("data")).toBe(0);
    expect(input.listenerCount("end")).toBe(0);
  });
});
