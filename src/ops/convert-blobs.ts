/**
 * Where `convert` finds each blob's bytes when it writes the output, after the one read of the
 * input has verified everything:
 *
 * - a blob kept in memory by the reader (manifests, configs, indexes, synthesised manifests);
 * - for an uncompressed tar file, the entry's own bytes in the input file, read again at the
 *   offset its header gives (an index of headers is made before the read; each entry's first
 *   bytes are compared with the file at that offset while it streams, and an entry that does
 *   not match is spooled like any other);
 * - otherwise (standard input, a compressed archive, a layout directory, an entry the index could
 *   not place) a spool file in a private temporary directory, written while the entry streams
 *   and removed, with the directory, whatever happens.
 *
 * Spooling cannot be avoided by copying entries straight into the output as they stream: the
 * output is save's archive, which opens with index.json (it names every root, and a synthesised
 * root digest covers every layer) and then carries the blobs sorted by digest, so no blob byte can
 * be written before the whole input has been read.
 *
 * Every blob is hashed again as it is written, so bytes that changed since they were verified
 * (the input file rewritten during the conversion) fail the conversion.
 *
 * Two ways out: openSource, for the direct file path (positioned reads into a few buffers that
 * every blob shares, as `save -o` reads the store), and openBlob, a stream of fresh buffers for
 * the stream path (standard output, compression).
 */
