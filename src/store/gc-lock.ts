/**
 * Keeps `prune` from deleting a blob a running load is about to reference.
 *
 * A load holds a lease for its whole run: a file leases/<pid>-<random>, created under the gc
 * lock so that it cannot start while a prune is deleting. A prune takes the gc lock (so no new
 * lease starts) and then waits until no lease of a live process remains. A lease left by a
 * killed process is ignored and removed.
 *
 * A job that only reads the store (save, push) may run without a lease when the store cannot be
 * written at all (a read-only mount, or a store this user may only read): no lease can be made,
 * and a prune cannot run through that path either. Each blob it reads is still checked against
 * its digest, so a prune through some other, writable path fails the job instead of corrupting it.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readdir, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { LadingError } from "../core/errors.js";
import { removeOnExit } from "./exit-cleanup.js";
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
    const forget = removeOnExit(lease);
    try {
      await withFileLock(this.lockTarget, () => writeFile(lease, ""));
      return await fn();
    } finally {
      await unlink(lease).catch(() => undefined);
      forget();
    }
  }

  /** Runs `fn`, which only reads the store, under a lease, or without one if the store cannot be written. */
  async withReadLease<T>(fn: () => Promise<T>): Promise<T> {
    return (await this.writable()) ? this.withLease(fn) : fn();
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

  private async writable(): Promise<boolean> {
    try {
      await access(this.leases, constants.W_OK);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EROFS" || code === "EACCES") return false;
      if (code === "ENOENT") return true;
      throw error;
    }
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
