import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, createReadStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import { afterAll, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import {
  COMPRESSION_SNIFF_BYTES,
  STREAM_HIGH_WATER_MARK,
  createCompressor,
  createDecompressor,
  detectCompression,
  openDecompressed,
  type Compression,
} from "../../src/tar/compression.js";
import { withDictionary, xzOf } from "../support/xz-streams.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Deterministic bytes that compress somewhat: a mix of noise and runs. */
function sampleBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = i % 4096 < 1024 ? 0 : (state >>> 16) & (i % 3 === 0 ? 0xff : 0x1f);
  }
  return bytes;
}

async function decodeAll(compressed: Buffer, options?: { maxOutputBytes?: number }): Promise<{ compression: Compression; bytes: Buffer }> {
  const { compression, stream } = await openDecompressed(Readable.from([compressed]), options);
  return { compression, bytes: await collect(stream) };
}

async function decodeFailure(compressed: Buffer, options?: { maxOutputBytes?: number }): Promise<LadingError> {
  try {
    await decodeAll(compressed, options);
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    return error as LadingError;
  }
  throw new Error("expected decoding to fail");
}

const workDir = mkdtempSync(join(tmpdir(), "lading-compression-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const sample = sampleBytes(3_000_000);
const cliFormats = [
  ["gzip", "gzip", ["-c"]],
  ["zstd", "zstd", ["-c", "-q"]],
  ["xz", "xz", ["-c"]],
  ["bzip2", "bzip2", ["-c"]],
] as const;
const compressedByCli = new Map<string, Buffer>(
  cliFormats.map(([format, tool, args]) => [format, execFileSync(tool, [...args], { input: sample, maxBuffer: 1 << 30 })]),
);
const cli = (format: string): Buffer => compressedByCli.get(format)!;

describe("detectCompression", () => {
  it.each([
    [[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00], "gzip"],
    [[0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x00], "zstd"],
    [[0x50, 0x2a, 0x4d, 0x18, 0x04, 0x00], "zstd"],
    [[0x5f, 0x2a, 0x4d, 0x18], "zstd"],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], "xz"],
    [[0x42, 0x5a, 0x68, 0x39, 0x31, 0x41], "bzip2"],
    [[0x1f, 0x8b, 0x07], "none"],
    [[0x1f, 0x8b], "none"],
    [[0x60, 0x2a, 0x4d, 0x18], "none"],
    [[0xfd, 0x37, 0x7a, 0x58, 0x5a], "none"],
    [[], "none"],
    [[...Buffer.from("manifest.json")], "none"],
  ])("%j is %s", (head, expected) => {
    expect(detectCompression(Uint8Array.from(head))).toBe(expected);
  });

  it("needs six bytes", () => {
    expect(COMPRESSION_SNIFF_BYTES).toBe(6);
  });
});

describe("round trips", () => {
  it.each(["gzip", "zstd"] as const)("%s: createCompressor then createDecompressor gives the same bytes", async (format) => {
    const compressed = await collect(Readable.from([sample]).pipe(createCompressor(format, 1)));
    expect(detectCompression(compressed)).toBe(format);
    const decoded = await collect(Readable.from([compressed]).pipe(createDecompressor(format)));
    expect(sha256(decoded)).toBe(sha256(sample));
  });

  it("refuses compression levels out of range", () => {
    expect(() => createCompressor("gzip", 10)).toThrow("gzip compression level must be 0-9, got 10");
    expect(() => createCompressor("zstd", 0)).toThrow("zstd compression level must be 1-19, got 0");
  });
});

