import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, linkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import tarStream from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { STREAM_HIGH_WATER_MARK } from "../../src/tar/compression.js";
import { readTar, type ReadTarOptions } from "../../src/tar/reader.js";
import { buildTar, gnuLongRecord, patchedHeader, paxRecords, tarEntry } from "../support/archive-builder.js";
import { SPARSE_FORMATS, sparseTar, writeWithHoles } from "../support/sparse-tar.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

interface Listed {
  name: string;
  type: string;
  size: number;
  mode: number;
  offset: number;
  linkTarget?: string;
  sha256: string;
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listTar(input: Readable | Buffer, options?: ReadTarOptions): Promise<Listed[]> {
  const listed: Listed[] = [];
  for await (const entry of readTar(Buffer.isBuffer(input) ? Readable.from([input]) : input, options)) {
    const item: Listed = { name: entry.name, type: entry.type, size: entry.size, mode: entry.mode, offset: entry.offset, sha256: sha256(await collect(entry.body)) };
    if (entry.linkTarget !== undefined) item.linkTarget = entry.linkTarget;
    listed.push(item);
  }
  return listed;
}

/** "ok: a,b" or the error message, for comparing outcomes. */
async function outcome(input: Buffer, chunkSize = input.length || 1): Promise<string> {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < input.length; offset += chunkSize) chunks.push(input.subarray(offset, offset + chunkSize));
  try {
    const listed = await listTar(Readable.from(chunks));
    return `ok: ${listed.map((entry) => entry.name).join(",")}`;
  } catch (error) {
    if (!(error instanceof LadingError)) throw error;
    expect(error.kind).toBe("invalid");
    return error.message;
  }
}

async function failure(input: Buffer | Readable, options?: ReadTarOptions): Promise<LadingError> {
  try {
    await listTar(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    return error as LadingError;
  }
  throw new Error("expected reading to fail");
}

type PackEntry = { header: Record<string, unknown>; content?: Buffer };

/** Builds a tar with tar-stream's pack, which (unlike lading's writer) writes whatever it is given. */
async function packTar(entries: PackEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const done = collect(pack as unknown as Readable);
  for (const { header, content } of entries) {
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null): void => (error ? reject(error) : resolve());
      const full = { mtime: new Date(0), ...header } as tarStream.Header;
      if (content === undefined) pack.entry(full, callback);
      else pack.entry(full, content, callback);
    });
  }
  pack.finalize();
  return done;
}

