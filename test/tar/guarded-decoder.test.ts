import { createHash, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { createDecompressor } from "../../src/tar/compression.js";

/** Writes `data` in pieces through one reused buffer, overwriting it as soon as each write completes. */
async function decodeThroughReusedBuffer(compression: "gzip" | "zstd", data: Buffer, piece: number): Promise<Buffer> {
  const decoder = createDecompressor(compression);
  const output: Buffer[] = [];
  decoder.on("data", (chunk: Buffer) => output.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    decoder.once("end", resolve);
    decoder.once("error", reject);
  });
  const buffer = Buffer.alloc(piece);
  for (let offset = 0; offset < data.length; offset += piece) {
    const length = data.copy(buffer, 0, offset, offset + piece);
    await new Promise<void>((resolve) => decoder.write(buffer.subarray(0, length), () => resolve()));
    buffer.fill(0xff); // the decoder said it is done with these bytes
  }
  decoder.end();
  await ended;
  return Buffer.concat(output);
}

describe("GuardedDecoder write completion", () => {
  const plain = Buffer.concat([randomBytes(300_000), Buffer.alloc(700_000, 7)]);
  const sha = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

  it("gzip: a write completes only once zlib no longer needs the chunk", async () => {
    const decoded = await decodeThroughReusedBuffer("gzip", gzipSync(plain), 8 * 1024);
    expect(decoded.length).toBe(1_000_000);
    expect(sha(decoded)).toBe(sha(plain));
  });

  it("zstd: the same holds for the zstd decoder", async () => {
    const { compress } = await import("zstd-napi");
    const decoded = await decodeThroughReusedBuffer("zstd", Buffer.from(compress(plain)), 50_000);
    expect(decoded.length).toBe(1_000_000);
    expect(sha(decoded)).toBe(sha(plain));
  });
});
