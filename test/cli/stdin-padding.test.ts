// An archive on standard input followed by more bytes than a pipe holds (zero padding to a tape
// record, or a file copied with its slack): the command reads its input to the end once it is
// done, as docker's client does, so the writer into the pipe finishes rather than dying of
// SIGPIPE (exit 141), which `set -o pipefail` would make the whole pipeline's failure.
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { scratchDirectory } from "../support/in-process-cli.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");

const { newPath } = scratchDirectory("lading-stdin-padding-");

describe("an archive piped in with padding after its end", () => {
  let padded: string;
  beforeAll(() => {
    ensureBuilt();
    padded = newPath("padded.tar");
    writeFileSync(padded, Buffer.concat([readFileSync(ARCHIVE), Buffer.alloc(16 * 1024 * 1024)]));
  });

  const piped = (command: string): string[] => {
    const script = `set -o pipefail; cat "$1" | "$2" "$3" --root "$4" ${command} > /dev/null; echo "\${PIPESTATUS[*]}"`;
    const run = spawnSync("bash", ["-c", script, "piped", padded, process.execPath, join(REPO_ROOT, "bin", "lading.js"), newPath("root")], { encoding: "utf8" });
    return run.stdout.trim().split(" ");
  };

  it("load, verify and convert read it to its end: cat exits 0, and so does lading", () => {
    expect(piped("load")).toEqual(["0", "0"]);
    expect(piped("verify -")).toEqual(["0", "0"]);
    expect(piped(`convert - ${newPath("converted.tar")}`)).toEqual(["0", "0"]);
  });

  it("after a refusal the rest is left unread: a writer that keeps the pipe open does not keep the command waiting", async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", newPath("root"), "load"], { stdio: ["pipe", "pipe", "pipe"] });
    const stderr: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => undefined);
    child.stdin.write(Buffer.alloc(4096, 7)); // and the pipe stays open
    const code = await new Promise<number | null | "still running">((resolve) => {
      const timer = setTimeout(() => resolve("still running"), 20_000);
      child.on("exit", (exit) => {
        clearTimeout(timer);
        resolve(exit);
      });
    });
    child.stdin.destroy();
    child.kill();
    expect([code, Buffer.concat(stderr).toString("utf8")]).toEqual([1, "lading: error: invalid tar header at offset 0: checksum mismatch\n"]);
  });

  it("after a refusal the rest is left unread: endless input does not keep the command waiting", () => {
    const run = spawnSync("bash", ["-c", `yes | "$1" "$2" --root "$3" load; echo "\${PIPESTATUS[*]}"`, "endless", process.execPath, join(REPO_ROOT, "bin", "lading.js"), newPath("root")], { encoding: "utf8", timeout: 60_000 });
    expect([run.stdout.trim(), run.stderr]).toEqual(["141 1", "lading: error: invalid tar header at offset 0: checksum mismatch\n"]);
  });
});
