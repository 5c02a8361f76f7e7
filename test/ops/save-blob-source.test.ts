// BlobReadBuffers: reads exactly the declared size through shared buffers, shows a longer file
// by one extra byte and a shorter one by ending early, and gives every buffer back.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BlobReadBuffers } from "../../src/ops/save-blob-source.js";
import type { ChunkSource } from "../../src/tar/chunk-source.js";

const dir = mkdtempSync(join(tmpdir(), "lading-blob-source-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileOf(name: string, length: number): string {
  const file = join(dir, name);
  writeFileSync(file, Buffer.from(Array.from({ length }, (_, i) => i % 251)));
  return file;
}

/** Every chunk's length and the bytes, copied (chunks are only valid until the next read). */
async function drain(source: ChunkSource): Promise<{ lengths: number[]; bytes: Buffer }> {
  const lengths: number[] = [];
  const copies: Buffer[] = [];
  for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
    lengths.push(chunk.length);
    copies.push(Buffer.from(chunk));
  }
  source.close();
  return { lengths, bytes: Buffer.concat(copies) };
}

describe("BlobReadBuffers", () => {
  const buffers = new BlobReadBuffers(4096, 3);
  const file = fileOf("blob", 10240);
  const expected = Buffer.from(Array.from({ length: 10240 }, (_, i) => i % 251));

  it("reads the declared size in chunks of the buffers' size, several blobs through the same buffers", async () => {
    for (let round = 0; round < 3; round++) {
      const { lengths, bytes } = await drain(buffers.source(await open(file, "r"), 10240));
      expect(lengths).toEqual([4096, 4096, 2048]);
      expect(bytes.equals(expected)).toBe(true);
      expect(buffers.free.length).toBe(3);
    }
    const empty = await drain(buffers.source(await open(fileOf("empty", 0), "r"), 0));
    expect(empty.lengths).toEqual([]);
  });

  it("shows a file longer than declared by one more byte, a shorter one by ending early", async () => {
    const longer = buffers.source(await open(file, "r"), 8192);
    const read = await drain(longer);
    expect(read.lengths).toEqual([4096, 4096, 1]);
    expect(longer.bytesRead()).toBe(8193);
    const shorter = buffers.source(await open(file, "r"), 12288);
    const cut = await drain(shorter);
    expect(cut.lengths).toEqual([4096, 4096, 2048]);
    expect(shorter.bytesRead()).toBe(10240);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(buffers.free.length).toBe(3);
  });

  it("gives the buffers back when closed half way", async () => {
    const source = buffers.source(await open(file, "r"), 10240);
    expect((await source.read())?.length).toBe(4096);
    source.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(buffers.free.length).toBe(3);
  });
});
