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
 * mkdir, and rmdir of a recorded directory, are synchronous: a signal's handler runs on the event
 * loop, so it cannot come between the system call and the record of its outcome. With the
 * asynchronous calls, a handler run before mkdir's callback could not tell whether the directory
 * was this process's or another's.
 */
import fs from "node:fs";
import onExit from "signal-exit";

type Callback = (error: NodeJS.ErrnoException | null) => void;

const created = new Set<string>();
let hooked = false;

/** For proper-lockfile's `fs` option: what it calls, with mkdir and rmdir recording ownership. */
export const lockDirectoryFs = {
  stat: fs.stat,
  utimes: fs.utimes,
  realpath: fs.realpath,
  mkdir(dir: string, callback: Callback): void {
    if (!hooked) {
      onExit(removeCreated);
      hooked = true;
    }
    try {
      fs.mkdirSync(dir);
    } catch (error) {
      process.nextTick(callback, error as NodeJS.ErrnoException);
      return;
    }
    created.add(dir);
    process.nextTick(callback, null);
  },
  rmdir(dir: string, callback: Callback): void {
    // Another process's directory: a stale lock proper-lockfile takes over.
    if (!created.has(dir)) {
      fs.rmdir(dir, callback);
      return;
    }
    created.delete(dir);
    try {
      fs.rmdirSync(dir);
    } catch (error) {
      process.nextTick(callback, error as NodeJS.ErrnoException);
      return;
    }
    process.nextTick(callback, null);
  },
  /** Called by proper-lockfile's exit handler only, for the locks it holds. */
  rmdirSync(dir: string): void {
    removeIfCreated(dir);
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
  for (const dir of created) removeIfCreated(dir);
}

function removeIfCreated(dir: string): void {
  if (!created.delete(dir)) return;
  try {
    fs.rmdirSync(dir);
  } catch {
    // Best effort as the process goes: the next holder takes over a lock once it is stale.
  }
}
