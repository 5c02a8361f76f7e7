// Which leases keep a prune waiting: those of running processes, judged in their own namespace.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GcLock } from "../../src/store/gc-lock.js";
import { ownNamespace, processStartTime } from "../../src/store/process-alive.js";

let root: string;
let leases: string;
let sleeper: ChildProcess;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "lading-gc-lock-"));
  leases = path.join(root, "leases");
  await mkdir(leases);
  sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  await once(sleeper, "spawn");
});
afterEach(async () => {
  sleeper.kill();
  await rm(root, { recursive: true, force: true });
});

const exclusive = (gc: GcLock): Promise<string> => gc.withExclusive(async () => "ran", 1500);

describe.skipIf(processStartTime(process.pid) === undefined)("gc leases", () => {
  it("a lease records its owner's start time", async () => {
    const gc = new GcLock(root);
    const seen = await gc.withLease(async () => {
      const [name] = await readdir(leases);
      return { name, content: await readFile(path.join(leases, name!), "utf8") };
    });
    expect(seen.name).toMatch(new RegExp(`^${process.pid}-n${ownNamespace()}-[0-9a-f]{16}$`));
    expect(seen.content).toBe(processStartTime(process.pid));
    expect(await readdir(leases)).toEqual([]);
  });

  it("the lease of a running process keeps a prune waiting", async () => {
    const lease = `${sleeper.pid}-n${ownNamespace()}-00112233aabbccdd`;
    await writeFile(path.join(leases, lease), processStartTime(sleeper.pid!)!);
    await expect(exclusive(new GcLock(root))).rejects.toMatchObject({ kind: "conflict", message: "a load is still running; try again when it has finished" });
    expect(await readdir(leases)).toEqual([lease]);
  });

  it("a lease whose pid now runs another process (the load was killed, the pid reused) is removed", async () => {
    const lease = `${sleeper.pid}-n${ownNamespace()}-00112233aabbccdd`;
    const startedEarlier = String(Number(processStartTime(sleeper.pid!)) - 1);
    await writeFile(path.join(leases, lease), startedEarlier);
    expect(await exclusive(new GcLock(root))).toBe("ran");
    expect(await readdir(leases)).toEqual([]);
  });

  it("a lease of an earlier version (no namespace, no start time) counts while its pid runs", async () => {
    const lease = `${sleeper.pid}-00112233aabbccdd`;
    await writeFile(path.join(leases, lease), "");
    await expect(exclusive(new GcLock(root))).rejects.toMatchObject({ kind: "conflict" });
    sleeper.kill();
    await once(sleeper, "exit");
    expect(await exclusive(new GcLock(root))).toBe("ran");
    expect(await readdir(leases)).toEqual([]);
  });
});
