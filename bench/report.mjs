// Turns measured groups into the markdown of bench/RESULTS.md.
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";

export const BEGIN = "<!-- bench:begin (written by bench/run.mjs; edit outside these markers) -->";
export const END = "<!-- bench:end -->";

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

function targetLines(groups, memoryChecks) {
  const lines = ["## Targets", "", "| target | where | value | met |", "|---|---|---:|---|"];
  for (const group of groups) {
    for (const t of group.targets) {
      const value = t.value === undefined ? "—" : (t.format ?? ((v) => `${v.toFixed(2)}`))(t.value);
      const met = t.value === undefined ? "not measured" : t.pass(t.value) ? "yes" : "**no**";
      lines.push(`| ${t.text} | ${group.job}, ${group.archive.sizeMiB} MiB ${group.archive.kind} | ${value} | ${met} |`);
    }
  }
  for (const m of memoryChecks) lines.push(`| ${m.text} | ${m.where} | ${m.value} | ${m.met} |`);
  lines.push("");
  return lines;
}

/** Peak RSS of every lading case: under 100 MB, and growing at most 10% from the smallest size to the largest. */
export function memoryChecks(groups) {
  const checks = [];
  const byCase = new Map();
  for (const group of groups) {
    for (const r of group.results.filter((x) => x.lading && x.runs.length > 0)) {
      const peak = Math.max(...r.runs.map((x) => x.peakRssBytes));
      checks.push({ text: "peak RSS < 100 MB", where: `${r.label}, ${group.archive.sizeMiB} MiB ${group.archive.kind}`, value: `${fmt.mb(peak)} MB`, met: peak < 100 * MB ? "yes" : "**no**" });
      const key = `${r.label} (${group.archive.kind})`;
      if (!byCase.has(key)) byCase.set(key, []);
      byCase.get(key).push({ sizeMiB: group.archive.sizeMiB, peak });
    }
  }
  for (const [key, points] of byCase) {
    if (points.length < 2) continue;
    points.sort((a, b) => a.sizeMiB - b.sizeMiB);
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

export function renderResults({ command, date, reps, groups, skipped, notes }) {
  const m = machine();
  const lines = [
    "## Latest run",
    "",
    `- Date: ${date}`,
    `- Command: \`${command}\``,
    `- Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memory} memory, Linux ${m.kernel}, Node ${m.node}`,
    `- Method: ${reps} repetitions per case, cases alternating (order rotated each repetition), median wall time (CPU = user+sys, less sensitive to other load on the machine); archives pre-read into the page cache; peak RSS from GNU time (%M) of the measured process tree's largest process.`,
    "",
  ];
  if (skipped.length > 0 || notes.length > 0) {
    for (const s of skipped) lines.push(`- Skipped: ${s}`);
    for (const n of notes) lines.push(`- Note: ${n}`);
    lines.push("");
  }
  lines.push(...targetLines(groups, memoryChecks(groups)));
  lines.push("## Measurements", "");
  for (const group of groups) lines.push(...groupTable(group));
  return lines.join("\n");
}

/** Replaces the generated section of RESULTS.md, keeping everything written outside the markers. */
export function spliceResults(existing, section) {
  const block = `${BEGIN}\n${section}\n${END}`;
  if (!existing) return `# Benchmark results\n\nRun with \`npm run bench\` (see bench/run.mjs for options).\n\n${block}\n`;
  const start = existing.indexOf(BEGIN);
  const end = existing.indexOf(END);
  if (start === -1 || end === -1) return `${existing.trimEnd()}\n\n${block}\n`;
  return existing.slice(0, start) + block + existing.slice(end + END.length);
}
