// Property: a valid archive damaged at random (bytes flipped, cut short, 512-byte blocks
// duplicated or swapped) is either still accepted with every digest verified, or refused with
// one-line problems. verify and load never throw anything but a LadingError, never hang, and a
// refused load leaves the store byte-identical with nothing left in ingest/.
// FC_NUM_RUNS scales the case count and FC_SEED changes the seed (see test/property/long-run.mjs).
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTarStream } from "../../src/archive/source.js";
import { isLadingError } from "../../src/core/errors.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyArchive, type VerifyReport } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { filesUnder, mismatchedBlobs, snapshotTree } from "../support/store-tree.js";
import { REPO_ROOT } from "../ops/load-expectations.js";

const BLOCK = 512;
const CASE_TIMEOUT_MS = 5_000;
const SEED = process.env.FC_SEED === undefined ? 20_240_606 : Number(process.env.FC_SEED);
/** Total cases per property family across all archives; FC_NUM_RUNS overrides the verify total. */
const VERIFY_RUNS = Number(process.env.FC_NUM_RUNS ?? 2100);
const LOAD_RUNS = Math.max(30, Math.round(VERIFY_RUNS / 10));

const ARCHIVES = [
  "../shared/fixtures/archives/skopeo-docker-archive.tar",
  "../shared/fixtures/archives/skopeo-oci-archive.tar",
  "testdata/oci-multiplatform.tar",
].filter((path) => existsSync(join(REPO_ROOT, path)));

type Mutation =
  | { kind: "flip"; offset: number; mask: number }
  | { kind: "cut"; length: number }
  | { kind: "duplicate"; from: number; blocks: number; at: number }
  | { kind: "swap"; a: number; b: number; blocks: number };

/** Positions are fractions of the archive size so one arbitrary serves archives of every size. */
const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
/** A mutation before it is placed: `p` and `q` pick positions, `n` a mask or a block count. */
interface RawMutation {
  kind: Mutation["kind"];
  p: number;
  q: number;
  n: number;
}
const mutationArb: fc.Arbitrary<RawMutation> = fc.record({
  kind: fc.constantFrom<Mutation["kind"]>("flip", "flip", "cut", "duplicate", "swap"),
  p: fraction,
  q: fraction,
  n: fc.integer({ min: 1, max: 255 }),
});

function concrete(raw: RawMutation, size: number): Mutation {
  const blocksIn = Math.max(1, Math.floor(size / BLOCK));
  const block = (fractionOf: number): number => Math.floor(fractionOf * blocksIn);
  switch (raw.kind) {
    case "flip":
      return { kind: "flip", offset: Math.floor(raw.p * size), mask: raw.n };
    case "cut":
      return { kind: "cut", length: Math.floor(raw.p * size) };
    case "duplicate":
      return { kind: "duplicate", from: block(raw.p), blocks: 1 + (raw.n % 8), at: block(raw.q) };
    case "swap":
      return { kind: "swap", a: block(raw.p), b: block(raw.q), blocks: 1 + (raw.n % 4) };
  }
}

function apply(bytes: Buffer, mutation: Mutation): Buffer {
  const out = Buffer.from(bytes);
  switch (mutation.kind) {
    case "flip":
      if (mutation.offset < out.length) out[mutation.offset] = (out[mutation.offset] ?? 0) ^ mutation.mask;
      return out;
    case "cut":
      return out.subarray(0, mutation.length);
    case "duplicate": {
      const range = out.subarray(mutation.from * BLOCK, (mutation.from + mutation.blocks) * BLOCK);
      const at = Math.min(mutation.at * BLOCK, out.length);
      return Buffer.concat([out.subarray(0, at), range, out.subarray(at)]);
    }
    case "swap": {
      const [low, high] = mutation.a <= mutation.b ? [mutation.a, mutation.b] : [mutation.b, mutation.a];
      const length = Math.min(mutation.blocks, high - low) * BLOCK; // ranges never overlap
      if (length === 0 || high * BLOCK + length > out.length) return out;
      const first = Buffer.from(out.subarray(low * BLOCK, low * BLOCK + length));
      out.copy(out, low * BLOCK, high * BLOCK, high * BLOCK + length);
      first.copy(out, high * BLOCK);
      return out;
    }
  }
}

const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 3 });

function mutate(original: Buffer, raws: readonly RawMutation[]): { bytes: Buffer; applied: Mutation[] } {
  let bytes = original;
  const applied: Mutation[] = [];
  for (const raw of raws) {
    const mutation = concrete(raw, bytes.length);
    applied.push(mutation);
    bytes = apply(bytes, mutation);
  }
  return { bytes, applied };
}

