// Which files this process holds open, from /proc/self/fd: for tests that a failing or abandoned
// read or write leaves no descriptor behind (one left to the garbage collector makes Node print a
// warning on standard error; one on a removed file keeps its space).
import { readdirSync, readlinkSync } from "node:fs";

/** The targets of this process's open descriptors that `matches` (a removed file's ends in " (deleted)"). */
export function openDescriptors(matches: (target: string) => boolean): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return matches(target) ? [target] : [];
    } catch {
      return []; // closed since it was listed (the listing's own descriptor)
    }
  });
}

/** The same once closes already under way have finished (a close runs in the thread pool): polled for up to 2 s. */
export async function settledOpenDescriptors(matches: (target: string) => boolean): Promise<string[]> {
  const deadline = Date.now() + 2000;
  while (openDescriptors(matches).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return openDescriptors(matches);
}

/** Matches a file under `dir`. */
export const under =
  (dir: string) =>
  (target: string): boolean =>
    target.startsWith(`${dir}/`);
