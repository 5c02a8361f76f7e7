// A store shared by processes in different pid namespaces (two containers with one store volume):
// a pid in a lease or ingest file name means nothing to a process of another namespace, so a
// prune there must neither take a running load's files for a dead process's, nor wait forever
// on the lease of a load that was killed. Real processes in a real pid namespace (unshare).
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage } from "../support/archive-builder.js";
import { requirePeers } from "../support/peers.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { entries, sleep, until } from "../support/waiting.js";

const BIN = join(REPO_ROOT, "bin", "lading.js");
const IN_NEW_PID_NAMESPACE = ["unshare", "--pid", "--fork", "--mount-proc"];
const canUnshare = requirePeers("unshare") && spawnSync("unshare", [...IN_NEW_PID_NAMESPACE, "true"]).status === 0;
if (!canUnshare && process.env.CI === "true") throw new Error("unshare --pid fails here; the pid namespace tests need it in CI");

let scratch: string;
let archive: Buffer;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-pidns-"));
  const layers = [0, 1].map(() => buildTar([{ type: "file", name: "random.bin", content: randomBytes(4 * 1024 * 1024) }]));
  archive = buildTar(dockerArchiveItems([{ image: makeImage({ layers }), repoTags: ["shared/volume:1"] }]));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface Running {
  child: ReturnType<typeof spawn>;
  output: () => { stdout: string; stderr: string };
}

function start(command: string[], input?: Buffer): Running {
  const child = spawn(command[0]!, command.slice(1), { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr!.on("data", (chunk: Buffer) => err.push(chunk));
  child.stdin!.on("error", () => undefined);
  if (input !== undefined) child.stdin!.write(input);
  return { child, output: () => ({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }) };
}

async function exitOf({ child, output }: Running): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [code] = (child.exitCode !== null ? [child.exitCode] : await once(child, "exit")) as [number | null];
  return { code, ...output() };
}

describe.skipIf(!canUnshare)("a store shared across pid namespaces", () => {
  it("a prune in another pid namespace waits for a running load instead of removing its lease and ingest files", async () => {
    const root = join(scratch, "running");
    const load = start([process.execPath, BIN, "--root", root, "load", "-q"], archive.subarray(0, Math.floor(archive.length * 0.6)));
    await until(async () => (await entries(join(root, "ingest"))).length > 0 && (await entries(join(root, "leases"))).length > 0, "the load's ingest file and lease");
    await sleep(500); // the load takes in what it was given, then waits for the rest
    const ingestWhileRunning = await entries(join(root, "ingest"));

    const prune = start([...IN_NEW_PID_NAMESPACE, process.execPath, BIN, "--root", root, "prune"]);
    await sleep(1500);
    expect(prune.child.exitCode).toBe(null);
    expect(await entries(join(root, "ingest"))).toEqual(ingestWhileRunning);

    load.child.stdin!.end(archive.subarray(Math.floor(archive.length * 0.6)));
    expect(await exitOf(load)).toEqual({ code: 0, stdout: "Loaded image: shared/volume:1\n", stderr: "" });
    const pruned = await exitOf(prune);
    expect([pruned.code, pruned.stderr]).toEqual([0, ""]);

    const fsck = spawnSync(process.execPath, [BIN, "--root", root, "fsck"], { cwd: REPO_ROOT, encoding: "utf8" });
    expect([fsck.status, fsck.stderr]).toEqual([0, ""]);
    const inspect = spawnSync(process.execPath, [BIN, "--root", root, "inspect", "shared/volume:1"], { cwd: REPO_ROOT, encoding: "utf8" });
    expect([inspect.status, (JSON.parse(inspect.stdout) as { RepoTags: string[] }[])[0]!.RepoTags]).toEqual([0, ["shared/volume:1"]]);
  });

  it("the lease of a load killed in another pid namespace stops counting once its owner stops refreshing it", async () => {
    const root = join(scratch, "killed");
    const load = start([...IN_NEW_PID_NAMESPACE, "--kill-child=SIGKILL", process.execPath, BIN, "--root", root, "load"], archive.subarray(0, Math.floor(archive.length * 0.6)));
    await until(async () => (await entries(join(root, "ingest"))).length > 0 && (await entries(join(root, "leases"))).length > 0, "the load's ingest file and lease");
    const [lease] = await entries(join(root, "leases"));
    load.child.kill("SIGKILL");
    await once(load.child, "exit");
    // unshare passes the SIGKILL on to the load (--kill-child); the load's files stay behind.
    await until(async () => spawnSync("pgrep", ["-f", "--", `--root ${root} load`]).status === 1, "the killed load to be gone");
    expect(await entries(join(root, "leases"))).toEqual([lease]);

    // Two minutes on: the lease has not been refreshed for longer than it may go unrefreshed.
    const longAgo = new Date(Date.now() - 120_000);
    await utimes(join(root, "leases", lease!), longAgo, longAgo);
    const prune = spawnSync(process.execPath, [BIN, "--root", root, "prune"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 30_000 });
    expect([prune.status, prune.stderr]).toEqual([0, ""]);
    expect(await entries(join(root, "leases"))).toEqual([]);
    expect(await entries(join(root, "ingest"))).toEqual([]);
  });
});
