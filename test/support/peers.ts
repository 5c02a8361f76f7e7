// Real peer tools (dockerd, containerd, docker-registry, podman, skopeo, umoci) for interop tests.
//
// Every daemon started here is a private instance: its sockets, data and state live in a fresh
// mkdtemp directory, so parallel test files never collide with each other or with a system daemon.
// What was learned running them on Debian 12 as root (see /work/shared/docs/peers.md):
// - dockerd 20.10: `--storage-driver=vfs --iptables=false --ip-masq=false --bridge=none` plus its own
//   --data-root/--exec-root/--pidfile/-H. It bind-mounts the data root onto itself and starts its own
//   containerd (pid in <exec-root>/containerd/containerd.pid). SIGTERM unmounts and stops that
//   containerd; after a SIGKILL the bind mount stays, so removeTree() unmounts before deleting.
//   Ready (docker version answers) in about 0.3-1 s. The client's ~/.docker is bypassed with
//   DOCKER_CONFIG so a host login or credential helper never leaks in.
// - containerd 1.6: without --config it reads /etc/containerd/config.toml, whose CRI plugin and
//   `opt` plugin (/var/lib/containerd/opt) are host-global; a private config disables both and
//   moves the ttrpc socket next to the gRPC one. ctr uses the `native` snapshotter
//   (CONTAINERD_SNAPSHOTTER) so unpacking never mounts anything, whatever /tmp's filesystem is.
//   Ready in about 0.1 s.
// - docker-registry 2.8: ready in about 0.1 s; 127.0.0.1 is the only address ever used.
// - podman 4.3: needs --cgroup-manager=cgroupfs and --events-backend=file (no systemd/journald);
//   --tmpdir keeps libpod's state out of /run/libpod. `load` takes about 0.2 s for a tiny image.
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { chmod, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Milliseconds before the child is killed and the promise rejects; default 60 s. */
  timeoutMs?: number;
}

export type Runner = (args: string[], opts?: RunOptions) => Promise<RunResult>;

const DEFAULT_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

/** Runs a command without a shell and collects its output; rejects on spawn error or timeout. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runBytes(cmd, args, opts);
  return { code: r.code, stdout: r.stdout.toString("utf8"), stderr: r.stderr };
}

/** Like run(), but keeps stdout as bytes (for tars and other binary output). */
export function runBytes(cmd: string, args: string[], opts: RunOptions = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString("utf8");
      if (timedOut) {
        reject(new Error(`${cmd} ${args.join(" ")}: timed out after ${timeoutMs} ms; stderr: ${stderr}`));
        return;
      }
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr });
    });
    // A child that exits before reading its stdin makes the write fail with EPIPE; the exit code tells the story.
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input ?? "");
  });
}

