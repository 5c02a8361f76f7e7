// Issue 5's performance targets for the hot-reloading reference store and `lading serve`:
//
//   - a change made on disk is visible to the server in under 100 ms;
//   - with 10,000 references, a reload takes under 50 ms and GET /images/json answers in under 100 ms;
//   - docker save / docker load through `lading serve` stream at the speed of lading save / lading load
//     (within 10%).
//
// Two jobs in the shape of bench/jobs.mjs, for bench/run.mjs:
//   serve-api     one case: this file's `measure` mode in a child process, which times reloads,
//                 change visibility and GET /images/json itself (millisecond figures a whole-process
//                 wall time cannot show) and writes them to a JSON file the targets read.
//   serve-stream  lading save vs `docker save` through `lading serve`, lading load vs `docker load`
//                 through `lading serve`, on the generated archive, measured by the runner; and the
//                 same two docker commands against bench/floors.mjs's servers, which do nothing but
//                 stream or drop the archive: what docker's client alone costs.
//
// Standalone (after `npm run build`):
//   node bench/serve-jobs.mjs [--refs 10000] [--images 1000] [--reps 30]     prints the serve-api figures
//   node bench/serve-jobs.mjs measure --out FILE [--refs N] [--images N] [--reps N]
//   node bench/serve-jobs.mjs stream [SIZE_MIB=256] [REPS=3]                   runs the serve-stream cases
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { END_OF_ARCHIVE, smallEntry } from "./tar.mjs";

const benchDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = dirname(benchDir);
const distUrl = (module) => pathToFileURL(join(repoRoot, "dist", module)).href;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const CLOCK_TICKS_PER_SECOND = 100;
const DOCKER_CLIENT = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";

const DEFAULTS = { refs: 10_000, images: 1_000, reps: 30 };
const TARGETS = { reloadMs: 50, visibleMs: 100, imagesJsonMs: 100, streamRatio: 1.1 };

// ---------------------------------------------------------------------------------------------
// Fixtures: many small images, and a repositories.json with many references to them.

/** A docker-save archive of `count` tiny images sharing one layer; each has its own config. */
function manyImagesArchive(count) {
  const layer = Buffer.concat([smallEntry("hello.txt", "hello from the lading benchmark\n"), END_OF_ARCHIVE]);
  const diffId = `sha256:${sha256(layer)}`;
  const entries = [smallEntry("layer/layer.tar", layer)];
  const manifest = [];
  for (let i = 0; i < count; i++) {
    const config = JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: new Date(Date.UTC(2023, 10, 14) + i * 1000).toISOString().replace(".000Z", "Z"),
      config: { Labels: { "bench.image": String(i) } },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: "2023-11-14T00:00:00Z", created_by: `bench image ${i}` }],
    });
    const name = `${sha256(config)}.json`;
    entries.push(smallEntry(name, config));
    manifest.push({ Config: name, RepoTags: [`bench-image-${i}:loaded`], Layers: ["layer/layer.tar"] });
  }
  entries.push(smallEntry("manifest.json", JSON.stringify(manifest)), END_OF_ARCHIVE);
  return Buffer.concat(entries);
}

/** The repository a reference number falls in: a mix of Docker Hub, user, registry and IP shapes. */
function repositoryOf(n) {
  const r = Math.floor(n / 5);
  switch (r % 4) {
    case 0:
      return `app${r}`;
    case 1:
      return `team${r % 37}/service-${r}`;
    case 2:
      return `localhost:5000/group/app_${r}`;
    default:
      return `registry.example.com/org${r % 11}/component.${r}`;
  }
}

/**
 * repositories.json in Docker's form with `count` references over `ids`: 5 per repository, four
 * tags and one digest reference. `extra` adds references (the visibility probes).
 */
