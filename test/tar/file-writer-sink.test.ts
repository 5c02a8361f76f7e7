// DirectTarWriter into a Writable (SinkTarget): FileTarWriter's bytes; a read buffer is reused only
// after the sink's callback; sinks that keep chunks get copies; a sink that fails or closes
// mid-archive fails the write in flight at once, with one line.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { fileChunkSource } from "../../src/tar/chunk-source.js";
import { FileTarWriter } from "../../src/tar/file-writer.js";
import { DirectTarWriter } from "../../src/tar/tar-direct-writer.js";
import { SinkTarget, sinkReleasesChunks } from "../../src/tar/tar-sink-target.js";

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
const scratch = mkdtemp(path.join(tmpdir(), "lading-sink-writer-"));
afterAll(async () => rm(await scratch, { recursive: true, force: true }));
const CLOSED = "the output closed before the archive was complete";

/** A 70,000-byte body of changing bytes, read 16 KiB at a time through two buffers used in turn. */
async function bodyFile(): Promise<string> {
  const file = path.join(await scratch, `body-${Math.random().toString(16).slice(2)}`);
  await writeFile(file, Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7 + (i >> 10)) & 0xff)));
  return file;
}

async function writeEntries(writer: DirectTarWriter, body: string): Promise<number> {
  writer.addFile("oci-layout", '{"imageLayoutVersion":"1.0.0"}');
  writer.addDirectory("blobs/sha256");
  await writer.addFileFrom("blobs/sha256/0123", 70_000, fileChunkSource(await open(body, "r"), 16_384, 2));
  writer.addFile("small", "x");
  await writer.addFileFrom("blobs/sha256/4567", 70_000, fileChunkSource(await open(body, "r"), 16_384, 2));
  return writer.finish();
}

async function fileArchive(body: string): Promise<Buffer> {
  const file = path.join(await scratch, `out-${Math.random().toString(16).slice(2)}.tar`);
  const handle = await open(file, "wx");
  try {
    await writeEntries(new FileTarWriter(handle.fd, { mtime: 1_700_000_000 }), body);
  } finally {
    await handle.close();
  }
  return readFile(file);
}

/** A sink that takes its copy of each chunk only later, then calls back: it sees reused buffers too early as wrong bytes. */
function lateCopySink(): { sink: Writable; bytes: () => Buffer; writes: () => number } {
  const chunks: Buffer[] = [];
  let writes = 0;
  const sink = new Writable({
    writev(pieces, callback) {
      writes += 1;
      setTimeout(() => {
        for (const { chunk } of pieces) chunks.push(Buffer.from(chunk as Buffer));
        callback();
      }, 1);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks), writes: () => writes };
}

describe("DirectTarWriter into a sink", () => {
  it("writes FileTarWriter's bytes, reusing a read buffer only after the sink's callback", async () => {
    const body = await bodyFile();
    const expected = await fileArchive(body);
    const late = lateCopySink();
    const length = await writeEntries(new DirectTarWriter(new SinkTarget(late.sink, { copy: false }), { mtime: 1_700_000_000 }), body);
    expect(length).toBe(expected.length);
    expect(sha256(late.bytes())).toBe(sha256(expected));
    // Headers go down with the next data chunk: 2 blobs of 5 chunks each, and the end.
    expect(late.writes()).toBe(11);
  });

  it("copies what it writes into a sink that keeps its chunks (the default for a plain Writable)", async () => {
    const body = await bodyFile();
    const kept: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        kept.push(chunk);
        callback();
      },
    });
    await writeEntries(new DirectTarWriter(new SinkTarget(sink), { mtime: 1_700_000_000 }), body);
    expect(sha256(Buffer.concat(kept))).toBe(sha256(await fileArchive(body)));
  });

  it("knows which sinks are done with a buffer at their callback", async () => {
    const file = createWriteStream(path.join(await scratch, "w"));
    const socket = new Socket();
    const response = new ServerResponse(new IncomingMessage(socket));
    expect([socket, response, file, process.stdout, process.stderr].map(sinkReleasesChunks)).toEqual([true, true, true, true, true]);
    expect([new PassThrough(), new Writable()].map(sinkReleasesChunks)).toEqual([false, false]);
    file.destroy();
    socket.destroy();
  });

  it("fails the write in flight at once when the sink closes, though its callback never comes", async () => {
    const sink = new Writable({ write() {} });
    const writer = new DirectTarWriter(new SinkTarget(sink));
    writer.addFile("a", "x");
    const body = await bodyFile();
    const adding = writer.addFileFrom("b", 70_000, fileChunkSource(await open(body, "r"), 16_384, 2));
    await new Promise((resolve) => setTimeout(resolve, 20));
    sink.destroy();
    await expect(adding).rejects.toThrow(CLOSED);
    await writer.abandon();
  });

  it("reports a sink's error in one line, and a sink closed before the first write", async () => {
    const failing = new Writable({ write: (_chunk, _encoding, callback) => callback(new Error("disk full")) });
    const writer = new DirectTarWriter(new SinkTarget(failing));
    writer.addFile("a", "x");
    await expect(writer.finish()).rejects.toThrow("writing the archive failed: disk full");

    const closed = new PassThrough();
    closed.destroy();
    const late = new DirectTarWriter(new SinkTarget(closed));
    await expect(late.finish()).rejects.toThrow(CLOSED);
  });
});