describe("openDecompressed", () => {
  it.each(cliFormats.map(([format]) => format))("decodes a file compressed by the %s CLI to the exact bytes", async (format) => {
    const path = join(workDir, `sample.${format}`);
    writeFileSync(path, cli(format));
    const { compression, stream } = await openDecompressed(createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK }));
    expect(compression).toBe(format);
    expect(sha256(await collect(stream))).toBe(sha256(sample));
  });

  it.each(cliFormats.map(([format]) => format))("%s: input arriving one byte at a time", async (format) => {
    const compressed = cli(format).subarray(0, 4000);
    const whole = await openDecompressed(Readable.from([compressed]));
    const bytewise = await openDecompressed(Readable.from([...compressed].map((byte) => Buffer.of(byte))));
    expect(bytewise.compression).toBe(format);
    // Both fail the same way on the truncated stream, after the same output.
    const outcome = async (stream: Readable): Promise<string> => {
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return `ok ${sha256(Buffer.concat(chunks))}`;
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(await outcome(bytewise.stream)).toBe(await outcome(whole.stream));
  });

  it("passes uncompressed streams through without losing or repeating a byte", async () => {
    const chunks = [Buffer.from("ab"), Buffer.from("c"), Buffer.from("defgh"), sample.subarray(0, 100_000)];
    const { compression, stream } = await openDecompressed(Readable.from(chunks));
    expect(compression).toBe("none");
    expect(sha256(await collect(stream))).toBe(sha256(Buffer.concat(chunks)));
  });

  it("handles an empty stream and streams shorter than the sniff size", async () => {
    expect(await decodeAll(Buffer.alloc(0))).toEqual({ compression: "none", bytes: Buffer.alloc(0) });
    const empty = await openDecompressed(Readable.from([]));
    expect(empty.compression).toBe("none");
    expect(await collect(empty.stream)).toEqual(Buffer.alloc(0));
    expect(await decodeAll(Buffer.from("abc"))).toEqual({ compression: "none", bytes: Buffer.from("abc") });
  });

  it("accepts old-style streams", async () => {
    const { compression, stream } = await openDecompressed(Readable.from([cli("gzip")]).pipe(new (await import("node:stream")).PassThrough()));
    expect(compression).toBe("gzip");
    expect(sha256(await collect(stream))).toBe(sha256(sample));
  });

  it("decodes concatenated gzip members, zstd frames after a skippable frame, and xz streams", async () => {
    const parts = [sample.subarray(0, 1000), sample.subarray(1000, 50_000)];
    const concatenated = (tool: string, args: string[]): Buffer =>
      Buffer.concat(parts.map((part) => execFileSync(tool, args, { input: part })));
    expect(sha256((await decodeAll(concatenated("gzip", ["-c"]))).bytes)).toBe(sha256(sample.subarray(0, 50_000)));
    expect(sha256((await decodeAll(concatenated("xz", ["-c"]))).bytes)).toBe(sha256(sample.subarray(0, 50_000)));
    const skippable = Buffer.concat([Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]), concatenated("zstd", ["-c", "-q"])]);
    const zstd = await decodeAll(skippable);
    expect(zstd.compression).toBe("zstd");
    expect(sha256(zstd.bytes)).toBe(sha256(sample.subarray(0, 50_000)));
  });

  it("destroying the decoded stream destroys the input", async () => {
    const input = Readable.from([cli("gzip")]);
    const { stream } = await openDecompressed(input);
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(input.destroyed).toBe(true);
  });
});

