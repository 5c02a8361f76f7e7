// SIGKILL `lading load`, `lading tag` and `lading save -o` at many points of their run. After every
// kill: repositories.json (when present) parses and validates, every blob's content matches its
// name, fsck finds nothing broken but leftover ingest and temp files (which --repair removes), there is no
// half archive under the -o name, and running the same command again succeeds.
// Kill points are spread evenly over the measured duration of one uninterrupted run of the same
// command (process start-up included); which phase each one hits depends on the machine, so the
// assertions hold at every point and nothing asserts on timing. Checks run in-process to keep
// the test short: the only processes started are the commands being killed.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { fsckStore, isLeftover } from "../../src/ops/fsck.js";
import { tagImage, inspectImage, listImages } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { parseRepositoriesJson } from "../../src/store/reference-store.js";
import { Store } from "../../src/store/store.js";
import { buildTar, descriptorOf, dockerArchiveItems, ensureBuilt, makeImage, ociLayoutItems, type CliResult } from "../support/archive-builder.js";
import { withoutLockWaits } from "../support/lock-waits.js";
import { filesUnder, mismatchedBlobs } from "../support/store-tree.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { sleep } from "../support/waiting.js";

const BIN = join(REPO_ROOT, "bin", "lading.js");
const BIG_MEGABYTES = 60;

let scratch: string;
let counter = 0;
let killPoints = 0;
let strayTemporaries = 0;
const big: { docker: string; oci: string; configDigest: string } = { docker: "", oci: "", configDigest: "" };

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-crash-"));
  const layer = buildTar([{ type: "file", name: "random.bin", content: randomBytes(BIG_MEGABYTES * 1024 * 1024) }]);
  const image = makeImage({ layers: [layer] });
  big.configDigest = image.config.digest;
  big.docker = join(scratch, "big-docker.tar");
  big.oci = join(scratch, "big-oci.tar");
  await writeFile(big.docker, buildTar(dockerArchiveItems([{ image, repoTags: ["big/crash:1"] }])));
  await writeFile(big.oci, buildTar(ociLayoutItems([image], {
    indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/big/crash:oci", "org.opencontainers.image.ref.name": "oci" } })],
  })));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  console.log(`kill points survived: ${killPoints}; temporary files left beside -o outputs by killed saves: ${strayTemporaries}`);
});

const newRoot = (): string => join(scratch, `store-${counter++}`);

function start(root: string, ...args: string[]): { done: Promise<CliResult & { killed: boolean }>; kill: () => void } {
  const child = spawn(process.execPath, [BIN, "--root", root, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
  const done = new Promise<CliResult & { killed: boolean }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) =>
      resolve({ code: code ?? -1, killed: signal === "SIGKILL", stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }),
    );
  });
  return { done, kill: () => child.kill("SIGKILL") };
}

const lading = (root: string, ...args: string[]): Promise<CliResult> => start(root, ...args).done;

/** Starts the command, kills it after `delay` ms (if it has not finished), and waits for it to end. */
async function killAfter(delay: number, root: string, ...args: string[]): Promise<CliResult & { killed: boolean }> {
  const run = start(root, ...args);
  await Promise.race([sleep(delay), run.done]);
  run.kill();
  const result = await run.done;
  // Killed or finished on its own: either way it must not have failed.
  if (!result.killed) expect([result.code, withoutLockWaits(result.stderr)]).toEqual([0, ""]);
  return result;
}

/** Everything a killed command must leave intact. */
async function expectConsistentStore(root: string): Promise<void> {
  if (!existsSync(root)) return; // killed before the store was created
  const repositories = await readFile(join(root, "repositories.json"), "utf8").catch(() => undefined);
  if (repositories !== undefined) expect(() => parseRepositoriesJson(repositories, "repositories.json")).not.toThrow();
  // A kill during the store's creation may leave blobs/ not yet made; the next open completes the layout.
  if (existsSync(join(root, "blobs"))) expect(await mismatchedBlobs(root)).toEqual([]);
  const report = await fsckStore(await Store.open(root), true);
  // Only leftovers of the interrupted run may be found (and are removed): ingest files, the temp
  // file of a record or reference write, a load's pending-records marker; no broken blob, image or reference.
  expect(report.problems.filter((problem) => !isLeftover(problem))).toEqual([]);
  // A load killed before its references leaves no image that nothing reported.
  expect((await listImages(await Store.open(root))).filter((image) => image.repoTags.length === 0)).toEqual([]);
  expect(await filesUnder(join(root, "ingest"))).toEqual([]);
  const temporaries = [...(await readdir(root)), ...(await readdir(join(root, "images")).catch(() => []))].filter((name) => name.includes(".tmp-"));
  expect(temporaries).toEqual([]);
}

/** fsck through the CLI, as an operator would run it after a crash. */
async function expectCleanFsck(root: string): Promise<void> {
  const fsck = await lading(root, "fsck", "--json");
  expect([fsck.code, (JSON.parse(fsck.stdout) as { problems: unknown[] }).problems]).toEqual([0, []]);
}

/** Wall time of one uninterrupted run, to spread kill points over (never asserted on). */
async function timed(root: string, ...args: string[]): Promise<number> {
  const begin = performance.now();
  const result = await lading(root, ...args);
  expect([result.code, result.stderr]).toEqual([0, ""]);
  return performance.now() - begin;
}

