/**
 * A cross-process exclusive lock on a file, for read-modify-write cycles.
 *
 * proper-lockfile takes the lock by mkdir of `<target>.lock` and refreshes the directory's mtime
 * while held. A holder that dies (even by SIGKILL) stops refreshing it, and after `staleMs` the
 * next process removes it and takes over: a dead holder never blocks others for long. Callers in
 * the same process queue in memory first, so they do not poll against each other. A lock this
 * process took is removed as it exits, also on a signal (see lock-directories.ts).
 *
 * The same takeover can befall a holder that is only stopped (Ctrl-Z, SIGSTOP, a suspended
 * machine): once it goes on, `assertHeld` throws a LockLostError, and what that means for the
 * work done under the lock is for the caller to say. One stopped while it takes the lock, between
 * its mkdir and proper-lockfile's look at the new directory, starts taking it again: nothing has
 * been done under it yet.
 */
import { rmdir, stat } from "node:fs/promises";
import path from "node:path";
import { LadingError } from "../core/errors.js";
import { disownLockDirectory, lockDirectoryFs } from "./lock-directories.js";

export interface FileLockOptions {
  /** A lock not refreshed for this long is abandoned (its holder died). Minimum 2000. Default 10 s. */
  staleMs?: number;
  /** How long to wait for a lock held by someone else before giving up. Default 60 s. */
  timeoutMs?: number;
}

export interface HeldLock {
  /** The lock directory, `<target>.lock`. */
  readonly lockPath: string;
  /** Throws if the lock was lost while held (the holder stalled past staleMs and another took it). */
  assertHeld(): void;
}

/** The lock was lost while held: another process may have taken it over. What that means for the work done under it is for the caller to say. */
export class LockLostError extends LadingError {
  constructor(
    readonly lockPath: string,
    cause: Error,
  ) {
    super("io", `lost the lock ${lockPath} while holding it: ${lossReason(cause)}`, { subject: lockPath, cause });
  }
}

/** proper-lockfile's words for a lock it found taken over or gone, said as what happened. */
function lossReason(cause: Error): string {
  if (cause.message === "Unable to update lock within the stale threshold") {
    return "another process took it over, as this one had not refreshed it in time (stopped, or too busy)";
  }
  if ((cause as NodeJS.ErrnoException).syscall !== undefined && /^ENOENT\b/.test(cause.message)) return "its directory was removed by another process";
  return cause.message;
}

/** How long a lock goes unrefreshed before any command takes it over (proper-lockfile's default). */
export const DEFAULT_STALE_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 60_000;
const FIRST_RETRY_MS = 5;
const MAX_RETRY_MS = 250;

const inProcessQueues = new Map<string, Promise<unknown>>();

/** How long a wait for a lock goes unsaid. */
const QUIET_WAIT_MS = 1000;
let waitListener: ((lockPath: string, staleMs: number) => void) | undefined;

/**
 * Calls `listener` once per acquisition that has waited longer than a second for a lock held by
 * another process (the CLI says so on standard error, rather than seem to hang).
 */
export function onLockWait(listener: ((lockPath: string, staleMs: number) => void) | undefined): void {
  waitListener = listener;
}

export async function withFileLock<T>(
  lockTarget: string,
  fn: (lock: HeldLock) => Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const target = path.resolve(lockTarget);
  return queueInProcess(target, () => holdFileLock(target, fn, opts));
}

async function holdFileLock<T>(target: string, fn: (lock: HeldLock) => Promise<T>, opts: FileLockOptions): Promise<T> {
  const lockPath = `${target}.lock`;
  let lostBecause: Error | undefined;
  const release = await acquire(target, lockPath, opts, (error) => {
    lostBecause = error;
  });
  const stall = watchForStalls(opts.staleMs ?? DEFAULT_STALE_MS);
  const held: HeldLock = {
    lockPath,
    assertHeld() {
      lostBecause ??= stall.detected();
      if (lostBecause !== undefined) throw new LockLostError(lockPath, lostBecause);
    },
  };

  let result: T;
  try {
    result = await fn(held);
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  } finally {
    stall.stop();
  }
  try {
    await release();
  } catch (error) {
    held.assertHeld();
    throw new LadingError("io", `could not release the lock ${lockPath}: ${(error as Error).message}`, {
      subject: lockPath,
      cause: error,
    });
  }
  held.assertHeld();
  return result;
}

const HEARTBEAT_MS = 250;

/**
 * A holder stopped (SIGSTOP, Ctrl-Z, a suspended machine) for longer than half the stale period
 * may have had its lock taken over: proper-lockfile refreshes the lock every half period, and
 * notices a takeover only at its next refresh, after the stopped process has already gone on.
 * A gap in this heartbeat (or since its last beat) says so at the first check after the stop.
 */
function watchForStalls(staleMs: number): { detected: () => Error | undefined; stop: () => void } {
  const limit = staleMs / 2;
  let lastBeat = Date.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    longest = Math.max(longest, now - lastBeat);
    lastBeat = now;
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    detected() {
      const gap = Math.max(longest, Date.now() - lastBeat);
      return gap > limit ? new Error(`this process did not run for ${(gap / 1000).toFixed(1)} s (stopped?), longer than half the ${staleMs / 1000} s after which another process may take the lock over`) : undefined;
    },
    stop: () => clearInterval(timer),
  };
}