describe("broken compressed input", () => {
  const expectedTruncation: Record<string, string> = {
    gzip: "corrupt gzip stream: unexpected end of file",
    zstd: "corrupt zstd stream: unexpected end of file",
    xz: "corrupt xz stream: unexpected end of file",
    bzip2: "corrupt bzip2 stream: unexpected end of file",
  };

  it.each(cliFormats.map(([format]) => format))("%s: truncated at many offsets fails with one message", async (format) => {
    const compressed = cli(format);
    const cuts = [6, 7, 10, 20, 100, 1000, Math.floor(compressed.length / 2), compressed.length - 4, compressed.length - 1];
    for (const cut of cuts) {
      const error = await decodeFailure(compressed.subarray(0, cut));
      expect({ cut, kind: error.kind, message: error.message }).toEqual({ cut, kind: "invalid", message: expectedTruncation[format] });
    }
  });

  it.each([
    ["gzip", "corrupt gzip stream: invalid distances set"],
    ["zstd", "corrupt zstd stream: restored data doesn't match checksum"],
    ["xz", "corrupt xz stream: data is corrupt"],
    ["bzip2", "corrupt bzip2 stream: data is corrupt"],
  ])("%s: corrupt data fails with %j", async (format, message) => {
    const corrupt = Buffer.from(cli(format));
    for (let i = 100; i < 200; i++) corrupt[i]! ^= 0x55;
    const error = await decodeFailure(corrupt);
    expect({ kind: error.kind, message: error.message }).toEqual({ kind: "invalid", message });
  });

  it("a bad gzip header fails as invalid", async () => {
    const error = await decodeFailure(Buffer.from([0x1f, 0x8b, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(error.message).toMatch(/^corrupt gzip stream: /);
  });
});

describe("data after the last gzip member", () => {
  /** What the decoder makes of `chunks`, written one at a time: the sha256 of its output, or its error. */
  async function outcomeOf(chunks: Buffer[], allowGzipZeroPadding?: boolean): Promise<string> {
    const decoder = createDecompressor("gzip", { allowGzipZeroPadding });
    try {
      return `ok ${sha256(await collect(Readable.from(chunks).pipe(decoder)))}`;
    } catch (error) {
      return `${(error as LadingError).kind}: ${(error as Error).message}`;
    }
  }
  const member = cli("gzip");
  const zeros = Buffer.alloc(512);
  const splits = (trailing: Buffer): Buffer[][] => [
    [Buffer.concat([member, trailing])],
    [member, trailing],
    [member.subarray(0, member.length - 4), Buffer.concat([member.subarray(member.length - 4), trailing])],
    [member, trailing.subarray(0, 1), trailing.subarray(1)],
  ];

  it("is refused, zeros included, wherever the chunks split it, in zlib's words for a header that is none", async () => {
    for (const trailing of [zeros, Buffer.alloc(1), Buffer.from("\0GARBAGE!"), Buffer.from("GARBAGE!")]) {
      for (const chunks of splits(trailing)) {
        expect(await outcomeOf(chunks)).toBe("invalid: corrupt gzip stream: incorrect header check");
      }
    }
    expect(await outcomeOf([member, Buffer.of(0x1f, 0x8b)])).toBe("invalid: corrupt gzip stream: unexpected end of file");
  });

  it("a second member, however the chunks split the two, is no trailing data", async () => {
    const two = Buffer.concat([member, member]);
    for (const at of [1, member.length - 1, member.length, member.length + 1, member.length + 10]) {
      expect(await outcomeOf([two.subarray(0, at), two.subarray(at)])).toBe(`ok ${sha256(Buffer.concat([sample, sample]))}`);
    }
  });

  it("allowGzipZeroPadding (a whole archive) ignores what follows a zero byte after the last member, as before", async () => {
    for (const chunks of [...splits(zeros), [Buffer.concat([member, Buffer.from("\0GARBAGE!")])]]) {
      expect(await outcomeOf(chunks, true)).toBe(`ok ${sha256(sample)}`);
    }
  });
});

describe("decompression bomb guard", () => {
  const zeros = Buffer.alloc(4 * 1024 * 1024);
  it.each(cliFormats.map(([format]) => format))("%s: stops at maxOutputBytes", async (format) => {
    const [, tool, args] = cliFormats.find(([name]) => name === format)!;
    const bomb = execFileSync(tool, [...args], { input: zeros, maxBuffer: 1 << 30 });
    const error = await decodeFailure(bomb, { maxOutputBytes: 1024 * 1024 });
    expect({ kind: error.kind, message: error.message }).toEqual({
      kind: "invalid",
      message: "decompressed size exceeds the limit of 1048576 bytes",
    });
    expect((await decodeAll(bomb, { maxOutputBytes: zeros.length })).bytes.length).toBe(zeros.length);
  });

  it.each(["gzip", "zstd"] as const)("%s: a slow reader keeps the decoder's buffer bounded", async (format) => {
    const [, tool, args] = cliFormats.find(([name]) => name === format)!;
    const compressed = execFileSync(tool, [...args], { input: Buffer.alloc(64 * 1024 * 1024), maxBuffer: 1 << 30 });
    const decoder = createDecompressor(format);
    decoder.end(compressed);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(decoder.readableLength).toBeLessThanOrEqual(2 * 1024 * 1024);
    let total = 0;
    await pipeline(
      decoder,
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          total += chunk.length;
          callback();
        },
      }),
    );
    expect(total).toBe(64 * 1024 * 1024);
  });
});

