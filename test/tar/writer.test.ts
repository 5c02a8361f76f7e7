import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { fileChunkSource, streamChunkSource } from "../../src/tar/chunk-source.js";
import { FileTarWriter } from "../../src/tar/file-writer.js";
import { entryHeader } from "../../src/tar/header-writer.js";
import { readTar } from "../../src/tar/reader.js";
import { TarWriter, USTAR_MAX_SIZE } from "../../src/tar/writer.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const longName = `${"a".repeat(70)}/${"b".repeat(70)}/${"c".repeat(90)}.json`; // 141-byte prefix + 95-byte name
const veryLongName = `${"d".repeat(200)}/${"e".repeat(120)}`; // does not: PAX

/** The same sequence of calls every time. */
async function sampleArchive(mtime?: number): Promise<Buffer> {
  const writer = new TarWriter(mtime === undefined ? {} : { mtime });
  const bytes = collect(writer.stream);
  await Promise.all([
    writer.addFile("oci-layout", '{"imageLayoutVersion":"1.0.0"}'),
    writer.addDirectory("blobs"),
    writer.addDirectory("blobs/sha256/"),
    writer.addFileStream("blobs/sha256/0123", 70_000, Readable.from([Buffer.alloc(30_000, 1), Buffer.alloc(40_000, 2)])),
    writer.addFile(longName, Buffer.from("long")),
    writer.addFile(veryLongName, ""),
    writer.addFile("späße.txt", "ü"),
  ]);
  await writer.finish();
  return bytes;
}

function gnuList(tar: Buffer): string[] {
  return execFileSync("tar", ["--numeric-owner", "--full-time", "-tvf", "-"], { input: tar, encoding: "utf8", env: { ...process.env, TZ: "UTC" } })
    .trim()
    .split("\n")
    .map((line) => line.replace(/\s+/g, " "));
}

/** The header bytes TarWriter (tar-stream) writes for one entry, as long as `entryHeader`'s. */
async function tarStreamHeader(name: string, type: "file" | "directory", size: number, mtime: number, length: number): Promise<Buffer> {
  const writer = new TarWriter({ mtime });
  const body = new Readable({ read() {} });
  const added = type === "directory" ? writer.addDirectory(name) : writer.addFileStream(name, size, body);
  added.catch(() => undefined);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of writer.stream) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= length) break;
  }
  body.destroy();
  writer.destroy();
  return Buffer.concat(chunks).subarray(0, length);
}

