// Large uncompressed files of an archive on disk are probed by worker threads while the main thread
// seeks over them: the results, the errors and what a load stores must be exactly those of a read
// on the main thread alone.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { prestartProbeWorkers, spareProbeWorkers } from "../../src/archive/probe-pool.js";
import { readArchive } from "../../src/archive/read.js";
import { scanEntries, type ArchiveEntry } from "../../src/archive/scan.js";
import { pendingBytes, type DeferredBytes } from "../../src/archive/deferred-bytes.js";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { buildTar, ensureBuilt, failureOf, type TarItem } from "../support/archive-builder.js";

beforeAll(() => ensureBuilt(), 120_000); // the workers run the compiled probe

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-parallel-"));
  roots.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const hex = (digest: string): string => digest.slice("sha256:".length);
const MiB = 1024 * 1024;
const LIMITS = { maxJsonBytes: 8 * MiB, maxLayerBytes: 1024 * MiB };

/** Bytes that differ all along (a counter hashed block by block), so no prefix stands for the whole. */
function filler(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let offset = 0, block = 0; offset < size; offset += 32, block++) {
    createHash("sha256").update(`${seed}:${block}`).digest().copy(out, offset);
  }
  return out;
}

/** A layer tar holding one file of `size` bytes. */
const bigLayer = (seed: string, size = 9 * MiB): Buffer => buildTar([{ type: "file", name: `data/${seed}.bin`, content: filler(seed, size) }]);

/** A legacy docker-save archive (`<v1id>/layer.tar` names, no digests in them) of the given layers. */
function legacyItems(layers: Buffer[], repoTag = "parallel/test:1"): TarItem[] {
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map(sha256) }, history: layers.map(() => ({ created_by: "test" })) }),
  );
  const items: TarItem[] = [];
  const names = layers.map((layer, index) => {
    const id = String(index + 1).repeat(64);
    items.push({ type: "file", name: `${id}/VERSION`, content: "1.0" }, { type: "file", name: `${id}/layer.tar`, content: layer });
    return `${id}/layer.tar`;
  });
  items.push({ type: "file", name: `${hex(sha256(config))}.json`, content: config });
  items.push({ type: "file", name: "manifest.json", content: JSON.stringify([{ Config: `${hex(sha256(config))}.json`, RepoTags: [repoTag], Layers: names }]) });
  return items;
}

async function writeArchive(items: TarItem[] | Buffer): Promise<string> {
  const path = join(await tempDir(), "archive.tar");
  await writeFile(path, Buffer.isBuffer(items) ? items : buildTar(items));
  return path;
}

async function scan(path: string, parallel: boolean) {
  const source = await openArchivePath(path);
  return scanEntries(source.entries, source.compression, { ...LIMITS, parallel });
}

/** The scan with and without workers, and a load, fail with `message`; the load leaves the store as it was. */
async function expectSameFailureEverywhere(path: string, message: string): Promise<void> {
  expect(await failureOf(scan(path, true))).toBe(message);
  expect(await failureOf(scan(path, false))).toBe(message);
  const root = await tempDir();
  const store = await Store.open(root);
  const listing = async (): Promise<string[]> => (await readdir(root, { recursive: true })).sort();
  const before = await listing();
  expect(await failureOf(loadArchive(store, await openArchivePath(path)))).toBe(message);
  expect(await listing()).toEqual(before);
  expect(await readdir(join(root, "ingest"))).toEqual([]);
}

const LAYERS = [bigLayer("a"), bigLayer("b"), bigLayer("c")];

