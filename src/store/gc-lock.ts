/**
 * Keeps `prune` from deleting a blob a running load is about to reference.
 *
 * A load holds a lease for its whole run: a file leases/<pid>-<random>, created under the gc
 * lock so that it cannot start while a prune is deleting. A prune takes the gc lock (so no new
 * lease starts) and then waits until no lease of a live process remains. A lease left by a
 * killed process is ignored and removed.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { LadingError } from "../core/errors.js";
import { withFileLock } from "./lock.js";
import { processAlive } from "./process-alive.js";

export class GcLock {
  private readonly leases: string;
  private readonly lockTarget: string;

  constructor(root: string) {
    this.leases = path.join(root, "leases");
    this.lockTarget = path.join(root, "gc");
  }

  /** Runs `fn` under a lease (many may run at once). */
  async withLease<T>(fn: () => Promise<T>): Promise<T> {
    await mkdir(this.leases, { recursive: true, mode: 0o700 });
    const lease = path.join(this.leases, `${process.pid}-${randomBytes(8).toString("hex")}`);
    await withFileLock(this.lockTarget, () => writeFile(lease, ""));
    try {
      return await fn();
    } finally {
      await unlink(lease).catch(() => undefined);
    }
  }

  /** Runs `fn` exclusively: no lease is held by a live process while it runs. */
  async withExclusive<T>(fn: () => Promise<T>, timeoutMs = 600_000): Promise<T> {
    await mkdir(this.leases, { recursive: true, mode: 0o700 });
    return withFileLock(
      this.lockTarget,
      async () => {
        const deadline = Date.now() + timeoutMs;
        while ((await this.liveLeases()) > 0) {
          if (Date.now() > deadline) throw new LadingError("conflict", "a load is still running; try again when it has finished");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return fn();
      },
      { timeoutMs },
    );
  }

  private async liveLeases(): Promise<number> {
    let live = 0;
    for (const name of await readdir(this.leases)) {
      const pid = Number(name.split("-")[0]);
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) live++;
      else await unlink(path.join(this.leases, name)).catch(() => undefined);
    }
    return live;
  }
}
