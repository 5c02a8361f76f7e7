import { createHash } from "node:crypto";
import type { Transform } from "node:stream";
import { COMPRESSION_SNIFF_BYTES, createDecompressor, detectCompression, type Compression } from "../tar/compression.js";
import { LayerTarChecker, looksLikeTarBlock } from "./layer-check.js";
import type { ScannedFile } from "./model.js";
import { countForFullCollection, transferred } from "../tar/transfer-garbage.js";

export interface ProbeLimits {
  /** Largest JSON document kept in memory (manifests, configs, indexes). */
  maxJsonBytes: number;
  /** Largest decompressed layer; beyond it the layer is refused (decompression bombs). */
  maxLayerBytes: number;
  /**
   * False to leave compressed files compressed: no diff ID, no check of the tar inside (the
   * caller trusts the config's diff IDs, as skopeo does). Default true.
   */
  decompress?: boolean;
}

/** Where the bytes of a file go besides the hashers (the content store's ingest, for a load). */
export interface BlobWriter {
  /** The chunk is valid only until the returned promise settles (its buffer is then reused). */
  write(chunk: Buffer): void | Promise<void>;
  /** Called once the file has been read whole; the writer decides whether to keep it. */
  close(file: ScannedFile): Promise<void>;
  abort(): Promise<void>;
  /**
   * Present when another thread may take the bytes instead: it writes them into the existing
   * empty file at `path` (when there is one: a writer that keeps nothing has none), after which
   * `wrote` is told how many bytes it holds; then close or abort follow as usual.
   */
  delegate?: { path?: string; wrote(size: number): void };
}

const SNIFF_BYTES = 512; // enough for the compression magic and the ustar magic at offset 257
const SHA512_NAME = /^blobs\/sha512\//;

/**
 * Reads one regular file once: hashes it, detects its compression from its first bytes,
 * decompresses and hashes a compressed file (its diff ID), checks the names inside anything
 * that is a tar, keeps small JSON, and hands every chunk to the writer. A chunk of the body is
 * valid only until the next one is asked for: whatever is kept is copied.
 */
export async function probeFile(name: string, body: AsyncIterable<Buffer>, limits: ProbeLimits, writer?: BlobWriter): Promise<ScannedFile> {
  const rawHash = createHash("sha256");
  const sha512 = SHA512_NAME.test(name) ? createHash("sha512") : undefined;
  let size = 0;
  const probe = new ContentProbe(limits);

  try {
    for await (const chunk of body) {
      // The write goes to the thread pool first, so that hashing here overlaps it.
      const written = writer?.write(chunk);
      rawHash.update(chunk);
      sha512?.update(chunk);
      size += chunk.length;
      countForFullCollection(chunk.length);
      await written;
      await probe.push(chunk);
    }
    const file: ScannedFile = { name, digest: `sha256:${rawHash.digest("hex")}`, size, ...(await probe.finish()) };
    if (sha512) file.sha512 = `sha512:${sha512.digest("hex")}`;
    withOwnDiffId(file, file.digest);
    if (writer) await writer.close(file);
    return file;
  } catch (error) {
    probe.destroy();
    if (writer) await writer.abort();
    throw error;
  }
}

/** Why an uncompressed layer of more than `maxLayerBytes` is refused. */
export function plainOverLimit(maxLayerBytes: number): string {
  return `size exceeds the limit of ${maxLayerBytes} bytes`;
}

/** An uncompressed file's diff ID is the sha256 of its bytes (`sha256`), and its size is its own. */
export function withOwnDiffId(file: ScannedFile, sha256: string): void {
  if (file.diffId !== undefined || file.compression !== "none") return;
  file.diffId = sha256;
  file.uncompressedSize = file.size;
}

/**
 * What probeFile finds in a file's bytes besides its digest (compression, diff ID, the tar's
 * soundness, small JSON), for bytes pushed in order, one push at a time, by a caller that hashes
 * them for their digest itself. A pushed chunk may be reused once its push has settled.
 */
export class ContentProbe {
  private head: Buffer | undefined = Buffer.alloc(0);
  private inspector: ContentInspector | undefined;

  /** `sniffed` sees the compression once the first bytes tell it, before any is decompressed; it may throw to refuse them. */
  constructor(
    private readonly limits: ProbeLimits,
    private readonly sniffed?: (compression: Compression) => void,
  ) {}

