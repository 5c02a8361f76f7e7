// A source read a second time (the library's verify then load) is read again from its start when
// it can be opened again (a file, compressed or not, or a layout directory), and refused in one
// line when it cannot (standard input, a pipe, openTarStream), the store left as it was. It used to
// be read as an archive of no entries: "not an image archive".
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyRoundtrip } from "../../src/ops/roundtrip.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { snapshotTree } from "../support/store-tree.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-reread-"));
  temps.push(dir);
  return dir;
}

describe("a source read twice", () => {
  it.each(["docker-archive.tar", "docker-archive.tar.gz", "oci-layout"])("%s: verify, then load and the round trip, each read it again from its start", async (name) => {
    const store = await Store.open(await tempDir());
    const source = await openArchivePath(join(TESTDATA, name));
    const report = await verifyArchive(source);
    expect([report.valid, report.images.length > 0]).toEqual([true, true]);
    const loaded = await loadArchive(store, source);
    expect(loaded.images.map((image) => image.id).sort()).toEqual([...new Set(report.images.map((image) => image.rootDigest))].sort());
    expect((await verifyRoundtrip(source)).valid).toBe(true);
  });

  it("from a stream: the second read is refused as already read, and the store is left as it was", async () => {
    const store = await Store.open(await tempDir());
    const source = await openTarStream(Readable.from([readFileSync(join(TESTDATA, "docker-archive.tar"))]));
    expect((await verifyArchive(source)).valid).toBe(true);
    const before = await snapshotTree(store.paths.root);
    await expect(loadArchive(store, source)).rejects.toMatchObject({
      kind: "invalid",
      message: "the archive was already read, and standard input or a stream cannot be read again from its start",
    });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("from a pipe: the second read is refused as already read, naming it", async () => {
    const dir = await tempDir();
    const store = await Store.open(join(dir, "store"));
    const fifo = join(dir, "archive.fifo");
    execFileSync("mkfifo", [fifo]);
    const writing = writeFile(fifo, readFileSync(join(TESTDATA, "docker-archive.tar")));
    const source = await openArchivePath(fifo);
    expect((await verifyArchive(source)).valid).toBe(true);
    await writing;
    const before = await snapshotTree(store.paths.root);
    await expect(loadArchive(store, source)).rejects.toMatchObject({
      kind: "invalid",
      subject: fifo,
      message: `${fifo}: the archive was already read, and a pipe cannot be read again from its start`,
    });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });
});