async function acquire(
  target: string,
  lockPath: string,
  opts: FileLockOptions,
  onCompromised: (error: Error) => void,
): Promise<() => Promise<void>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  const started = Date.now();
  let deadline = started + timeoutMs;
  let delay = FIRST_RETRY_MS;
  let said = false;
  for (;;) {
    const attempt = Date.now();
    try {
      const release = await (await properLockfile()).lock(target, {
        stale: staleMs,
        realpath: false,
        retries: 0,
        fs: lockDirectoryFs,
        onCompromised: (error) => {
          disownLockDirectory(lockPath);
          onCompromised(error);
        },
      });
      if (!stalled(attempt, staleMs)) return release;
      // Another process may have taken the directory over and hold it now: see lock-directories.ts.
      await release().catch(() => undefined);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ELOCKED" && code !== "ELOCKTAKEN" && !stalled(attempt, staleMs)) {
        throw new LadingError("io", `cannot take the lock ${lockPath}: ${(error as Error).message}`, {
          subject: lockPath,
          cause: error,
        });
      }
    }
    // This process stopped while taking the lock (its directory made, not yet probed), and
    // another took it over meanwhile: nothing was done under it, so the wait starts again.
    if (stalled(attempt, staleMs)) deadline = Math.max(deadline, Date.now() + timeoutMs);
    await removeIfFromTheFuture(lockPath, staleMs);
    if (!said && Date.now() - started > QUIET_WAIT_MS) {
      said = true;
      waitListener?.(lockPath, staleMs);
    }
    if (Date.now() >= deadline) {
      throw new LadingError(
        "io",
        `timed out after ${timeoutMs / 1000} s waiting for the lock ${lockPath}: another process holds it`,
        { subject: lockPath },
      );
    }
    await sleep(Math.min(delay + Math.random() * delay, Math.max(deadline - Date.now(), 0)));
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
}

/**
 * Whether a take of the lock begun at `attempt` took so long (this process was stopped, SIGSTOP or
 * a suspended machine, between its mkdir and what follows) that another process may have found
 * the new directory stale and taken it over: its outcome, success or failure, says nothing then.
 */
function stalled(attempt: number, staleMs: number): boolean {
  return Date.now() - attempt > staleMs / 2;
}

/**
 * A holder refreshes its lock's mtime to its own "now"; one further ahead than a stale period can
 * only be left from before the clock was set back, and would never go stale: it is removed.
 */
async function removeIfFromTheFuture(lockPath: string, staleMs: number): Promise<void> {
  const info = await stat(lockPath).catch(() => undefined);
  if (info !== undefined && datedAhead(info, staleMs)) await rmdir(lockPath).catch(() => undefined);
}

/** Whether a lock's time is further ahead of the clock than `staleMs`: no live holder refreshes it so. */
export function datedAhead(lock: { mtimeMs: number }, staleMs = DEFAULT_STALE_MS): boolean {
  return lock.mtimeMs - Date.now() > staleMs;
}

/**
 * The lock directory on `lockTarget` if its holder is gone, by the rule any command taking the lock
 * goes by: not refreshed within `staleMs` (proper-lockfile's own judgement), or further ahead of
 * the clock than that (see removeIfFromTheFuture). A live holder refreshes it every half period.
 */
export async function abandonedLock(lockTarget: string, staleMs = DEFAULT_STALE_MS): Promise<string | undefined> {
  const target = path.resolve(lockTarget);
  const lockPath = `${target}.lock`;
  const before = await stat(lockPath).catch(() => undefined);
  if (before === undefined) return undefined;
  if (datedAhead(before, staleMs)) return lockPath;
  const held = await (await properLockfile()).check(target, { stale: staleMs, realpath: false, fs: lockDirectoryFs });
  // Not held may also mean removed since the first look.
  return !held && (await stat(lockPath).catch(() => undefined)) !== undefined ? lockPath : undefined;
}

/**
 * Removes the lock directory on `lockTarget` if its holder is gone, by taking the lock over and
 * releasing it as any command would: one that a live process holds, or takes meanwhile, is left to
 * it. Throws only if an abandoned one could not be removed (a store this process cannot write).
 */
export async function removeAbandonedLock(lockTarget: string, staleMs = DEFAULT_STALE_MS): Promise<void> {
  if ((await abandonedLock(lockTarget, staleMs)) === undefined) return;
  try {
    await withFileLock(lockTarget, async () => undefined, { staleMs, timeoutMs: 0 });
  } catch (error) {
    // Taken by a live process meanwhile, it is not abandoned; still abandoned, it could not be removed.
    if ((await abandonedLock(lockTarget, staleMs)) !== undefined) throw error;
  }
}

/** Runs tasks for the same key one after the other within this process. */
async function queueInProcess<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = inProcessQueues.get(key) ?? Promise.resolve();
  const run = previous.then(task);
  const settled = run.catch(() => undefined);
  inProcessQueues.set(key, settled);
  try {
    return await run;
  } finally {
    if (inProcessQueues.get(key) === settled) inProcessQueues.delete(key);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * proper-lockfile, loaded with the first lock: at load it hooks the process's exit (signal-exit
 * v3, to drop its locks), which turns an exit code left unset into 0 before Node's own exit
 * handlers run: a host process's unsettled top-level await then exits 0, not 13. Loaded lazily,
 * an `import "lading"` and the jobs that take no lock leave the host's exit alone.
 */
let loadedLockfile: Promise<typeof import("proper-lockfile")> | undefined;
function properLockfile(): Promise<typeof import("proper-lockfile")> {
  loadedLockfile ??= import("proper-lockfile").then((module) => module.default);
  return loadedLockfile;
}
