/**
 * Keeps `prune` from deleting a blob a running load is about to reference.
 *
 * A load holds a lease for its whole run: a file leases/<owner>-<random>, created under the gc
 * lock so that it cannot start while a prune is deleting. A prune takes the gc lock (so no new
 * lease starts) and then waits until no lease of a live process remains. A lease left by a
 * killed process is ignored and removed.
 *
 * Whether the owner of a lease still runs is asked of the process table when the lease comes
 * from this pid namespace (see process-alive.ts); the lease holds its owner's start time, so a
 * pid that a killed load left and another process reuses does not keep it alive. A lease from another namespace (a container or
 * host sharing the store) cannot be judged that way: its owner refreshes its mtime while it runs,
 * and it counts as abandoned once it has not been refreshed for LEASE_STALE_MS. (Across hosts
 * this assumes their clocks agree to within that margin.)
 *
 * A job that only reads the store (save, push) may run without a lease when the store cannot be
 * written at all (a read-only mount, or a store this user may only read): no lease can be made,
 * and a prune cannot run through that path either. Each blob it reads is still checked against
 * its digest, so a prune through some other, writable path fails the job instead of corrupting it.
 */
import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, readdir, readFile, stat, unlink, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import { cannotCreateDirectory, cannotWrite, isWriteRefusal, LadingError } from "../core/errors.js";
import { removeOnExit } from "./exit-cleanup.js";
import { withFileLock, type HeldLock } from "./lock.js";
import { makeDirectories } from "./root.js";
import { addLeftovers, NO_LEFTOVERS, ownerGone, ownerOfTaggedName, ownerTag, processStartTime, type FileOwner, type Leftovers } from "./process-alive.js";

const LEASE_HEARTBEAT_MS = 10_000;
/** A lease of another pid namespace not refreshed for this long counts as its owner's that is gone. */
export const LEASE_STALE_MS = 60_000;

interface LeaseState {
  name: string;
  size: number;
  owner: FileOwner | undefined;
  /** The start time of the process that took the lease (see processStartTime); "" if unknown. */
  startedAt: string;
  live: boolean;
}

export class GcLock {
  private readonly leases: string;
  /** What the gc lock locks: its directory is `<root>/gc.lock`. */
  readonly lockTarget: string;

  constructor(root: string) {
    this.leases = path.join(root, "leases");
    this.lockTarget = path.join(root, "gc");
  }

  /** Runs `fn` under a lease (many may run at once). */
  async withLease<T>(fn: () => Promise<T>): Promise<T> {
    await this.makeLeases();
    const lease = path.join(this.leases, `${ownerTag()}-${randomBytes(8).toString("hex")}`);
    const forget = removeOnExit(lease);
    const heartbeat = setInterval(() => {
      const now = new Date();
      utimes(lease, now, now).catch(() => undefined);
    }, LEASE_HEARTBEAT_MS);
    heartbeat.unref();
    try {
      await withFileLock(this.lockTarget, () => writeFile(lease, processStartTime(process.pid) ?? "").catch((error: unknown) => Promise.reject(cannotWrite(lease, error))));
      return await fn();
    } finally {
      clearInterval(heartbeat);
      await unlink(lease).catch(() => undefined);
      forget();
    }
  }

  /**
   * Runs `fn`, which only reads the store, under a lease, or without one if the store cannot be
   * written (read-only media, a user who may only read it, a full disk that takes no lease file).
   */
  async withReadLease<T>(fn: () => Promise<T>): Promise<T> {
    if (!(await this.writable())) return fn();
    let leased = false;
    try {
      return await this.withLease(() => {
        leased = true;
        return fn();
      });
    } catch (error) {
      if (leased || !isWriteRefusal(error)) throw error;
      return fn();
    }
  }

  /**
   * Runs `fn` exclusively: no lease is held by a live process while it runs. `fn` must call
   * `lock.assertHeld()` before each thing it removes: a holder stopped past the stale period
   * (Ctrl-Z) may have had the lock taken over by a load that now needs what it would remove.
   */
  async withExclusive<T>(fn: (lock: HeldLock) => Promise<T>, timeoutMs = 600_000): Promise<T> {
    await this.makeLeases();
    return withFileLock(
      this.lockTarget,
      async (lock) => {
        const deadline = Date.now() + timeoutMs;
        while ((await this.liveLeases()) > 0) {
          if (Date.now() > deadline) throw new LadingError("conflict", "a load is still running; try again when it has finished");
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return fn(lock);
      },
      { timeoutMs },
    );
  }

  /** Makes leases/ if it is missing (a copy of the store may leave it out, being empty). */
  private async makeLeases(): Promise<void> {
    await makeDirectories(this.leases).catch((error: unknown) => Promise.reject(cannotCreateDirectory(this.leases, error)));
  }

  /** Whether a lease can be written: leases/ can, or (without it) the store's root can. */
  private async writable(): Promise<boolean> {
    for (const dir of [this.leases, path.dirname(this.leases)]) {
      try {
        await access(dir, constants.W_OK);
        return true;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EROFS" || code === "EACCES") return false;
        if (code !== "ENOENT") throw error;
      }
    }
    return true;
  }

  /**
   * Whether a process of another pid namespace that left files in the store has no live lease,
   * so has finished or died, as of now. Given the start time the files recorded of it, a lease
   * of a later process that was given the same pid does not count.
   */
  async foreignOwnerGone(): Promise<(owner: FileOwner, startedAt?: string) => boolean> {
    const holders = (await this.leaseStates()).filter((lease) => lease.live);
    const sameProcess = (holderStart: string, startedAt: string | undefined): boolean => !startedAt || !holderStart || holderStart === startedAt;
    return (owner, startedAt) =>
      !holders.some(({ owner: holder, startedAt: holderStart }) => holder!.pid === owner.pid && holder!.namespace === owner.namespace && sameProcess(holderStart, startedAt));
  }

  /** Removes (or with `remove: false` only counts) the leases of processes that are gone: a killed load's. */
  async cleanDeadLeases({ remove = true }: { remove?: boolean } = {}): Promise<Leftovers> {
    let found = NO_LEFTOVERS;
    for (const lease of await this.leaseStates()) {
      if (lease.live) continue;
      if (!remove || (await unlink(path.join(this.leases, lease.name)).then(() => true, () => false))) found = addLeftovers(found, { files: 1, bytes: lease.size });
    }
    return found;
  }

  private async liveLeases(): Promise<number> {
    let live = 0;
    for (const lease of await this.leaseStates()) {
      if (lease.live) live++;
      else await unlink(path.join(this.leases, lease.name)).catch(() => undefined);
    }
    return live;
  }

  private async leaseStates(): Promise<LeaseState[]> {
    const names = await readdir(this.leases).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    const now = Date.now();
    const states: LeaseState[] = [];
    for (const name of names) {
      const owner = ownerOfTaggedName(name);
      const file = path.join(this.leases, name);
      const info = await stat(file).catch(() => undefined);
      const startedAt = await readFile(file, "utf8").catch(() => undefined);
      if (info === undefined || startedAt === undefined) continue; // released meanwhile
      const started = startedAt.trim();
      states.push({ name, size: info.size, owner, startedAt: started, live: owner !== undefined && !ownerGone(owner, () => now - info.mtimeMs > LEASE_STALE_MS, started) });
    }
    return states;
  }
}