describe("TarWriter", () => {
  it("writes the same bytes for the same calls", async () => {
    const first = await sampleArchive();
    const second = await sampleArchive();
    expect(first.equals(second)).toBe(true);
    expect(first.length % 512).toBe(0);
    expect(sha256(first)).toBe("f7a74d4be8eafa7b34ce22e2081cdd40b5cd7dd19a166b6e58da969ac62da4ea");
  });

  it("is listed by GNU tar with owner 0/0, fixed modes and the mtime", async () => {
    expect(gnuList(await sampleArchive(1_700_000_000))).toEqual([
      "-rw-r--r-- 0/0 30 2023-11-14 22:13:20 oci-layout",
      "drwxr-xr-x 0/0 0 2023-11-14 22:13:20 blobs/",
      "drwxr-xr-x 0/0 0 2023-11-14 22:13:20 blobs/sha256/",
      "-rw-r--r-- 0/0 70000 2023-11-14 22:13:20 blobs/sha256/0123",
      `-rw-r--r-- 0/0 4 2023-11-14 22:13:20 ${longName}`,
      `-rw-r--r-- 0/0 0 2023-11-14 22:13:20 ${veryLongName}`,
      "-rw-r--r-- 0/0 2 2023-11-14 22:13:20 späße.txt",
    ]);
    expect(gnuList(await sampleArchive())[0]).toBe("-rw-r--r-- 0/0 30 1970-01-01 00:00:00 oci-layout");
  });

  it("writes plain ustar headers with empty owner names", async () => {
    const tar = await sampleArchive();
    const field = (offset: number, length: number): string => tar.toString("latin1", offset, offset + length);
    expect(field(0, 11)).toBe("oci-layout\0");
    expect(field(100, 8)).toBe("000644 \0"); // mode
    expect(field(108, 16)).toBe("000000 \u0000000000 \u0000"); // uid, gid
    expect(field(124, 12)).toBe("00000000036 "); // size
    expect(field(136, 12)).toBe("00000000000 "); // mtime
    expect(field(156, 1)).toBe("0"); // regular file
    expect(field(257, 8)).toBe("ustar\u000000");
    expect(field(265, 64)).toBe("\0".repeat(64)); // uname, gname
  });

  it("splits a long name into the ustar prefix, and uses PAX only where that cannot hold it", async () => {
    const tar = await sampleArchive();
    const types: string[] = [];
    for (let offset = 0; offset + 512 <= tar.length; ) {
      const header = tar.subarray(offset, offset + 512);
      if (header.every((byte) => byte === 0)) break;
      const size = parseInt(header.toString("latin1", 124, 136), 8);
      types.push(String.fromCharCode(header[156]!));
      offset += 512 + Math.ceil(size / 512) * 512;
    }
    // oci-layout, blobs/, blobs/sha256/, 0123, long name (prefix split), PAX + very long name, PAX + non-ASCII name
    expect(types).toEqual(["0", "5", "5", "0", "0", "x", "0", "x", "0"]);
  });

  it("round-trips long and non-ASCII names through readTar", async () => {
    const listed: string[] = [];
    for await (const entry of readTar(Readable.from([await sampleArchive()]))) {
      listed.push(`${entry.type} ${entry.mode.toString(8)} ${entry.name} ${sha256(await collect(entry.body)).slice(0, 8)}`);
    }
    expect(listed).toEqual([
      `file 644 oci-layout ${sha256(Buffer.from('{"imageLayoutVersion":"1.0.0"}')).slice(0, 8)}`,
      `directory 755 blobs ${sha256(Buffer.alloc(0)).slice(0, 8)}`,
      `directory 755 blobs/sha256 ${sha256(Buffer.alloc(0)).slice(0, 8)}`,
      `file 644 blobs/sha256/0123 ${sha256(Buffer.concat([Buffer.alloc(30_000, 1), Buffer.alloc(40_000, 2)])).slice(0, 8)}`,
      `file 644 ${longName} ${sha256(Buffer.from("long")).slice(0, 8)}`,
      `file 644 ${veryLongName} ${sha256(Buffer.alloc(0)).slice(0, 8)}`,
      `file 644 späße.txt ${sha256(Buffer.from("ü")).slice(0, 8)}`,
    ]);
  });

  it("records sizes of 8 GiB and more in a PAX size record", async () => {
    expect(USTAR_MAX_SIZE).toBe(8589934591);
    const head = await tarStreamHeader("huge", "file", 8 * 1024 ** 3, 0, 1536);
    expect(String.fromCharCode(head[156]!)).toBe("x");
    const records = head.toString("utf8", 512, 512 + parseInt(head.toString("latin1", 124, 136), 8));
    expect(records).toBe("13 path=huge\n19 size=8589934592\n");
    // The entry's own header: GNU base-256 of the same size, as GNU tar and Go's reader accept.
    expect(head.subarray(1024 + 124, 1024 + 136)).toEqual(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]));
  });

  it("refuses unsafe names", async () => {
    const writer = new TarWriter();
    await expect(writer.addFile("../evil", "x")).rejects.toThrow('unsafe entry name "../evil": ".." component');
    await expect(new TarWriter().addDirectory("./")).rejects.toThrow('cannot write an entry named "./": it names the archive root');
  });

  it.each([
    [[Buffer.alloc(6)], 'entry "f": body is longer than the declared 5 bytes'],
    [[Buffer.alloc(2), Buffer.alloc(2)], 'entry "f": body has 4 bytes, 5 declared'],
  ])("fails the archive when a body does not match its size", async (chunks, message) => {
    const writer = new TarWriter();
    const output = collect(writer.stream);
    const added = writer.addFileStream("f", 5, Readable.from(chunks));
    await expect(added).rejects.toThrow(message);
    await expect(output).rejects.toThrow(message);
    await expect(writer.addFile("g", "x")).rejects.toThrow();
  });

  it("fails the archive when a body stream fails", async () => {
    const writer = new TarWriter();
    const output = collect(writer.stream);
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(3));
    setTimeout(() => body.destroy(new Error("disk on fire")), 5);
    const error = await writer.addFileStream("f", 5, body).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(LadingError);
    expect((error as LadingError).message).toBe('entry "f": reading the body failed: disk on fire');
    await expect(output).rejects.toThrow('entry "f": reading the body failed: disk on fire');
  });

  it("fails a body's entry, rather than waiting for ever, when its reader tears the archive down first", async () => {
    const writer = new TarWriter();
    const output = collect(writer.stream).then(
      () => "ended",
      (error: unknown) => `failed: ${(error as Error).message}`,
    );
    const body = new Readable({ read() {} });
    const adding = writer.addFileStream("f", 5, body).then(
      () => "added",
      (error: unknown) => `failed: ${(error as Error).message}`,
    );
    // The entry is open and waits for its body when the reader goes; the body comes after.
    await new Promise((resolve) => setTimeout(resolve, 5));
    writer.stream.destroy(new Error("reader gone"));
    setTimeout(() => body.push(Buffer.alloc(5)), 5);
    let timer: NodeJS.Timeout | undefined;
    const waiting = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still waiting after 1 s"), 1000)));
    expect(await Promise.race([adding, waiting]).finally(() => clearTimeout(timer))).toBe("failed: reader gone");
    expect(await output).toBe("failed: reader gone");
  });

  it("refuses entries after finish and a bad mtime", async () => {
    const writer = new TarWriter();
    const output = collect(writer.stream);
    await writer.finish();
    expect((await output).equals(Buffer.alloc(1024))).toBe(true);
    await expect(writer.addFile("a", "x")).rejects.toThrow('cannot add "a": tar writer already finished');
    expect(() => new TarWriter({ mtime: -1 })).toThrow("tar mtime must be a whole number of seconds from 0 to 2147483647, got -1");
  });
});