  async push(chunk: Buffer): Promise<void> {
    if (this.inspector === undefined) {
      const head = this.head as Buffer;
      if (head.length === 0 && chunk.length >= SNIFF_BYTES) {
        this.inspector = new ContentInspector(chunk, this.limits);
      } else {
        const joined = Buffer.concat([head, chunk]);
        if (joined.length < SNIFF_BYTES) {
          this.head = joined;
          return;
        }
        this.inspector = new ContentInspector(joined, this.limits);
        chunk = joined;
      }
      this.head = undefined;
      this.sniffed?.(this.inspector.compression);
    }
    await this.inspector.push(chunk);
  }

  async finish(): Promise<Inspection> {
    if (this.inspector === undefined) {
      const head = this.head ?? Buffer.alloc(0);
      this.inspector = new ContentInspector(head, this.limits);
      this.sniffed?.(this.inspector.compression);
      await this.inspector.push(head);
    }
    return this.inspector.finish();
  }

  destroy(): void {
    this.inspector?.destroy();
  }
}

export type Inspection = Omit<ScannedFile, "name" | "digest" | "size" | "sha512">;

/** Everything decided from the first bytes of a file, then fed the rest. */
class ContentInspector {
  readonly compression: Compression;
  private readonly looksLikeJson: boolean;
  private readonly looksLikeTar: boolean;
  private jsonChunks: Buffer[] | undefined;
  private jsonBytes = 0;
  private jsonTooLarge = false;
  private readonly checker: LayerTarChecker | undefined;
  private readonly decompressed: DecompressedHasher | undefined;
  private plainBytes = 0;

  constructor(
    head: Buffer,
    private readonly limits: ProbeLimits,
  ) {
    this.compression = detectCompression(head.subarray(0, Math.max(COMPRESSION_SNIFF_BYTES, 6)));
    const firstNonSpace = head.find((byte) => byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09);
    this.looksLikeJson = this.compression === "none" && (firstNonSpace === 0x7b || firstNonSpace === 0x5b);
    this.looksLikeTar = this.compression === "none" && startsTar(head);
    if (this.looksLikeJson) this.jsonChunks = [];
    if (this.looksLikeTar) this.checker = new LayerTarChecker();
    if (this.compression !== "none" && limits.decompress !== false) this.decompressed = new DecompressedHasher(this.compression, limits.maxLayerBytes);
  }

  async push(chunk: Buffer): Promise<void> {
    if (this.jsonChunks) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > this.limits.maxJsonBytes) {
        this.jsonChunks = undefined;
        this.jsonTooLarge = true;
      } else this.jsonChunks.push(Buffer.from(chunk));
    }
    if (this.checker) {
      this.plainBytes += chunk.length;
      this.checker.push(chunk);
    }
    if (this.decompressed) await this.decompressed.push(chunk);
  }

  async finish(): Promise<Inspection> {
    const result: Inspection = { compression: this.compression, looksLikeTar: this.looksLikeTar };
    if (this.jsonChunks) result.json = Buffer.concat(this.jsonChunks);
    if (this.jsonTooLarge) result.jsonTooLarge = true;
    if (this.checker) {
      const problem = this.checker.end();
      if (problem) result.layerProblem = problem;
      else if (this.plainBytes > this.limits.maxLayerBytes) result.layerProblem = plainOverLimit(this.limits.maxLayerBytes);
    } else if (this.compression === "none") {
      result.layerProblem = "not a tar archive";
    }
    if (this.decompressed) {
      const outcome = await this.decompressed.finish();
      if ("problem" in outcome) result.layerProblem = outcome.problem;
      else {
        result.diffId = outcome.diffId;
        result.uncompressedSize = outcome.size;
        result.looksLikeTar = outcome.looksLikeTar;
        if (outcome.tarProblem) result.layerProblem = outcome.tarProblem;
      }
    }
    return result;
  }

  destroy(): void {
    this.decompressed?.destroy();
  }
}

/**
 * A tar header (or end marker) first, or nothing at all: Go's archive/tar, which docker and
 * podman unpack with, reads empty input as a tar with no entries, and both load a zero-byte
 * layer. `head` is empty only when the whole content is.
 */
function startsTar(head: Buffer): boolean {
  return head.length === 0 || (head.length >= 512 && looksLikeTarBlock(head.subarray(0, 512)));
}

/** Input chunks handed to a decompressor at once: the thread pool inflates while this thread hashes. */
const DECODER_SLOTS = 2;

