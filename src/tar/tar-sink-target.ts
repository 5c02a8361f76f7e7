/**
 * A DirectTarWriter target that is any Node Writable: the standard output, an HTTP response, a
 * socket. Each gathered buffer list goes down corked (one gathered socket write), and the write
 * resolves on the sink's callback for it. Only one write is in flight, so that callback is also
 * the backpressure: it comes once the sink has taken the bytes (a socket: handed them to the
 * kernel), by which time its buffer is empty again.
 */
import { WriteStream } from "node:fs";
import { OutgoingMessage } from "node:http";
import { Socket } from "node:net";
import type { Writable } from "node:stream";
import { LadingError } from "../core/errors.js";
import type { TarTarget } from "./tar-direct-writer.js";

export interface SinkTargetOptions {
  /**
   * Whether the sink may still hold a written buffer after its callback (a Writable that queues
   * chunks, a PassThrough): each write is then copied, since the writer reuses its read buffers.
   * Default: copy unless sinkReleasesChunks(sink).
   */
  copy?: boolean;
}

/**
 * Whether `sink` is done with a buffer once its write callback has run: sockets (so HTTP
 * messages and the standard streams when they are pipes or terminals), file write streams and the
 * process's own standard output and error (a file's is written synchronously).
 */
export function sinkReleasesChunks(sink: Writable): boolean {
  return sink instanceof Socket || sink instanceof OutgoingMessage || sink instanceof WriteStream || sink === process.stdout || sink === process.stderr;
}

export class SinkTarget implements TarTarget {
  readonly #sink: Writable;
  readonly #copy: boolean;
  #failure: LadingError | undefined;
  #rejectWrite: ((error: Error) => void) | undefined;

  /**
   * Listens to the sink's "error" and "close" for good: a sink that fails or closes before the
   * archive is whole fails the write in flight at once (a client that went away must not leave
   * the save waiting for a callback that never comes), and a late error of the sink is not left
   * unhandled.
   */
  constructor(sink: Writable, options: SinkTargetOptions = {}) {
    this.#sink = sink;
    this.#copy = options.copy ?? !sinkReleasesChunks(sink);
    sink.on("error", (error: Error) => this.#fail(archiveWriteFailure(error)));
    // A sink that was ended after the archive closes as it should.
    sink.on("close", () => (sink.writableFinished ? undefined : this.#fail(closedEarly())));
    if (sink.destroyed || sink.writableEnded) this.#fail(closedEarly());
  }

  write(buffers: Buffer[]): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    const chunks = this.#copy && buffers.length > 0 ? [Buffer.concat(buffers)] : buffers;
    if (chunks.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#rejectWrite = reject;
      const written = (error?: Error | null): void => {
        this.#rejectWrite = undefined;
        if (error) this.#fail(archiveWriteFailure(error));
        if (this.#failure) reject(this.#failure);
        else resolve();
      };
      const sink = this.#sink;
      sink.cork();
      chunks.forEach((chunk, index) => sink.write(chunk, index === chunks.length - 1 ? written : undefined));
      sink.uncork();
    });
  }

  async finish(): Promise<void> {
    if (this.#failure) throw this.#failure;
  }

  async abandon(): Promise<void> {}

  #fail(failure: LadingError): void {
    this.#failure ??= failure;
    this.#rejectWrite?.(this.#failure);
    this.#rejectWrite = undefined;
  }
}

function closedEarly(): LadingError {
  return new LadingError("io", "the output closed before the archive was complete");
}

/** Errors that only say the reader went away (a client that disconnected, a closed pipe). */
const CLOSED_CODES = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED", "ERR_STREAM_PREMATURE_CLOSE"]);

/**
 * A failure of the archive's output in one line: the sink's own error (or a pipeline's into it)
 * as lading says it, wherever the archive was written from. A LadingError passes as it is: it
 * already says what failed (a damaged blob, a body of the wrong length).
 */
export function archiveWriteFailure(error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  if (CLOSED_CODES.has((error as NodeJS.ErrnoException | undefined)?.code ?? "")) return closedEarly();
  return new LadingError("io", `writing the archive failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