const workDir = mkdtempSync(join(tmpdir(), "lading-reader-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

const bytes = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

describe("readTar on archives made by GNU tar", () => {
  const tree = join(workDir, "tree");
  const longDir = "d".repeat(60);
  const longName = `${longDir}/${"f".repeat(120)}.txt`;
  mkdirSync(join(tree, "dir/sub"), { recursive: true });
  mkdirSync(join(tree, longDir));
  writeFileSync(join(tree, "dir/a.txt"), "hello\n");
  writeFileSync(join(tree, "dir/sub/big.bin"), bytes(70_000, 7));
  writeFileSync(join(tree, longName), "long\n");
  writeFileSync(join(tree, "empty"), "");
  symlinkSync("../empty", join(tree, "dir/link"));
  linkSync(join(tree, "dir/a.txt"), join(tree, "dir/hard"));
  execFileSync("chmod", ["0600", join(tree, "empty")]);
  const gnuTar = (format: string): Buffer =>
    execFileSync("tar", ["--sort=name", `--format=${format}`, "--owner=0", "--group=0", "--mtime=@0", "-C", tree, "-cf", "-", "."], { maxBuffer: 1 << 26 });

  const expected = [
    { name: longDir, type: "directory", size: 0, mode: 0o755 },
    { name: longName, type: "file", size: 5, mode: 0o644, sha256: sha256(Buffer.from("long\n")) },
    { name: "dir", type: "directory", size: 0, mode: 0o755 },
    { name: "dir/a.txt", type: "file", size: 6, mode: 0o644, sha256: sha256(Buffer.from("hello\n")) },
    { name: "dir/hard", type: "hardlink", size: 0, mode: 0o644, linkTarget: "./dir/a.txt" },
    { name: "dir/link", type: "symlink", size: 0, mode: 0o777, linkTarget: "../empty" },
    { name: "dir/sub", type: "directory", size: 0, mode: 0o755 },
    { name: "dir/sub/big.bin", type: "file", size: 70_000, mode: 0o644, sha256: sha256(bytes(70_000, 7)) },
    { name: "empty", type: "file", size: 0, mode: 0o600 },
  ].sort((a, b) => (a.name < b.name ? -1 : 1));

  it.each(["gnu", "pax", "ustar"])("lists every entry of a %s archive, skipping the root", async (format) => {
    if (format === "ustar") {
      // ustar cannot hold the 180-byte file name without a directory split; GNU tar refuses it.
      expect(() => execFileSync("tar", ["--format=ustar", "-C", tree, "-cf", "/dev/null", longName], { stdio: "ignore" })).toThrow();
      return;
    }
    const listed = await listTar(gnuTar(format));
    const empty = sha256(Buffer.alloc(0));
    expect(listed.map(({ offset: _offset, ...rest }) => rest)).toEqual(expected.map((entry) => ({ sha256: empty, ...entry })));
  });

  it("reads a file stream opened with a large highWaterMark", async () => {
    const path = join(workDir, "gnu.tar");
    writeFileSync(path, gnuTar("gnu"));
    const listed = await listTar(createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK }));
    expect(listed.map((entry) => entry.name)).toEqual(expected.map((entry) => entry.name));
  });

  it("gives each entry the offset of its first header block", async () => {
    const tar = await packTar([
      { header: { name: "a", type: "file" }, content: bytes(600, 1) },
      { header: { name: `p/${"x".repeat(200)}`, type: "file" }, content: bytes(1, 2) },
      { header: { name: "c", type: "file" }, content: bytes(0, 0) },
    ]);
    const listed = await listTar(tar);
    // a: header 0, data 512..1112 padded to 1536; the long name takes a PAX header and its data block.
    expect(listed.map((entry) => [entry.name, entry.offset])).toEqual([
      ["a", 0],
      [`p/${"x".repeat(200)}`, 1536],
      ["c", 1536 + 512 * 4],
    ]);
  });
});

