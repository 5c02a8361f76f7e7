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
import { cannotCreateDirectory, LadingError, withWordsAfter } from "../core/errors.js";

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
  /**
   * `error`, saying it is lading's scratch space when it names a file in this directory (a full
   * TMPDIR fails a convert or a round trip there, not where its input or output is).
   */
  claim(error: unknown): unknown;
}

export async function scratchDirectory(prefix: string, parent = tmpdir()): Promise<ScratchDirectory> {
  const label = scratchLabel(parent);
  const dir = await mkdtemp(path.join(parent, prefix)).catch((error: unknown) => Promise.reject(withLabel(cannotCreateDirectory(path.join(parent, `${prefix}XXXXXX`), error), label)));
  const forget = removeOnExit(dir, { recursive: true });
  return {
    path: dir,
    remove: async () => {
      await rm(dir, { recursive: true, force: true });
      forget();
    },
    claim: (error) => {
      const subject = error instanceof LadingError ? error.subject : undefined;
      return subject !== undefined && (subject === dir || subject.startsWith(`${dir}${path.sep}`)) ? withLabel(error as LadingError, label) : error;
    },
  };
}

/** What a scratch directory under `parent` is, in an error: TMPDIR's, unless a caller put it elsewhere. */
function scratchLabel(parent: string): string {
  const temporary = tmpdir();
  const inTemporary = parent === temporary || parent.startsWith(`${temporary}${path.sep}`);
  return inTemporary ? "lading's scratch space in TMPDIR" : "lading's scratch space";
}

/** The error with its label once (an error claimed by two nested scratch directories says it once). */
function withLabel(error: LadingError, label: string): LadingError {
  if (error.message.includes("(lading's scratch space")) return error;
  return withWordsAfter(error, ` (${label})`);
}
