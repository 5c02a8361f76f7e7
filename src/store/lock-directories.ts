/**
 * The file system proper-lockfile makes its lock directories with, which knows which of them this
 * process created, so that a signal never leaves one behind.
 *
 * proper-lockfile registers a lock for removal at exit only a few callbacks after its mkdir (once
 * it has probed the directory's mtime), and forgets it on release before its rmdir has run: Ctrl-C
 * or SIGTERM in either gap left the directory, and the next command waited for it to go stale.
 * Here a directory is recorded from the mkdir that created it until it is removed or the lock is
 * lost (`disownLockDirectory`), and removed at exit while recorded; proper-lockfile's own exit
 * handler removes its locks through `rmdirSync` below, so whichever handler runs first removes a
 * directory once and the other leaves it (a second rmdir could hit another process's new lock).
 * A directory whose mkdir failed (another process holds the lock) is never recorded.
 *
 * A recorded directory may still have been taken over unnoticed: this process stopped (SIGSTOP, a
 * suspended machine) past the stale period, another took the lock, and this one goes on to release
 * it or exit before proper-lockfile's next refresh has seen the change. The directory's mtime then
 * differs from the last this process gave it (a takeover sets its own, at least the stale period
 * later), and the directory is left to its new holder. For the same reason utimes refuses such a
 * directory (ELOCKTAKEN): a process stopped between its mkdir and proper-lockfile's first utimes
 * would otherwise take the new holder's directory for its own, and the holder, finding an mtime
 * not its own, would count its lock as lost. (A stop between that check and the utimes itself is
 * not covered: the two are a system call apart.)
 *
 * mkdir, and rmdir of a recorded directory, are synchronous: a signal's handler runs on the event
 * loop, so it cannot come between the system call and the record of its outcome. With the
 * asynchronous calls, a handler run before mkdir's callback could not tell whether the directory
 * was this process's or another's.
 */
import fs from "node:fs";
import onExit from "signal-exit";

type Callback = (error: NodeJS.ErrnoException | null) => void;

/**
 * The directories this process created, each with the mtimes (ms) it may have: as the file system
 * stored it at the mkdir or the last utimes, the time that utimes set, and while a utimes runs, the
 * one it sets (a signal may come before its callback). Compared with what the file system stores,
 * not with the clock: one with 1- or 2-second timestamps rounds them.
 */
const created = new Map<string, number[]>();
/** A takeover's mtime is later than the last this process set by at least the stale period (2 s or more). */
const OTHER_MTIME_MS = 1000;
let hooked = false;

/** For proper-lockfile's `fs` option: what it calls, with mkdir and rmdir recording ownership. */
export const lockDirectoryFs = {
  stat: fs.stat,
  realpath: fs.realpath,
  utimes(dir: string, atime: Date, mtime: Date, callback: Callback): void {
    const before = created.get(dir);
    // Never a directory another process took over while this one was stopped: its holder would
    // take the mtime for a takeover of its own, and this process the directory for its own.
    const takenOver = before === undefined ? undefined : takeoverOf(dir, before);
    if (takenOver !== undefined) {
      process.nextTick(callback, takenOver);
      return;
    }
    if (before !== undefined) created.set(dir, [...before, mtime.getTime()]);
    fs.utimes(dir, atime, mtime, (error) => {
      // What the file system stored may be the time set rounded (to the second, or two on FAT).
      if (created.has(dir)) created.set(dir, error === null ? [mtime.getTime(), ...storedMtime(dir)] : (before ?? []));
      callback(error);
    });
  },
  mkdir(dir: string, callback: Callback): void {
    if (!hooked) {
      onExit(removeCreated);
      hooked = true;
    }
    try {
      // 0700 as the store's other directories: others sharing the store only stat it and remove it (a stale one) through its parent.
      fs.mkdirSync(dir, 0o700);
    } catch (error) {
      process.nextTick(callback, error as NodeJS.ErrnoException);
      return;
    }
    created.set(dir, storedMtime(dir));
    process.nextTick(callback, null);
  },
  rmdir(dir: string, callback: Callback): void {
    // Another process's directory: a stale lock proper-lockfile takes over.
    if (!created.has(dir)) {
      fs.rmdir(dir, callback);
      return;
    }
    let error: NodeJS.ErrnoException | null = null;
    try {
      if (!removeIfCreated(dir)) error = Object.assign(new Error(`${dir} was taken over by another process (its mtime is not the one this process set): left to it`), { code: "ELOCKTAKEN" });
    } catch (failure) {
      error = failure as NodeJS.ErrnoException;
    }
    process.nextTick(callback, error);
  },
  /** Called by proper-lockfile's exit handler only, for the locks it holds. */
  rmdirSync(dir: string): void {
    try {
      removeIfCreated(dir);
    } catch {
      // Best effort as the process goes: the next holder takes over a lock once it is stale.
    }
  },
};

/**
 * Forgets that this process created `dir`, without removing it: the lock was lost, and the
 * directory may now be another process's that took it over.
 */
export function disownLockDirectory(dir: string): void {
  created.delete(dir);
}

function removeCreated(): void {
  for (const dir of [...created.keys()]) lockDirectoryFs.rmdirSync(dir);
}

/**
 * Removes `dir` if this process created it and it is still the one it created; forgets it either
 * way. Returns false for a directory another process has taken over (left in place).
 */
function removeIfCreated(dir: string): boolean {
  const ownMtimes = created.get(dir);
  if (ownMtimes === undefined) return true;
  created.delete(dir);
  const holder = holderOf(dir, ownMtimes);
  if (holder === "other") return false;
  if (holder === "this") fs.rmdirSync(dir);
  return true;
}

/**
 * An error if `dir`, created by this process, now has an mtime this process did not give it. One
 * that is gone is left to utimes, whose ENOENT proper-lockfile takes for a lost lock at once.
 */
function takeoverOf(dir: string, ownMtimes: readonly number[]): NodeJS.ErrnoException | undefined {
  let holder;
  try {
    holder = holderOf(dir, ownMtimes);
  } catch {
    return undefined;
  }
  if (holder !== "other") return undefined;
  return Object.assign(new Error(`${dir} was taken over by another process (its mtime is not the one this process set)`), { code: "ELOCKTAKEN" });
}

/**
 * Whose `dir`, created by this process, is now: still this process's (it has an mtime this
 * process gave it), another's that took it over, or nobody's (gone). Other stat failures throw.
 */
function holderOf(dir: string, ownMtimes: readonly number[]): "this" | "other" | "gone" {
  let mtime: number;
  try {
    mtime = fs.statSync(dir).mtimeMs;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw error;
  }
  return ownMtimes.some((own) => Math.abs(mtime - own) < OTHER_MTIME_MS) ? "this" : "other";
}

/** The mtime the file system gives `dir` (now, if it cannot be read). */
function storedMtime(dir: string): number[] {
  try {
    return [fs.statSync(dir).mtimeMs];
  } catch {
    return [Date.now()];
  }
}