describe("readTar on the shared fixtures", () => {
  const fixtures = join(process.cwd(), "../shared/fixtures");
  const archives = readdirSync(join(fixtures, "archives")).filter((name) => name.endsWith(".tar"));

  it.each(archives)("%s lists the same names, types and sizes as GNU tar", async (file) => {
    const path = join(fixtures, "archives", file);
    const gnu = execFileSync("tar", ["--numeric-owner", "-tvf", path], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((line) => {
        const [permissions, , size, , , ...rest] = line.split(/\s+/);
        const name = rest.join(" ").replace(/ -> .*$/, "");
        const type = { "-": "file", d: "directory", l: "symlink", h: "hardlink" }[permissions!.charAt(0)];
        return { name: name.replace(/^\.\//, "").replace(/\/$/, ""), type, size: type === "file" ? Number(size) : 0 };
      })
      .filter((entry) => entry.name !== "" && entry.name !== ".");
    const listed = await listTar(createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK }));
    expect(listed.map(({ name, type, size }) => ({ name, type, size }))).toEqual(gnu);
  });

  it("bad/truncated.tar fails inside the entry it cuts", async () => {
    const error = await failure(createReadStream(join(fixtures, "bad/truncated.tar")));
    expect(error.message).toMatch(/^unexpected end of archive in entry "[^"]+" \(got \d+ of \d+ bytes\)$/);
  });
});

describe("readTar refuses hostile and broken archives", () => {
  it.each([
    ["../x", 'unsafe entry name "../x": ".." component'],
    ["/etc/passwd", 'unsafe entry name "/etc/passwd": absolute path'],
    ["a/../../x", 'unsafe entry name "a/../../x": ".." component'],
    ["a\\b", 'unsafe entry name "a\\\\b": contains a backslash'],
  ])("entry %j", async (name, message) => {
    const tar = await packTar([{ header: { name: "ok", type: "file" }, content: bytes(3, 1) }, { header: { name, type: "file" }, content: bytes(3, 1) }]);
    const error = await failure(tar);
    expect({ message: error.message, subject: error.subject }).toEqual({ message, subject: name });
  });

  it("a PAX path that climbs out", async () => {
    const tar = await packTar([{ header: { name: `${"../".repeat(40)}etc/x`, type: "file" }, content: bytes(1, 1) }]);
    expect((await failure(tar)).message).toBe(`unsafe entry name ${JSON.stringify(`${"../".repeat(40)}etc/x`)}: ".." component`);
  });

  it("a file entry named like the root", async () => {
    const tar = await packTar([{ header: { name: "./", type: "file" }, content: bytes(1, 1) }]);
    expect((await failure(tar)).message).toBe('unsafe entry name "./": a file entry names the archive root');
  });

  it("a bad header checksum, with the offset of the header", async () => {
    const tar = await packTar([
      { header: { name: "a", type: "file" }, content: bytes(600, 1) },
      { header: { name: "b", type: "file" }, content: bytes(3, 1) },
    ]);
    tar[1536 + 10] = 0x41;
    expect((await failure(tar)).message).toBe("invalid tar header at offset 1536: checksum mismatch");
  });

  it("something that is not a tar at all", async () => {
    expect((await failure(Buffer.from("x".repeat(2000)))).message).toBe("invalid tar header at offset 0: checksum mismatch");
  });

  it("trailing garbage after the end-of-archive blocks", async () => {
    const tar = await packTar([{ header: { name: "a", type: "file" }, content: bytes(3, 1) }]);
    expect((await failure(Buffer.concat([tar, Buffer.from("x".repeat(512))]))).message).toBe("data after the end-of-archive marker, at offset 2048");
  });

  it("entries after the end-of-archive marker (a second archive appended): refused, not read as GNU tar and Go do not read them", async () => {
    const first = await packTar([{ header: { name: "a", type: "file" }, content: bytes(3, 1) }]);
    const second = await packTar([{ header: { name: "manifest.json", type: "file" }, content: Buffer.from("[]") }]);
    expect(await outcome(Buffer.concat([first, second]))).toBe("data after the end-of-archive marker, at offset 2048");
    expect(await outcome(Buffer.concat([first, second]), 100)).toBe("data after the end-of-archive marker, at offset 2048");
  });

  it("a lone zero block before a header is refused, as Go's archive/tar refuses it; one zero block at the very end is an end", async () => {
    const entry = (name: string): Promise<Buffer> => packTar([{ header: { name, type: "file" }, content: bytes(3, 1) }]);
    const body = (tar: Buffer): Buffer => tar.subarray(0, 1024); // the header and data block, without the end marker
    const lone = Buffer.concat([body(await entry("a")), Buffer.alloc(512), await entry("b")]);
    expect(await outcome(lone)).toBe("invalid tar header at offset 1024: a lone zero block before more entries (the end of an archive is two)");
    expect(await outcome(Buffer.concat([body(await entry("a")), Buffer.alloc(512)]))).toBe("ok: a");
  });

  it("zeros after the marker are padding, up to any record size; only the first MiB of them is read", async () => {
    const tar = await packTar([{ header: { name: "a", type: "file" }, content: bytes(3, 1) }]);
    expect(await outcome(Buffer.concat([tar, Buffer.alloc(10240 - tar.length)]))).toBe("ok: a");
    // Garbage beyond the first MiB of zeros is never read, as a reader of /dev/zero must stop somewhere.
    expect(await outcome(Buffer.concat([tar, Buffer.alloc(1024 * 1024), Buffer.from("x".repeat(512))]), 65536)).toBe("ok: a");
  });

  it("an extended header over 4 MiB, even of valid records", async () => {
    const MiB = 1024 * 1024;
    const justFits = buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ comment: "c".repeat(4 * MiB - 17) }), tarEntry({ name: "a" }, Buffer.from("x"))]) }]);
    expect(await outcome(justFits)).toBe("ok: a");
    const tooBig = buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ comment: "c".repeat(4 * MiB + 1 - 17) }), tarEntry({ name: "a" }, Buffer.from("x"))]) }]);
    expect(await outcome(tooBig)).toBe("invalid tar header at offset 0: extended header larger than 4 MiB");
  });

  it("a PAX size that is not a decimal number, and a negative base-256 size field, naming the entry (Go's archive/tar refuses both)", async () => {
    const withPaxSize = (size: string): Buffer => buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ size }), tarEntry({ name: "junk", size: 0 }, Buffer.from("hello"))]) }]);
    expect(await outcome(withPaxSize("5"))).toBe("ok: junk");
    expect(await outcome(withPaxSize("5abc"))).toBe('invalid tar header at offset 0: PAX size record "5abc" of entry "junk" is not a decimal number');
    expect(await outcome(withPaxSize("1e3"))).toBe('invalid tar header at offset 0: PAX size record "1e3" of entry "junk" is not a decimal number');
    // Base-256 0xff...ff is -1, not 0; a PAX size after it does not make it valid.
    const minusOne = patchedHeader(tarEntry({ name: "junk" }), 124, "\xff".repeat(12));
    expect(await outcome(buildTar([{ type: "raw", bytes: minusOne }]))).toBe('invalid tar header at offset 0: negative size field (-1) in entry "junk"');
    const minusTwo = patchedHeader(tarEntry({ name: "junk" }), 124, `${"\xff".repeat(11)}\xfe`);
    expect(await outcome(buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ size: "5" }), minusTwo, Buffer.from("hello".padEnd(512, "\0"))]) }]))).toBe(
      'invalid tar header at offset 0: negative size field (-2) in entry "junk"',
    );
  });

  it("a link with an empty target", async () => {
    expect(await outcome(buildTar([{ type: "symlink", name: "l", target: "" }]))).toBe('symlink entry "l" has an empty target');
    expect(await outcome(buildTar([{ type: "hardlink", name: "h", target: "" }]))).toBe('hardlink entry "h" has an empty target');
    // A GNU long link name of nothing replaces the header's own target with "".
    const emptyLongLink = Buffer.concat([gnuLongRecord("K", ""), tarEntry({ name: "l", typeflag: "2", linkname: "x" })]);
    expect(await outcome(buildTar([{ type: "raw", bytes: emptyLongLink }]))).toBe('symlink entry "l" has an empty target');
  });

  it("a directory entry with a size", async () => {
    const header = Buffer.from((await packTar([{ header: { name: "d", type: "directory" } }])).subarray(0, 512));
    header.write("00000001000\0", 124, "latin1");
    header.write("        ", 148, "latin1");
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    expect((await failure(Buffer.concat([header, Buffer.alloc(1024)]))).message).toBe(
      'invalid tar header at offset 0: directory entry "d" has a size of 512',
    );
  });

  it("types outside allowedTypes", async () => {
    const tar = await packTar([
      { header: { name: "a", type: "file" }, content: bytes(3, 1) },
      { header: { name: "l", type: "symlink", linkname: "a" } },
    ]);
    const error = await failure(tar, { allowedTypes: ["file", "directory"] });
    expect(error.message).toBe('entry "l" has a type (symlink) that is not allowed here');
  });

  it("devices and fifos are type other", async () => {
    const tar = await packTar([
      { header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } },
      { header: { name: "sda", type: "block-device" } },
      { header: { name: "pipe", type: "fifo" } },
    ]);
    expect((await listTar(tar)).map((entry) => [entry.name, entry.type])).toEqual([
      ["null", "other"],
      ["sda", "other"],
      ["pipe", "other"],
    ]);
  });
});

