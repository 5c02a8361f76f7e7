/**
 * Files and directories this process made for a job in progress and must not leave behind when
 * it is stopped by Ctrl-C or SIGTERM: ingest files, gc leases, temp archives, scratch stores.
 * They are removed synchronously as the process goes, on a signal (then it still dies by that
 * signal) or on exit. signal-exit is the hook proper-lockfile already uses to drop its locks;
 * sharing it keeps one handler that re-raises the signal once every callback has run.
 */
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import onExit from "signal-exit";

const pending = new Map<string, { recursive: boolean }>();
let hooked = false;

/** Removes `path` if the process ends before the returned function is called. */
export function removeOnExit(target: string, options: { recursive?: boolean } = {}): () => void {
  if (!hooked) {
    onExit(removePending);
    hooked = true;
  }
  pending.set(target, { recursive: options.recursive ?? false });
  return () => {
    pending.delete(target);
  };
}

function removePending(): void {
  for (const [target, { recursive }] of pending) {
    try {
      rmSync(target, { recursive, force: true });
    } catch {
      // Best effort as the process goes: prune and fsck --repair sweep what is left.
    }
  }
  pending.clear();
}

/** A fresh directory under `parent`, removed with its content when done or if the process ends first. */
export interface ScratchDirectory {
  readonly path: string;
  remove(): Promise<void>;
}

export async function scratchDirectory(prefix: string, parent = tmpdir()): Promise<ScratchDirectory> {
  const dir = await mkdtemp(path.join(parent, prefix));
  const forget = removeOnExit(dir, { recursive: true });
  return {
    path: dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
      forget();
    },
  };
}
