// Ctrl-C (SIGINT) and SIGTERM stop a command that is waiting on its input half way, and it leaves
// nothing of its own behind: no ingest file or gc lease in the store, no lock, no temp file beside
// the -o name, no scratch store or spool directory in $TMPDIR. The process still dies by the
// signal, as an uncaught one would kill it. Each command reads standard input, which the test
// holds open after half the archive, so the interruption comes at a known point.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage } from "../support/archive-builder.js";
import { filesUnder } from "../support/store-tree.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { entries, until } from "../support/waiting.js";

const BIN = join(REPO_ROOT, "bin", "lading.js");

let scratch: string;
let archive: Buffer;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-interrupt-"));
  const layers = [0, 1].map(() => buildTar([{ type: "file", name: "random.bin", content: randomBytes(4 * 1024 * 1024) }]));
  archive = buildTar(dockerArchiveItems([{ image: makeImage({ layers }), repoTags: ["big/interrupt:1"] }]));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Starts lading with the first `fed` bytes of the archive on standard input, which stays open. */
function startFed(args: string[], env: NodeJS.ProcessEnv, fed: number): { child: ReturnType<typeof spawn>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ["pipe", "ignore", "pipe"] });
  const err: Buffer[] = [];
  child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
  child.stdin!.on("error", () => undefined);
  child.stdin!.write(archive.subarray(0, fed));
  return { child, stderr: () => Buffer.concat(err).toString("utf8") };
}

describe("an interrupted command removes what it made", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`load from a pipe, stopped by ${signal}: no ingest file, lease or lock is left; the store loads the archive afterwards`, async () => {
      const root = join(scratch, `load-${signal}`);
      const { child, stderr } = startFed(["--root", root, "load", "-q"], {}, Math.floor(archive.length * 0.6));
      await until(async () => (await entries(join(root, "ingest"))).length > 0, "an ingest file");
      child.kill(signal);
      const [code, killedBy] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
      expect([code, killedBy, stderr()]).toEqual([null, signal, ""]);
      expect(await entries(join(root, "ingest"))).toEqual([]);
      expect(await entries(join(root, "leases"))).toEqual([]);
      expect((await entries(root)).filter((name) => name.endsWith(".lock"))).toEqual([]);
      expect((await filesUnder(join(root, "blobs"))).length).toBe(0);
      const again = spawnSync(process.execPath, [BIN, "--root", root, "load", "-q"], { cwd: REPO_ROOT, input: archive, encoding: "utf8" });
      expect([again.status, again.stdout, again.stderr]).toEqual([0, "Loaded image: big/interrupt:1\n", ""]);
    });
  }

  it("convert from a pipe to -o, stopped by SIGINT: no temp file beside the output, no scratch store or spool in $TMPDIR", async () => {
    const dir = join(scratch, "convert");
    const temp = join(dir, "tmp");
    await mkdir(temp, { recursive: true });
    const { child, stderr } = startFed(["convert", "--format", "oci", "-", join(dir, "out.tar")], { TMPDIR: temp }, Math.floor(archive.length * 0.6));
    await until(async () => (await entries(dir)).some((name) => name.startsWith(".out.tar.lading-")) && (await entries(temp)).length > 0, "the temp output and scratch directory");
    child.kill("SIGINT");
    const [code, killedBy] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    expect([code, killedBy, stderr()]).toEqual([null, "SIGINT", ""]);
    expect(await entries(dir)).toEqual(["tmp"]);
    expect(await entries(temp)).toEqual([]);
  });
});

