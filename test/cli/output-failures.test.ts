// A standard stream that cannot take what a command writes (/dev/full: every write fails with
// ENOSPC, as a file on a full disk does): one line in docker's words, exit 1, no stack trace, and
// what the command already changed in the store stays changed.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");
const IMAGE = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
const FULL_STDOUT = "lading: error: write /dev/stdout: no space left on device\n";

let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-output-failures-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI with standard output (or error) on /dev/full: exit code, and what the other stream got. */
function intoFull(stream: "stdout" | "stderr", args: string[]): { code: number | null; other: string } {
  const full = openSync("/dev/full", "w");
  try {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), ...args], { stdio: ["ignore", stream === "stdout" ? full : "pipe", stream === "stderr" ? full : "pipe"], encoding: "utf8" });
    return { code: run.status, other: stream === "stdout" ? run.stderr : run.stdout };
  } finally {
    closeSync(full);
  }
}

function lading(...args: string[]): [number | null, string, string] {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), ...args], { encoding: "utf8" });
  return [run.status, run.stdout, run.stderr];
}

describe.skipIf(!existsSync("/dev/full"))("a standard stream that is full", () => {
  it("load, then rmi: the line says the write failed, and the store keeps what the command did", () => {
    const root = join(dir, "store-changes");
    expect(intoFull("stdout", ["--root", root, "load", "-q", "-i", ARCHIVE])).toEqual({ code: 1, other: FULL_STDOUT });
    expect(lading("--root", root, "images", "-q")).toEqual([0, `${IMAGE.slice(7, 19)}\n`.repeat(2), ""]);
    expect(intoFull("stdout", ["--root", root, "rmi", "lading-testdata/app:1.0"])).toEqual({ code: 1, other: FULL_STDOUT });
    expect(lading("--root", root, "images", "--no-trunc", "lading-testdata/app")[1].split("\n").slice(1)).toEqual([
      expect.stringMatching(new RegExp(`^lading-testdata/app +latest +${IMAGE} `)),
      "",
    ]);
  });

  it("every command that prints, and every command that writes an archive to standard output", () => {
    const root = join(dir, "printing");
    expect(lading("--root", root, "load", "-q", "-i", ARCHIVE)[0]).toBe(0);
    for (const args of [
      ["images"],
      ["images", "--json"],
      ["inspect", "lading-testdata/app:1.0"],
      ["verify", ARCHIVE],
      ["verify", "--json", ARCHIVE],
      ["verify", "--roundtrip", ARCHIVE],
      ["save", "lading-testdata/app:1.0"],
      ["save", "-o", "-", "lading-testdata/app:1.0"],
      ["save", "--compress", "gzip", "lading-testdata/app:1.0"],
      ["convert", ARCHIVE, "-"],
      ["convert", "--compress", "zstd", ARCHIVE, "-"],
    ]) {
      expect([args, intoFull("stdout", ["--root", root, ...args])]).toEqual([args, { code: 1, other: FULL_STDOUT }]);
    }
  });

  it("standard error: the command fails with exit 1, and standard output is as it was", () => {
    const root = join(dir, "stderr");
    // The note that the image's manifest was synthesised goes to standard error.
    expect(intoFull("stderr", ["--root", root, "load", "-i", ARCHIVE])).toEqual({ code: 1, other: "Loaded image: lading-testdata/app:1.0\nLoaded image: lading-testdata/app:latest\n" });
    expect(intoFull("stderr", ["--root", root, "inspect", "no/such:image"])).toEqual({ code: 1, other: "[]\n" });
  });
});
