// The built CLI run to its end on one store, for tests that compare whole outcomes.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const REPO_ROOT = join(import.meta.dirname, "..", "..");

/** `node bin/lading.js --root ROOT ARGS`: its exit code, standard output and standard error. */
export function ladingOnStore(root: string, ...args: string[]): [number | null, string, string] {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", root, ...args], { encoding: "utf8" });
  return [run.status, run.stdout, run.stderr];
}
