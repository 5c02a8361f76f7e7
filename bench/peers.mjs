// Private instances of the peer daemons for the benchmark, the same way test/support/peers.ts starts
// them (see /work/shared/docs/peers.md): every socket, data root and state directory lives in a
// fresh temp directory, so the benchmark never touches a system daemon or another test's instance.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, writeFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function onPath(binary) {
  try {
    execFileSync("sh", ["-c", `command -v ${binary}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Installs the peers with the repo's CI script when one of `binaries` is missing; returns those still missing. */
export function ensurePeers(binaries, repoRoot, log) {
  let missing = binaries.filter((b) => !onPath(b));
  const script = join(repoRoot, ".ci", "install-peers.sh");
  if (missing.length > 0 && existsSync(script)) {
    log(`peers missing (${missing.join(", ")}): running .ci/install-peers.sh ...`);
    try {
      execFileSync("bash", [script], { stdio: ["ignore", "ignore", "inherit"] });
    } catch {
      log("install-peers.sh failed; the cases that need those peers are skipped");
    }
    missing = binaries.filter((b) => !onPath(b));
  }
  return missing;
}

/** Runs a setup or clean-up command (not measured); rejects with its stderr on failure unless `allowFail`. */
export function runQuiet(argv, { env = process.env, allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk) => (stderr = (stderr + chunk).slice(-4096)));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0 || allowFail) resolve(code);
      else reject(new Error(`${argv.join(" ")} failed (${code}): ${stderr.trim()}`));
    });
  });
}

function spawnDaemon(argv, logPath) {
  const fd = openSync(logPath, "a");
  try {
    return spawn(argv[0], argv.slice(1), { stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function waitReady(name, child, logPath, probe) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if ((await probe()) === 0) return;
    await sleep(200);
  }
  const log = await readFile(logPath, "utf8").catch(() => "");
  throw new Error(`${name} did not start; log tail:\n${log.split("\n").slice(-15).join("\n")}`);
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await gone;
  clearTimeout(timer);
}

/** Waits for a process we did not spawn (dockerd's containerd) to exit after dockerd stopped. */
async function waitPidGone(pid, marker) {
  const alive = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker) && !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
      return false;
    }
  };
  for (let waited = 0; alive() && waited < 20_000; waited += 100) await sleep(100);
  if (alive()) process.kill(pid, "SIGKILL");
}

/** Unmounts what a daemon left mounted under `dir` (dockerd bind-mounts its data root), then deletes it. */
async function removeTree(dir) {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((mp) => mp === dir || mp.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const mp of mounts) await runQuiet(["umount", "-l", mp], { allowFail: true });
  await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(async () => {
    await runQuiet(["chmod", "-R", "u+rwX", dir], { allowFail: true });
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  });
}

/** dockerd 20.10 with vfs storage; `argv(...)` builds a docker client command line against it. */
export async function startDockerd() {
  const dir = mkdtempSync(join(tmpdir(), "lading-bench-dockerd-"));
  const host = `unix://${join(dir, "docker.sock")}`;
  const execRoot = join(dir, "exec");
  const logPath = join(dir, "dockerd.log");
  const client = existsSync("/usr/bin/docker") ? "/usr/bin/docker" : "docker";
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: join(dir, "client-config") };
  const child = spawnDaemon(
    ["dockerd", "--storage-driver=vfs", "--iptables=false", "--ip-masq=false", "--bridge=none", `--data-root=${join(dir, "root")}`, `--exec-root=${execRoot}`, "-H", host, "--pidfile", join(dir, "dockerd.pid")],
    logPath,
  );
  const stop = async () => {
    let containerdPid;
    try {
      containerdPid = Number(readFileSync(join(execRoot, "containerd", "containerd.pid"), "utf8").trim()) || undefined;
    } catch {
      containerdPid = undefined;
    }
    await stopChild(child);
    if (containerdPid) await waitPidGone(containerdPid, execRoot);
    await removeTree(dir);
  };
  try {
    await waitReady("dockerd", child, logPath, () => runQuiet([client, "version"], { env, allowFail: true }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { env, argv: (...args) => [client, ...args], stop };
}

/** containerd 1.6 with a private config (no CRI, no host-global opt dir); ctr uses the native snapshotter. */
export async function startContainerd() {
  const dir = mkdtempSync(join(tmpdir(), "lading-bench-ctrd-"));
  const address = join(dir, "containerd.sock");
  const logPath = join(dir, "containerd.log");
  const config = join(dir, "config.toml");
  writeFileSync(
    config,
    [
      "version = 2",
      `root = ${JSON.stringify(join(dir, "root"))}`,
      `state = ${JSON.stringify(join(dir, "state"))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]',
      "[grpc]",
      `  address = ${JSON.stringify(address)}`,
      "[ttrpc]",
      `  address = ${JSON.stringify(address + ".ttrpc")}`,
      "",
    ].join("\n"),
  );
  const child = spawnDaemon(["containerd", "--config", config], logPath);
  const env = { ...process.env, CONTAINERD_SNAPSHOTTER: "native" };
  const argv = (...args) => ["ctr", "-a", address, ...args];
  const stop = async () => {
    await stopChild(child);
    await removeTree(dir);
  };
  try {
    await waitReady("containerd", child, logPath, () => runQuiet(argv("version"), { env, allowFail: true }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { env, argv, stop };
}
