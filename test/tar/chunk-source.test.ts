import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import tarStream from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { blockingFileChunkSource, chunksOf, fileChunkSource, prefixedSource, readFileRangeSync, streamChunkSource } from "../../src/tar/chunk-source.js";
import { pageAlignedBuffers } from "../../src/tar/page-aligned.js";
import { readTarChunks } from "../../src/tar/reader.js";

const dir = mkdtempSync(join(tmpdir(), "lading-chunks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");
const pattern = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * 31 + seed * 7) & 0xff));

async function packTar(files: { name: string; content: Buffer }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const file of files) pack.entry({ name: file.name, size: file.content.length }, file.content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function drain(source: { read(): Promise<Buffer | undefined> }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe("fileChunkSource", () => {
  it("reads only a range when given one, and a range past the end stops at the end", async () => {
    const bytes = pattern(10_000, 3);
    const path = join(dir, "ranged");
    writeFileSync(path, bytes);
    expect(await drain(fileChunkSource(await open(path, "r"), 1024, 2, { start: 1000, length: 3333 }))).toEqual(bytes.subarray(1000, 4333));
    const tail = fileChunkSource(await open(path, "r"), 1024, 2, { start: 9000, length: 5000 });
    expect(await drain(tail)).toEqual(bytes.subarray(9000));
    expect(tail.bytesRead()).toBe(1000);
  });

  it("skips by seeking, counts the skipped bytes, and skips no further than the end", async () => {
    const bytes = pattern(10_000, 4);
    const path = join(dir, "skipped");
    writeFileSync(path, bytes);
    const source = fileChunkSource(await open(path, "r"), 1024, 3);
    expect((await source.read())?.length).toBe(1024);
    expect(await source.skip?.(5000)).toBe(5000);
    expect(source.bytesRead()).toBe(6024);
    expect(await source.read()).toEqual(bytes.subarray(6024, 7048));
    expect(await source.skip?.(10_000)).toBe(10_000 - 7048);
    expect(await source.read()).toBeUndefined();
  });

  it("reads a file whole through reused buffers, counting bytes", async () => {
    const bytes = pattern(10_000, 1);
    const path = join(dir, "plain");
    writeFileSync(path, bytes);
    const source = fileChunkSource(await open(path, "r"), 4096, 2);
    const sizes: number[] = [];
    // The buffers may share one allocation (page-aligned ones do): told apart by where they start in it.
    const seen = new Map<ArrayBufferLike, Set<number>>();
    const hash = createHash("sha256");
    for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
      sizes.push(chunk.length);
      seen.set(chunk.buffer, (seen.get(chunk.buffer) ?? new Set()).add(chunk.byteOffset));
      hash.update(chunk);
    }
    expect(sizes).toEqual([4096, 4096, 1808]);
    expect([...seen.values()].reduce((count, starts) => count + starts.size, 0)).toBe(2);
    expect(hash.digest("hex")).toBe(sha256(bytes));
    expect(source.bytesRead()).toBe(10_000);
    expect(await source.read()).toBeUndefined();
  });

  it("keeps several reads ahead and still hands out every byte once, in order", async () => {
    const bytes = pattern(100_000, 2);
    const path = join(dir, "ahead");
    writeFileSync(path, bytes);
    for (const buffers of [2, 3, 4, 8]) {
      const source = fileChunkSource(await open(path, "r"), 3000, buffers);
      const hash = createHash("sha256");
      let total = 0;
      for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
        hash.update(chunk);
        total += chunk.length;
      }
      expect([buffers, total, hash.digest("hex")]).toEqual([buffers, 100_000, sha256(bytes)]);
    }
  });
});

