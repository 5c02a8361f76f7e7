// A probe pool closes its workers only once they have stopped: a worker terminated in the middle
// of a job (or of loading its modules) left what it had open, or was opening, open in this
// process for good. A load that failed while a worker copied a layer into its ingest file kept
// that file's descriptor, and the space of the file, already removed, with it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ProbePool } from "../../src/archive/probe-pool.js";
import { ensureBuilt } from "../support/archive-builder.js";
import { settledOpenDescriptors, under } from "../support/open-descriptors.js";

beforeAll(() => ensureBuilt(), 120_000); // the workers run the compiled probe

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

const LIMITS = { maxJsonBytes: 1024 * 1024, maxLayerBytes: 1024 * 1024 * 1024 };
const SIZE = 4 * 1024 * 1024;

describe("a probe pool closed while a worker runs a job", () => {
  it("leaves none of the job's files open: not the file read, not the ingest file written", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lading-pool-close-"));
    roots.push(dir);
    const layer = join(dir, "layer.tar");
    await writeFile(layer, Buffer.alloc(SIZE, 7));
    await writeFile(join(dir, "small"), "x");
    // The pool closes at a different moment of the job each time, from its start (the ingest
    // file being opened) to its reads: terminated there, the worker kept a descriptor now and then.
    const outcomes: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const pool = ProbePool.create();
      if (pool === undefined) return; // one core: no workers
      await pool.probe({ name: "small", path: join(dir, "small"), offset: 0, size: 1, limits: LIMITS }); // the worker is up
      const ingest = join(dir, `ingest-${attempt}`);
      await writeFile(ingest, "");
      const job = pool.probe({ name: "layer.tar", path: layer, offset: 0, size: SIZE, limits: LIMITS, writeTo: ingest });
      job.catch(() => undefined);
      const until = process.hrtime.bigint() + BigInt(attempt % 10) * 200_000n;
      while (process.hrtime.bigint() < until); // busy: the worker's replies must not come in meanwhile
      await pool.close();
      outcomes.push(await job.then(() => "probed", (error: unknown) => (error as Error).message));
    }
    expect(await settledOpenDescriptors(under(dir))).toEqual([]);
    // A job the pool stopped fails as one it was closed before: not as a worker that died.
    expect(outcomes.filter((outcome) => outcome !== "probed" && outcome !== "probe pool is closed")).toEqual([]);
  });
});
