import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// Each case runs in its own process with a timeout: a decoder that decodes a whole bomb in one
// synchronous sweep blocks the event loop, so an in-process timeout would never fire.
const compressionModule = resolve("dist/tar/compression.js");
const workDir = mkdtempSync(join(tmpdir(), "lading-bzip2-"));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

/** 32 concatenated bzip2 streams of 32 MiB of zeros each: 1.5 kB expanding to 1 GiB. */
const bombPath = join(workDir, "bomb.bz2");
const oneStream = execFileSync("bzip2", ["-c"], { input: Buffer.alloc(32 * 1024 * 1024) });
writeFileSync(bombPath, Buffer.concat(Array.from({ length: 32 }, () => oneStream)));

const MiB = 1024 * 1024;
/** One bzip2 block writes at most 900 kB * 255 / 5 (bzip2's first run-length stage) in one go. */
const ONE_BLOCK = 46 * MiB;

function runChild(script: string): Record<string, number> {
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: { ...process.env, BOMB: bombPath, MODULE: compressionModule },
    encoding: "utf8",
    timeout: 15_000,
  });
  expect({ signal: child.signal, status: child.status, stderr: child.stderr }).toEqual({ signal: null, status: 0, stderr: "" });
  return JSON.parse(child.stdout) as Record<string, number>;
}

const prelude = `
  import { readFileSync } from "node:fs";
  const { createDecompressor } = await import(process.env.MODULE);
  const decoder = createDecompressor("bzip2");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
`;

describe("bzip2 decoder against a bomb", () => {
  it("holds at most about one block of output for a reader that does not read", () => {
    const result = runChild(`${prelude}
      decoder.end(readFileSync(process.env.BOMB));
      await sleep(1000);
      const buffered = decoder.readableLength;
      decoder.destroy();
      console.log(JSON.stringify({ buffered }));
    `);
    expect(result.buffered).toBeGreaterThan(0);
    expect(result.buffered).toBeLessThanOrEqual(ONE_BLOCK + MiB);
  });

  it("stops decoding once the consumer destroys it after the first output", () => {
    const result = runChild(`${prelude}
      const started = Date.now();
      let destroyedAt = 0;
      decoder.once("data", () => { destroyedAt = Date.now(); decoder.destroy(); });
      decoder.end(readFileSync(process.env.BOMB));
      // The process exits only once nothing is scheduled: an engine still decoding keeps it alive.
      process.on("exit", () => console.log(JSON.stringify({ toFirstOutput: destroyedAt - started, afterDestroy: Date.now() - destroyedAt })));
    `);
    expect(result.toFirstOutput).toBeLessThan(5000);
    expect(result.afterDestroy).toBeLessThan(2000);
  });
});
