// The benchmark's jobs, by name. A job names the lading commands it needs (it is skipped with a note
// when `lading help` does not list them), the peer binaries its peer cases need, and for each
// generated archive a group of cases run side by side. A case is one measured command line plus
// unmeasured `before` (clean-up so every repetition starts from the same state).
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { runQuiet, startContainerd, startDockerd } from "./peers.mjs";
import { REGISTRY_JOBS } from "./registry-jobs.mjs";
import { SERVE_JOBS } from "./serve-jobs.mjs";

const fresh = async (dir) => {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
};
const removed = (path) => rm(path, { recursive: true, force: true });
const fullName = (image) => `docker.io/library/${image}`;

/** Starts the daemons the peer cases need, when their binaries are present. */
async function startDaemons(ctx, wanted) {
  const daemons = {};
  if (wanted.includes("docker") && ctx.has("dockerd") && ctx.has("docker")) {
    daemons.docker = await startDockerd().catch((e) => ctx.note(`dockerd did not start, docker cases skipped: ${e.message.split("\n")[0]}`));
  }
  if (wanted.includes("ctr") && ctx.has("containerd") && ctx.has("ctr")) {
    daemons.ctr = await startContainerd().catch((e) => ctx.note(`containerd did not start, ctr cases skipped: ${e.message.split("\n")[0]}`));
  }
  return daemons;
}

async function stopDaemons(daemons) {
  for (const daemon of Object.values(daemons)) if (daemon) await daemon.stop();
}

const verify = {
  description: "lading verify vs hashing the same bytes",
  ladingCommands: ["verify"],
  peerBinaries: ["sha256sum"],
  archives: ["docker"],
  async group(ctx, archive) {
    return {
      cases: [
        { label: "lading verify", lading: true, argv: [...ctx.lading, "verify", archive.path] },
        { label: "sha256sum", needs: ["sha256sum"], argv: ["sha256sum", archive.path] },
        { label: "node sha256 (1 process)", argv: [process.execPath, join(ctx.benchDir, "sha256-file.mjs"), archive.path] },
      ],
    };
  },
  targets: (group) => [
    { text: "verify speed >= 0.8 x node sha256", value: speedRatio(group, "lading verify", "node sha256 (1 process)"), pass: (v) => v >= 0.8, format: (v) => `${v.toFixed(2)} x` },
    {
      text: "same, by CPU time (user+sys), for a busy machine",
      value: speedRatio(group, "lading verify", "node sha256 (1 process)", "cpuMedian"),
      pass: (v) => v >= 0.8,
      format: (v) => `${v.toFixed(2)} x`,
    },
  ],
};

/** Verify of the gzip OCI archive: decompression included; informational (no target in the issues). */
const verifyGzip = {
  description: "lading verify of the gzip OCI archive (decompresses every layer)",
  ladingCommands: ["verify"],
  peerBinaries: [],
  archives: ["oci"],
  async group(ctx, archive) {
    return {
      cases: [
        { label: "lading verify", lading: true, argv: [...ctx.lading, "verify", archive.path] },
        { label: "node sha256 (1 process)", argv: [process.execPath, join(ctx.benchDir, "sha256-file.mjs"), archive.path] },
      ],
    };
  },
  targets: () => [],
};