export function repositoriesJson(ids, count, extra = {}) {
  const repositories = {};
  for (let n = 0; n < count; n++) {
    const repo = repositoryOf(n);
    const reference = n % 5 === 4 ? `${repo}@sha256:${sha256(`manifest ${n}`)}` : `${repo}:v${n % 5}.${n}`;
    (repositories[repo] ??= {})[reference] = ids[n % ids.length];
  }
  for (const [reference, id] of Object.entries(extra)) {
    const repo = reference.replace(/:[^:/]*$/, "");
    (repositories[repo] ??= {})[reference] = id;
  }
  const sorted = (object) => Object.keys(object).sort().map((key) => [key, object[key]]);
  const body = sorted(repositories).map(([repo, refs]) => `${JSON.stringify(repo)}:{${sorted(refs).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
  return `{"Repositories":{${body.join(",")}}}`;
}

async function replaceFile(file, text) {
  const temporary = `${file}.bench-${process.pid}`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, file);
}

/** A store holding `images` small images and `refs` references to them; returns its root and image IDs. */
export async function prepareStore(root, { images, refs }) {
  const archive = join(root, "..", `many-${images}.tar`);
  await writeFile(archive, manyImagesArchive(images));
  await runChecked([process.execPath, join(repoRoot, "bin", "lading.js"), "--root", root, "load", "-q", "-i", archive]);
  await rm(archive, { force: true });
  const ids = (await readdir(join(root, "images")))
    .map((name) => /^(sha256)-([0-9a-f]{64})\.json$/.exec(name))
    .filter(Boolean)
    .map((match) => `${match[1]}:${match[2]}`)
    .sort();
  if (ids.length !== images) throw new Error(`expected ${images} image records after the load, found ${ids.length}`);
  const file = join(root, "repositories.json");
  await replaceFile(file, repositoriesJson(ids, refs));
  return { file, ids };
}

function runChecked(argv, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4096)));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")} failed (${code}): ${stderr.trim()}`))));
  });
}

// ---------------------------------------------------------------------------------------------
// A `lading serve` child process and a tiny HTTP client for its socket.

/** Starts `lading serve` on `root`; resolves once /_ping answers. */
export function startLadingServe(lading, root, socket) {
  return startEngineServer([...lading, "--root", root, "serve", "--socket", socket], socket, "lading serve");
}

/**
 * Starts one of bench/floors.mjs's servers (`source <archive>` or `sink read`): docker's client
 * against a server that does nothing but stream or drop the archive, the floor of any server.
 */
function startFloorServer(args, socket) {
  return startEngineServer([process.execPath, join(dirname(fileURLToPath(import.meta.url)), "floors.mjs"), ...args, socket], socket, `floors.mjs ${args[0]}`);
}