describe("blockingFileChunkSource", () => {
  it("reads a range into the one buffer given, in order, and stops at the end of the range or the file", async () => {
    const bytes = pattern(10_000, 5);
    const path = join(dir, "blocking");
    writeFileSync(path, bytes);
    const buffer = Buffer.alloc(4096);
    const source = blockingFileChunkSource(path, { start: 100, length: 9000 }, buffer);
    const sizes: number[] = [];
    const parts: Buffer[] = [];
    for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) {
      expect(chunk.buffer).toBe(buffer.buffer);
      sizes.push(chunk.length);
      parts.push(Buffer.from(chunk));
    }
    expect(sizes).toEqual([4096, 4096, 808]);
    expect(Buffer.concat(parts)).toEqual(bytes.subarray(100, 9100));
    expect(source.bytesRead()).toBe(9000);
    expect(await source.read()).toBeUndefined();

    const pastEnd = blockingFileChunkSource(path, { start: 9000, length: 5000 }, buffer);
    expect(await drain(pastEnd)).toEqual(bytes.subarray(9000));
    expect(pastEnd.bytesRead()).toBe(1000);
  });

  it("fails its first read when the file cannot be opened, and reads nothing once closed", async () => {
    const missing = join(dir, "no-such-file");
    await expect(blockingFileChunkSource(missing, { start: 0, length: 10 }, Buffer.alloc(16)).read()).rejects.toThrow(`ENOENT: no such file or directory, open '${missing}'`);
    const path = join(dir, "closed-early");
    writeFileSync(path, pattern(100, 6));
    const source = blockingFileChunkSource(path, { start: 0, length: 100 }, Buffer.alloc(16));
    expect(await source.read()).toEqual(pattern(100, 6).subarray(0, 16));
    source.close();
    expect(await source.read()).toBeUndefined();
  });

  it("lets the event loop turn every 32 MiB read, and only then", async () => {
    const path = join(dir, "sparse-70m");
    writeFileSync(path, "");
    truncateSync(path, 70 * 1024 * 1024);
    let turns = 0;
    let drained = false;
    const turn = (): void => {
      turns++;
      if (!drained) setImmediate(turn);
    };
    setImmediate(turn);
    const source = blockingFileChunkSource(path, { start: 0, length: 70 * 1024 * 1024 }, Buffer.alloc(1024 * 1024));
    let total = 0;
    for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read()) total += chunk.length;
    drained = true;
    expect([total, turns]).toEqual([70 * 1024 * 1024, 2]);
  });

  it("readFileRangeSync fills the buffer from a position, or gives fewer bytes at the end of the file", () => {
    const bytes = pattern(3000, 8);
    const path = join(dir, "range-sync");
    writeFileSync(path, bytes);
    const into = Buffer.alloc(1000);
    expect(readFileRangeSync(path, 500, into)).toBe(1000);
    expect(into).toEqual(bytes.subarray(500, 1500));
    expect(readFileRangeSync(path, 2500, into)).toBe(500);
    expect(into.subarray(0, 500)).toEqual(bytes.subarray(2500));
    expect(() => readFileRangeSync(join(dir, "absent"), 0, into)).toThrow("ENOENT");
  });

  it("as chunksOf, closes the file when a consumer stops early", async () => {
    const path = join(dir, "stopped");
    writeFileSync(path, pattern(1000, 7));
    const source = blockingFileChunkSource(path, { start: 0, length: 1000 }, Buffer.alloc(100));
    const seen: number[] = [];
    for await (const chunk of chunksOf(source)) {
      seen.push(chunk[0] as number);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([pattern(1000, 7)[0], pattern(1000, 7)[100]]);
    expect(await source.read()).toBeUndefined();
  });
});

describe("pageAlignedBuffers", () => {
  it("gives separate buffers of the size asked, each a whole number of pages, and refuses any other size", () => {
    const buffers = pageAlignedBuffers(3, 8192);
    expect(buffers.map((buffer) => [buffer.length, buffer.byteOffset])).toEqual([
      [8192, 0],
      [8192, 8192],
      [8192, 16384],
    ]);
    buffers[1]?.fill(1);
    expect([buffers[0]?.every((byte) => byte === 0), buffers[1]?.every((byte) => byte === 1), buffers[2]?.every((byte) => byte === 0)]).toEqual([true, true, true]);
    expect(() => pageAlignedBuffers(1, 1000)).toThrow("page-aligned buffers must be a whole number of pages, not 1000 bytes");
  });
});

describe("prefixedSource and streamChunkSource", () => {
  it("hands out the head first, then the rest of the stream, skipping empty chunks", async () => {
    const raw = streamChunkSource(Readable.from([Buffer.from("cd"), Buffer.alloc(0), Buffer.from("ef")]));
    const whole = prefixedSource([Buffer.from("ab"), Buffer.alloc(0)], raw);
    const got: string[] = [];
    for (let chunk = await whole.read(); chunk !== undefined; chunk = await whole.read()) got.push(chunk.toString());
    expect(got).toEqual(["ab", "cd", "ef"]);
    expect(raw.bytesRead()).toBe(4);
  });
});

describe("readTarChunks over a file in small reused chunks", () => {
  it("gives every entry its exact bytes, whatever the chunk boundaries", async () => {
    const files = [
      { name: "a", content: pattern(700, 1) },
      { name: "dir/b", content: Buffer.alloc(0) },
      { name: `${"long/".repeat(30)}c`, content: pattern(5000, 3) },
      { name: "d", content: pattern(1536, 4) },
    ];
    const path = join(dir, "archive.tar");
    writeFileSync(path, await packTar(files));
    for (const chunkBytes of [97, 512, 1000, 4096]) {
      const listed: string[] = [];
      for await (const entry of readTarChunks(fileChunkSource(await open(path, "r"), chunkBytes))) {
        const hash = createHash("sha256");
        let size = 0;
        for await (const chunk of entry.body) {
          hash.update(chunk);
          size += chunk.length;
        }
        listed.push(`${entry.name} ${size} ${hash.digest("hex")}`);
      }
      expect(listed).toEqual(files.map((file) => `${file.name} ${file.content.length} ${sha256(file.content)}`));
    }
  });

  it("skips a body left unread and fails a cut one with the truncation message", async () => {
    const tar = await packTar([
      { name: "a", content: pattern(3000, 1) },
      { name: "b", content: pattern(2000, 2) },
    ]);
    const path = join(dir, "cut.tar");
    writeFileSync(path, tar.subarray(0, 3584 + 512 + 1000));
    const names: string[] = [];
    const run = async (): Promise<void> => {
      for await (const entry of readTarChunks(fileChunkSource(await open(path, "r"), 1024))) {
        names.push(entry.name);
        if (entry.name === "b") for await (const chunk of entry.body) void chunk;
      }
    };
    await expect(run()).rejects.toThrow('unexpected end of archive in entry "b" (got 1000 of 2000 bytes)');
    expect(names).toEqual(["a", "b"]);
  });
});
