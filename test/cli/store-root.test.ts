// A --root the file system will not take: one line and exit 1, not a hang. Under /proc, mkdir says
// ENOENT though the parent exists, and Node 20's recursive mkdir retries that forever; the CLI is
// spawned and killed after a deadline, so a regression fails this test instead of hanging the suite.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";

const DEADLINE_MS = 15_000;
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

function ladingWithDeadline(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), DEADLINE_MS);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

beforeAll(() => {
  ensureBuilt();
});

describe.skipIf(!existsSync("/proc/self"))("a store root under /proc", () => {
  it("is refused in one line naming the directory, without hanging", async () => {
    const cases: [string, string][] = [
      ["/proc/nope", "cannot create the directory /proc/nope: /proc exists but takes no new directory (mkdir: no such file or directory)"],
      ["/proc/nope/deeper", "cannot create the directory /proc/nope: /proc exists but takes no new directory (mkdir: no such file or directory)"],
      // The root exists; the first of its subdirectories that fails is named.
      ["/proc", "cannot create the directory /proc/blobs: /proc exists but takes no new directory (mkdir: no such file or directory)"],
    ];
    for (const [root, message] of cases) {
      const result = await ladingWithDeadline(["--root", root, "images"]);
      expect([root, result.signal, result.code, result.stdout, result.stderr]).toEqual([root, null, 1, "", `lading: error: ${message}\n`]);
    }
  }, 4 * DEADLINE_MS);
});
