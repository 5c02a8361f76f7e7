// A source handed to load, convert, verify or the round trip is released when the call returns,
// also when the call fails before it reads a byte (a store it cannot write, no scratch space).
// It used to keep the archive's file open until the garbage collector closed it, which Node
// warns about on standard error ("Closing file descriptor N on garbage collection"): a refused
// `lading load` on a read-only store printed that after its one-line error.
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openArchivePath, openTarStream, type OpenedSource } from "../../src/archive/source.js";
import { convertViaStore } from "../../src/ops/convert.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyRoundtrip } from "../../src/ops/roundtrip.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { openDescriptors, settledOpenDescriptors } from "../support/open-descriptors.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");
const ARCHIVES = ["docker-archive.tar", "docker-archive.tar.gz"];

const temps: string[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-release-"));
  temps.push(dir);
  return dir;
}

async function opened(name: string): Promise<{ path: string; source: OpenedSource }> {
  const path = join(TESTDATA, name);
  const source = await openArchivePath(path);
  expect(openDescriptors((target) => target === path)).toEqual([path]);
  return { path, source };
}

describe("a source that a failing call never reads", () => {
  it.each(ARCHIVES)("%s: load into a store it cannot lay out", async (name) => {
    const store = await Store.open(join(await tempDir(), "store"));
    await rm(store.paths.root + "/blobs/sha512", { recursive: true, force: true });
    await writeFile(store.paths.root + "/blobs/sha512", "a file where the directory goes\n");
    const { path, source } = await opened(name);
    await expect(loadArchive(store, source)).rejects.toThrow(`cannot create the directory ${store.paths.root}/blobs/sha512`);
    expect(await settledOpenDescriptors((target) => target === path)).toEqual([]);
  });

  it.each(ARCHIVES)("%s: the round trip with no scratch space", async (name) => {
    vi.stubEnv("TMPDIR", join(await tempDir(), "missing"));
    const { path, source } = await opened(name);
    await expect(verifyRoundtrip(source)).rejects.toThrow(`cannot create the directory ${process.env.TMPDIR}/lading-roundtrip-XXXXXX`);
    expect(await settledOpenDescriptors((target) => target === path)).toEqual([]);
  });

  it.each(ARCHIVES)("%s: convert through a temporary store with no scratch space", async (name) => {
    vi.stubEnv("TMPDIR", join(await tempDir(), "missing"));
    const { path, source } = await opened(name);
    await expect(convertViaStore(source, new PassThrough())).rejects.toThrow(`cannot create the directory ${process.env.TMPDIR}/lading-tmp-store-XXXXXX`);
    expect(await settledOpenDescriptors((target) => target === path)).toEqual([]);
  });
});

describe("a source released by a job that failed before reading it", () => {
  it.each([...ARCHIVES, "oci-archive.tar"])("%s: is opened again from its start by the next job, as a source read before is", async (name) => {
    const { source } = await opened(name);
    await expect(loadArchive(await Store.open(join(await tempDir(), "store")), source, { name: "Bad Name" })).rejects.toThrow("--name: ");
    expect((await verifyArchive(source)).valid).toBe(true);
    const loaded = await loadArchive(await Store.open(join(await tempDir(), "store")), source);
    expect(loaded.images.length).toBeGreaterThan(0);
  });

  it("from a stream, is refused by the next job as already read, in one line", async () => {
    const source = await openTarStream(Readable.from([readFileSync(join(TESTDATA, "docker-archive.tar.gz"))]));
    await expect(loadArchive(await Store.open(join(await tempDir(), "store")), source, { name: "Bad Name" })).rejects.toThrow("--name: ");
    await expect(loadArchive(await Store.open(join(await tempDir(), "store")), source)).rejects.toThrow(
      "the archive was already read, and standard input or a stream cannot be read again from its start",
    );
  });
});
