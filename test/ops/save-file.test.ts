// The direct path of save -o FILE (writePlanToFile through saveToFile) and of a save into any
// other Writable (writePlanToSink: a slow socket, a plain Writable, a file stream) write exactly
// the bytes of the stream path (TarWriter, which --compress still takes), for every fixture and
// both formats and for a multi-layer, multi-MiB image; compressed saves to a file keep the stream
// path; a blob changed in or gone from the store fails with one line; a reader that goes away
// mid-archive fails the save at once (compressed or not) and its GC lease is released.
import { createHash } from "node:crypto";
import { chmodSync, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { saveSelection, saveToFile, selectAll, type SaveOptions } from "../../src/ops/save.js";
import { writePlanToFile } from "../../src/ops/save-file.js";
import { Store } from "../../src/store/store.js";
import { TarWriter } from "../../src/tar/writer.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const ARCHIVES = ["docker-save-single.tar", "docker-save-multi.tar", "skopeo-docker-archive.tar", "skopeo-oci-archive.tar", "oci-archive-multiplatform.tar", "ctr-export.tar"];
const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lading-save-file-test-"));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function storeWith(archive: string): Promise<Store> {
  const store = await Store.open(tempDir());
  await loadArchive(store, await openArchivePath(join(FIXTURES, "archives", archive)));
  return store;
}

/** Saves into a plain Writable that keeps the chunks it is given. */
async function streamed(store: Store, options: SaveOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await saveInto(store, sink, options);
  return Buffer.concat(chunks);
}

async function saveInto(store: Store, sink: Writable, options: SaveOptions = {}): Promise<void> {
  await saveSelection(store, await selectAll(store), sink, options);
}

/** The archive as TarWriter writes it: the --compress gzip path, decompressed. */
async function viaTarWriter(store: Store, options: SaveOptions): Promise<Buffer> {
  return gunzipSync(await streamed(store, { ...options, compress: "gzip" }));
}

async function toFile(store: Store, options: SaveOptions): Promise<Buffer> {
  const file = join(tempDir(), "out.tar");
  await saveToFile(file, async (sink) => saveSelection(store, await selectAll(store), sink, options));
  return readFileSync(file);
}

async function tarOf(files: { name: string; content: Buffer }[]): Promise<Buffer> {
  const writer = new TarWriter();
  const bytes = buffer(writer.stream);
  for (const { name, content } of files) await writer.addFile(name, content);
  await writer.finish();
  return bytes;
}

function pseudoRandom(size: number, seed: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0, x = seed; i < size; i++) bytes[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return bytes;
}

/** A store holding one docker-save image with one layer per size, each layer holding a file of that many bytes. */
async function storeWithLayers(sizes: number[]): Promise<Store> {
  const layers = await Promise.all(sizes.map((size, index) => tarOf([{ name: `data-${index}.bin`, content: pseudoRandom(size, index + 1) }])));
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layers.map(sha256) } }));
  const configName = `${sha256(config).slice("sha256:".length)}.json`;
  const layerNames = layers.map((_, index) => `layer-${index}/layer.tar`);
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["big/multi:1"], Layers: layerNames }]));
  const entries = layers.map((content, index) => ({ name: layerNames[index]!, content }));
  const archive = await tarOf([...entries, { name: configName, content: config }, { name: "manifest.json", content: manifest }]);
  const store = await Store.open(tempDir());
  await loadArchive(store, await openTarStream(Readable.from([archive])));
  return store;
}

