// Runs one command and measures its wall time (hrtime around the spawn) and peak resident set
// (GNU time's %M, the largest RSS among the process and the children it waited for).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const GNU_TIME = "/usr/bin/time";

/** Makes sure GNU time is there (apt package `time`); false when it cannot be had. */
export function ensureGnuTime(log) {
  if (existsSync(GNU_TIME)) return true;
  log("installing GNU time (apt-get install -y time) ...");
  try {
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "time"], { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  } catch {
    // fall back to polling /proc/<pid>/status below
  }
  return existsSync(GNU_TIME);
}

/** Peak RSS of a running process by polling VmHWM; used only when GNU time is missing. */
function pollPeakRss(pid) {
  let peakKiB = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const match = /VmHWM:\s+(\d+) kB/.exec(status);
      if (match) peakKiB = Math.max(peakKiB, Number(match[1]));
    } catch {
      // gone
    }
  };
  const timer = setInterval(read, 50);
  return () => {
    clearInterval(timer);
    return peakKiB;
  };
}

/**
 * Runs argv[0] with argv[1..] and resolves to { seconds, cpuSeconds (user+sys, NaN without GNU time), peakRssBytes, code, stderr }.
 * stdout is discarded; the last 4 KiB of stderr are kept for error reports.
 */
export async function measure(argv, { env = process.env, cwd, useGnuTime = true } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "lading-bench-time-"));
  const timeFile = join(dir, "time");
  const command = useGnuTime ? [GNU_TIME, "-f", "%M %U %S", "-o", timeFile, ...argv] : argv;
  try {
    const started = process.hrtime.bigint();
    const child = spawn(command[0], command.slice(1), { env, cwd, stdio: ["ignore", "ignore", "pipe"] });
    const stopPolling = useGnuTime ? undefined : pollPeakRss(child.pid);
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr = (stderr + chunk.toString("utf8")).slice(-4096);
    });
    const code = await new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let peakKiB = stopPolling ? stopPolling() : NaN;
    let cpuSeconds = NaN;
    if (useGnuTime) {
      const lines = (await readFile(timeFile, "utf8").catch(() => "")).trim().split("\n");
      const [maxRss, user, sys] = (lines.at(-1) ?? "").split(" ").map(Number);
      peakKiB = maxRss;
      cpuSeconds = user + sys;
    }
    return { seconds, cpuSeconds, peakRssBytes: peakKiB * 1024, code, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