/** `count` delays spread evenly over a run of `duration` ms, plus a margin past its end. */
const spread = (count: number, duration: number): number[] => Array.from({ length: count }, (_, index) => Math.round(((index + 0.5) / count) * duration * 1.1));

async function configDigestOf(root: string, reference: string): Promise<string> {
  const entry = await inspectImage(await Store.open(root), reference);
  return String(entry.ConfigDigest);
}

const LOAD_KILLS = 22;
const TAG_KILLS = 16;
const SAVE_KILLS = 16;

describe("SIGKILL during lading load", () => {
  it(`${LOAD_KILLS} kill points over loads of ${BIG_MEGABYTES} MB archives: consistent store, the next load succeeds`, async () => {
    const duration = await timed(newRoot(), "load", "-q", "-i", big.docker);
    for (const [index, delay] of spread(LOAD_KILLS, duration).entries()) {
      // Alternate a docker-archive and an OCI archive of the same image.
      const [archive, tag] = index % 2 === 0 ? [big.docker, "big/crash:1"] : [big.oci, "big/crash:oci"];
      const root = newRoot();
      await killAfter(delay, root, "load", "-q", "-i", archive);
      await expectConsistentStore(root);
      const store = await Store.open(root);
      const again = await loadArchive(store, await openArchivePath(archive));
      expect(again.images.map((image) => [image.tags, image.configDigest])).toEqual([[[tag], big.configDigest]]);
      expect(await configDigestOf(root, tag)).toBe(big.configDigest);
      await expectConsistentStore(root);
      if (index === LOAD_KILLS - 1) await expectCleanFsck(root);
      killPoints++;
      await rm(root, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("SIGKILL during lading tag", () => {
  it(`${TAG_KILLS} kill points over tag commands: repositories.json stays valid, every tag is all or nothing`, async () => {
    const root = newRoot();
    const small = join(scratch, "small.tar");
    await writeFile(small, buildTar(dockerArchiveItems([{ image: makeImage({ seed: "tag" }), repoTags: ["small/app:1"] }])));
    await loadArchive(await Store.open(root), await openArchivePath(small));
    const smallConfig = await configDigestOf(root, "small/app:1");
    const duration = await timed(root, "tag", "small/app:1", "loop/tag:first");
    for (const [index, delay] of spread(TAG_KILLS, duration).entries()) {
      await killAfter(delay, root, "tag", "small/app:1", `loop/tag:${index}`);
      await expectConsistentStore(root);
      // The tag either landed whole or not at all; tagging again succeeds.
      const refs = parseRepositoriesJson(await readFile(join(root, "repositories.json"), "utf8"), "repositories.json").Repositories["loop/tag"] ?? {};
      if (refs[`loop/tag:${index}`] !== undefined) expect(await configDigestOf(root, `loop/tag:${index}`)).toBe(smallConfig);
      await tagImage(await Store.open(root), "small/app:1", `loop/tag:${index}`);
      expect(await configDigestOf(root, `loop/tag:${index}`)).toBe(smallConfig);
      killPoints++;
    }
    const repositories = parseRepositoriesJson(await readFile(join(root, "repositories.json"), "utf8"), "repositories.json");
    expect(Object.keys(repositories.Repositories["loop/tag"] ?? {}).sort()).toEqual(["loop/tag:first", ...Array.from({ length: TAG_KILLS }, (_, index) => `loop/tag:${index}`)].sort());
    await expectCleanFsck(root);
  }, 180_000);
});

describe("SIGKILL during lading save -o", () => {
  it(`${SAVE_KILLS} kill points over saves of a ${BIG_MEGABYTES} MB image: no half archive under the -o name`, async () => {
    const root = newRoot();
    await loadArchive(await Store.open(root), await openArchivePath(big.docker));
    const outDir = join(scratch, "saved");
    await mkdir(outDir, { recursive: true });
    const duration = await timed(root, "save", "-q", "-o", join(outDir, "first.tar"), "big/crash:1");
    for (const [index, delay] of spread(SAVE_KILLS, duration).entries()) {
      const output = join(outDir, `out-${index}.tar`);
      const result = await killAfter(delay, root, "save", "-q", "-o", output, "big/crash:1");
      if (existsSync(output)) {
        const report = await verifyArchive(await openArchivePath(output));
        expect([report.valid, report.problems, report.images.map((image) => image.configDigest)]).toEqual([true, [], [big.configDigest]]);
      } else {
        expect(result.killed).toBe(true);
      }
      await expectConsistentStore(root);
      killPoints++;
    }
    // A killed save may leave its temporary file beside the output (nothing can remove it at
    // SIGKILL); it must never carry an output's name. Counted, for the report.
    const outputs = new Set(["first.tar", ...Array.from({ length: SAVE_KILLS }, (_, index) => `out-${index}.tar`)]);
    strayTemporaries = (await readdir(outDir)).filter((name) => !outputs.has(name)).length;
    const again = await lading(root, "save", "-q", "-o", join(outDir, "out-0.tar"), "big/crash:1");
    expect([again.code, withoutLockWaits(again.stderr)]).toEqual([0, ""]);
    expect((await lading(root, "verify", join(outDir, "out-0.tar"))).code).toBe(0);
    await expectCleanFsck(root);
  }, 180_000);
});
