// DirectStages: a file written through page-aligned stages around the page cache holds exactly
// the bytes given, whatever their sizes; whole pages go around the cache and the last partial
// page through it; a failed write fails the stages.
import { createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDirectSync } from "../../src/tar/direct-io.js";
import { DirectStages, STAGE_BYTES } from "../../src/tar/direct-stages.js";
import { patternBytes as pattern, takesDirect } from "../support/direct-io.js";

const dir = mkdtempSync(join(tmpdir(), "lading-direct-stages-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** The stages need a file system that takes O_DIRECT: the temp directory's, on the machines lading is built on (not tmpfs before Linux 6.6). */
const probe = join(dir, "probe");
writeFileSync(probe, "");
const directHere = takesDirect(probe);

/** Writes `calls` (several buffers per call, as a tar writer gathers a header and its data) through stages into `path` from `position`. */
async function writeThrough(path: string, position: number, calls: Buffer[][]): Promise<DirectStages> {
  const direct = openDirectSync(path);
  if (direct === undefined) throw new Error(`${path}: O_DIRECT refused`);
  const fd = openSync(path, "r+");
  try {
    const stages = new DirectStages(fd, direct, position);
    for (const buffers of calls) await stages.write(buffers);
    await stages.finish();
    return stages;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!directHere && process.env.CI !== "true")("DirectStages", () => {
  it("writes pieces of any size exactly, whole pages around the page cache and the last partial page through it", async () => {
    const path = join(dir, "pieces");
    writeFileSync(path, "");
    const calls = [[pattern(512, 1), pattern(100, 2)], [pattern(STAGE_BYTES - 612 + 5, 3)], [pattern(3, 4), pattern(2 * STAGE_BYTES + 4095, 5)], [pattern(1, 6)]];
    const content = Buffer.concat(calls.flat());
    const stages = await writeThrough(path, 0, calls);
    expect(sha256(readFileSync(path))).toBe(sha256(content));
    expect(content.length).toBe(3 * STAGE_BYTES + 4096 + 8);
    expect(stages.directBytes()).toBe(3 * STAGE_BYTES + 4096);
  });

  it("starts at a page boundary past what the file already holds, and leaves that alone", async () => {
    const path = join(dir, "after-head");
    const head = pattern(8192, 7);
    writeFileSync(path, head);
    const body = pattern(STAGE_BYTES + 777, 8);
    await writeThrough(path, head.length, [[body]]);
    expect(sha256(readFileSync(path))).toBe(sha256(Buffer.concat([head, body])));
    expect(() => new DirectStages(0, 0, 512)).toThrow("direct stages start on a page boundary, not at 512");
  });

  it("fails when a write fails (here the last partial page, through a descriptor that cannot write)", async () => {
    const path = join(dir, "read-only");
    writeFileSync(path, "");
    const direct = openDirectSync(path) as number;
    const readOnly = openSync(path, "r");
    try {
      const stages = new DirectStages(readOnly, direct, 0);
      await stages.write([pattern(4096 + 10, 9)]);
      await expect(stages.finish()).rejects.toThrow(/EBADF/);
      expect(stages.directBytes()).toBe(4096);
    } finally {
      closeSync(readOnly);
    }
  });
});
