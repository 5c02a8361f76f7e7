// The floors the second load and the server's load are measured against (bench/RESULTS.md,
// "Fourth round" and "Tenth round"). Not part of `npm run bench`: run by hand, on an idle machine, after `npm run build`.
//
//   node bench/floors.mjs hash <docker-save archive>
//     sha256 of every layer.tar of the archive (read from the page cache in 1 MiB reads), on one
//     thread, then split between two; then lading's probe (hash + layer check) on two threads.
//   node bench/floors.mjs sink [read|write|write-fsync] [socket]
//     a server answering just enough of the Engine API for `docker load -i`: it reads the upload
//     and, by mode, drops it, writes it into 128 MiB files awaiting each 1 MiB write, or also starts
//     each file's fsync when it is complete (as lading does). Then, in another shell:
//     DOCKER_HOST=unix://<socket> docker load -i <archive>
//   node bench/floors.mjs source <archive> [socket]
//     a server answering just enough of the Engine API for `docker save`: every GET .../get is
//     answered with the bytes of <archive>, read in 1 MiB pieces. Then, in another shell:
//     DOCKER_HOST=unix://<socket> docker save -o <file> <any name>
import { createReadStream, openSync, readSync, unlinkSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const MiB = 1024 * 1024;

/** Offsets and sizes of the `layer.tar` bodies of an uncompressed tar (plain ustar headers). */
function layersOf(file) {
  const fd = openSync(file, "r");
  const header = Buffer.alloc(512);
  const layers = [];
  for (let position = 0; readSync(fd, header, 0, 512, position) === 512; ) {
    const name = header.toString("utf8", 0, 100).replace(/\0.*$/s, "");
    if (name === "") break;
    const size = parseInt(header.toString("utf8", 124, 136).replace(/\0.*$/s, "").trim() || "0", 8);
    if (name.endsWith("layer.tar")) layers.push({ start: position + 512, size });
    position += 512 + Math.ceil(size / 512) * 512;
  }
  return layers;
}

async function hashLayers(file, layers, probe) {
  const fd = openSync(file, "r");
  // Page-aligned, as lading's probe reads (a buffer malloc places reads 3-5x slower here).
  const [buffer] = (await import("../dist/tar/page-aligned.js")).pageAlignedBuffers(1, MiB);
  for (const { start, size } of layers) {
    let position = start;
    const end = start + size;
    const next = () => {
      if (position >= end) return undefined;
      const count = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
      position += count;
      return buffer.subarray(0, count);
    };
    if (probe) {
      const body = { [Symbol.asyncIterator]: () => ({ next: async () => { const chunk = next(); return chunk ? { done: false, value: chunk } : { done: true, value: undefined }; } }) };
      await probe("layer.tar", body, { maxJsonBytes: 8 * MiB, maxLayerBytes: 1 << 40 });
    } else {
      const hash = createHash("sha256");
      for (let chunk = next(); chunk; chunk = next()) hash.update(chunk);
      hash.digest();
    }
  }
}

async function probeFunction(withProbe) {
  return withProbe ? (await import("../dist/archive/probe.js")).probeFile : undefined;
}

async function twoThreads(file, layers, withProbe) {
  const half = Math.ceil(layers.length / 2);
  const worker = new Worker(new URL(import.meta.url), { workerData: { file, layers: layers.slice(half), withProbe } });
  const done = new Promise((resolve, reject) => worker.on("message", resolve).on("error", reject));
  await hashLayers(file, layers.slice(0, half), await probeFunction(withProbe));
  await done;
}

async function hashFloor(file) {
  const layers = layersOf(file);
  const bytes = layers.reduce((sum, layer) => sum + layer.size, 0);
  const timed = async (label, run) => {
    const start = performance.now();
    await run();
    const ms = performance.now() - start;
    console.log(`${label}: ${ms.toFixed(0)} ms (${(bytes / MiB / (ms / 1000)).toFixed(0)} MiB/s)`);
  };
  console.log(`${layers.length} layers, ${(bytes / MiB).toFixed(0)} MiB`);
  await timed("sha256, one thread", () => hashLayers(file, layers));
  await timed("sha256, two threads", () => twoThreads(file, layers, false));
  await timed("lading's probe, two threads", () => twoThreads(file, layers, true));
}

/** Listens on `socket` as a docker daemon would for the client's handshake; `handle` gets the rest. */
function engineServer(socket, description, handle) {
  try {
    unlinkSync(socket);
  } catch {
    // no socket left from an earlier run
  }
  const server = createServer((req, res) => {
    res.setHeader("Api-Version", "1.41");
    if (req.method === "HEAD" || req.url.endsWith("/_ping")) return res.end("OK");
    if (req.url.endsWith("/version")) return res.end(JSON.stringify({ ApiVersion: "1.41", MinAPIVersion: "1.12", Version: "20.10.0", Os: "linux", Arch: "amd64" }));
    return handle(req, res);
  });
  server.listen(socket, () => console.log(`listening on unix://${socket} (${description}); stop with Ctrl-C`));
}

async function sink(mode = "read", socket = join(tmpdir(), "lading-floor.sock")) {
  if (!["read", "write", "write-fsync"].includes(mode)) throw new Error(`mode: read, write or write-fsync, not ${mode}`);
  engineServer(socket, mode, async (req, res) => {
    if (!req.url.includes("/images/load")) return res.end("{}");
    const start = performance.now();
    const dir = await mkdtemp(join(tmpdir(), "lading-floor-"));
    const buffer = Buffer.allocUnsafe(MiB);
    const syncs = [];
    let fill = 0;
    let fileIndex = 0;
    let position = 0;
    let handle = mode === "read" ? undefined : await open(join(dir, "0"), "w");
    const flush = async () => {
      await handle.write(buffer, 0, fill, position);
      position += fill;
      fill = 0;
      if (position < 128 * MiB) return;
      const full = handle;
      syncs.push(mode === "write-fsync" ? full.sync().then(() => full.close()) : full.close());
      handle = await open(join(dir, String(++fileIndex)), "w");
      position = 0;
    };
    let received = 0;
    for await (const chunk of req) {
      received += chunk.length;
      if (handle === undefined) continue;
      for (let offset = 0; offset < chunk.length; ) {
        const count = Math.min(chunk.length - offset, buffer.length - fill);
        chunk.copy(buffer, fill, offset, offset + count);
        fill += count;
        offset += count;
        if (fill === buffer.length) await flush();
      }
    }
    if (handle !== undefined) {
      await handle.write(buffer, 0, fill, position);
      syncs.push(mode === "write-fsync" ? handle.sync().then(() => handle.close()) : handle.close());
    }
    await Promise.all(syncs);
    console.log(`${mode}: ${(received / MiB).toFixed(0)} MiB in ${(performance.now() - start).toFixed(0)} ms`);
    res.end(`${JSON.stringify({ stream: "Loaded image: floor:1\n" })}\n`);
    await rm(dir, { recursive: true, force: true });
  });
}

function source(file, socket = join(tmpdir(), "lading-floor.sock")) {
  engineServer(socket, `serving ${file}`, (req, res) => {
    if (!/\/get(\?|$)/.test(req.url)) return res.end("{}");
    const start = performance.now();
    res.setHeader("Content-Type", "application/x-tar");
    res.on("finish", () => console.log(`source: ${file} sent in ${(performance.now() - start).toFixed(0)} ms`));
    createReadStream(file, { highWaterMark: MiB }).pipe(res);
  });
}

if (!isMainThread) {
  await hashLayers(workerData.file, workerData.layers, await probeFunction(workerData.withProbe));
  parentPort.postMessage("done");
} else {
  const [command, ...rest] = process.argv.slice(2);
  if (command === "hash" && rest[0]) await hashFloor(rest[0]);
  else if (command === "sink") await sink(...rest);
  else if (command === "source" && rest[0]) source(...rest);
  else {
    console.error("usage: node bench/floors.mjs hash <archive> | sink [read|write|write-fsync] [socket] | source <archive> [socket]");
    process.exitCode = 2;
  }
}
