// `lading serve` stops on SIGTERM or SIGINT by closing and exiting 0, also once a request has
// taken a lock, which loads proper-lockfile and with it signal-exit's handler: that handler kills
// the process when it finds itself a signal's only listener.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { ladingOnStore } from "../support/cli-sync.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-serve-signals-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function post(socketPath: string, path: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path, method: "POST" }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

describe("lading serve and its stop signals", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} after a tag through the API: closes and exits 0`, async () => {
      const root = join(dir, signal);
      expect(ladingOnStore(root, "load", "-q", "-i", join(REPO_ROOT, "testdata", "docker-archive.tar"))[0]).toBe(0);
      const socket = join(dir, `${signal}.sock`);
      const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", root, "serve", "--socket", socket], { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
      let status: number | undefined;
      for (let tries = 0; tries < 200 && status === undefined; tries++) {
        status = await post(socket, "/images/lading-testdata/app:1.0/tag?repo=api&tag=1");
        if (status === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(201);
      const exited = once(child, "exit");
      child.kill(signal);
      expect(await exited).toEqual([0, null]);
      expect(log.split("\n").slice(1)).toEqual([`lading serve: ${signal}: closing`, "lading serve: closed", ""]);
    }, 30_000);
  }
});