/** Starts a server that answers the Engine API on `socket`; resolves once /_ping answers. */
async function startEngineServer(argv, socket, name) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4096)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ping = await get(socket, "/_ping").catch(() => undefined);
    if (ping?.body === "OK") break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${name} did not start: ${stderr.trim()}`);
    }
    await sleep(50);
  }
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await gone;
    clearTimeout(timer);
  };
  return {
    env: { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dirname(socket), ".docker-config") },
    cpuMs: () => processCpuMs(child.pid),
    peakRssBytes: () => processPeakRssBytes(child.pid),
    resetPeakRss: () => resetPeakRss(child.pid),
    stop,
  };
}

/** VmHWM of a process: its peak resident set since it started or since resetPeakRss. */
function processPeakRssBytes(pid) {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Starts a new peak for VmHWM (Linux: writing 5 to clear_refs); false where that is not allowed. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** User+system CPU time of a process so far, from /proc (clock ticks of 10 ms: use over many requests). */
function processCpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return NaN;
  }
}

function get(socketPath, path) {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET" }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// The measurements.

const msSince = (start) => Number(process.hrtime.bigint() - start) / 1e6;
const cpuMsSince = (start) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? NaN : sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A reload after someone else changed one tag: in process, with the watcher off so nothing else reloads. */
async function measureReloads(file, ids, refs, reps) {
  const { WatchedReferences } = await import(distUrl("store/watched-references.js"));
  const references = new WatchedReferences(file, { watch: false });
  let start = process.hrtime.bigint();
  await references.state();
  const firstMs = msSince(start);
  const wallMs = [];
  const cpuMs = [];
  for (let i = 0; i < reps; i++) {
    await replaceFile(file, repositoriesJson(ids, refs, { [`probe/reload:${i}`]: ids[i % ids.length] }));
    start = process.hrtime.bigint();
    const cpu = process.cpuUsage();
    const state = await references.reload();
    wallMs.push(msSince(start));
    cpuMs.push(cpuMsSince(cpu));
    if (state.file.Repositories["probe/reload"]?.[`probe/reload:${i}`] === undefined) throw new Error(`reload ${i} did not adopt the new file`);
  }
  references.close();
  return { firstMs, wallMs, cpuMs, references: refs + 1 };
}

/** From the rename of a new file to the watcher's 'change' event, with no request to trigger a read. */
async function measurePushVisibility(file, ids, refs, reps) {
  const { WatchedReferences } = await import(distUrl("store/watched-references.js"));
  const references = new WatchedReferences(file);
  await references.state();
  if (!references.watching) throw new Error("fs.watch is unavailable here: no push visibility to measure");
  const visibleMs = [];
  for (let i = 0; i < reps; i++) {
    const probe = `probe/push:${i}`;
    const text = repositoriesJson(ids, refs, { [probe]: ids[i % ids.length] });
    const seen = new Promise((resolve) => {
      const listener = (state) => {
        if (state.file.Repositories["probe/push"]?.[probe] !== undefined) {
          references.off("change", listener);
          resolve(process.hrtime.bigint());
        }
      };
      references.on("change", listener);
    });
    const temporary = `${file}.bench-${process.pid}`;
    await writeFile(temporary, text, { mode: 0o600 });
    const renamed = process.hrtime.bigint();
    await rename(temporary, file);
    const at = await Promise.race([seen, sleep(5_000).then(() => undefined)]);
    if (at === undefined) throw new Error(`the watcher did not report change ${i} within 5 s`);
    visibleMs.push(Number(at - renamed) / 1e6);
    await sleep(20);
  }
  references.close();
  return { visibleMs };
}

/** Against a `lading serve` process: the first request after a rename sees it; and GET /images/json. */
async function measureServer(root, file, ids, refs, reps) {
  const socket = join(root, "bench.sock");
  const server = await startLadingServe([process.execPath, join(repoRoot, "bin", "lading.js")], root, socket);
  try {
    const firstStart = process.hrtime.bigint();
    const first = await get(socket, "/images/json");
    const firstListMs = msSince(firstStart);
    const listed = JSON.parse(first.body);
    const shown = listed.reduce((sum, entry) => sum + entry.RepoTags.length + entry.RepoDigests.length, 0);
    if (first.status !== 200 || listed.length !== ids.length) throw new Error(`GET /images/json: status ${first.status}, ${listed.length} images (want ${ids.length})`);
    const listMs = [];
    const listCpuBefore = server.cpuMs();
    for (let i = 0; i < reps; i++) {
      const start = process.hrtime.bigint();
      const res = await get(socket, "/images/json");
      listMs.push(msSince(start));
      if (res.status !== 200) throw new Error(`GET /images/json: ${res.status}`);
    }
    const listCpuMs = (server.cpuMs() - listCpuBefore) / reps;
    // Pull: rename, then one inspect of the new tag straight away; it must already resolve.
    const pullMs = [];
    let pullCpuMs = 0;
    for (let i = 0; i < reps; i++) {
      const probe = `probe/pull:${i}`;
      const temporary = `${file}.bench-${process.pid}`;
      await writeFile(temporary, repositoriesJson(ids, refs, { [probe]: ids[i % ids.length] }), { mode: 0o600 });
      const cpuBefore = server.cpuMs();
      const start = process.hrtime.bigint();
      await rename(temporary, file);
      const res = await get(socket, `/images/${probe}/json`);
      pullMs.push(msSince(start));
      pullCpuMs += server.cpuMs() - cpuBefore;
      if (res.status !== 200) throw new Error(`the first request after the rename did not see ${probe}: ${res.status} ${res.body.trim()}`);
      await sleep(30);
    }
    // GET /images/json right after a one-tag change: the reload and a rebuilt list, nothing reused.
    const changedListMs = [];
    let changedListCpuMs = 0;
    for (let i = 0; i < reps; i++) {
      await replaceFile(file, repositoriesJson(ids, refs, { [`probe/list:${i}`]: ids[i % ids.length] }));
      const cpuBefore = server.cpuMs();
      const start = process.hrtime.bigint();
      const res = await get(socket, "/images/json");
      changedListMs.push(msSince(start));
      changedListCpuMs += server.cpuMs() - cpuBefore;
      if (res.status !== 200 || !res.body.includes(`"probe/list:${i}"`)) throw new Error(`GET /images/json after change ${i} did not show it`);
      await sleep(30);
    }
    return { firstListMs, listMs, listCpuMs, changedListMs, changedListCpuMs: changedListCpuMs / reps, pullMs, pullCpuMs: pullCpuMs / reps, imagesListed: listed.length, referencesListed: shown };
  } finally {
    await server.stop();
  }
}

/** The whole serve-api measurement; writes its figures to `out` when given. */
export async function measureApi({ refs = DEFAULTS.refs, images = DEFAULTS.images, reps = DEFAULTS.reps, out } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "lading-bench-serve-"));
  try {
    const root = join(dir, "root");
    const { file, ids } = await prepareStore(root, { images, refs });
    const reload = await measureReloads(file, ids, refs, reps);
    const push = await measurePushVisibility(file, ids, refs, Math.min(reps, 20));
    await replaceFile(file, repositoriesJson(ids, refs));
    const server = await measureServer(root, file, ids, refs, reps);
    const figures = {
      refs,
      images,
      reps,
      bytes: Buffer.byteLength(repositoriesJson(ids, refs)),
      loadAverage: loadavg(),
      cpus: availableParallelism(),
      reload: { firstMs: reload.firstMs, medianMs: median(reload.wallMs), medianCpuMs: median(reload.cpuMs), maxMs: Math.max(...reload.wallMs) },
      push: { medianMs: median(push.visibleMs), maxMs: Math.max(...push.visibleMs) },
      pull: { medianMs: median(server.pullMs), maxMs: Math.max(...server.pullMs), serverCpuMs: server.pullCpuMs },
      imagesJson: { firstMs: server.firstListMs, medianMs: median(server.listMs), maxMs: Math.max(...server.listMs), serverCpuMs: server.listCpuMs, afterChangeMedianMs: median(server.changedListMs), afterChangeMaxMs: Math.max(...server.changedListMs), afterChangeServerCpuMs: server.changedListCpuMs, images: server.imagesListed, references: server.referencesListed },
    };
    if (out) await writeFile(out, JSON.stringify(figures, null, 2) + "\n");
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatApiFigures(f) {
  const ms = (v) => `${v.toFixed(1)} ms`;
  return [
    `load average at the end: ${f.loadAverage.map((v) => v.toFixed(1)).join(" ")} on ${f.cpus} CPUs (wall times stretch with it; CPU times much less)`,
    `repositories.json: ${f.refs} references over ${f.images} images (${(f.bytes / 1e6).toFixed(2)} MB), ${f.reps} repetitions`,
    `reload after a one-tag change: median ${ms(f.reload.medianMs)} (CPU ${ms(f.reload.medianCpuMs)}), max ${ms(f.reload.maxMs)}; first load in a fresh process ${ms(f.reload.firstMs)}   [target < ${TARGETS.reloadMs} ms]`,
    `change visible, watcher push (rename -> 'change' event): median ${ms(f.push.medianMs)}, max ${ms(f.push.maxMs)}   [target < ${TARGETS.visibleMs} ms]`,
    `change visible, next request (rename -> inspect of the new tag answered by lading serve): median ${ms(f.pull.medianMs)}, max ${ms(f.pull.maxMs)}; server CPU per change ${ms(f.pull.serverCpuMs)}   [target < ${TARGETS.visibleMs} ms]`,
    `GET /images/json (${f.imagesJson.images} images, ${f.imagesJson.references} references), store unchanged: median ${ms(f.imagesJson.medianMs)}, max ${ms(f.imagesJson.maxMs)}; server CPU per request ${ms(f.imagesJson.serverCpuMs)}; first request after start ${ms(f.imagesJson.firstMs)}   [target < ${TARGETS.imagesJsonMs} ms]`,
    `GET /images/json right after a one-tag change (reload + rebuilt list): median ${ms(f.imagesJson.afterChangeMedianMs)}, max ${ms(f.imagesJson.afterChangeMaxMs)}; server CPU per request ${ms(f.imagesJson.afterChangeServerCpuMs)}   [target < ${TARGETS.imagesJsonMs} ms]`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// The jobs, for bench/run.mjs.

/** Where each serve-api group's runs write their figures, by archive path (run.mjs passes targets() the group only). */
const figuresDirs = new Map();

/** All figure files a serve-api group's runs wrote. */
function apiFigures(group) {
  const dir = figuresDirs.get(group.archive.path);
  if (!dir || !existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .map((name) => JSON.parse(readFileSync(join(dir, name), "utf8")));
}

const pooledMedian = (figures, pick) => (figures.length === 0 ? undefined : median(figures.map(pick)));
const msFormat = (v) => `${v.toFixed(1)} ms`;

const serveApi = {
  description: "lading serve: reload, change visibility and GET /images/json with 10,000 references",
  ladingCommands: ["load", "serve"],
  peerBinaries: [],
  archives: ["docker"],
  async group(ctx, archive) {
    const figuresDir = join(ctx.workDir, `serve-api-figures-${archive.sizeMiB}`);
    await rm(figuresDir, { recursive: true, force: true });
    await mkdir(figuresDir, { recursive: true });
    figuresDirs.set(archive.path, figuresDir);
    const argv = [process.execPath, fileURLToPath(import.meta.url), "measure", "--out-dir", figuresDir];
    return {
      // Its peak RSS is the harness's (the store built and measured in one process), not a lading command's: no memory target.
      cases: [{ label: "serve-api measurement (in-process figures)", lading: true, memoryTarget: false, argv }],
      notes: [
        `the archive is not used: the measurement builds a store of ${DEFAULTS.images} small images and ${DEFAULTS.refs} references; the case's wall time includes building it, and its peak RSS (shown, no target) is that of the whole harness`,
        "millisecond figures are medians over each run's repetitions, pooled by median over the runs",
      ],
    };
  },
  targets(group) {
    const figures = apiFigures(group);
    return [
      { text: `reload with ${DEFAULTS.refs} references < ${TARGETS.reloadMs} ms`, value: pooledMedian(figures, (f) => f.reload.medianMs), pass: (v) => v < TARGETS.reloadMs, format: msFormat },
      { text: `change visible (watcher) < ${TARGETS.visibleMs} ms`, value: pooledMedian(figures, (f) => f.push.medianMs), pass: (v) => v < TARGETS.visibleMs, format: msFormat },
      { text: `change visible (next request) < ${TARGETS.visibleMs} ms`, value: pooledMedian(figures, (f) => f.pull.medianMs), pass: (v) => v < TARGETS.visibleMs, format: msFormat },
      { text: `GET /images/json with ${DEFAULTS.refs} references < ${TARGETS.imagesJsonMs} ms`, value: pooledMedian(figures, (f) => f.imagesJson.medianMs), pass: (v) => v < TARGETS.imagesJsonMs, format: msFormat },
      { text: `same, right after a change (reload included) < ${TARGETS.imagesJsonMs} ms`, value: pooledMedian(figures, (f) => f.imagesJson.afterChangeMedianMs), pass: (v) => v < TARGETS.imagesJsonMs, format: msFormat },
    ];
  },
};