/** Rejects when `work` has not settled within the case timeout: a hang fails the property. */
async function withinTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${CASE_TIMEOUT_MS} ms (hang)`)), CASE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const open = (bytes: Buffer): ReturnType<typeof openTarStream> => openTarStream(Readable.from([bytes]), bytes.length);

/** A one-line message without a stack frame. */
function expectOneLine(message: unknown): void {
  expect(typeof message).toBe("string");
  expect(message as string).not.toMatch(/[\r\n]/);
  expect(message as string).not.toContain("    at ");
  expect((message as string).length).toBeGreaterThan(0);
}

function expectTypedFailure(error: unknown): void {
  if (!isLadingError(error)) throw new Error(`not a LadingError: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  expectOneLine(error.message);
}

function expectSoundReport(report: VerifyReport): void {
  if (report.valid) {
    expect(report.problems).toEqual([]);
    expect(report.images.length).toBeGreaterThan(0);
    for (const image of report.images) for (const layer of image.layers) expect(layer.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
  } else {
    expect(report.problems.length).toBeGreaterThan(0);
    for (const problem of report.problems) {
      expect(typeof problem.entry).toBe("string");
      expectOneLine(problem.message);
    }
  }
}

/** Splits a total over the archives, at least `floor` each. */
const perArchive = (total: number, floor: number): number => Math.max(floor, Math.ceil(total / Math.max(1, ARCHIVES.length)));

describe.skipIf(ARCHIVES.length === 0)("verifyArchive of mutated archives", () => {
  let stats = { valid: 0, invalid: 0 };
  afterAll(() => {
    // The property must actually exercise refusals, not only lucky no-op mutations.
    expect(stats.invalid).toBeGreaterThan(stats.valid);
    stats = { valid: 0, invalid: 0 };
  });

  for (const path of ARCHIVES) {
    it(`${path}: accepted with every digest verified, or refused with one-line problems`, async () => {
      const original = readFileSync(join(REPO_ROOT, path));
      const baseline = await verifyArchive(await open(original));
      expect([baseline.valid, baseline.problems]).toEqual([true, []]);

      await fc.assert(
        fc.asyncProperty(mutationsArb, async (raws) => {
          const { bytes } = mutate(original, raws);
          let report: VerifyReport;
          try {
            report = await withinTimeout(
              open(bytes).then((source) => verifyArchive(source)),
              "verify",
            );
          } catch (error) {
            expectTypedFailure(error);
            stats.invalid++;
            return;
          }
          expectSoundReport(report);
          if (report.valid) stats.valid++;
          else stats.invalid++;
        }),
        { seed: SEED, numRuns: perArchive(VERIFY_RUNS, 50), endOnFailure: true },
      );
    });
  }
});

describe.skipIf(ARCHIVES.length === 0)("loadArchive of mutated archives", () => {
  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "lading-property-load-"));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  for (const [index, path] of ARCHIVES.entries()) {
    it(`${path}: a refused load leaves the store byte-identical and ingest/ empty`, async () => {
      const original = readFileSync(join(REPO_ROOT, path));
      // An empty store, and one that already holds the original (its blobs take the "already present" path).
      const emptyRoot = join(scratch, `empty-${index}`);
      const seededRoot = join(scratch, `seeded-${index}`);
      const stores = { empty: await Store.open(emptyRoot), seeded: await Store.open(seededRoot) };
      await loadArchive(stores.seeded, await open(original));
      // The first load of a store creates leases/ even when refused; warm the empty store so that
      // the property compares against a store that has been used once.
      await expect(loadArchive(stores.empty, await open(Buffer.alloc(1024)))).rejects.toThrow();
      const roots = { empty: emptyRoot, seeded: seededRoot };
      let refused = 0;

      await fc.assert(
        fc.asyncProperty(mutationsArb, fc.constantFrom<"empty" | "seeded">("empty", "seeded"), async (raws, which) => {
          const { bytes } = mutate(original, raws);
          const root = roots[which];
          const before = await snapshotTree(root);
          let failure: unknown;
          try {
            await withinTimeout(
              open(bytes).then((source) => loadArchive(stores[which], source)),
              "load",
            );
          } catch (error) {
            failure = error;
          }
          expect(await filesUnder(join(root, "ingest"))).toEqual([]);
          expect(await mismatchedBlobs(root)).toEqual([]);
          if (failure === undefined) return;
          refused++;
          expectTypedFailure(failure);
          expect(await snapshotTree(root)).toEqual(before);
        }),
        { seed: SEED, numRuns: perArchive(LOAD_RUNS, 30), endOnFailure: true },
      );
      expect(refused).toBeGreaterThan(0);
    });
  }
});
