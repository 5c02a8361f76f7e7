import { createRequire } from "node:module";
import type { EventEmitter } from "node:events";
import { unsupported } from "../core/errors.js";

/**
 * Loads the native (or pure-JS) codec libraries lazily, so that a missing or broken build of one
 * of them only disables that format, with a LadingError unsupported saying why.
 */
const require = createRequire(import.meta.url);

/** The part of a Node-style duplex stream the decoders rely on (node, readable-stream or through). */
export interface DuplexLike extends EventEmitter {
  write(chunk: Buffer): boolean;
  end(): void;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
}

export type ZstdBinding = typeof import("zstd-napi/binding.js");
export type ZstdModule = typeof import("zstd-napi");

interface LzmaModule {
  createStream(coder: "streamDecoder", options: { memlimit?: number }): DuplexLike;
}

/** unbzip2-stream's synchronous block decoder (lib/bzip2.js), which Bzip2Decoder drives. */
export interface Bzip2Blocks {
  /** Reads "BZh" and the block size level (1-9). */
  header(bits: Bzip2Bits): number;
  /** Decodes one block through `write`, or reads the end-of-stream marker and returns null. */
  decompress(bits: Bzip2Bits, write: (byte: number) => void, workspace: Int32Array, workspaceSize: number, streamCRC: number | null): number | null;
}

type Bzip2Bits = (count: number | null) => number;

function loadModule<T>(format: string, id: string): T {
  try {
    return require(id) as T;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw unsupported(`${format} archives are not supported: ${reason}`);
  }
}

export const loadZstdBinding = (): ZstdBinding => loadModule<ZstdBinding>("zstd", "zstd-napi/binding");
export const loadZstd = (): ZstdModule => loadModule<ZstdModule>("zstd", "zstd-napi");
export const loadLzma = (): LzmaModule => loadModule<LzmaModule>("xz", "lzma-native");
export const loadBzip2Blocks = (): Bzip2Blocks => loadModule<Bzip2Blocks>("bzip2", "unbzip2-stream/lib/bzip2.js");