/** Keeps the layout of a served store but empties it, so every docker load starts from nothing. */
async function emptyStore(root) {
  for (const dir of [join(root, "blobs", "sha256"), join(root, "images")]) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true, mode: 0o700 });
  }
  await rm(join(root, "repositories.json"), { force: true });
}

const serveStream = {
  description: "docker save / docker load through lading serve vs lading save / lading load",
  ladingCommands: ["load", "save", "serve"],
  peerBinaries: ["docker"],
  archives: ["docker"],
  writes: true,
  async group(ctx, archive) {
    const saveRoot = join(ctx.workDir, "serve-save-root");
    const loadRoot = join(ctx.workDir, "serve-load-root");
    const servedLoadRoot = join(ctx.workDir, "serve-served-load-root");
    const out = join(ctx.workDir, "serve-saved.tar");
    for (const root of [saveRoot, servedLoadRoot]) await rm(root, { recursive: true, force: true });
    await runChecked([...ctx.lading, "--root", saveRoot, "load", "-q", "-i", archive.path]);
    const cases = [
      { label: "lading save", lading: true, before: () => rm(out, { force: true }), argv: [...ctx.lading, "--root", saveRoot, "save", "-o", out, archive.image] },
      {
        label: "lading load",
        lading: true,
        before: async () => {
          await rm(loadRoot, { recursive: true, force: true });
          await runChecked([...ctx.lading, "--root", loadRoot, "images"]);
        },
        argv: [...ctx.lading, "--root", loadRoot, "load", "-q", "-i", archive.path],
      },
    ];
    const servers = [];
    if (ctx.has("docker")) {
      await runChecked([...ctx.lading, "--root", servedLoadRoot, "images"]);
      const saving = await startLadingServe(ctx.lading, saveRoot, join(ctx.workDir, "serve-save.sock"));
      servers.push(saving);
      const loading = await startLadingServe(ctx.lading, servedLoadRoot, join(ctx.workDir, "serve-load.sock"));
      servers.push(loading);
      cases.push(
        { label: "docker save via lading serve", lading: true, before: () => rm(out, { force: true }), argv: [DOCKER_CLIENT, "save", "-o", out, archive.image], env: saving.env, server: saving },
        { label: "docker load via lading serve", lading: true, before: () => emptyStore(servedLoadRoot), argv: [DOCKER_CLIENT, "load", "-q", "-i", archive.path], env: loading.env, server: loading },
      );
      const source = await startFloorServer(["source", archive.path], join(ctx.workDir, "floor-source.sock"));
      servers.push(source);
      const sink = await startFloorServer(["sink", "read"], join(ctx.workDir, "floor-sink.sock"));
      servers.push(sink);
      cases.push(
        { label: "docker save from a server that only streams the archive", lading: false, before: () => rm(out, { force: true }), argv: [DOCKER_CLIENT, "save", "-o", out, archive.image], env: source.env },
        { label: "docker load into a server that only reads it", lading: false, argv: [DOCKER_CLIENT, "load", "-q", "-i", archive.path], env: sink.env },
      );
    }
    return {
      cases,
      notes: [
        `docker client: ${DOCKER_CLIENT}; each load starts from an empty store (the served one emptied under the running server)`,
        "the last two cases are the floor of any server on this machine: docker's client against bench/floors.mjs, which answers a save with the archive's bytes and reads a load's upload without keeping it",
      ],
      cleanup: async () => {
        for (const server of servers) await server.stop();
        await Promise.all([saveRoot, loadRoot, servedLoadRoot, out].map((path) => rm(path, { recursive: true, force: true })));
      },
    };
  },
  targets: (group) => [
    { text: "docker save via lading serve <= 1.1 x lading save", value: timeRatioOf(group, "docker save via lading serve", "lading save"), pass: (v) => v <= TARGETS.streamRatio },
    { text: "docker load via lading serve <= 1.1 x lading load", value: timeRatioOf(group, "docker load via lading serve", "lading load"), pass: (v) => v <= TARGETS.streamRatio },
  ],
};