describe("readTar refuses sparse files as GNU tar writes them", () => {
  // Read as a plain file, a sparse entry is its stored pieces (other bytes) under a made-up name
  // (formats 0.1 and 1.0): a blob would seem missing or corrupt. It is refused by its real name.
  const tree = join(workDir, "sparse");
  const content = Buffer.concat([bytes(100, 0x61), bytes(1 << 20, 0), bytes(3, 0x62)]);
  const name = `blobs/sha256/${sha256(content)}`;
  writeWithHoles(join(tree, name), content);
  writeFileSync(join(tree, "plain.txt"), "plain\n");

  it.each(SPARSE_FORMATS.map((format) => [format.described, format.tarOptions] as const))("%s", async (described, tarOptions) => {
    const tar = sparseTar(tree, ["plain.txt", name], tarOptions);
    const error = await failure(tar);
    expect({ message: error.message, subject: error.subject }).toEqual({
      message: `entry "${name}" is a sparse file (${described}), which lading does not read`,
      subject: name,
    });
  });

  it("a file without holes in an archive made with --sparse is a plain file", async () => {
    const tar = sparseTar(tree, ["plain.txt"], ["--format=pax", "--sparse-version=1.0"]);
    expect((await listTar(tar)).map((entry) => [entry.name, entry.type, entry.size])).toEqual([["plain.txt", "file", 6]]);
  });
});