import { createReadStream } from "node:fs";
import { open, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import type { ScannedFile } from "../archive/model.js";
import type { BlobWriter } from "../archive/probe.js";
import { indexTarFile, type TarFileSpan } from "../archive/tar-offsets.js";
import type { BlobToWrite } from "../archive/write-layout.js";
import { createDigester, parseDigest } from "../core/digest.js";
import { cannotWrite, invalid, LadingError } from "../core/errors.js";
import type { ChunkSource } from "../tar/chunk-source.js";
import { detectCompression } from "../tar/compression.js";
import { countForFullCollection, transferred } from "../tar/transfer-garbage.js";
import type { GraphBlob } from "./convert-plan.js";
import type { BlobReadBuffers } from "./save-blob-source.js";
import { scratchDirectory, type ScratchDirectory } from "../store/exit-cleanup.js";

/** Entries load does not store either: the archive's own documents. */
const METADATA_NAMES = /^(manifest\.json|index\.json|oci-layout|repositories|[^/]+\/(VERSION|json))$/;
/** How much of an entry is compared with the input file at its indexed offset. */
const CHECK_BYTES = 64 * 1024;
const READ_BYTES = 256 * 1024;
/**
 * How many times a compressed entry's bytes count while the input is read: the reader decompresses
 * it (fresh buffers) and that makes far more garbage than a write. Measured on 1 GiB of gzip
 * layers, peak RSS 90-101 MB without these collections, 80-83 MB with one every 64 MiB read.
 */
const DECOMPRESSED_WEIGHT = 4;

type Supply = { kind: "input"; span: TarFileSpan } | { kind: "spool"; path: string };

export class ConvertBlobs {
  /** By entry name: where the entry's bytes can be read again. */
  private readonly supplies = new Map<string, Supply>();
  private spoolDir: Promise<ScratchDirectory> | undefined;
  private spooled = 0;

  private constructor(
    private readonly input: FileHandle | undefined,
    private readonly index: Map<string, TarFileSpan | undefined> | undefined,
  ) {}

  /** `inputFile`: the path of an uncompressed tar file the archive is read from, if it is one. */
  static async open(inputFile: string | undefined): Promise<ConvertBlobs> {
    // Only a regular file is opened again (a FIFO or a device would not give its bytes twice).
    if (inputFile === undefined || !(await stat(inputFile).catch(() => undefined))?.isFile()) return new ConvertBlobs(undefined, undefined);
    const handle = await open(inputFile, "r").catch(() => undefined);
    if (!handle) return new ConvertBlobs(undefined, undefined);
    const index = await indexedIfFile(handle).catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
    if (index === undefined) {
      await handle.close();
      return new ConvertBlobs(undefined, undefined);
    }
    return new ConvertBlobs(handle, index);
  }

  /** The reader's openWriter: what to do with an entry's bytes while they stream. */
  async openWriter(name: string, size: number): Promise<BlobWriter | undefined> {
    if (METADATA_NAMES.test(name) || this.supplies.has(name)) return undefined;
    const span = this.index?.get(name);
    const keep = (supply: Supply): void => {
      if (!this.supplies.has(name)) this.supplies.set(name, supply);
    };
    if (this.input && span && span.size === size) return new InputSpanWriter(this.input, span, (spoolKeep) => this.openSpool(spoolKeep), keep);
    return this.openSpool(keep);
  }

  /** Throws load's message when a needed blob's bytes were not kept. */
  checkSupplied(blob: GraphBlob): void {
    if (blob.bytes || (blob.file && this.supplies.has(blob.file.name))) return;
    throw invalid(`blob ${blob.digest} was not stored while reading (${blob.file?.name ?? "no entry"})`, blob.file?.name ?? blob.digest);
  }

  /**
   * A blob's bytes for the direct file path, read through `buffers` (whose chunks are reused:
   * nothing is allocated per read). `entry` names the blob's input entry for messages; the caller
   * hashes the bytes and checks them with changedWhileConverting.
   */
  async openSource(blob: BlobToWrite, bytesOf: (digest: string) => GraphBlob | undefined, buffers: BlobReadBuffers): Promise<{ source: ChunkSource; entry: string }> {
    const { known, supply, entry } = this.locate(blob, bytesOf);
    if (known?.bytes) return { source: memorySource(known.bytes), entry };
    if (supply?.kind === "spool") return { source: buffers.source(await open(supply.path, "r"), blob.size), entry };
    if (supply?.kind === "input" && this.input) return { source: buffers.source(spanAsFile(this.input, supply.span), blob.size), entry };
    throw notStored(blob.digest, known);
  }

  /** A blob's bytes for the stream path, hashed on the way. */
  openBlob(blob: BlobToWrite, bytesOf: (digest: string) => GraphBlob | undefined, progress: { done: number }): Readable {
    const { known, supply, entry } = this.locate(blob, bytesOf);
    let body: Readable;
    if (known?.bytes) body = Readable.from([known.bytes]);
    else if (supply?.kind === "spool") body = createReadStream(supply.path, { highWaterMark: READ_BYTES });
    else if (supply?.kind === "input" && this.input) body = Readable.from(readSpan(this.input, supply.span), { objectMode: false, highWaterMark: READ_BYTES });
    else throw notStored(blob.digest, known);
    const checked = verifying(blob.digest, entry, progress);
    body.on("error", (error) => checked.destroy(error));
    // A pipe leaves its source open when the destination goes (an output that failed): a spool file's descriptor with it.
    checked.once("close", () => body.destroy());
    return body.pipe(checked);
  }

  private locate(blob: BlobToWrite, bytesOf: (digest: string) => GraphBlob | undefined): { known: GraphBlob | undefined; supply: Supply | undefined; entry: string } {
    const known = bytesOf(blob.digest);
    const supply = known?.file ? this.supplies.get(known.file.name) : undefined;
    return { known, supply, entry: known?.file?.name ?? blob.digest };
  }

  /** Closes the input and removes the spool directory. */
  async close(): Promise<void> {
    await this.input?.close().catch(() => undefined);
    const dir = await this.spoolDir?.catch(() => undefined);
    await dir?.remove();
  }

  private async openSpool(keep: (supply: Supply) => void): Promise<BlobWriter> {
    this.spoolDir ??= scratchDirectory("lading-convert-");
    const dir = await this.spoolDir;
    const file = path.join(dir.path, String(this.spooled++));
    // Said as what it is: a full TMPDIR fails the conversion there, not at its input or output.
    const failed = (error: unknown): unknown => dir.claim(cannotWrite(file, error));
    const handle = await open(file, "wx", 0o600).catch((error: unknown) => Promise.reject(failed(error)));
    return new SpoolWriter(handle, file, keep, failed);
  }
}

/** An entry's bytes into a spool file. */
class SpoolWriter implements BlobWriter {
  /** What is spooled came from a stream (fresh buffers) or through a decompressor: it counts, compressed or not. */
  private readonly pace = readPace(1);

  constructor(
    private readonly handle: FileHandle,
    private readonly file: string,
    private readonly keep: (supply: Supply) => void,
    private readonly failed: (error: unknown) => unknown,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    transferred(chunk.length);
    this.pace(chunk);
    let done = 0;
    try {
      while (done < chunk.length) done += (await this.handle.write(chunk, done, chunk.length - done)).bytesWritten;
    } catch (error) {
      throw this.failed(error);
    }
  }

  async close(_file: ScannedFile): Promise<void> {
    await this.handle.close().catch((error: unknown) => Promise.reject(this.failed(error)));
    this.keep({ kind: "spool", path: this.file });
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await unlink(this.file).catch(() => undefined);
  }
}

/**
 * An entry the header index placed in the input file: nothing is copied. Its first CHECK_BYTES
 * are compared with the file at the indexed offset (copies held meanwhile); on a difference the
 * entry is spooled from its start instead.
 */
class InputSpanWriter implements BlobWriter {
  private checked = 0;
  private held: Buffer[] = [];
  private spool: BlobWriter | undefined;
  /** The input file's bytes come through reused buffers: only a decompression makes garbage. */
  private readonly pace = readPace(0);

  constructor(
    private readonly input: FileHandle,
    private readonly span: TarFileSpan,
    private readonly openSpool: (keep: (supply: Supply) => void) => Promise<BlobWriter>,
    private readonly keep: (supply: Supply) => void,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (this.spool) return this.spool.write(chunk);
    // The reader's decompression of a layer makes garbage too (see transfer-garbage).
    transferred(chunk.length);
    this.pace(chunk);
    if (this.checked >= CHECK_BYTES) return;
    const part = chunk.subarray(0, CHECK_BYTES - this.checked);
    const theirs = Buffer.alloc(part.length);
    const { bytesRead } = await this.input.read(theirs, 0, part.length, this.span.offset + this.checked);
    if (bytesRead === part.length && theirs.equals(part)) {
      this.checked += part.length;
      this.held = this.checked < CHECK_BYTES ? [...this.held, Buffer.from(chunk)] : [];
      return;
    }
    this.spool = await this.openSpool(this.keep);
    for (const bytes of this.held) await this.spool.write(bytes);
    this.held = [];
    await this.spool.write(chunk);
  }

  async close(file: ScannedFile): Promise<void> {
    if (this.spool) return this.spool.close(file);
    this.keep({ kind: "input", span: this.span });
  }

  async abort(): Promise<void> {
    await this.spool?.abort();
  }
}

/** The span's bytes in fresh buffers (the tar writer may hold one until it is flushed). */
async function* readSpan(input: FileHandle, span: TarFileSpan): AsyncGenerator<Buffer> {
  let position = span.offset;
  const end = span.offset + span.size;
  while (position < end) {
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, end - position));
    const { bytesRead } = await input.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
  }
}

