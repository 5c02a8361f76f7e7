import { readdir, stat, unlink } from "node:fs/promises";
import path from "node:path";

/** Whether a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Files that killed processes left: how many, and their bytes. */
export interface Leftovers {
  files: number;
  bytes: number;
}

export const NO_LEFTOVERS: Leftovers = { files: 0, bytes: 0 };

export const addLeftovers = (a: Leftovers, b: Leftovers): Leftovers => ({ files: a.files + b.files, bytes: a.bytes + b.bytes });

/**
 * Removes (or with `remove: false` only counts) the files in `dir` that a process left and can
 * no longer finish: `ownerOf` gives the pid a file name carries (undefined: not such a file).
 */
export async function removeFilesOfDeadProcesses(dir: string, ownerOf: (name: string) => number | undefined, { remove = true }: { remove?: boolean } = {}): Promise<Leftovers> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let found = NO_LEFTOVERS;
  for (const name of names) {
    const owner = ownerOf(name);
    if (owner === undefined || processAlive(owner)) continue;
    const file = path.join(dir, name);
    const size = (await stat(file).catch(() => undefined))?.size ?? 0;
    if (!remove || (await unlink(file).then(() => true, () => false))) found = addLeftovers(found, { files: 1, bytes: size });
  }
  return found;
}
