/**
 * Worker threads that probe (hash, decompress, check) large files of an archive read from disk,
 * while the main thread goes on through the archive. sha256 and inflate are bound to one core
 * each; an archive on disk can be read at several places at once, so its layers are probed side
 * by side on every core the machine has. Each byte is still read once: the main thread seeks
 * over a body that a worker reads.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { LadingError, type ErrorKind } from "../core/errors.js";
import type { ScannedFile } from "./model.js";
import type { ProbeLimits } from "./probe.js";

export interface ProbeJob {
  id: number;
  /** The entry name the file has in the archive (for messages and the sha512 rule). */
  name: string;
  path: string;
  offset: number;
  size: number;
  limits: ProbeLimits;
  /** An existing empty file to copy the bytes into (a content store ingest). */
  writeTo?: string;
}

export type ProbeReply = { id: number; file: ScannedFile } | { id: number; error: { message: string; kind?: string; subject?: string } };

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, { size: number; resolve: (file: ScannedFile) => void; reject: (error: unknown) => void }>;
  /** Bytes of the jobs handed over and not yet answered. */
  backlog: number;
}


export class ProbePool {
  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly script: string,
    private readonly size: number,
  ) {}

  /** A pool when the machine has a core to spare and the compiled worker exists; else undefined. */
  static create(): ProbePool | undefined {
    const size = Math.min(availableParallelism() - 1, 3);
    const script = workerScript();
    if (size < 1 || script === undefined) return undefined;
    return new ProbePool(script, size);
  }

  /**
   * Whether a file of `size` bytes is better handed to a worker than probed on the main thread:
   * when some worker has at most that many bytes still to do. Its backlog counts the file it is
   * on as a whole, though part of it is done, so it will likely be free before the main thread
   * would be done with this file: one file queued behind the current one keeps a worker from
   * idling between files, and over a run of similar layers the threads stay about equally busy.
   */
  hasRoom(size: number): boolean {
    if (this.closed) return false;
    return this.workers.length < this.size || this.workers.some((entry) => entry.backlog <= size);
  }

  probe(job: Omit<ProbeJob, "id">): Promise<ScannedFile> {
    if (this.closed) return Promise.reject(new LadingError("io", "probe pool is closed"));
    const entry = this.pick();
    const id = this.nextId++;
    return new Promise<ScannedFile>((resolve, reject) => {
      entry.jobs.set(id, { size: job.size, resolve, reject });
      entry.backlog += job.size;
      entry.worker.postMessage({ ...job, id } satisfies ProbeJob);
    });
  }

  /** Stops every worker; jobs still in flight reject. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
  }

  private pick(): PoolWorker {
    const idle = this.workers.find((entry) => entry.jobs.size === 0);
    if (idle) return idle;
    if (this.workers.length < this.size) return this.spawn();
    return this.workers.reduce((least, entry) => (entry.backlog < least.backlog ? entry : least));
  }

  private spawn(): PoolWorker {
    const worker = new Worker(this.script);
    const entry: PoolWorker = { worker, jobs: new Map(), backlog: 0 };
    const failAll = (error: unknown): void => {
      for (const job of entry.jobs.values()) job.reject(error);
      entry.jobs.clear();
      entry.backlog = 0;
    };
    worker.on("message", (reply: ProbeReply) => {
      const job = entry.jobs.get(reply.id);
      if (job === undefined) return;
      entry.jobs.delete(reply.id);
      entry.backlog -= job.size;
      if ("error" in reply) {
        const kind = (reply.error.kind ?? "io") as ErrorKind;
        job.reject(new LadingError(kind, reply.error.message, reply.error.subject === undefined ? undefined : { subject: reply.error.subject }));
      } else job.resolve(revive(reply.file));
    });
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new LadingError("io", `probe worker stopped (exit code ${code})`)));
    this.workers.push(entry);
    return entry;
  }
}

/** Structured cloning turns a Buffer into a plain Uint8Array. */
function revive(file: ScannedFile): ScannedFile {
  const json = file.json as Uint8Array | undefined;
  return json === undefined ? file : { ...file, json: Buffer.from(json.buffer, json.byteOffset, json.byteLength) };
}

/**
 * The compiled worker. Under the test runner this module is the TypeScript source, which a
 * Worker cannot load; the build output beside it in dist/ is used then.
 */
function workerScript(): string | undefined {
  const here = import.meta.url;
  const compiled = here.endsWith(".ts") ? new URL("../../dist/archive/probe-worker.js", here) : new URL("./probe-worker.js", here);
  const path = fileURLToPath(compiled);
  return existsSync(path) ? path : undefined;
}
