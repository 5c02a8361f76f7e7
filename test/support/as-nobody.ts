// Tests of what file modes refuse: root, whom no mode stops, runs the CLI as nobody; any other
// user runs it as itself, whom the modes already stop.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const REPO_ROOT = join(import.meta.dirname, "..", "..");

/** Whether this process is root, so that the CLI runs as nobody. */
export const RUNS_AS_NOBODY = process.getuid?.() === 0;
/** nobody's user and group ID. */
export const NOBODY = 65534;
/** The command that runs the rest of a command line as nobody when this is root; nothing otherwise. */
export const AS_NOBODY_WHEN_ROOT: readonly string[] = RUNS_AS_NOBODY ? ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups"] : [];

/** `node bin/lading.js ARGS`, as nobody when this is root: its exit code, standard output and standard error. */
export function ladingAsNobody(args: readonly string[], env: NodeJS.ProcessEnv = process.env): [number | null, string, string] {
  const argv = [...AS_NOBODY_WHEN_ROOT, process.execPath, join(REPO_ROOT, "bin", "lading.js"), ...args];
  const run = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8", env });
  return [run.status, run.stdout, run.stderr];
}
