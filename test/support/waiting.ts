// Waiting on other processes in the crash tests: pauses, polling, and a directory's entries.
import { readdir } from "node:fs/promises";

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The names in `dir`, sorted; none when it does not exist. */
export const entries = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).sort();

/** Polls `condition` every 25 ms for up to 10 s; fails naming `what` when it never holds. */
export async function until(condition: () => Promise<boolean>, what: string): Promise<void> {
  for (let tries = 0; tries < 400; tries++) {
    if (await condition()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}
