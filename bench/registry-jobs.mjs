// Registry jobs for the benchmark, in the shape of bench/jobs.mjs: `lading pull` and `lading push`
// of the generated image (gzip OCI layers) from and to a private docker-registry on loopback, side
// by side with `skopeo copy` between the same registry and an `oci:` directory.
//
// Each job starts its own registry (data under a fresh temp directory) and stops it at the end.
// The image is put into the registry with skopeo (so the skopeo cases can run even when lading has
// no pull/push yet). Every push goes to a freshly started, empty registry (started before the
// measured command), so each one uploads the whole image.
import { spawn } from "node:child_process";
import { get } from "node:http";
import { closeSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runQuiet } from "./peers.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fresh = async (dir) => {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
};
const removed = (path) => rm(path, { recursive: true, force: true });

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** True when GET `address` answers 200 within 2 s. */
function answers(address) {
  return new Promise((resolve) => {
    const req = get(address, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

/** docker-registry 2.8 on 127.0.0.1 with filesystem storage in a temp directory. */
export async function startRegistry() {
  const dir = mkdtempSync(join(tmpdir(), "lading-bench-registry-"));
  const port = await freePort();
  const configPath = join(dir, "config.yml");
  writeFileSync(
    configPath,
    [
      "version: 0.1",
      "log: {level: error}",
      "storage:",
      `  filesystem: {rootdirectory: ${JSON.stringify(join(dir, "data"))}}`,
      `http: {addr: "127.0.0.1:${port}", secret: lading-bench-secret}`,
      "",
    ].join("\n"),
  );
  const logFd = openSync(join(dir, "registry.log"), "a");
  const child = spawn("docker-registry", ["serve", configPath], { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  const url = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await gone;
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let waited = 0; ; waited += 100) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited during startup (code ${child.exitCode})`);
    }
    const answered = await answers(`http://${url}/v2/`);
    if (answered) break;
    if (waited > 30_000) {
      await stop();
      throw new Error("docker-registry not ready after 30 s");
    }
    await sleep(100);
  }
  return { url, stop };
}

async function setupRegistry(ctx) {
  if (!ctx.has("docker-registry")) return {};
  return { registry: await startRegistry().catch((e) => ctx.note(`docker-registry did not start, registry cases skipped: ${e.message}`)) };
}

async function teardownRegistry(state) {
  if (state?.registry) await state.registry.stop();
}

/** Time of `label` over time of `other` (below 1: `label` is faster); local, so this module and jobs.mjs need not import each other. */
function timeRatio(group, label, other) {
  const time = (name) => group.results.find((r) => r.label === name)?.median;
  const a = time(label);
  const b = time(other);
  return Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0 ? a / b : undefined;
}

const tagOf = (archive) => archive.image.split(":")[1];

/** Puts the generated OCI archive into the registry as bench/source:<tag>, digests kept. */
async function seedRegistry(registry, archive) {
  const target = `docker://${registry.url}/bench/source:${tagOf(archive)}`;
  await runQuiet(["skopeo", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests", `oci-archive:${archive.path}`, target]);
  return `${registry.url}/bench/source:${tagOf(archive)}`;
}

const pull = {
  description: "lading pull vs skopeo copy docker:// oci: from a loopback docker-registry",
  ladingCommands: ["pull"],
  peerBinaries: ["docker-registry", "skopeo"],
  archives: ["oci"],
  writes: true,
  setup: setupRegistry,
  teardown: teardownRegistry,
  async group(ctx, archive, state) {
    if (!state.registry || !ctx.has("skopeo")) return { cases: [], notes: ["no registry or no skopeo: nothing to pull from"] };
    const source = await seedRegistry(state.registry, archive);
    const root = join(ctx.workDir, "pull-root");
    const skipRoot = join(ctx.workDir, "pull-skip-root");
    const againRoot = join(ctx.workDir, "pull-again-root");
    const ociDir = join(ctx.workDir, "pull-skopeo-oci");
    const ladingPull = (r) => [...ctx.lading, "--root", r, "pull", "-q", source];
    let againReady = false;
    return {
      cases: [
        { label: "lading pull", lading: true, before: () => fresh(root), argv: ladingPull(root) },
        // skopeo's work: blob digests only, no layer decompressed to check its diff ID.
        { label: "lading pull --skip-diff-id-check", lading: true, before: () => fresh(skipRoot), argv: [...ladingPull(skipRoot), "--skip-diff-id-check"] },
        {
          label: "lading pull (already stored)",
          lading: true,
          before: async () => {
            if (againReady) return;
            await fresh(againRoot);
            await runQuiet(ladingPull(againRoot));
            againReady = true;
          },
          argv: ladingPull(againRoot),
        },
        {
          label: "skopeo copy docker: oci:",
          needs: ["skopeo"],
          before: () => removed(ociDir),
          argv: ["skopeo", "copy", "-q", "--src-tls-verify=false", `docker://${source}`, `oci:${ociDir}:${tagOf(archive)}`],
        },
      ],
      notes: [`image ${source}: ${(archive.bytes / 2 ** 20).toFixed(0)} MiB OCI archive with gzip layers, put there by skopeo --preserve-digests`],
      cleanup: () => Promise.all([root, skipRoot, againRoot, ociDir].map(removed)),
    };
  },
  targets: (group) => [
    // Issue 8's target, set when a pull did skopeo's work; a default pull now also decompresses
    // every layer to check its diff ID (as docker pull does), which skopeo never does.
    { text: "pull --skip-diff-id-check (skopeo's work) at least as fast as skopeo copy docker: oci:", value: timeRatio(group, "lading pull --skip-diff-id-check", "skopeo copy docker: oci:"), pass: (v) => v <= 1 },
    { text: "pull checking every diff ID within 1.5x of skopeo copy docker: oci: (load's bar for the same work)", value: timeRatio(group, "lading pull", "skopeo copy docker: oci:"), pass: (v) => v <= 1.5 },
  ],
};

const push = {
  description: "lading push vs skopeo copy oci: docker:// to a loopback docker-registry",
  ladingCommands: ["load", "push"],
  peerBinaries: ["docker-registry", "skopeo"],
  archives: ["oci"],
  writes: true,
  setup: setupRegistry,
  teardown: teardownRegistry,
  async group(ctx, archive, state) {
    if (!state.registry || !ctx.has("skopeo")) return { cases: [], notes: ["no registry or no skopeo: nowhere to push"] };
    const tag = tagOf(archive);
    const root = join(ctx.workDir, "push-root");
    const ociDir = join(ctx.workDir, "push-skopeo-oci");
    await fresh(root);
    await runQuiet([...ctx.lading, "--root", root, "load", "-q", "-i", archive.path]).catch((e) => ctx.note(`lading load for the push job failed: ${e.message}`));
    await removed(ociDir);
    await runQuiet(["skopeo", "copy", "-q", `oci-archive:${archive.path}`, `oci:${ociDir}:${tag}`]);
    // A fresh registry for every push: nothing is there to find or mount, and no client cache
    // (skopeo's blob-info cache remembers where blobs were) can point at an earlier copy.
    const restart = async () => {
      await state.registry.stop();
      state.registry = await startRegistry();
    };
    const target = (who) => `${state.registry.url}/bench/${who}:${tag}`;
    return {
      cases: [
        {
          label: "lading push",
          lading: true,
          before: restart,
          get argv() {
            return [...ctx.lading, "--root", root, "push", "-q", archive.image, target("lading")];
          },
        },
        {
          label: "skopeo copy oci: docker:",
          needs: ["skopeo"],
          before: restart,
          get argv() {
            return ["skopeo", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests", `oci:${ociDir}:${tag}`, `docker://${target("skopeo")}`];
          },
        },
      ],
      notes: ["every push goes to a freshly started, empty registry, so every blob is uploaded"],
      cleanup: () => Promise.all([root, ociDir].map(removed)),
    };
  },
  targets: (group) => [
    { text: "push at least as fast as skopeo copy oci: docker:", value: timeRatio(group, "lading push", "skopeo copy oci: docker:"), pass: (v) => v <= 1 },
  ],
};

export { pull, push };
export const REGISTRY_JOBS = { pull, push };
