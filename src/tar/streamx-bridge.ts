import { Readable } from "node:stream";
import type { EventEmitter } from "node:events";

/**
 * tar-stream 3 is built on streamx, whose streams look like Node's but are not Node streams
 * (@types/tar-stream pretends they are). These are the parts used here.
 */
export interface StreamxReadable extends EventEmitter {
  pause(): unknown;
  resume(): unknown;
  destroy(error?: Error): unknown;
  readonly destroyed: boolean;
}

export interface StreamxWritable extends EventEmitter {
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(error?: Error): unknown;
  readonly destroyed: boolean;
  readonly destroying: boolean;
}

/** Resolves when a streamx writable wants more data again, or has closed. */
export function drained(stream: StreamxWritable): Promise<void> {
  // A writable destroyed before the write (its pack was torn down) has emitted its "close" already.
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

export interface BridgeOptions {
  highWaterMark?: number;
  /** Rewrites an error of the source before the Node stream fails with it. */
  mapError?: (error: Error) => Error;
}

/** A Node Readable carrying the bytes of a streamx Readable, with backpressure both ways. */
export function nodeReadableFrom(source: StreamxReadable, options: BridgeOptions = {}): Readable {
  const mapError = options.mapError ?? ((error: Error) => error);
  let sourceEnded = false;
  const output = new Readable({
    highWaterMark: options.highWaterMark ?? 1024 * 1024,
    read() {
      source.resume();
    },
    destroy(error, callback) {
      // Destroying a tar-stream entry tears down the whole extract: only do it to abandon the source.
      if (!sourceEnded && !source.destroyed) source.destroy(error ?? undefined);
      callback(error);
    },
  });
  source.on("data", (chunk: Buffer) => {
    if (!output.push(chunk)) source.pause();
  });
  source.on("end", () => {
    sourceEnded = true;
    output.push(null);
  });
  source.on("error", (error: Error) => output.destroy(mapError(error)));
  source.on("close", () => {
    // A source destroyed without an error (its parent was torn down) must not leave readers hanging.
    if (!sourceEnded && !output.destroyed) output.destroy(mapError(new Error("stream closed early")));
  });
  return output;
}