describe("readTar on truncated archives", () => {
  // a: 700 bytes (header 0, data 512-1212, padding to 1536); b: empty (1536); c/ (2048);
  // d: 1536 bytes (header 2560, data 3072-4608); end blocks 4608-5632.
  const entries: PackEntry[] = [
    { header: { name: "a", type: "file" }, content: bytes(700, 1) },
    { header: { name: "b", type: "file" }, content: Buffer.alloc(0) },
    { header: { name: "c", type: "directory" } },
    { header: { name: "d", type: "file" }, content: bytes(1536, 2) },
  ];
  const layout = [
    { name: "a", header: 0, data: 512, size: 700, end: 1536 },
    { name: "b", header: 1536, data: 2048, size: 0, end: 2048 },
    { name: "c", header: 2048, data: 2560, size: 0, end: 2560 },
    { name: "d", header: 2560, data: 3072, size: 1536, end: 4608 },
  ];

  function expectedOutcome(cut: number): string {
    const complete = layout.filter((entry) => entry.end <= cut);
    if (complete.length === layout.length && (cut === 4608 || cut === 5120 || cut === 5632)) {
      return `ok: ${layout.map((entry) => entry.name).join(",")}`;
    }
    if (cut > 4608) return 'unexpected end of archive after entry "d"';
    const current = layout.find((entry) => entry.header < cut && cut < entry.end);
    if (current === undefined) {
      // Cut exactly between two entries: accepted, as most tools do.
      return `ok: ${complete.map((entry) => entry.name).join(",")}`;
    }
    if (cut < current.data) {
      const previous = complete.at(-1);
      return previous === undefined ? "unexpected end of archive before the first entry" : `unexpected end of archive after entry "${previous.name}"`;
    }
    if (cut < current.data + current.size) return `unexpected end of archive in entry "${current.name}" (got ${cut - current.data} of ${current.size} bytes)`;
    return `unexpected end of archive after entry "${current.name}"`;
  }

  it("gives the expected outcome at every cut, whole and in small chunks", async () => {
    const tar = await packTar(entries);
    expect(tar.length).toBe(5632);
    const cuts = [...new Set([...Array.from({ length: 5633 }, (_, i) => i).filter((i) => i % 61 === 0 || i % 512 <= 1 || i % 512 === 511), 1212, 1213, 4607])];
    for (const cut of cuts) {
      expect(`${cut}: ${await outcome(tar.subarray(0, cut))}`).toBe(`${cut}: ${expectedOutcome(cut)}`);
    }
    for (const cut of [100, 700, 1212, 1536, 3000, 4000, 4608, 5000]) {
      expect(`${cut}: ${await outcome(tar.subarray(0, cut), 97)}`).toBe(`${cut}: ${expectedOutcome(cut)}`);
    }
  });

  it("the body of a cut entry fails with the truncation message", async () => {
    const tar = await packTar(entries);
    const iterator = readTar(Readable.from([tar.subarray(0, 3500)]));
    for (;;) {
      const step = await iterator.next();
      if (step.done === true) throw new Error("expected entry d");
      if (step.value.name !== "d") {
        step.value.body.resume();
        continue;
      }
      await expect(collect(step.value.body)).rejects.toThrow('unexpected end of archive in entry "d" (got 428 of 1536 bytes)');
      await expect(iterator.next()).rejects.toThrow('unexpected end of archive in entry "d" (got 428 of 1536 bytes)');
      return;
    }
  });
});

