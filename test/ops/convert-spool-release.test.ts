// A conversion to an output stream that fails releases the spool files it was reading the blobs
// from. A piped read stream is left open when its destination goes, and the spool file's
// descriptor (of a file already removed) with it, until the garbage collector closed it, which
// Node warns about on standard error.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { convertArchive } from "../../src/ops/convert.js";
import { settledOpenDescriptors, under } from "../support/open-descriptors.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");

const temps: string[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});

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
    const scratch = await mkdtemp(join(tmpdir(), "lading-spool-release-"));
    temps.push(scratch);
    vi.stubEnv("TMPDIR", scratch);
    const source = await openArchivePath(join(TESTDATA, "docker-archive.tar.gz"));
    await expect(convertArchive(source, sinkFailingAfter(bytes), compress === undefined ? {} : { compress })).rejects.toThrow("writing the archive failed: disk gone");
    expect(await settledOpenDescriptors(under(scratch))).toEqual([]);
  });
});
