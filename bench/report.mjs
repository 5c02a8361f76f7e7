// Turns measured groups into the markdown of bench/RESULTS.md.
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";

export const BEGIN = "<!-- bench:begin (written by bench/run.mjs; edit outside these markers) -->";
export const END = "<!-- bench:end -->";

/**
 * The generated blocks of RESULTS.md, by name. A job names its block (`block` in bench/jobs.mjs,
 * "default" when absent); a run rewrites only the blocks of the jobs it ran, so the memory run at
 * 1 and 4 GiB and the default run do not erase each other.
 */
export const BLOCKS = {
  default: { begin: BEGIN, end: END, title: "Latest run", targetsTitle: "Targets", measurementsTitle: "Measurements" },
  memory: {
    begin: "<!-- bench:memory:begin (written by bench/run.mjs --jobs memory; edit outside these markers) -->",
    end: "<!-- bench:memory:end -->",
    title: "Latest memory run",
    targetsTitle: "Memory targets",
    measurementsTitle: "Memory measurements",
    peakTable: true,
    intro: "## Memory check (issue 7)\n\nRun with `npm run bench -- --jobs memory --sizes 1024,4096 --reps 1`.",
  },
};

const MB = 1e6;

export function machine() {
  let model = cpus()[0]?.model ?? "unknown";
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return { nproc: cpus().length, memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`, cpu: model, kernel: release(), node: process.version };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const fmt = {
  seconds: (s) => (s === undefined ? "—" : s.toFixed(2)),
  rate: (bytes, s) => (s ? (bytes / MB / s).toFixed(0) : "—"),
  mb: (bytes) => (Number.isFinite(bytes) ? (bytes / MB).toFixed(1) : "—"),
  ratio: (v) => (v === undefined ? "—" : v.toFixed(2)),
};

function groupTable(group) {
  const lading = group.results.find((r) => r.lading && r.median !== undefined);
  const lines = [
    `### ${group.job} — ${group.archive.sizeMiB} MiB ${group.archive.kind === "docker" ? "docker-save archive, uncompressed layers" : "OCI archive, gzip layers"} (${(group.archive.bytes / 2 ** 20).toFixed(1)} MiB file)`,
    "",
    `| case | median s | runs (s) | MB/s of archive | median CPU s | peak RSS MB | ${lading ? `${lading.label} / case (time)` : "ratio"} |`,
    "|---|---:|---|---:|---:|---:|---:|",
  ];
  for (const r of group.results) {
    const ratio = lading && r !== lading && r.median ? lading.median / r.median : undefined;
    const runs = r.runs.map((x) => x.seconds.toFixed(2)).join(", ");
    const peak = r.runs.length ? Math.max(...r.runs.map((x) => x.peakRssBytes)) : NaN;
    const label = r.error ? `${r.label} (failed: ${r.error})` : r.label;
    const cpu = r.runs.length ? median(r.runs.map((x) => x.cpuSeconds)) : undefined;
    lines.push(`| ${label} | ${fmt.seconds(r.median)} | ${runs} | ${fmt.rate(group.archive.bytes, r.median)} | ${Number.isFinite(cpu) ? cpu.toFixed(2) : "—"} | ${fmt.mb(peak)} | ${r === lading ? "—" : fmt.ratio(ratio)} |`);
  }
  for (const note of group.notes) lines.push("", `Note: ${note}`);
  lines.push("");
  return lines;
}

function targetLines(groups, memoryChecks, title) {
  const lines = [`## ${title}`, "", "| target | where | value | met |", "|---|---|---:|---|"];
  for (const group of groups) {
    for (const t of group.targets) {
      const value = t.value === undefined ? "—" : (t.format ?? ((v) => `${v.toFixed(2)}`))(t.value);
      const met = t.value === undefined ? "not measured" : t.pass(t.value) ? "yes" : "**no**";
      lines.push(`| ${t.text} | ${group.job}, ${group.archive.sizeMiB} MiB ${group.archive.kind} | ${value} | ${met} |`);
    }
  }
  for (const m of memoryChecks) lines.push(`| ${m.text} | ${m.where} | ${m.value} | ${m.met} |`);
  if (lines.length === 4) lines.push("", "No target applies to the sizes of this run.");
  lines.push("");
  return lines;
}

/** Peak RSS of every measured lading case, by `label (kind)`, each with its points by size ascending. */
function peaksByCase(groups) {
  const byCase = new Map();
  for (const group of groups) {
    // Failed cases get their key too, so the order of cases does not depend on which ones failed.
    for (const r of group.results.filter((x) => x.lading && x.memoryTarget !== false)) {
      const key = `${r.label} (${group.archive.kind})`;
      if (!byCase.has(key)) byCase.set(key, []);
      if (r.runs.length > 0) byCase.get(key).push({ group, sizeMiB: group.archive.sizeMiB, peak: Math.max(...r.runs.map((x) => x.peakRssBytes)) });
    }
  }
  for (const [key, points] of byCase) {
    if (points.length === 0) byCase.delete(key);
    else points.sort((a, b) => a.sizeMiB - b.sizeMiB);
  }
  return byCase;
}

