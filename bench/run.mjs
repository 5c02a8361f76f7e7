// npm run bench: runs each job side by side with its peers, alternating, and writes bench/RESULTS.md.
//
//   node bench/run.mjs [--jobs verify,load,save] [--sizes 256,1024] [--reps 3] [--peers-without-lading]
//
// The memory check of issue 7 (peak RSS of every lading command at 1 GiB and 4 GiB, no peers; not a
// default job; makes the 4 GiB archives in bench/out/ on its first run, about 7 GB):
//
//   npm run bench -- --jobs memory --sizes 1024,4096 --reps 1
//
// Each run rewrites only the RESULTS.md blocks of the jobs it ran (report.mjs BLOCKS): the memory job
// has its own block, so a default run and a memory run keep each other's results.
//
// Environment equivalents: BENCH_JOBS, BENCH_SIZES (MiB), BENCH_REPS, BENCH_PEERS_WITHOUT_LADING=1
// (measure the peer cases of a job even when lading lacks its command), BENCH_NO_BUILD=1 (skip
// `npm run build`). Jobs: see bench/jobs.mjs; one whose lading command is not implemented yet
// (absent from `lading help`) is skipped with a note.
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureArchive } from "./generate.mjs";
import { DEFAULT_JOBS, JOBS } from "./jobs.mjs";
import { ensureGnuTime, measure } from "./measure.mjs";
import { ensurePeers, onPath, runQuiet } from "./peers.mjs";
import { BLOCKS, median, renderResults, spliceResults } from "./report.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(benchDir);
const log = (line) => console.error(`[bench] ${line}`);