describe("readTar streaming behaviour", () => {
  it("asking for the next entry discards the unread rest of a body", async () => {
    const tar = await packTar([
      { header: { name: "a", type: "file" }, content: bytes(3_000_000, 1) },
      { header: { name: "b", type: "file" }, content: bytes(10, 2) },
      { header: { name: "c", type: "file" }, content: bytes(5_000_000, 3) },
    ]);
    const names: string[] = [];
    for await (const entry of readTar(Readable.from([tar]))) names.push(`${entry.name}:${entry.size}`);
    expect(names).toEqual(["a:3000000", "b:10", "c:5000000"]);
  });

  it("stopping early destroys the input", async () => {
    const tar = await packTar([
      { header: { name: "a", type: "file" }, content: bytes(10, 1) },
      { header: { name: "b", type: "file" }, content: bytes(10, 2) },
    ]);
    const input = Readable.from([tar.subarray(0, 1024), tar.subarray(1024)]);
    for await (const entry of readTar(input)) {
      expect(entry.name).toBe("a");
      break;
    }
    expect(input.destroyed).toBe(true);
  });

  it("an input failure reaches the reader unchanged", async () => {
    const tar = await packTar([{ header: { name: "a", type: "file" }, content: bytes(100_000, 1) }]);
    const input = new Readable({ read() {} });
    input.push(tar.subarray(0, 2000));
    setTimeout(() => input.destroy(new LadingError("invalid", "corrupt gzip stream: unexpected end of file")), 10);
    const error = await failure(input);
    expect(error.message).toBe("corrupt gzip stream: unexpected end of file");
  });

  it("an empty input is an empty archive", async () => {
    expect(await listTar(Buffer.alloc(0))).toEqual([]);
  });

  it("reads 256 MiB at a speed close to a plain read", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "lading-speed-")), "big.tar");
    const size = 64 * 1024 * 1024;
    const tar = await packTar([0, 1, 2, 3].map((index) => ({ header: { name: `f${index}`, type: "file" }, content: bytes(size, index) })));
    writeFileSync(path, tar);
    const start = performance.now();
    let total = 0;
    for await (const entry of readTar(createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK }))) {
      for await (const chunk of entry.body) total += (chunk as Buffer).length;
    }
    const readerMs = performance.now() - start;
    const plainStart = performance.now();
    for await (const chunk of createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK })) void chunk;
    const plainMs = performance.now() - plainStart;
    expect(total).toBe(4 * size);
    expect(readFileSync(path).length).toBe(tar.length);
    rmSync(path);
    // Generous bound: this is a regression guard, not a benchmark.
    expect(readerMs).toBeLessThan(plainMs * 4 + 500);
  });
});