const load = {
  description: "lading load vs docker load, skopeo copy, ctr images import",
  ladingCommands: ["load"],
  peerBinaries: ["docker", "dockerd", "skopeo", "containerd", "ctr"],
  archives: ["docker", "oci"],
  writes: true,
  setup: (ctx) => startDaemons(ctx, ["docker", "ctr"]),
  teardown: stopDaemons,
  async group(ctx, archive, daemons) {
    const root = join(ctx.workDir, "load-root");
    const againRoot = join(ctx.workDir, "load-again-root");
    const ociDir = join(ctx.workDir, "load-skopeo-oci");
    const tag = archive.image.split(":")[1];
    const ladingLoad = (r) => [...ctx.lading, "--root", r, "load", "-i", archive.path, "-q"];
    const notes = [];
    const extraRoots = [];
    let againReady = false;
    const cases = [
      { label: "lading load", lading: true, before: () => fresh(root), argv: ladingLoad(root) },
      {
        label: "lading load (already stored)",
        lading: true,
        before: async () => {
          if (againReady) return;
          await fresh(againRoot);
          await runQuiet(ladingLoad(againRoot));
          againReady = true;
        },
        argv: ladingLoad(againRoot),
      },
    ];
    if (archive.kind === "docker") {
      if (daemons.docker) {
        const docker = daemons.docker;
        cases.push({
          label: "docker load",
          before: () => runQuiet(docker.argv("rmi", "-f", archive.image), { env: docker.env, allowFail: true }),
          argv: docker.argv("load", "-q", "-i", archive.path),
          env: docker.env,
        });
      }
      cases.push({
        label: "skopeo copy docker-archive: oci:",
        needs: ["skopeo"],
        before: () => removed(ociDir),
        argv: ["skopeo", "copy", "-q", "--dest-oci-accept-uncompressed-layers", `docker-archive:${archive.path}`, `oci:${ociDir}:${tag}`],
      });
    } else {
      const skipRoot = join(ctx.workDir, "load-skip-root");
      cases.splice(1, 0, {
        label: "lading load --skip-diff-id-check",
        lading: true,
        before: () => fresh(skipRoot),
        argv: [...ladingLoad(skipRoot), "--skip-diff-id-check"],
      });
      extraRoots.push(skipRoot);
      notes.push("docker load: dockerd 20.10 cannot load an OCI archive without manifest.json, so no docker case here");
      cases.push({
        label: "skopeo copy oci-archive: oci:",
        needs: ["skopeo"],
        before: () => removed(ociDir),
        argv: ["skopeo", "copy", "-q", `oci-archive:${archive.path}`, `oci:${ociDir}:${tag}`],
      });
    }
    if (daemons.ctr) {
      const ctr = daemons.ctr;
      const clean = () => runQuiet(ctr.argv("images", "rm", "--sync", fullName(archive.image)), { env: ctr.env, allowFail: true });
      cases.push({ label: "ctr images import (unpacks)", before: clean, argv: ctr.argv("images", "import", archive.path), env: ctr.env });
      cases.push({ label: "ctr images import --no-unpack", before: clean, argv: ctr.argv("images", "import", "--no-unpack", archive.path), env: ctr.env });
    }
    return {
      cases,
      notes,
      cleanup: async () => {
        await Promise.all([root, againRoot, ociDir, ...extraRoots].map(removed));
      },
    };
  },
  targets: (group) =>
    group.archive.kind === "docker"
      ? [
          { text: "load <= 0.5 x docker load", value: timeRatio(group, "lading load", "docker load"), pass: (v) => v <= 0.5 },
          { text: "load faster than skopeo", value: timeRatio(group, "lading load", "skopeo copy docker-archive: oci:"), pass: (v) => v < 1 },
          { text: "load faster than ctr import", value: timeRatio(group, "lading load", "ctr images import (unpacks)"), pass: (v) => v < 1 },
          { text: "second load >= 3x faster", value: speedRatio(group, "lading load (already stored)", "lading load"), pass: (v) => v >= 3, format: (v) => `${v.toFixed(2)} x` },
        ]
      : [
          { text: "gzip load faster than ctr import", value: timeRatio(group, "lading load", "ctr images import (unpacks)"), pass: (v) => v < 1 },
          { text: "gzip load <= 1.5 x skopeo", value: timeRatio(group, "lading load", "skopeo copy oci-archive: oci:"), pass: (v) => v <= 1.5 },
          {
            text: "gzip load without diff-ID checks faster than skopeo",
            value: timeRatio(group, "lading load --skip-diff-id-check", "skopeo copy oci-archive: oci:"),
            pass: (v) => v < 1,
          },
          { text: "second load >= 3x faster", value: speedRatio(group, "lading load (already stored)", "lading load"), pass: (v) => v >= 3, format: (v) => `${v.toFixed(2)} x` },
        ],
};

const save = {
  description: "lading save vs docker save, skopeo copy oci: docker-archive:",
  ladingCommands: ["load", "save"],
  peerBinaries: ["docker", "dockerd", "skopeo"],
  archives: ["docker"],
  writes: true,
  setup: (ctx) => startDaemons(ctx, ["docker"]),
  teardown: stopDaemons,
  async group(ctx, archive, daemons) {
    const root = join(ctx.workDir, "save-root");
    const ociDir = join(ctx.workDir, "save-skopeo-oci");
    const out = join(ctx.workDir, "saved.tar");
    const tag = archive.image.split(":")[1];
    await fresh(root);
    await runQuiet([...ctx.lading, "--root", root, "load", "-i", archive.path, "-q"]);
    const cases = [{ label: "lading save", lading: true, before: () => removed(out), argv: [...ctx.lading, "--root", root, "save", "-o", out, archive.image] }];
    if (daemons.docker) {
      const docker = daemons.docker;
      await runQuiet(docker.argv("load", "-q", "-i", archive.path), { env: docker.env });
      cases.push({ label: "docker save", before: () => removed(out), argv: docker.argv("save", "-o", out, archive.image), env: docker.env });
    }
    if (ctx.has("skopeo")) {
      await removed(ociDir);
      await runQuiet(["skopeo", "copy", "-q", "--dest-oci-accept-uncompressed-layers", `docker-archive:${archive.path}`, `oci:${ociDir}:${tag}`]);
      cases.push({ label: "skopeo copy oci: docker-archive:", before: () => removed(out), argv: ["skopeo", "copy", "-q", `oci:${ociDir}:${tag}`, `docker-archive:${out}:${archive.image}`] });
    }
    return {
      cases,
      notes: [],
      cleanup: async () => {
        if (daemons.docker) await runQuiet(daemons.docker.argv("rmi", "-f", archive.image), { env: daemons.docker.env, allowFail: true });
        await Promise.all([root, ociDir, out].map(removed));
      },
    };
  },
  targets: (group) => [
    { text: "save <= 0.5 x docker save", value: timeRatio(group, "lading save", "docker save"), pass: (v) => v <= 0.5 },
    { text: "save faster than skopeo", value: timeRatio(group, "lading save", "skopeo copy oci: docker-archive:"), pass: (v) => v < 1 },
  ],
};