function options(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--peers-without-lading") flags.peersWithoutLading = true;
    else if (["--jobs", "--sizes", "--reps"].includes(arg) && argv[i + 1] !== undefined) flags[arg.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${arg}; usage: node bench/run.mjs [--jobs a,b] [--sizes 256,1024] [--reps 3] [--peers-without-lading]`);
  }
  const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
  const jobs = list(flags.jobs ?? process.env.BENCH_JOBS ?? DEFAULT_JOBS.join(","));
  for (const job of jobs) if (!JOBS[job]) throw new Error(`unknown job ${job}; jobs: ${Object.keys(JOBS).join(", ")}`);
  const sizes = list(flags.sizes ?? process.env.BENCH_SIZES ?? "256,1024").map(Number);
  for (const size of sizes) if (!Number.isInteger(size) || size < 16) throw new Error(`size in MiB must be an integer >= 16: ${size}`);
  const reps = Number(flags.reps ?? process.env.BENCH_REPS ?? 3);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`repetitions must be a positive integer: ${reps}`);
  const peersWithoutLading = flags.peersWithoutLading ?? process.env.BENCH_PEERS_WITHOUT_LADING === "1";
  return { jobs, sizes, reps, peersWithoutLading };
}

/** The command line as typed, with the BENCH_ variables that shaped it. */
function commandLine() {
  const env = Object.entries(process.env)
    .filter(([key]) => key.startsWith("BENCH_"))
    .map(([key, value]) => `${key}=${value}`);
  const args = process.argv.slice(2);
  const base = process.env.npm_lifecycle_event === "bench" ? `npm run bench${args.length ? ` -- ${args.join(" ")}` : ""}` : `node bench/run.mjs${args.length ? ` ${args.join(" ")}` : ""}`;
  return [...env, base].join(" ");
}

/** Subcommands listed under "Commands:" in `lading help`. */
function ladingCommands(lading) {
  const help = execFileSync(lading[0], [...lading.slice(1), "help"], { encoding: "utf8" });
  const section = help.split(/^Commands:$/m)[1] ?? "";
  return new Set([...section.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]));
}

async function warmPageCache(path) {
  for await (const _chunk of createReadStream(path, { highWaterMark: 8 << 20 }));
}

/** Busy and total CPU ticks of the machine so far (the first line of /proc/stat). */
async function cpuTicks() {
  const fields = (await readFile("/proc/stat", "utf8")).split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is idle (under 10% busy over two 250 ms windows in a row), for at most
 * 10 s: the daemons of a peer measured just before (dockerd, containerd) go on working in the
 * background after their command returns (garbage collection of removed images, for one), and a
 * short case measured meanwhile would pay for it. Returns the milliseconds waited.
 */
async function settle() {
  const started = Date.now();
  let quiet = 0;
  let last = await cpuTicks();
  while (quiet < 2 && Date.now() - started < 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = await cpuTicks();
    const busyShare = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    quiet = busyShare < 0.1 ? quiet + 1 : 0;
    last = now;
  }
  return Date.now() - started;
}

/** Runs the cases of one group `reps` times, rotating the order each repetition. */
async function runGroup(group, reps, writes) {
  const results = group.cases.map((c) => ({ label: c.label, lading: Boolean(c.lading), memoryTarget: c.memoryTarget !== false, runs: [], median: undefined, cpuMedian: undefined, error: undefined }));
  for (let rep = 0; rep < reps; rep++) {
    for (let k = 0; k < group.cases.length; k++) {
      const index = (k + rep) % group.cases.length;
      const c = group.cases[index];
      const result = results[index];
      if (result.error) continue;
      try {
        if (c.before) await c.before();
        if (writes) await runQuiet(["sync"]);
        const waited = await settle();
        if (waited >= 10_000) log(`${c.label}: the machine did not fall idle within 10 s; measuring anyway`);
        const run = await measure(c.argv, { env: c.env, useGnuTime: group.gnuTime });
        if (run.code !== 0) {
          result.error = `exit ${run.code}: ${run.stderr.trim().split("\n").at(-1) ?? ""}`;
          log(`${c.label}: ${result.error}`);
          continue;
        }
        result.runs.push(run);
        log(`${c.label}: ${run.seconds.toFixed(2)} s, peak ${(run.peakRssBytes / 1e6).toFixed(1)} MB`);
        if (writes) await runQuiet(["sync"]);
      } catch (error) {
        result.error = error.message.split("\n")[0];
        log(`${c.label}: ${result.error}`);
      }
    }
  }
  for (const r of results) {
    if (r.runs.length === 0) continue;
    r.median = median(r.runs.map((x) => x.seconds));
    r.cpuMedian = median(r.runs.map((x) => x.cpuSeconds));
  }
  return results;
}

async function main() {
  const opts = options(process.argv.slice(2));
  const command = commandLine();
  if (process.env.BENCH_NO_BUILD !== "1") {
    log("npm run build ...");
    try {
      execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
    } catch {
      log("build failed; measuring the existing dist/");
    }
  }
  const gnuTime = ensureGnuTime(log);
  if (!gnuTime) log("GNU time unavailable: peak RSS comes from polling /proc/<pid>/status VmHWM of the direct child");
  const lading = [process.execPath, join(repoRoot, "bin", "lading.js")];
  const available = ladingCommands(lading);
  log(`lading commands: ${[...available].join(", ")}`);

  // Skipped jobs and notes carry the block of their job, so each lands in its own RESULTS.md block.
  const skipped = [];
  const notes = [];
  const groups = [];
  const blockOf = (name) => JOBS[name].block ?? "default";
  const workDir = await mkdtemp(join(tmpdir(), "lading-bench-work-"));
  try {
    for (const name of opts.jobs) {
      const job = JOBS[name];
      const absent = job.ladingCommands.filter((c) => !available.has(c));
      if (absent.length > 0 && !opts.peersWithoutLading) {
        skipped.push({ block: blockOf(name), text: `${name} (${job.description}): \`lading ${absent.join("`, `lading ")}\` not implemented yet` });
        log(`skipping ${name}: lading ${absent.join(", ")} not implemented yet`);
        continue;
      }
      const missingPeers = new Set(ensurePeers(job.peerBinaries, repoRoot, log));
      const note = (text) => notes.push({ block: blockOf(name), text: `${name}: ${text}` });
      for (const binary of missingPeers) note(`peer \`${binary}\` not installed; its cases are skipped`);
      const ctx = {
        lading,
        benchDir,
        workDir,
        has: (binary) => !missingPeers.has(binary) && onPath(binary),
        note,
      };
      const state = job.setup ? await job.setup(ctx) : undefined;
      try {
        for (const sizeMiB of opts.sizes) {
          for (const kind of job.archives) {
            const archive = await ensureArchive(kind, sizeMiB, log);
            await warmPageCache(archive.path);
            const prepared = await job.group(ctx, archive, state);
            const groupNotes = [...(prepared.notes ?? [])];
            if (absent.length > 0) groupNotes.push(`lading cases not run: \`lading ${absent.join("`, `lading ")}\` not implemented yet`);
            const cases = prepared.cases.filter((c) => (!c.lading || absent.length === 0) && (c.needs ?? []).every((b) => ctx.has(b)));
            log(`${name} ${sizeMiB} MiB ${kind}: ${cases.map((c) => c.label).join(" | ")}`);
            const group = { job: name, block: blockOf(name), memoryTargets: job.memoryTargets, archive, notes: groupNotes, cases, gnuTime };
            group.results = await runGroup(group, opts.reps, job.writes);
            group.targets = job.targets(group);
            groups.push(group);
            if (prepared.cleanup) await prepared.cleanup();
          }
        }
      } finally {
        if (job.teardown) await job.teardown(state);
      }
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }

  const date = new Date().toISOString();
  const resultsPath = join(benchDir, "RESULTS.md");
  let text = await readFile(resultsPath, "utf8").catch(() => undefined);
  for (const block of new Set(opts.jobs.map(blockOf))) {
    const mine = (items) => items.filter((x) => x.block === block);
    const run = { command, date, reps: opts.reps, groups: mine(groups), skipped: mine(skipped).map((x) => x.text), notes: mine(notes).map((x) => x.text) };
    const section = renderResults(run, BLOCKS[block]);
    text = spliceResults(text, section, BLOCKS[block]);
    console.log(section);
  }
  await writeFile(resultsPath, text);
  log(`written ${resultsPath}`);
}

await main();