/** Saves into the client end of a Unix socket whose reader is slow, or gives up after its first chunk; `received` is what it read. */
async function throughSocket(store: Store, reader: "slow" | "gone", options: SaveOptions = {}): Promise<{ saving: Promise<void>; received: Promise<Buffer> }> {
  const socketPath = join(tempDir(), "save.sock");
  let received!: Promise<Buffer>;
  const server = createServer((connection: Socket) => {
    received = new Promise((resolve) => {
      const chunks: Buffer[] = [];
      connection.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (reader === "gone") return void connection.destroy();
        connection.pause();
        setTimeout(() => connection.resume(), 1);
      });
      connection.on("close", () => resolve(Buffer.concat(chunks)));
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const client = connect(socketPath);
  await new Promise((resolve) => client.once("connect", resolve));
  const saving = saveInto(store, client, options);
  const settled = saving.catch(() => undefined);
  void settled.finally(() => server.close());
  return { saving, received: settled.then(() => received) };
}

const MIB = 1024 * 1024;
const CLOSED = "the output closed before the archive was complete";

describe.runIf(existsSync(join(FIXTURES, "expected.json")))("save -o FILE, direct path", () => {
  it.each(ARCHIVES)("writes the stream path's bytes for %s, docker and oci formats, with and without an mtime", async (archive) => {
    const store = await storeWith(archive);
    for (const options of [{ format: "docker" }, { format: "oci", mtime: 1_700_000_000 }] as SaveOptions[]) {
      const progress = { done: 0, total: undefined as number | undefined };
      const direct = await toFile(store, { ...options, progress });
      expect(sha256(direct)).toBe(sha256(await viaTarWriter(store, options)));
      expect(sha256(await streamed(store, options))).toBe(sha256(direct));
      expect(progress.done).toBe(progress.total);
    }
  });

  it("keeps the stream path for a compressed archive", async () => {
    const store = await storeWith("docker-save-single.tar");
    const gzipped = await toFile(store, { compress: "gzip" });
    expect(gzipped.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(sha256(gunzipSync(gzipped))).toBe(sha256(await streamed(store, {})));
  });

  it("writes through the stream's own writes when something went through the file's stream first", async () => {
    const store = await storeWith("docker-save-single.tar");
    const file = join(tempDir(), "out.tar");
    await saveToFile(file, async (sink) => {
      sink.write("head");
      return saveSelection(store, await selectAll(store), sink, {});
    });
    expect(sha256(readFileSync(file))).toBe(sha256(Buffer.concat([Buffer.from("head"), await viaTarWriter(store, {})])));
  });

  it("a blob missing from the store, or changed in it, fails the direct write with one line", async () => {
    const store = await storeWith("skopeo-oci-archive.tar");
    const [selection] = await selectAll(store);
    const layer = selection!.record.images[0]!.layers[0]!;
    const plan = { documents: [], entries: [{ kind: "blob" as const, name: "blobs/sha256/x", digest: layer.digest, size: layer.size }] };
    const path = join(tempDir(), "x.tar");
    const handle = await open(path, "wx");
    try {
      const progress = { done: 0 };
      const blob = store.content.blobPath(layer.digest);
      chmodSync(blob, 0o644);
      const changed = Buffer.from(readFileSync(blob));
      changed[0] = changed[0]! ^ 1;
      writeFileSync(blob, changed);
      await expect(writePlanToFile(store, plan, { fd: handle.fd, path }, { mtime: 0, progress })).rejects.toThrow(
        `blob ${layer.digest} in the store has content ${sha256(changed)}: the store is damaged (run lading fsck)`,
      );
      expect(progress.done).toBe(layer.size);
      unlinkSync(blob);
      await expect(writePlanToFile(store, plan, { fd: handle.fd, path }, { mtime: 0, progress })).rejects.toThrow(`blob ${layer.digest} not found in the content store`);
    } finally {
      await handle.close();
    }
  });
});

describe("save into any Writable, direct path", () => {
  it("a multi-layer image: a slow socket, a plain Writable and a file stream get the bytes of the file path and of TarWriter", async () => {
    const store = await storeWithLayers([3 * MIB + 100, 1.5 * MIB, 10_000]);
    const progress = { done: 0, total: undefined as number | undefined };
    const direct = await toFile(store, { progress });
    expect(progress.done).toBe(progress.total);
    expect(progress.total).toBeGreaterThan(4.5 * MIB);
    expect(sha256(direct)).toBe(sha256(await viaTarWriter(store, {})));

    const { saving, received } = await throughSocket(store, "slow");
    await saving;
    expect(sha256(await received)).toBe(sha256(direct));
    expect(sha256(await streamed(store, {}))).toBe(sha256(direct));
    const file = join(tempDir(), "streamed.tar");
    await saveInto(store, createWriteStream(file));
    expect(sha256(readFileSync(file))).toBe(sha256(direct));
  });

  it("a reader that goes away mid-archive fails the save at once and releases the GC lease", async () => {
    const store = await storeWithLayers([8 * MIB]);
    const { saving, received } = await throughSocket(store, "gone");
    await expect(saving).rejects.toThrow(CLOSED);
    expect((await received).length).toBeGreaterThan(0);
    expect(readdirSync(join(store.paths.root, "leases"))).toEqual([]);
  });

  it("so does a compressed save (TarWriter's stream path), which used to wait forever, in the same words", async () => {
    const store = await storeWithLayers([8 * MIB]);
    const { saving } = await throughSocket(store, "gone", { compress: "gzip" });
    await expect(saving).rejects.toThrow(CLOSED);
    expect(readdirSync(join(store.paths.root, "leases"))).toEqual([]);
  });
});