describe("probing in worker threads", () => {
  it("gives the same files as the main thread alone, with at least one probed by a worker", async () => {
    const path = await writeArchive(legacyItems(LAYERS));
    const [parallel, serial] = [await scan(path, true), await scan(path, false)];
    expect(parallel.workerProbes).toBeGreaterThanOrEqual(1);
    expect(parallel.workerProbes).toBeLessThanOrEqual(3);
    expect(serial.workerProbes).toBe(0);
    expect([...parallel.files.entries()]).toEqual([...serial.files.entries()]);
    expect([...parallel.byDigest.keys()]).toEqual([...serial.byDigest.keys()]);
    const layer = parallel.files.get(`${"1".repeat(64)}/layer.tar`);
    expect(layer).toMatchObject({ digest: sha256(LAYERS[0] as Buffer), size: (LAYERS[0] as Buffer).length, diffId: sha256(LAYERS[0] as Buffer), compression: "none", looksLikeTar: true });
    expect(layer?.layerProblem).toBeUndefined();

    const [report, serialReport] = [await verifyArchive(await openArchivePath(path)), await verifyArchive(await openArchivePath(path), { parallel: false })];
    expect(report).toEqual(serialReport);
    expect(report.valid).toBe(true);
    expect(report.images[0]?.layers.map((layer) => layer.diffId)).toEqual(LAYERS.map(sha256));
  });

  it("leaves compressed files to the main thread (their decoder already runs on another thread)", async () => {
    const gzipped = gzipSync(filler("z", 9 * MiB), { level: 1 });
    expect(gzipped.length).toBeGreaterThan(8 * MiB);
    const path = await writeArchive([{ type: "file", name: "blobs/sha256/x", content: gzipped }]);
    const scanned = await scan(path, true);
    expect(scanned.workerProbes).toBe(0);
    expect(scanned.files.get("blobs/sha256/x")).toMatchObject({ digest: sha256(gzipped), compression: "gzip", diffId: sha256(filler("z", 9 * MiB)) });
  });

  it("reads an OCI layout directory's large blobs in workers too", async () => {
    const dir = await tempDir();
    const blob = filler("dir", 10 * MiB);
    const blobFile = join(dir, "blobs", "sha256", hex(sha256(blob)));
    await mkdir(dirname(blobFile), { recursive: true });
    await writeFile(blobFile, blob);
    await writeFile(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    const source = await openArchivePath(dir);
    const scanned = await scanEntries(source.entries, source.compression, { ...LIMITS, ...(source.deferred ? { deferred: source.deferred } : {}) });
    expect(scanned.workerProbes).toBe(1);
    expect(source.bytesRead()).toBe(blob.length + '{"imageLayoutVersion":"1.0.0"}'.length);
    expect(scanned.files.get(`blobs/sha256/${hex(sha256(blob))}`)).toMatchObject({ digest: sha256(blob), size: blob.length, compression: "none" });
  });

  it("reports a truncated large entry exactly as the main thread does", async () => {
    const whole = buildTar(legacyItems(LAYERS));
    const cut = whole.subarray(0, 5 * 512 + 4 * MiB); // VERSION (2 blocks), the layer header, then 4 MiB + 1 KiB of its data
    const path = await writeArchive(cut);
    const message = `unexpected end of archive in entry "${"1".repeat(64)}/layer.tar" (got ${cut.length - 3 * 512} of ${(LAYERS[0] as Buffer).length} bytes)`;
    await expectSameFailureEverywhere(path, message);
  });

  it("shares the large files left at the end between the workers and the main thread", async () => {
    const layers = ["p", "q", "r", "s", "t"].map((seed) => bigLayer(seed));
    const path = await writeArchive(legacyItems(layers));
    const [parallel, serial] = [await scan(path, true), await scan(path, false)];
    expect(parallel.workerProbes).toBeGreaterThanOrEqual(1);
    expect(parallel.workerProbes).toBeLessThanOrEqual(4); // the main thread took at least one
    expect([...parallel.files.entries()]).toEqual([...serial.files.entries()]);

    const root = await tempDir();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(path));
    for (const layer of layers) expect(sha256(await readFile(join(root, "blobs", "sha256", hex(sha256(layer)))))).toBe(sha256(layer));
    expect(await readdir(join(root, "ingest"))).toEqual([]);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("counts the large files left to workers or to the end as unread until a thread reads them (the load's progress)", async () => {
    const layers = ["u", "v", "w", "x"].map((seed) => bigLayer(seed));
    const path = await writeArchive(legacyItems(layers));
    const serial = await openArchivePath(path);
    await readArchive(serial, { parallel: false });
    const whole = serial.bytesRead();
    expect(whole).toBeGreaterThan(4 * 9 * MiB);

    const source = await openArchivePath(path);
    let atWalkEnd: number | undefined;
    const seen: number[] = [];
    async function* walked(): AsyncGenerator<ArchiveEntry> {
      for await (const entry of source.entries) {
        seen.push(source.bytesRead());
        yield entry;
        // The scan has left the entry (a large one deferred), and its body is not skipped yet.
        seen.push(source.bytesRead());
      }
      atWalkEnd = source.bytesRead();
    }
    const graph = await readArchive({ ...source, entries: walked() });
    expect(graph.problems).toEqual([]);
    for (const layer of layers) expect(graph.blobs.get(sha256(layer))?.size).toBe(layer.length);
    // Past the last header, every large layer has been skipped: those held for the end (the
    // workers busy with the first ones) are certainly unread yet, and count as such.
    const held = layers.length - Math.min(availableParallelism() - 1, 3);
    expect(atWalkEnd).toBeLessThanOrEqual(whole - held * (layers[0] as Buffer).length);
    // It never goes back, nor below zero, while a deferred body waits to be skipped.
    expect(seen.length).toBe(2 * (2 * layers.length + 2));
    expect(seen[0]).toBeGreaterThanOrEqual(0);
    seen.forEach((value, index) => expect(value).toBeGreaterThanOrEqual(seen[index - 1] ?? 0));
    expect(pendingBytes(source.deferred as DeferredBytes)).toBe(0);
    expect(source.bytesRead()).toBe(whole);
  });

  it("takes the workers started ahead (as the CLI does for load and verify), giving the same files", async () => {
    const expectedSpares = Math.min(availableParallelism() - 1, 3);
    prestartProbeWorkers();
    expect(spareProbeWorkers()).toBe(expectedSpares);
    prestartProbeWorkers(); // no more than a pool would start
    expect(spareProbeWorkers()).toBe(expectedSpares);
    const path = await writeArchive(legacyItems(LAYERS));
    const parallel = await scan(path, true);
    expect(spareProbeWorkers()).toBe(0);
    expect(parallel.workerProbes).toBeGreaterThanOrEqual(1);
    expect([...parallel.files.entries()]).toEqual([...(await scan(path, false)).files.entries()]);
  });

  it("starts workers ahead only for the commands that read an archive, shared with the CLI's bundle", async () => {
    const { commandNameOf, jobNameOf, startWorkersFor } = await import("../../src/cli/early-start.js");
    expect(["images", "save", "serve", undefined].map((name) => commandNameOf(["node", "lading", ...(name ? ["--root", "/r", name, "-x"] : ["--version"])]))).toEqual(["images", "save", "serve", undefined]);
    // docker's `image SUB` runs the command SUB stands for.
    const jobs = [["image", "load", "-i", "x"], ["--root", "/r", "image", "-h"], ["image", "ls"], ["image", "list", "-q"], ["image", "rm", "x"], ["image", "remove"], ["image", "save", "x"], ["image", "nope"], ["load"]];
    expect(jobs.map((words) => jobNameOf(["node", "lading", ...words]))).toEqual(["load", undefined, "images", "images", "rmi", "rmi", "save", undefined, "load"]);
    for (const name of ["images", "save", "serve", "pull", undefined]) startWorkersFor(name);
    expect(spareProbeWorkers()).toBe(0);
    // bin/lading.js starts them through the compiled module, the bundle takes them through its own copy.
    const compiled = (await import(join(import.meta.dirname, "..", "..", "dist", "archive", "probe-pool.js"))) as typeof import("../../src/archive/probe-pool.js");
    compiled.prestartProbeWorkers();
    expect(spareProbeWorkers()).toBe(Math.min(availableParallelism() - 1, 3));
    const parallel = await scan(await writeArchive(legacyItems(LAYERS)), true);
    expect([spareProbeWorkers(), compiled.spareProbeWorkers()]).toEqual([0, 0]);
    expect(parallel.workerProbes).toBeGreaterThanOrEqual(1);
    startWorkersFor("verify");
    expect(spareProbeWorkers()).toBe(Math.min(availableParallelism() - 1, 3));
    await scan(await writeArchive(legacyItems(LAYERS)), true); // takes them again
  });

  it("lets a process end while a worker started ahead was never needed", () => {
    const script = `import("./dist/archive/probe-pool.js").then((pool) => { pool.prestartProbeWorkers(); console.log("spares", pool.spareProbeWorkers()); })`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: join(import.meta.dirname, "..", ".."), encoding: "utf8", timeout: 20_000 });
    expect([run.status, run.signal, run.stdout, run.stderr]).toEqual([0, null, `spares ${Math.min(availableParallelism() - 1, 3)}\n`, ""]);
  });

  it("cancels the large files held for the end when the archive turns out truncated", async () => {
    const layers = ["u", "v", "w", "x"].map((seed) => bigLayer(seed));
    const whole = buildTar(legacyItems(layers));
    const lastLayerData = 3 * (3 * 512 + (layers[0] as Buffer).length) + 3 * 512;
    const cut = whole.subarray(0, lastLayerData + 2 * MiB);
    const path = await writeArchive(cut);
    const message = `unexpected end of archive in entry "${"4".repeat(64)}/layer.tar" (got ${2 * MiB} of ${(layers[3] as Buffer).length} bytes)`;
    await expectSameFailureEverywhere(path, message);
  });

  it("refuses a large name given twice with different content, and accepts it twice the same", async () => {
    const twice = (second: Buffer): TarItem[] => [
      { type: "file", name: "layer.tar", content: LAYERS[0] as Buffer },
      { type: "file", name: "layer.tar", content: second },
    ];
    const differing = await writeArchive(twice(LAYERS[1] as Buffer));
    expect(await failureOf(scan(differing, true))).toBe('duplicate entry "layer.tar" with different content');
    const same = await scan(await writeArchive(twice(LAYERS[0] as Buffer)), true);
    expect(same.files.get("layer.tar")?.digest).toBe(sha256(LAYERS[0] as Buffer));
  });

  it("loads into the store byte for byte, and a second load of the legacy archive writes nothing", async () => {
    const path = await writeArchive(legacyItems(LAYERS));
    const root = await tempDir();
    const store = await Store.open(root);
    const result = await loadArchive(store, await openArchivePath(path));
    expect(result.images[0]?.tags).toEqual(["parallel/test:1"]);
    for (const layer of LAYERS) expect(sha256(await readFile(join(root, "blobs", "sha256", hex(sha256(layer)))))).toBe(sha256(layer));
    const before = new Map<string, number>();
    for (const name of await readdir(join(root, "blobs", "sha256"))) before.set(name, (await stat(join(root, "blobs", "sha256", name))).ino);

    await loadArchive(store, await openArchivePath(path));
    const after = new Map<string, number>();
    for (const name of await readdir(join(root, "blobs", "sha256"))) after.set(name, (await stat(join(root, "blobs", "sha256", name))).ino);
    expect(after).toEqual(before);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("a stored look-alike (same size, same first 256 KiB) does not stand in for a large layer", async () => {
    const real = bigLayer("real");
    const lookAlike = Buffer.from(real);
    lookAlike[lookAlike.length - 2048] = (lookAlike[lookAlike.length - 2048] ?? 0) ^ 0xff; // differs far past the prefix
    const root = await tempDir();
    const store = await Store.open(root);
    const ingest = await store.content.openIngest();
    await ingest.write(lookAlike);
    await ingest.commit({ size: lookAlike.length });

    await loadArchive(store, await openArchivePath(await writeArchive(legacyItems([real]))));
    expect(sha256(await readFile(join(root, "blobs", "sha256", hex(sha256(real)))))).toBe(sha256(real));
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("reads the same graph whether or not workers are used", async () => {
    const path = await writeArchive(legacyItems(LAYERS));
    const [parallel, serial] = [await readArchive(await openArchivePath(path)), await readArchive(await openArchivePath(path), { parallel: false })];
    expect(parallel.roots.map((root) => root.descriptor)).toEqual(serial.roots.map((root) => root.descriptor));
    expect(parallel.problems).toEqual([]);
  });

  describe("a stream (the server's load, standard input)", () => {
    const streamed = async (path: string) => openTarStream(createReadStream(path));
    /** Scans the archive as a stream, each file written to an ingest of `store` that is then dropped. */
    const scanStreamIntoIngests = async (path: string, store: Store) =>
      scanEntries((await streamed(path)).entries, "none", {
        ...LIMITS,
        openWriter: async () => {
          const ingest = await store.content.openIngest({ digestedByCaller: true });
          return { write: (chunk) => ingest.write(chunk), close: async () => ingest.abort(), abort: () => ingest.abort(), delegate: { path: ingest.path, wrote: () => undefined } };
        },
      });

    it("writes large uncompressed files through to the store while workers hash them, storing exactly what the file path stores", async () => {
      const layers = ["m", "n", "o"].map((seed) => bigLayer(seed));
      const path = await writeArchive(legacyItems(layers));
      const root = await tempDir();
      const store = await Store.open(root);
      const result = await loadArchive(store, await streamed(path));
      expect(result.images[0]?.tags).toEqual(["parallel/test:1"]);
      for (const layer of layers) expect(sha256(await readFile(join(root, "blobs", "sha256", hex(sha256(layer)))))).toBe(sha256(layer));
      expect(await readdir(join(root, "ingest"))).toEqual([]);
      expect((await fsckStore(store)).problems).toEqual([]);

      const scanned = await scanStreamIntoIngests(path, store);
      expect(scanned.workerProbes).toBeGreaterThanOrEqual(1);
      const serial = await scan(path, false);
      expect([...scanned.files.entries()]).toEqual([...serial.files.entries()]);
    });

    it("probes a large compressed file of a stream on the main thread, its diff ID checked", async () => {
      const content = filler("gz", 9 * MiB);
      const gzipped = gzipSync(content, { level: 1 });
      const path = await writeArchive([{ type: "file", name: "blobs/sha256/y", content: gzipped }]);
      const root = await tempDir();
      const store = await Store.open(root);
      const scanned = await scanStreamIntoIngests(path, store);
      expect(scanned.workerProbes).toBe(0);
      expect(scanned.files.get("blobs/sha256/y")).toMatchObject({ digest: sha256(gzipped), compression: "gzip", diffId: sha256(content), size: gzipped.length });
      expect(await readdir(join(root, "ingest"))).toEqual([]);
    });

    it("reports a large layer the worker refuses early exactly as a file, while the stream still has more of it than the ring holds", async () => {
      const climbing = buildTar([{ type: "file", name: "../evil", content: filler("evil", 12 * MiB) }]);
      const path = await writeArchive(legacyItems([climbing, ...LAYERS.slice(1)]));
      const root = await tempDir();
      const store = await Store.open(root);
      const listing = async (): Promise<string[]> => (await readdir(root, { recursive: true })).sort();
      const before = await listing();
      const message = await failureOf(loadArchive(store, await openArchivePath(path)));
      expect(message).toContain("../evil");
      expect(await failureOf(loadArchive(store, await streamed(path)))).toBe(message);
      expect(await listing()).toEqual(before);
      // The next stream goes through as if nothing had happened.
      const good = await writeArchive(legacyItems(LAYERS));
      expect((await loadArchive(store, await streamed(good))).images[0]?.tags).toEqual(["parallel/test:1"]);
      expect((await fsckStore(store)).problems).toEqual([]);
    });

    it("reports a stream cut inside a large file exactly as a file, and leaves the store as it was", async () => {
      const whole = buildTar(legacyItems(LAYERS));
      const cut = whole.subarray(0, 2 * (3 * 512 + (LAYERS[0] as Buffer).length) + 3 * 512 + 5 * MiB);
      const path = await writeArchive(cut);
      const message = `unexpected end of archive in entry "${"3".repeat(64)}/layer.tar" (got ${5 * MiB} of ${(LAYERS[2] as Buffer).length} bytes)`;
      const root = await tempDir();
      const store = await Store.open(root);
      const listing = async (): Promise<string[]> => (await readdir(root, { recursive: true })).sort();
      const before = await listing();
      expect(await failureOf(loadArchive(store, await streamed(path)))).toBe(message);
      expect(await failureOf(loadArchive(store, await openArchivePath(path)))).toBe(message);
      expect(await listing()).toEqual(before);
    });
  });
});