function timeRatioOf(group, label, other) {
  const a = group.results.find((r) => r.label === label)?.median;
  const b = group.results.find((r) => r.label === other)?.median;
  return a > 0 && b > 0 ? a / b : undefined;
}

export const SERVE_JOBS = { "serve-api": serveApi, "serve-stream": serveStream };
export const DEFAULT_SERVE_JOBS = ["serve-api", "serve-stream"];

// ---------------------------------------------------------------------------------------------
// Command line.

function parseFlags(argv) {
  const flags = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (["--refs", "--images", "--reps"].includes(arg) && value !== undefined) flags[arg.slice(2)] = Number(argv[++i]);
    else if (["--out", "--out-dir"].includes(arg) && value !== undefined) flags[arg === "--out" ? "out" : "outDir"] = argv[++i];
    else throw new Error(`unknown argument ${arg}; usage: node bench/serve-jobs.mjs [measure] [--refs N] [--images N] [--reps N] [--out FILE | --out-dir DIR]`);
  }
  for (const key of ["refs", "images", "reps"]) if (!Number.isInteger(flags[key]) || flags[key] < 1) throw new Error(`--${key} must be a positive integer`);
  return flags;
}

/**
 * `stream` mode: the serve-stream group on the generated archive of `sizeMiB`, cases alternating
 * as bench/run.mjs runs them (with a `sync` after each, as run.mjs does for jobs that write),
 * medians printed. On a shared machine wall times swing with the load; the CPU time of each case
 * (for the docker cases: the docker CLI's plus what the server used meanwhile) swings much less,
 * so it is printed too, with the server's peak resident set during its cases.
 */
