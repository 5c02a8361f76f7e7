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
import type { DeferredBytes } from "./deferred-bytes.js";
import type { ScannedFile } from "./model.js";
import type { ProbeLimits } from "./probe.js";
import type { RingMemory } from "./stream-ring.js";

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
  /**
   * The bytes come through this ring (a streamed file, see stream-ring.ts), not from `path`,
   * which is then the ingest file they are written into (`writeTo`).
   */
  ring?: RingMemory;
  /** Counted off as the bytes are read, for the load's progress (see DeferredBytes). */
  deferred?: DeferredBytes;
}

/** A job's result, or (`drained`) the answer to a drain: every message before it is done with. */
export type ProbeReply = { id: number; file: ScannedFile } | { id: number; error: { message: string; kind?: string; subject?: string } } | { drained: true };

/**
 * What a worker is sent: one job, or a list it shares with the other threads, each taking the
 * next unclaimed job by incrementing `next` (shared memory) until none is left; `stop` (shared
 * memory) is set once the pool closes, and a job still running then fails at its next read. A
 * drain is answered once every message sent before it has been dealt with.
 */
export type ProbeMessage = { job: ProbeJob; stop: Int32Array } | { jobs: ProbeJob[]; next: Int32Array; stop: Int32Array } | { drain: true };

/** How a job fails when its pool closes. */
export function poolClosed(): LadingError {
  return new LadingError("io", "probe pool is closed");
}

interface PendingJob {
  resolve: (file: ScannedFile) => void;
  reject: (error: unknown) => void;
}

interface PoolWorker {
  worker: Worker;
  /** Single jobs handed to this worker and not yet answered. */
  jobs: number;
  exited: boolean;
  /** Called when the worker answers a drain, or exits. */
  drained?: () => void;
}

/** Jobs shared by the workers and the calling thread (see ProbePool.share). */
export interface SharedJobs {
  /** Takes the next job for the calling thread: its index, or undefined when every job is taken. */
  claim(): number | undefined;
  /** The result of a job a worker took (never settles for one the caller claimed). */
  result(index: number): Promise<ScannedFile>;
}