describe("FileTarWriter", () => {
  const scratch = mkdtemp(path.join(tmpdir(), "lading-file-writer-"));
  afterAll(async () => rm(await scratch, { recursive: true, force: true }));
  let files = 0;

  /** Runs `write` against a fresh file and returns the file's bytes. */
  async function written(write: (writer: FileTarWriter, dir: string) => Promise<void>, mtime?: number, syncEvery?: number): Promise<Buffer> {
    const dir = await scratch;
    const file = path.join(dir, `out-${files++}.tar`);
    const handle = await open(file, "wx");
    try {
      await write(new FileTarWriter(handle.fd, { ...(mtime === undefined ? {} : { mtime }), ...(syncEvery === undefined ? {} : { syncEvery }) }), dir);
    } finally {
      await handle.close();
    }
    return readFile(file);
  }

  it("writes the same bytes as TarWriter for the same entries", async () => {
    // With syncEvery, background fdatasyncs run between the writes; they change nothing written.
    for (const [mtime, syncEvery] of [[undefined, undefined], [1_700_000_000, 20_000]]) {
      let length = 0;
      const tar = await written(async (writer, dir) => {
        const body = path.join(dir, `body-${files}`);
        await writeFile(body, Buffer.concat([Buffer.alloc(30_000, 1), Buffer.alloc(40_000, 2)]));
        writer.addFile("oci-layout", '{"imageLayoutVersion":"1.0.0"}');
        writer.addDirectory("blobs");
        writer.addDirectory("blobs/sha256/");
        // Small reads: the body arrives in several chunks, the last one short.
        await writer.addFileFrom("blobs/sha256/0123", 70_000, fileChunkSource(await open(body, "r"), 16_384, 2));
        writer.addFile(longName, Buffer.from("long"));
        writer.addFile(veryLongName, "");
        writer.addFile("späße.txt", "ü");
        length = await writer.finish();
      }, mtime, syncEvery);
      expect(length).toBe(tar.length);
      expect(tar.equals(await sampleArchive(mtime))).toBe(true);
    }
    expect(sha256(await written(async (writer) => void (await writer.finish())))).toBe(sha256(Buffer.alloc(1024)));
  });

  it("hands every chunk to inspect while writing it", async () => {
    const seen = createHash("sha256");
    let pieces = 0;
    const tar = await written(async (writer) => {
      const source = streamChunkSource(Readable.from([Buffer.from("hello "), Buffer.from("world")]));
      await writer.addFileFrom("greeting", 11, source, (chunk) => {
        seen.update(chunk);
        pieces += 1;
      });
      await writer.finish();
    });
    expect(pieces).toBe(2);
    expect(seen.digest("hex")).toBe(sha256(Buffer.from("hello world")));
    expect(tar.length).toBe(512 + 512 + 1024);
    expect(tar.toString("utf8", 512, 523)).toBe("hello world");
  });

  const matchesTarStream = async (name: string, type: "file" | "directory", size: number, mtime: number): Promise<boolean> => {
    const header = entryHeader(name, type, size, mtime);
    return header.equals(await tarStreamHeader(name, type, size, mtime, header.length));
  };

  it("encodes every header as tar-stream does, names split, PAX or base-256 alike", async () => {
    // The edges of the ustar name (100 bytes) and prefix (155 bytes) fields, for files and directories.
    const edges = [99, 100, 101].flatMap((last) => [154, 155, 156].map((first) => `${"p".repeat(first)}/${"n".repeat(Math.min(last, 255))}`));
    edges.push("n".repeat(100), "n".repeat(101), `${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(60)}`, "x/".repeat(60) + "y");
    for (const name of edges) {
      for (const type of ["file", "directory"] as const) expect([name, type, await matchesTarStream(name, type, 0, 7)]).toEqual([name, type, true]);
    }
    const component = fc.stringMatching(/^[a-zA-Z0-9._ü-]{1,60}$/).filter((text) => text !== "." && text !== "..");
    await fc.assert(
      fc.asyncProperty(
        fc.array(component, { minLength: 1, maxLength: 8 }),
        fc.constantFrom<"file" | "directory">("file", "directory"),
        fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom(USTAR_MAX_SIZE, USTAR_MAX_SIZE + 1, 2 ** 40 + 3)),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (components, type, size, mtime) => {
          expect(await matchesTarStream(components.join("/"), type, type === "directory" ? 0 : size, mtime)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it.each([
    [Buffer.alloc(6), 'entry "f": body is longer than the declared 5 bytes'],
    [Buffer.alloc(4), 'entry "f": body has 4 bytes, 5 declared'],
  ])("rejects a body that does not match its size", async (content, message) => {
    await written(async (writer) => {
      await expect(writer.addFileFrom("f", 5, streamChunkSource(Readable.from([content])))).rejects.toThrow(message);
    });
  });

  it("refuses unsafe names, entries after finish and a bad mtime", async () => {
    await written(async (writer) => {
      expect(() => writer.addFile("../evil", "x")).toThrow('unsafe entry name "../evil": ".." component');
      expect(() => writer.addDirectory("./")).toThrow('cannot write an entry named "./": it names the archive root');
      await writer.finish();
      expect(() => writer.addFile("a", "x")).toThrow('cannot add "a": tar writer already finished');
    });
    expect(() => new FileTarWriter(0, { mtime: 2 ** 31 })).toThrow("tar mtime must be a whole number of seconds from 0 to 2147483647, got 2147483648");
  });

  it("writes sizes of 8 GiB and more as a PAX size record and base-256", () => {
    const header = entryHeader("huge", "file", 8 * 1024 ** 3, 0);
    expect(header.length).toBe(1536);
    expect(header.toString("utf8", 512, 512 + 32)).toBe("13 path=huge\n19 size=8589934592\n");
    expect(header.subarray(1024 + 124, 1024 + 136)).toEqual(Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]));
  });
});