async function runStream(sizeMiB, reps) {
  const { ensureArchive } = await import("./generate.mjs");
  const { measure } = await import("./measure.mjs");
  const workDir = await mkdtemp(join(tmpdir(), "lading-bench-stream-"));
  const log = (line) => console.error(`[serve-stream] ${line}`);
  try {
    const archive = await ensureArchive("docker", sizeMiB, log);
    const ctx = { lading: [process.execPath, join(repoRoot, "bin", "lading.js")], benchDir, workDir, has: () => true, note: log };
    const prepared = await serveStream.group(ctx, archive);
    const results = prepared.cases.map((c) => ({ label: c.label, runs: [], cpu: [], serverPeak: [], median: undefined }));
    try {
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < prepared.cases.length; k++) {
          const index = (k + rep) % prepared.cases.length;
          const c = prepared.cases[index];
          if (c.before) await c.before();
          const serverCpuBefore = c.server?.cpuMs() ?? 0;
          const peakReset = c.server?.resetPeakRss() ?? false;
          const run = await measure(c.argv, { env: c.env ?? process.env, useGnuTime: existsSync("/usr/bin/time") });
          if (run.code !== 0) throw new Error(`${c.label}: exit ${run.code}: ${run.stderr.trim()}`);
          const serverCpuSeconds = c.server ? (c.server.cpuMs() - serverCpuBefore) / 1000 : 0;
          const serverPeak = c.server && peakReset ? c.server.peakRssBytes() : NaN;
          results[index].runs.push(run.seconds);
          results[index].cpu.push(run.cpuSeconds + serverCpuSeconds);
          results[index].serverPeak.push(serverPeak);
          const server = c.server ? ` (server ${serverCpuSeconds.toFixed(2)} s, peak ${(serverPeak / 1e6).toFixed(0)} MB)` : "";
          log(`${c.label}: ${run.seconds.toFixed(2)} s, CPU ${(run.cpuSeconds + serverCpuSeconds).toFixed(2)} s${server}`);
          await runChecked(["sync"]);
        }
      }
    } finally {
      await prepared.cleanup();
    }
    for (const r of results) r.median = median(r.runs);
    const group = { archive, results };
    console.log(`serve-stream, ${sizeMiB} MiB docker-save archive, ${reps} repetitions (median wall s; load average ${loadavg().map((v) => v.toFixed(1)).join(" ")} on ${availableParallelism()} CPUs)`);
    for (const r of results) {
      const peaks = r.serverPeak.filter((v) => !Number.isNaN(v));
      const server = peaks.length > 0 ? `; server peak RSS ${(Math.max(...peaks) / 1e6).toFixed(0)} MB` : "";
      console.log(`  ${r.label}: ${r.median.toFixed(2)} s (${r.runs.map((v) => v.toFixed(2)).join(", ")}); CPU ${median(r.cpu).toFixed(2)} s${server}`);
    }
    for (const t of serveStream.targets(group)) console.log(`  ${t.text}: ${t.value === undefined ? "n/a" : t.value.toFixed(2)} ${t.value !== undefined && t.pass(t.value) ? "met" : "NOT met"}`);
    const cpuOf = (label) => median(results.find((r) => r.label === label)?.cpu ?? []);
    console.log(`  CPU ratios (client + server): save ${(cpuOf("docker save via lading serve") / cpuOf("lading save")).toFixed(2)}, load ${(cpuOf("docker load via lading serve") / cpuOf("lading load")).toFixed(2)}`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!existsSync(join(repoRoot, "dist", "cli", "main.js"))) throw new Error("dist/ is missing: run `npm run build` first");
  if (process.argv[2] === "stream") {
    const [size = "256", reps = "3"] = process.argv.slice(3);
    await runStream(Number(size), Number(reps));
    process.exit(0);
  }
  const measureOnly = process.argv[2] === "measure";
  const flags = parseFlags(process.argv.slice(measureOnly ? 3 : 2));
  const out = flags.out ?? (flags.outDir ? join(flags.outDir, `figures-${process.pid}-${Date.now()}.json`) : undefined);
  const figures = await measureApi({ ...flags, out });
  console.log(formatApiFigures(figures));
}