/** True when `binary` (a name looked up in PATH, or a path) is an executable file. */
export function peerAvailable(binary: string): boolean {
  const candidates = binary.includes("/")
    ? [binary]
    : [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/sbin"].filter((d) => d !== "").map((d) => join(d, binary));
  return candidates.some((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * True when every binary is present. A missing one returns false locally (so the suite can
 * `describe.skipIf(!ok)`), but throws when CI=true: in CI a missing peer is a failure, never a skip.
 */
export function requirePeers(...binaries: string[]): boolean {
  const missing = binaries.filter((b) => !peerAvailable(b));
  if (missing.length === 0) return true;
  if (process.env.CI === "true") {
    throw new Error(`peer tools missing in CI: ${missing.join(", ")} (run .ci/install-peers.sh)`);
  }
  return false;
}

/** A fresh private directory under the OS temp dir (kept short: unix socket paths max 108 bytes). */
export function makeTempDir(prefix = "lading-peer-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Mount points at or below `dir`, deepest first (from /proc/self/mountinfo). */
async function mountsUnder(dir: string): Promise<string[]> {
  let info: string;
  try {
    info = await readFile("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return info
    .split("\n")
    .map((line) => decode(line.split(" ")[4] ?? ""))
    .filter((mp) => mp === dir || mp.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
}

/**
 * Deletes a peer's directory: lazily unmounts whatever a killed daemon left mounted inside, and
 * makes read-only directories (image layers in vfs stores) writable when rm alone is refused.
 */
export async function removeTree(dir: string): Promise<void> {
  for (const mp of await mountsUnder(dir)) {
    await run("umount", ["-l", mp], { timeoutMs: 10_000 }).catch(() => undefined);
  }
  try {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    await run("chmod", ["-R", "u+rwX", dir], { timeoutMs: 30_000 }).catch(() => undefined);
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

// Daemons still alive when the test process exits get a SIGTERM, so a crashed suite does not
// leave dockerd/containerd/registry behind (their temp dirs may remain in that case).
const liveDaemons = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  liveDaemons.add(child);
  child.once("exit", () => liveDaemons.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of liveDaemons) c.kill("SIGTERM");
    });
  }
}

/** Starts `cmd` in the background with stdout+stderr going to `logPath`. */
function spawnDaemon(cmd: string, args: string[], logPath: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const logFd = openSync(logPath, "a");
  try {
    const child = spawn(cmd, args, { stdio: ["ignore", logFd, logFd], env });
    track(child);
    return child;
  } finally {
    closeSync(logFd);
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function logTail(logPath: string): string {
  try {
    return readFileSync(logPath, "utf8").split("\n").slice(-15).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true; fails early with the log tail when the daemon died. */
async function waitReady(name: string, child: ChildProcess, logPath: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited(child)) throw new Error(`${name} exited during startup (code ${child.exitCode}); log:\n${logTail(logPath)}`);
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${name} not ready after ${READY_TIMEOUT_MS} ms; log:\n${logTail(logPath)}`);
}

/** SIGTERM, wait for exit, SIGKILL after STOP_TIMEOUT_MS. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await gone;
  clearTimeout(timer);
}

/** Alive and not a zombie; `marker` guards against the pid having been reused by another program. */
function pidAlive(pid: number, marker: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return false;
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker);
  } catch {
    return false;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Waits for a process that is not our child (dockerd's containerd) to go: SIGTERM after half the timeout, SIGKILL at the end. */
async function stopForeignPid(pid: number, marker: string): Promise<void> {
  const start = Date.now();
  let signalled = false;
  while (pidAlive(pid, marker)) {
    const elapsed = Date.now() - start;
    if (elapsed > STOP_TIMEOUT_MS) {
      signalPid(pid, "SIGKILL");
      await sleep(200);
      return;
    }
    if (!signalled && elapsed > STOP_TIMEOUT_MS / 2) {
      signalled = true;
      signalPid(pid, "SIGTERM");
    }
    await sleep(100);
  }
}

export interface Dockerd {
  /** DOCKER_HOST value, `unix://<dir>/docker.sock`. */
  host: string;
  /** The daemon's --data-root (its reference store is `image/vfs/repositories.json`). */
  dataRoot: string;
  /** process.env plus DOCKER_HOST and a private DOCKER_CONFIG. */
  env: NodeJS.ProcessEnv;
  /** The docker client binary used by `docker()`. */
  client: string;
  docker(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /** Client binary; default the Debian 20.10 client `/usr/bin/docker` when present, else `docker` from PATH. */
  client?: string;
}

/** The Debian 20.10 client when installed; the machine may also carry a newer one in /usr/local/bin. */
export const DEBIAN_DOCKER_CLIENT = "/usr/bin/docker";
export const LOCAL_DOCKER_CLIENT = "/usr/local/bin/docker";

export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  const dir = makeTempDir("lading-dockerd-");
  const client = opts.client ?? (peerAvailable(DEBIAN_DOCKER_CLIENT) ? DEBIAN_DOCKER_CLIENT : "docker");
  const dataRoot = join(dir, "root");
  const execRoot = join(dir, "exec");
  const host = `unix://${join(dir, "docker.sock")}`;
  const logPath = join(dir, "dockerd.log");
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, "client-config") };
  const child = spawnDaemon(
    "dockerd",
    [
      "--storage-driver=vfs",
      "--iptables=false",
      "--ip-masq=false",
      "--bridge=none",
      `--data-root=${dataRoot}`,
      `--exec-root=${execRoot}`,
      "-H",
      host,
      "--pidfile",
      join(dir, "dockerd.pid"),
    ],
    logPath,
  );
  const docker = (args: string[], o: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<RunResult> =>
    run(client, args, { env, input: o.input, timeoutMs: o.timeoutMs });
  const stop = async (): Promise<void> => {
    let containerdPid: number | undefined;
    try {
      containerdPid = Number(readFileSync(join(execRoot, "containerd", "containerd.pid"), "utf8").trim()) || undefined;
    } catch {
      containerdPid = undefined;
    }
    await stopChild(child);
    if (containerdPid !== undefined) await stopForeignPid(containerdPid, execRoot);
    await removeTree(dir);
  };
  try {
    await waitReady("dockerd", child, logPath, async () => (await docker(["version"], { timeoutMs: 5_000 })).code === 0);
  } catch (e) {
    await stop();
    throw e;
  }
  return { host, dataRoot, env, client, docker, stop };
}

export interface Containerd {
  /** The gRPC socket path, for `ctr -a`. */
  address: string;
  root: string;
  /** Runs `ctr -a <address> ...args` with the native snapshotter. */
  ctr(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<Containerd> {
  const dir = makeTempDir("lading-ctrd-");
  const root = join(dir, "root");
  const address = join(dir, "containerd.sock");
  const logPath = join(dir, "containerd.log");
  const configPath = join(dir, "config.toml");
  writeFileSync(
    configPath,
    [
      "version = 2",
      `root = ${JSON.stringify(root)}`,
      `state = ${JSON.stringify(join(dir, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]',
      "[grpc]",
      `  address = ${JSON.stringify(address)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(address + ".ttrpc")}`,
      "",
    ].join("\n"),
  );
  const child = spawnDaemon("containerd", ["--config", configPath], logPath);
  const ctrEnv: NodeJS.ProcessEnv = { ...process.env, CONTAINERD_SNAPSHOTTER: "native" };
  const ctr = (args: string[], o: { input?: Buffer | string; timeoutMs?: number } = {}): Promise<RunResult> =>
    run("ctr", ["-a", address, ...args], { env: ctrEnv, input: o.input, timeoutMs: o.timeoutMs });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await removeTree(dir);
  };
  try {
    await waitReady("containerd", child, logPath, async () => (await ctr(["version"], { timeoutMs: 5_000 })).code === 0);
  } catch (e) {
    await stop();
    throw e;
  }
  return { address, root, ctr, stop };
}

/** A user for registries started with `{ htpasswd: TEST_REGISTRY_USER.htpasswd }` (bcrypt, cost 4). */
export const TEST_REGISTRY_USER = {
  user: "lading",
  password: "lading-pass",
  htpasswd: "lading:$2b$04$oZRGlNmauxanX.pMT8.uRuB7NktIoX1cwZ4F5ue3o6Bs2aVlmj/eu\n",
} as const;

export interface Registry {
  /** `127.0.0.1:PORT`, for `docker://` references and `http://<url>/v2/`. */
  url: string;
  /** The registry's storage root directory. */
  dataDir: string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** htpasswd file *content* (bcrypt hashes only, as distribution requires); enables basic auth. */
  htpasswd?: string;
  /** Accept manifests whose layers carry `urls` (foreign layers): distribution refuses them unless allowed. */
  allowLayerUrls?: boolean;
}

/** A port that was free a moment ago on 127.0.0.1 (bound to port 0, then released). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  // Another process may grab the port between probe and bind: retry with a new one.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startRegistryOnce(await freeLoopbackPort(), opts);
    } catch (e) {
      lastError = e;
      if (!String(e).includes("address already in use")) break;
    }
  }
  throw lastError;
}

async function startRegistryOnce(port: number, opts: RegistryOptions): Promise<Registry> {
  const dir = makeTempDir("lading-registry-");
  const dataDir = join(dir, "data");
  const configPath = join(dir, "config.yml");
  const logPath = join(dir, "registry.log");
  const lines = [
    "version: 0.1",
    "log: {level: warn}",
    "storage:",
    `  filesystem: {rootdirectory: ${JSON.stringify(dataDir)}}`,
    "  delete: {enabled: true}",
    `http: {addr: "127.0.0.1:${port}", secret: lading-test-secret}`,
  ];
  if (opts.htpasswd !== undefined) {
    const htpasswdPath = join(dir, "htpasswd");
    writeFileSync(htpasswdPath, opts.htpasswd);
    lines.push("auth:", `  htpasswd: {realm: lading-test, path: ${JSON.stringify(htpasswdPath)}}`);
  }
  if (opts.allowLayerUrls) lines.push("validation:", "  manifests:", "    urls: {allow: ['^https?://']}");
  writeFileSync(configPath, lines.join("\n") + "\n");
  const child = spawnDaemon("docker-registry", ["serve", configPath], logPath);
  const url = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await removeTree(dir);
  };
  try {
    // Any HTTP answer means it listens: with auth on, /v2/ answers 401.
    await waitReady("docker-registry", child, logPath, async () => {
      const res = await fetch(`http://${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return res.status === 200 || res.status === 401;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, dataDir, stop };
}

export interface Podman {
  /** The global flags that make this podman private to `root`. */
  flags: string[];
  run: Runner;
}

/**
 * A daemonless podman whose storage, run state and libpod tmp state all live under `root`
 * (created by the caller, removed with removeTree by the caller).
 */
export function podman(root: string): Podman {
  const flags = [
    "--storage-driver=vfs",
    "--root",
    join(root, "storage"),
    "--runroot",
    join(root, "run"),
    "--tmpdir",
    join(root, "tmp"),
    "--cgroup-manager=cgroupfs",
    "--events-backend=file",
  ];
  return { flags, run: (args, opts) => run("podman", [...flags, ...args], opts) };
}