/**
 * For an entry's writer: counts its chunks for countForFullCollection, DECOMPRESSED_WEIGHT times
 * each if the entry is compressed (the reader decompresses it), else `uncompressedWeight` times.
 */
function readPace(uncompressedWeight: number): (chunk: Buffer) => void {
  let weight: number | undefined;
  return (chunk) => {
    weight ??= detectCompression(chunk) === "none" ? uncompressedWeight : DECOMPRESSED_WEIGHT;
    countForFullCollection(chunk.length * weight);
  };
}

function verifying(digest: string, entry: string, progress: { done: number }): Transform {
  const { algorithm } = parseDigest(digest);
  const hash = createDigester(algorithm);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      progress.done += chunk.length;
      // Each read hands out a fresh buffer; collect the dead ones every few MiB (see transfer-garbage).
      transferred(chunk.length);
      countForFullCollection(chunk.length);
      callback(null, chunk);
    },
    flush(callback) {
      callback(changedWhileConverting(entry, digest, `${algorithm}:${hash.digest("hex")}`) ?? null);
    },
  });
}

/** The failure for a blob whose bytes, hashed as they were written, have content `actual`; undefined when it is `digest`. */
export function changedWhileConverting(entry: string, digest: string, actual: string): LadingError | undefined {
  if (actual === digest) return undefined;
  return new LadingError("invalid", `entry ${JSON.stringify(entry)} changed while converting: it now has content ${actual}, not ${digest}`, { subject: entry });
}

function notStored(digest: string, known: GraphBlob | undefined): LadingError {
  return invalid(`blob ${digest} was not stored while reading (${known?.file?.name ?? "no entry"})`, digest);
}

/** Bytes already in memory, as one chunk. */
function memorySource(bytes: Buffer): ChunkSource {
  let given = 0;
  let closed = false;
  return {
    async read() {
      if (closed || given > 0 || bytes.length === 0) return undefined;
      given = bytes.length;
      return bytes;
    },
    close() {
      closed = true;
    },
    bytesRead: () => given,
  };
}

/**
 * The span seen as a file of its own, as BlobReadBuffers reads one: from offset 0, nothing past
 * the span's end (its look for a byte too many finds none), and closing it leaves the input open.
 */
function spanAsFile(input: FileHandle, span: TarFileSpan): FileHandle {
  const view: Pick<FileHandle, "read" | "close"> = {
    read: ((buffer: Buffer, offset: number, length: number, position: number) =>
      input.read(buffer, offset, Math.max(0, Math.min(length, span.size - position)), span.offset + position)) as FileHandle["read"],
    close: async () => undefined,
  };
  return view as FileHandle;
}

async function indexedIfFile(handle: FileHandle): Promise<Awaited<ReturnType<typeof indexTarFile>>> {
  return (await handle.stat()).isFile() ? indexTarFile(handle) : undefined;
}