describe("xz memory", () => {
  const MiB = 1024 * 1024;
  const part = sample.subarray(0, 50_000);
  /** Made with a 4 KiB dictionary, so that it decodes with any dictionary its header asks for. */
  const small = xzOf(part, ["--lzma2=preset=0,dict=4KiB"]);

  it("refuses a stream whose block header asks for a dictionary over 64 MiB (xz -9's), naming a whole archive as such", async () => {
    for (const [bytes, shown] of [
      [96 * MiB, "96 MiB"],
      [384 * MiB, "384 MiB"],
      [1536 * MiB, "1536 MiB"],
    ] as const) {
      const error = await decodeFailure(withDictionary(small, bytes));
      expect({ kind: error.kind, message: error.message }).toEqual({ kind: "invalid", message: `xz stream needs a ${shown} dictionary, more than the limit of 64 MiB` });
    }
    const archive = createDecompressor("xz", { xzSubject: "archive" });
    await expect(collect(Readable.from([withDictionary(small, 384 * MiB)]).pipe(archive))).rejects.toMatchObject({
      kind: "invalid",
      message: "xz archive needs a 384 MiB dictionary, more than the limit of 64 MiB",
    });
    // A later stream is held to the limit too.
    const second = await decodeFailure(Buffer.concat([small, Buffer.alloc(4), withDictionary(small, 128 * MiB)]));
    expect(second.message).toBe("xz stream needs a 128 MiB dictionary, more than the limit of 64 MiB");
  });

  it("decodes what xz makes: a 64 MiB dictionary (-9, -9e), blocks of -T2, filters, checks, streams one after another with padding", async () => {
    const streams: [string, Buffer][] = [
      ["64 MiB asked for", withDictionary(small, 64 * MiB)],
      ["-9", xzOf(part, ["-9"])],
      ["-9e", xzOf(part, ["-9e"])],
      ["-6 -T2, 8 KiB blocks", xzOf(part, ["-6", "-T2", "--block-size=8KiB"])],
      ["x86 and LZMA2 -9", xzOf(part, ["--x86", "--lzma2=preset=9"])],
      ["delta and LZMA2", xzOf(part, ["--delta=dist=4", "--lzma2=preset=6"])],
      ["no check", xzOf(part, ["-C", "none"])],
      ["sha256 check", xzOf(part, ["-C", "sha256"])],
      ["two streams and padding", Buffer.concat([xzOf(part.subarray(0, 20_000)), Buffer.alloc(8), xzOf(part.subarray(20_000))])],
      ["an empty stream first", Buffer.concat([xzOf(Buffer.alloc(0)), xzOf(part)])],
    ];
    for (const [name, stream] of streams) {
      for (const chunkBytes of [stream.length, 1000, 7]) {
        const chunks: Buffer[] = [];
        for (let offset = 0; offset < stream.length; offset += chunkBytes) chunks.push(stream.subarray(offset, offset + chunkBytes));
        const decoded = await collect(Readable.from(chunks).pipe(createDecompressor("xz")));
        expect({ name, chunkBytes, sha256: sha256(decoded) }).toEqual({ name, chunkBytes, sha256: sha256(part) });
      }
    }
  });

  it("decodes streams one after another wherever two input chunks split a footer: lzma-native finds a stream's end by the footer's last two bytes within one write", async () => {
    const hello = xzOf(Buffer.from("hello\n"));
    const world = xzOf(Buffer.from("world\n"));
    const empty = xzOf(Buffer.alloc(0));
    const inputs: [string, Buffer, string][] = [
      ["two streams", Buffer.concat([hello, world]), "hello\nworld\n"],
      ["two streams and padding", Buffer.concat([hello, Buffer.alloc(8), world, Buffer.alloc(4)]), "hello\nworld\n"],
      ["three empty streams", Buffer.concat([empty, empty, empty]), ""],
    ];
    for (const [name, input, text] of inputs) {
      for (let cut = 1; cut < input.length; cut++) {
        const decoded = await collect(Readable.from([input.subarray(0, cut), input.subarray(cut)]).pipe(createDecompressor("xz")));
        expect({ name, cut, text: decoded.toString() }).toEqual({ name, cut, text });
      }
      for (const chunkBytes of [3, 7, 9, 21, 31]) {
        const chunks: Buffer[] = [];
        for (let offset = 0; offset < input.length; offset += chunkBytes) chunks.push(input.subarray(offset, offset + chunkBytes));
        const decoded = await collect(Readable.from(chunks).pipe(createDecompressor("xz")));
        expect({ name, chunkBytes, text: decoded.toString() }).toEqual({ name, chunkBytes, text });
      }
    }
  });

  it("feeds liblzma a few chunks' worth at a time: a crafted stream's output comes out a few MiB per turn of the event loop, not all that one write holds", async () => {
    // lzma-native decodes a whole write before handing any output on (all of it in one turn):
    // ~5 KiB of zeros' chunks, one write of 16 KiB before, came out as 32 MiB at once.
    const decoder = createDecompressor("xz");
    let turn = 0;
    let largestTurn = 0;
    let total = 0;
    decoder.on("data", (chunk: Buffer) => {
      if (turn === 0) {
        // Runs after the output lzma-native has queued for this turn.
        setImmediate(() => {
          largestTurn = Math.max(largestTurn, turn);
          turn = 0;
        });
      }
      turn += chunk.length;
      total += chunk.length;
    });
    decoder.end(xzOf(Buffer.alloc(32 * MiB)));
    await finished(decoder);
    expect(total).toBe(32 * MiB);
    expect(Math.max(largestTurn, turn)).toBeLessThanOrEqual(4 * MiB);
  });
});
