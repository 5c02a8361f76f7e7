// A conversion to an output stream that fails releases the spool files it was reading the blobs
// from. A piped read stream is left open when its destination goes, and the spool file's
// descriptor (of a file already removed) with it, until the garbage collector closed it, which
// Node warns about on standard error.
import { readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { convertArchive } from "../../src/ops/convert.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");

const temps: string[] = [];
const savedTmpdir = process.env.TMPDIR;
afterEach(async () => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** This process's descriptors open on files under `dir` (a removed file's link ends in " (deleted)"). */
function descriptorsUnder(dir: string): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${dir}/`) ? [target] : [];
    } catch {
      return []; // closed since it was listed (the listing's own descriptor)
    }
  });
}

/** The same once closes already under way have finished (a close runs in the thread pool). */
async function settledDescriptorsUnder(dir: string): Promise<string[]> {
  const deadline = Date.now() + 2000;
  while (descriptorsUnder(dir).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return descriptorsUnder(dir);
}

/** A sink that takes `bytes`, then fails every write. */
function sinkFailingAfter(bytes: number): Writable {
  let taken = 0;
  return new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      taken += chunk.length;
      callback(taken > bytes ? new Error("disk gone") : null);
    },
  });
}

describe("convert of a compressed archive (its blobs spooled) into an output stream that fails", () => {
  it.each([
    { output: "plain", compress: undefined, bytes: 0 },
    { output: "plain", compress: undefined, bytes: 6000 },
    { output: "gzip", compress: "gzip", bytes: 0 },
  ] as const)("$output output failing after $bytes bytes: no spool file left open", async ({ compress, bytes }) => {
    process.env.TMPDIR = await mkdtemp(join(tmpdir(), "lading-spool-release-"));
    temps.push(process.env.TMPDIR);
    const source = await openArchivePath(join(TESTDATA, "docker-archive.tar.gz"));
    await expect(convertArchive(source, sinkFailingAfter(bytes), compress === undefined ? {} : { compress })).rejects.toThrow("writing the archive failed: disk gone");
    expect(await settledDescriptorsUnder(process.env.TMPDIR)).toEqual([]);
  });
});