/**
 * Issue 7's memory check: peak RSS of each lading command that streams a whole archive, with no peers,
 * meant for `--sizes 1024,4096 --reps 1`. Its targets are the report's memory checks, narrowed by
 * `memoryTargets` to < 100 MB at 1 GiB and <= 10% growth from 1 GiB to the largest size. It writes
 * its own RESULTS.md block (`block`), and is not a default job: the default sizes stop at 1 GiB,
 * where the load, save and verify jobs already report the same peaks.
 */
const memory = {
  description: "peak RSS of lading verify, load, save and convert, no peers",
  ladingCommands: ["verify", "load", "save", "convert"],
  peerBinaries: [],
  archives: ["docker", "oci"],
  writes: true,
  block: "memory",
  memoryTargets: { limitAtMiB: 1024, growthFromMiB: 1024 },
  async group(ctx, archive) {
    const root = join(ctx.workDir, "memory-root");
    const storedRoot = join(ctx.workDir, "memory-stored-root");
    const skipRoot = join(ctx.workDir, "memory-skip-root");
    // save and convert write to the same file, removed before each, so at most one copy is on disk.
    const out = join(ctx.workDir, "memory-out.tar");
    const ladingLoad = (r) => [...ctx.lading, "--root", r, "load", "-i", archive.path, "-q"];
    let stored = false;
    const ensureStored = async () => {
      if (stored) return;
      await fresh(storedRoot);
      await runQuiet(ladingLoad(storedRoot));
      stored = true;
    };
    const cases = [
      { label: "lading verify", lading: true, argv: [...ctx.lading, "verify", archive.path] },
      { label: "lading load", lading: true, before: () => fresh(root), argv: ladingLoad(root) },
      { label: "lading load (already stored)", lading: true, before: ensureStored, argv: ladingLoad(storedRoot) },
    ];
    if (archive.kind === "oci") {
      cases.push({ label: "lading load --skip-diff-id-check", lading: true, before: () => fresh(skipRoot), argv: [...ladingLoad(skipRoot), "--skip-diff-id-check"] });
    }
    cases.push(
      {
        label: "lading save",
        lading: true,
        before: async () => {
          await ensureStored();
          await removed(out);
        },
        argv: [...ctx.lading, "--root", storedRoot, "save", "-o", out, archive.image],
      },
      { label: "lading convert", lading: true, before: () => removed(out), argv: [...ctx.lading, "convert", "-q", archive.path, out] },
    );
    return {
      cases,
      notes: [],
      cleanup: () => Promise.all([root, storedRoot, skipRoot, out].map(removed)),
    };
  },
  targets: () => [],
};

function medianOf(group, label, field = "median") {
  const value = group.results.find((r) => r.label === label)?.[field];
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Time of `label` over time of `other`: below 1 means `label` is faster. */
export function timeRatio(group, label, other) {
  const a = medianOf(group, label);
  const b = medianOf(group, other);
  return a && b ? a / b : undefined;
}

/** Speed of `label` relative to `other`: above 1 means `label` is faster. */
export function speedRatio(group, label, other, field = "median") {
  const a = medianOf(group, label, field);
  const b = medianOf(group, other, field);
  return a && b ? b / a : undefined;
}

export const JOBS = { verify, "verify-gzip": verifyGzip, load, save, memory, ...REGISTRY_JOBS, ...SERVE_JOBS };
export const DEFAULT_JOBS = ["verify", "verify-gzip", "load", "save", "pull", "push", "serve-api", "serve-stream"];
