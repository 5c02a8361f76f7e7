// A long run of the mutation properties: FC_NUM_RUNS cases of verify (a tenth as many loads),
// with a seed of your choice. Usage: node test/property/long-run.mjs [numRuns] [seed]
import { spawnSync } from "node:child_process";

const numRuns = process.argv[2] ?? "50000";
const seed = process.argv[3] ?? String(Date.now() % 2147483647);
console.log(`FC_NUM_RUNS=${numRuns} FC_SEED=${seed}`);
const result = spawnSync("npx", ["vitest", "run", "test/property/mutate-archive.test.ts", "--testTimeout=0"], {
  stdio: "inherit",
  env: { ...process.env, FC_NUM_RUNS: numRuns, FC_SEED: seed },
});
process.exit(result.status ?? 1);
