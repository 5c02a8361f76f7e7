// `npm run reliability`: runs the reliability tests (hostile corpus through the CLI, concurrency,
// mutation properties, SIGKILL points) and prints the figures they measured. Exit code 1 when a
// test failed. Extra arguments go to vitest (e.g. `npm run reliability -- --bail=1`).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FILES = ["test/reliability", "test/property", "test/crash"];
const scratch = mkdtempSync(join(tmpdir(), "lading-figures-"));
const figuresFile = join(scratch, "figures.jsonl");
const resultsFile = join(scratch, "results.json");

const run = spawnSync(
  "npx",
  ["vitest", "run", "--config", "test/reliability/figures.config.ts", "--reporter=dot", "--reporter=json", `--outputFile.json=${resultsFile}`, ...FILES, ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, LADING_FIGURES_FILE: figuresFile } },
);

const lines = (() => {
  try {
    return readFileSync(figuresFile, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
  } catch {
    return [];
  }
})();
const results = (() => {
  try {
    return JSON.parse(readFileSync(resultsFile, "utf8"));
  } catch {
    return undefined;
  }
})();
rmSync(scratch, { recursive: true, force: true });

const tests = (results?.testResults ?? []).flatMap((file) => file.assertionResults ?? []);
const passed = tests.filter((test) => test.status === "passed");
const hostile = lines.find((line) => line.hostile)?.hostile;
const concurrency = lines.find((line) => line.concurrency)?.concurrency;
const properties = lines.filter((line) => line.property).map((line) => line.property);
const kills = passed
  .map((test) => ({ match: /^(\d+) kill points over (\w+)/.exec(test.title), command: /lading (load|tag|save -o)/.exec(test.fullName ?? "") }))
  .filter(({ match }) => match)
  .map(({ match, command }) => ({ points: Number(match[1]), what: command?.[1] ?? match[2] }));

const out = [];
out.push("lading reliability figures");
if (hostile) {
  const families = Object.entries(hostile.families).map(([family, count]) => `${family} ${count}`).join(", ");
  out.push(`hostile corpus: ${hostile.cases} distinct bad inputs in ${Object.keys(hostile.families).length} families (${families})`);
  out.push(
    `refused with one line naming the entry or field, no stack trace, store byte-identical, nothing written elsewhere: ` +
      `verify ${hostile.refusals.verify}/${hostile.cases}, load ${hostile.refusals.load}/${hostile.cases}, convert ${hostile.refusals.convert}/${hostile.cases}`,
  );
  if (hostile.knownGaps.length > 0) out.push(`known gaps (expected failures): ${hostile.knownGaps.join("; ")}`);
} else {
  out.push("hostile corpus: not run");
}
const propertyRuns = properties.reduce((sum, property) => sum + property.runs, 0);
out.push(`property-based cases run: ${propertyRuns} mutated archives in ${properties.length} properties${properties.some((p) => p.failed) ? " (SOME FAILED)" : ""}`);
out.push(`SIGKILL points survived: ${kills.reduce((sum, kill) => sum + kill.points, 0)} (${kills.map((kill) => `${kill.what} ${kill.points}`).join(", ") || "none"})`);
out.push(
  concurrency
    ? `concurrency held: ${concurrency.processes} processes at once x ${concurrency.rounds} rounds = ${concurrency.operations} commands (${concurrency.prunes} prunes), fsck clean`
    : "concurrency: not run",
);
out.push(`tests: ${passed.length} passed, ${tests.filter((test) => test.status === "failed").length} failed, ${results?.numTotalTests ?? 0} in all`);
console.log(`\n${out.join("\n")}`);
process.exit(run.status === 0 && results?.success !== false ? 0 : 1);