/**
 * Peak RSS of every lading case (but those marked memoryTarget: false): under 100 MB, and growing at most 10% from the smallest size to the
 * largest. A job's `memoryTargets` narrow this: `limitAtMiB` checks the 100 MB limit at that size
 * only, `growthFromMiB` measures the growth from that size (issue 7: < 100 MB at 1 GiB, then at
 * most 10% more at 4 GiB), whatever other sizes the run had.
 */
export function memoryChecks(groups) {
  const checks = [];
  const byCase = peaksByCase(groups);
  for (const group of groups) {
    const limitAt = group.memoryTargets?.limitAtMiB;
    if (limitAt !== undefined && group.archive.sizeMiB !== limitAt) continue;
    for (const r of group.results.filter((x) => x.lading && x.memoryTarget !== false && x.runs.length > 0)) {
      const peak = Math.max(...r.runs.map((x) => x.peakRssBytes));
      checks.push({ text: "peak RSS < 100 MB", where: `${r.label}, ${group.archive.sizeMiB} MiB ${group.archive.kind}`, value: `${fmt.mb(peak)} MB`, met: peak < 100 * MB ? "yes" : "**no**" });
    }
  }
  for (const [key, all] of byCase) {
    const from = all[0].group.memoryTargets?.growthFromMiB;
    const points = from === undefined ? all : all.filter((p) => p.sizeMiB >= from);
    if (points.length < 2) continue;
    const first = points[0];
    const last = points.at(-1);
    const growth = last.peak / first.peak - 1;
    checks.push({
      text: "peak RSS grows <= 10% with size",
      where: `${key}, ${first.sizeMiB} → ${last.sizeMiB} MiB`,
      value: `${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)}%`,
      met: growth <= 0.1 ? "yes" : "**no**",
    });
  }
  return checks;
}

/** One row per lading case, one column per size: the figure issue 7 asks for at a glance. */
function peakTableLines(groups) {
  const sizes = [...new Set(groups.map((g) => g.archive.sizeMiB))].sort((a, b) => a - b);
  const lines = [
    "## Peak RSS (MB) by archive size",
    "",
    `| case | ${sizes.map((s) => `${s} MiB`).join(" | ")} | growth ${sizes[0]} → ${sizes.at(-1)} MiB |`,
    `|---|${sizes.map(() => "---:|").join("")}---:|`,
  ];
  for (const [key, points] of peaksByCase(groups)) {
    const at = (size) => points.find((p) => p.sizeMiB === size)?.peak;
    const first = at(sizes[0]);
    const last = at(sizes.at(-1));
    const growth = first && last && sizes.length > 1 ? `${last >= first ? "+" : ""}${((last / first - 1) * 100).toFixed(1)}%` : "—";
    lines.push(`| ${key} | ${sizes.map((s) => fmt.mb(at(s))).join(" | ")} | ${growth} |`);
  }
  lines.push("");
  return lines;
}

export function renderResults({ command, date, reps, groups, skipped, notes }, layout = BLOCKS.default) {
  const m = machine();
  const lines = [
    `## ${layout.title}`,
    "",
    `- Date: ${date}`,
    `- Command: \`${command}\``,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memory} memory, Linux ${m.kernel}, Node ${m.node}`,
    `- Method: ${reps} repetitions per case, cases alternating (order rotated each repetition), each case started after a \`sync\` (for jobs that write) and once the machine is idle (under 10% CPU for 0.5 s); median wall time (CPU = user+sys, less sensitive to other load on the machine); archives pre-read into the page cache; peak RSS from GNU time (%M) of the measured process tree's largest process.`,
    "",
  ];
  if (skipped.length > 0 || notes.length > 0) {
    for (const s of skipped) lines.push(`- Skipped: ${s}`);
    for (const n of notes) lines.push(`- Note: ${n}`);
    lines.push("");
  }
  if (layout.peakTable) lines.push(...peakTableLines(groups));
  lines.push(...targetLines(groups, memoryChecks(groups), layout.targetsTitle));
  lines.push(`## ${layout.measurementsTitle}`, "");
  for (const group of groups) lines.push(...groupTable(group));
  return lines.join("\n");
}

/**
 * Replaces one generated block of RESULTS.md (the default one unless `layout` names another),
 * keeping everything written outside its markers, the other blocks included.
 */
export function spliceResults(existing, section, layout = BLOCKS.default) {
  const block = `${layout.begin}\n${section}\n${layout.end}`;
  const placed = layout.intro ? `${layout.intro}\n\n${block}` : block;
  if (!existing) return `# Benchmark results\n\nRun with \`npm run bench\` (see bench/run.mjs for options).\n\n${placed}\n`;
  const start = existing.indexOf(layout.begin);
  const end = existing.indexOf(layout.end, start);
  if (start === -1 || end === -1) return `${existing.trimEnd()}\n\n${placed}\n`;
  return existing.slice(0, start) + block + existing.slice(end + layout.end.length);
}
