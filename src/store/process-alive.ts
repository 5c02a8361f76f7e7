import { readdir, unlink } from "node:fs/promises";
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

/**
 * Removes the files in `dir` that a process left and can no longer finish: `ownerOf` gives the
 * pid a file name carries (undefined: not such a file). Returns how many were removed.
 */
export async function removeFilesOfDeadProcesses(dir: string, ownerOf: (name: string) => number | undefined): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const owner = ownerOf(name);
    if (owner === undefined || processAlive(owner)) continue;
    if (await unlink(path.join(dir, name)).then(() => true, () => false)) removed++;
  }
  return removed;
}