export class ProbePool {
  private readonly workers: PoolWorker[] = [];
  private readonly pending = new Map<number, PendingJob>();
  private nextId = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Set to 1 when the pool closes (see ProbeMessage). */
  private readonly stop = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));

  private constructor(
    private readonly script: string,
    private readonly size: number,
  ) {}

  /** A pool when the machine has a core to spare and the compiled worker exists; else undefined. */
  static create(): ProbePool | undefined {
    const size = poolSize();
    const script = workerScript();
    if (size < 1 || script === undefined) return undefined;
    return new ProbePool(script, size);
  }

  /** Whether a worker is (or can be started) with nothing to do. */
  hasIdleWorker(): boolean {
    if (this.closed) return false;
    return this.workers.length < this.size || this.workers.some((entry) => entry.jobs === 0);
  }

  /** Hands one job to an idle worker (or the least busy one). */
  probe(job: Omit<ProbeJob, "id">): Promise<ScannedFile> {
    if (this.closed) return Promise.reject(poolClosed());
    const entry = this.workers.find((candidate) => candidate.jobs === 0) ?? (this.workers.length < this.size ? this.spawn() : this.leastBusy());
    const id = this.nextId++;
    const done = this.expect(id);
    entry.jobs++;
    const settled = (): void => {
      entry.jobs--;
    };
    done.then(settled, settled);
    entry.worker.postMessage({ job: { ...job, id }, stop: this.stop } satisfies ProbeMessage);
    return done;
  }

  /**
   * Shares `jobs` between every worker and the caller: each thread takes the next job not yet
   * taken, in the order given, when it is free. A worker busy with a single job joins when done
   * with it. No thread waits on another to be handed work, so they finish within one job of each
   * other (largest jobs first keeps that last one small).
   */
  share(jobs: Omit<ProbeJob, "id">[]): SharedJobs {
    const next = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    const numbered = jobs.map((job) => ({ ...job, id: this.nextId++ }));
    const results = numbered.map((job) => this.expect(job.id));
    for (const result of results) result.catch(() => undefined); // a job the caller claims is never answered
    if (!this.closed) {
      this.warmUp();
      for (const entry of this.workers) entry.worker.postMessage({ jobs: numbered, next, stop: this.stop } satisfies ProbeMessage);
    }
    return {
      claim: () => {
        const index = Atomics.add(next, 0, 1);
        if (index >= numbered.length) return undefined;
        this.pending.delete((numbered[index] as ProbeJob).id);
        return index;
      },
      result: (index) => results[index] as Promise<ScannedFile>,
    };
  }

  /**
   * Stops every worker; jobs still in flight reject. Each worker is told to stop and drained
   * before it is terminated: one terminated in the middle of a job, or of loading its modules,
   * left what it had open, or was opening, open in this process for good (an ingest file, the
   * archive, a module file).
   */
  close(): Promise<void> {
    this.closing ??= this.stopWorkers();
    return this.closing;
  }

  private async stopWorkers(): Promise<void> {
    this.closed = true;
    Atomics.store(this.stop, 0, 1);
    await Promise.all(this.workers.map((entry) => this.drain(entry)));
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
    this.failAll(poolClosed());
  }

  private drain(entry: PoolWorker): Promise<void> {
    if (entry.exited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      entry.drained = resolve;
      entry.worker.postMessage({ drain: true } satisfies ProbeMessage);
    });
  }

  /** Starts every worker not yet started. */
  private warmUp(): void {
    while (!this.closed && this.workers.length < this.size) this.spawn();
  }

  private expect(id: number): Promise<ScannedFile> {
    return new Promise<ScannedFile>((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  private leastBusy(): PoolWorker {
    return this.workers.reduce((least, entry) => (entry.jobs < least.jobs ? entry : least));
  }

  /** A worker that fails leaves its jobs, and those it might have taken from a shared list, unanswered: all fail. */
  private failAll(error: unknown): void {
    for (const job of this.pending.values()) job.reject(error);
    this.pending.clear();
  }

  private spawn(): PoolWorker {
    const worker = spareWorkers.shift() ?? new Worker(this.script);
    worker.ref();
    const entry: PoolWorker = { worker, jobs: 0, exited: false };
    worker.on("message", (reply: ProbeReply) => {
      if ("drained" in reply) {
        entry.drained?.();
        return;
      }
      const job = this.pending.get(reply.id);
      if (job === undefined) return;
      this.pending.delete(reply.id);
      if ("error" in reply) {
        const kind = (reply.error.kind ?? "io") as ErrorKind;
        job.reject(new LadingError(kind, reply.error.message, reply.error.subject === undefined ? undefined : { subject: reply.error.subject }));
      } else job.resolve(revive(reply.file));
    });
    worker.on("error", (error) => this.failAll(error));
    worker.on("exit", (code) => {
      entry.exited = true;
      entry.drained?.();
      this.failAll(new LadingError("io", `probe worker stopped (exit code ${code})`));
    });
    this.workers.push(entry);
    return entry;
  }
}

/**
 * Workers started ahead by prestartProbeWorkers and not yet taken by a pool. Kept on globalThis:
 * bin/lading.js starts them through dist/archive/probe-pool.js, and the CLI's bundle, loaded
 * next, has its own copy of this module.
 */
const SPARE_WORKERS = Symbol.for("lading.spareProbeWorkers");
const spareWorkers = ((globalThis as Record<symbol, Worker[] | undefined>)[SPARE_WORKERS] ??= []);

/**
 * Starts the workers a pool would start, before any archive is opened, for a command about to
 * read one: a worker takes ~100 ms to boot, which then overlaps the program's own start instead
 * of delaying the first layer handed to it. The first pool to need workers takes these. One never
 * taken does not keep the process alive.
 */
export function prestartProbeWorkers(): void {
  const script = workerScript();
  if (script === undefined) return;
  while (spareWorkers.length < poolSize()) {
    const worker = new Worker(script);
    worker.unref();
    // One that fails or stops before a pool takes it is dropped, so a pool never takes a dead one.
    const drop = (): void => {
      const index = spareWorkers.indexOf(worker);
      if (index !== -1) spareWorkers.splice(index, 1);
    };
    worker.once("error", drop);
    worker.once("exit", drop);
    spareWorkers.push(worker);
  }
}

/** How many prestarted workers wait for a pool. */
export function spareProbeWorkers(): number {
  return spareWorkers.length;
}

/** Workers beside the calling thread: one per other core, at most 3. */
function poolSize(): number {
  return Math.min(availableParallelism() - 1, 3);
}

/** Structured cloning turns a Buffer into a plain Uint8Array. */
function revive(file: ScannedFile): ScannedFile {
  const json = file.json as Uint8Array | undefined;
  return json === undefined ? file : { ...file, json: Buffer.from(json.buffer, json.byteOffset, json.byteLength) };
}

/**
 * The compiled worker. Under the test runner this module is the TypeScript source, which a
 * Worker cannot load; the build output in dist/ is used then. Named from one directory below
 * dist/, where this module and the CLI's bundle (dist/cli/lading.js) both are.
 */
function workerScript(): string | undefined {
  const here = import.meta.url;
  const compiled = new URL(here.endsWith(".ts") ? "../../dist/archive/probe-worker.js" : "../archive/probe-worker.js", here);
  const path = fileURLToPath(compiled);
  return existsSync(path) ? path : undefined;
}