/**
 * Decompresses a layer as it streams by, hashing the output and checking the tar inside.
 * Decompression (zlib's inflate runs on the libuv thread pool) overlaps the hashing on this
 * thread: up to DECODER_SLOTS input chunks are queued in the decoder, each copied into a buffer
 * of a fixed ring (the caller's buffer is reused as soon as push returns) that is taken back
 * when the decoder reports it is done with it; and the output is hashed in a microtask, after
 * zlib has sent its next step to the thread pool, not inside the callback that delivers it.
 */
class DecompressedHasher {
  private readonly stream: Transform;
  private readonly hash = createHash("sha256");
  private size = 0;
  private head: Buffer | undefined = Buffer.alloc(0);
  private checker: LayerTarChecker | undefined;
  private isTar = false;
  private error: Error | undefined;
  private ended = false;
  private readonly done: Promise<void>;
  private readonly freeSlots: Buffer[] = [];
  private slotCount = 0;
  private slotWaiter: (() => void) | undefined;
  private pendingOutput: Buffer[] = [];
  private hashScheduled = false;

  constructor(compression: Exclude<Compression, "none">, maxOutputBytes: number) {
    this.stream = createDecompressor(compression, { maxOutputBytes });
    this.stream.on("data", (chunk: Buffer) => this.onOutput(chunk));
    this.done = new Promise((resolve) => {
      this.stream.once("end", resolve);
      this.stream.once("error", (error: Error) => {
        this.error = error;
        this.wakeWriter();
        resolve();
      });
      this.stream.once("close", () => {
        this.ended = true;
        this.wakeWriter();
      });
    });
  }

  private onOutput(chunk: Buffer): void {
    this.pendingOutput.push(chunk);
    if (this.hashScheduled) return;
    this.hashScheduled = true;
    queueMicrotask(() => this.hashOutput());
  }

  private hashOutput(): void {
    this.hashScheduled = false;
    const chunks = this.pendingOutput;
    this.pendingOutput = [];
    for (const chunk of chunks) this.consumeOutput(chunk);
  }

  private consumeOutput(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    // zlib hands out a fresh output buffer per step; collect the dead ones every few MiB.
    transferred(chunk.length);
    countForFullCollection(chunk.length);
    if (this.head !== undefined) {
      this.head = Buffer.concat([this.head, chunk]);
      if (this.head.length < SNIFF_BYTES) return;
      this.startChecking(this.head);
      return;
    }
    this.checker?.push(chunk);
  }

  private startChecking(head: Buffer): void {
    this.head = undefined;
    this.isTar = startsTar(head);
    if (this.isTar) {
      this.checker = new LayerTarChecker();
      this.checker.push(head);
    }
  }

  private wakeWriter(): void {
    const waiter = this.slotWaiter;
    this.slotWaiter = undefined;
    waiter?.();
  }

  /** A ring buffer at least `length` long, waiting while all of them are in the decoder. */
  private async takeSlot(length: number): Promise<Buffer | undefined> {
    for (;;) {
      if (this.error || this.ended) return undefined;
      const slot = this.freeSlots.pop();
      if (slot !== undefined && slot.length >= length) return slot;
      if (slot === undefined && this.slotCount < DECODER_SLOTS) {
        this.slotCount++;
        return Buffer.allocUnsafeSlow(length);
      }
      if (slot !== undefined) return Buffer.allocUnsafeSlow(length); // a larger chunk: replace the small buffer
      await new Promise<void>((resolve) => (this.slotWaiter = resolve));
    }
  }

  async push(chunk: Buffer): Promise<void> {
    const slot = await this.takeSlot(chunk.length);
    if (slot === undefined) return;
    chunk.copy(slot);
    this.stream.write(slot.subarray(0, chunk.length), () => {
      this.freeSlots.push(slot);
      this.wakeWriter();
    });
  }

  async finish(): Promise<{ diffId: string; size: number; looksLikeTar: boolean; tarProblem?: string } | { problem: string }> {
    if (!this.error) this.stream.end();
    await this.done;
    if (this.error) return { problem: this.error.message };
    this.hashOutput();
    if (this.head !== undefined) this.startChecking(this.head);
    const tarProblem = this.checker ? this.checker.end() : "decompressed content is not a tar archive";
    const result = { diffId: `sha256:${this.hash.digest("hex")}`, size: this.size, looksLikeTar: this.isTar };
    return tarProblem ? { ...result, tarProblem } : result;
  }

  destroy(): void {
    this.stream.destroy();
  }
}
