// lading's digests compared with real tools: skopeo for the manifests an OCI archive carries,
// containerd's importer (ctr images import) for the manifest it synthesises for a docker-save
// archive. A missing peer skips locally and fails in CI (requirePeers).
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { verifyArchive, type VerifyReport } from "../../src/ops/verify.js";
import { runLading } from "../support/archive-builder.js";
import { makeTempDir, removeTree, requirePeers, run, startContainerd, type Containerd } from "../support/peers.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const fixture = (path: string): string => join(FIXTURES, path);

async function verifyPath(path: string): Promise<VerifyReport> {
  const report = await verifyArchive(await openArchivePath(path));
  expect(report.problems).toEqual([]);
  return report;
}

/** `skopeo inspect ARGS REF`, its stdout as bytes hashed with sha256. */
async function skopeoDigest(args: string[], reference: string): Promise<string> {
  const result = await run("skopeo", ["inspect", ...args, reference]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return `sha256:${createHash("sha256").update(result.stdout, "utf8").digest("hex")}`;
}

async function skopeoRaw(reference: string): Promise<string> {
  const result = await run("skopeo", ["inspect", "--raw", reference]);
  expect(result.code).toBe(0);
  return result.stdout;
}

describe.skipIf(!requirePeers("skopeo"))("manifest digests equal skopeo inspect --raw", () => {
  it("skopeo-oci-archive.tar", async () => {
    const path = fixture("archives/skopeo-oci-archive.tar");
    const report = await verifyPath(path);
    const raw = await skopeoDigest(["--raw"], `oci-archive:${path}:1.0`);
    expect(report.images.map((image) => image.manifestDigest)).toEqual([raw]);
    expect(raw).toBe("sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf");
    expect(report.images[0]!.configDigest).toBe(await skopeoDigest(["--config", "--raw"], `oci-archive:${path}:1.0`));
  });

  it("oci-archive-multiplatform.tar: the index and each platform's manifest and config", async () => {
    const path = fixture("archives/oci-archive-multiplatform.tar");
    const report = await verifyPath(path);
    const indexDigest = await skopeoDigest(["--raw"], `oci-archive:${path}`);
    expect(report.images.map((image) => image.rootDigest)).toEqual([indexDigest, indexDigest]);
    const index = JSON.parse(await skopeoRaw(`oci-archive:${path}`)) as { manifests: { digest: string; platform: { os: string; architecture: string } }[] };
    expect(report.images.map((image) => [image.platform, image.manifestDigest])).toEqual(
      index.manifests.map((child) => [`${child.platform.os}/${child.platform.architecture}`, child.digest]),
    );
    for (const image of report.images) {
      const arch = image.platform.split("/")[1]!;
      expect(image.configDigest).toBe(await skopeoDigest(["--override-arch", arch, "--config", "--raw"], `oci-archive:${path}`));
    }
  });

  it("layouts/oci-umoci-gzip: each tag", async () => {
    const path = fixture("layouts/oci-umoci-gzip");
    const report = await verifyPath(path);
    const digests: string[] = [];
    for (const tag of ["base", "app", "base-arm64"]) digests.push(await skopeoDigest(["--raw"], `oci:${path}:${tag}`));
    expect(report.images.map((image) => image.manifestDigest)).toEqual(digests);
  });
});

describe.skipIf(!requirePeers("skopeo"))("a dir: layout, which lading does not read", () => {
  it("skopeo copy docker-archive: dir: gives verify and load one line saying what it is and how to convert it, before any blob is read", async () => {
    const dir = makeTempDir("lading-dir-layout-");
    try {
      const layout = join(dir, "layout");
      const copied = await run("skopeo", ["copy", "-q", `docker-archive:${fixture("archives/docker-save-single.tar")}`, `dir:${layout}`]);
      expect([copied.code, copied.stderr]).toEqual([0, ""]);
      const message = `${layout}: manifest.json: an image manifest, not docker save's list of images: this is a dir: layout (skopeo copy dir:, podman save --format docker-dir), which lading does not read; skopeo copy dir:DIR docker-archive:FILE makes an archive of it`;
      const verified = await runLading(["verify", layout]);
      expect([verified.code, verified.stderr]).toEqual([1, `lading: error: ${message}\n`]);
      const store = join(dir, "store");
      const loaded = await runLading(["--root", store, "load", "-i", layout]);
      expect([loaded.code, loaded.stdout, loaded.stderr]).toEqual([1, "", `lading: error: ${message}\n`]);
    } finally {
      await removeTree(dir);
    }
  });
});

describe.skipIf(!requirePeers("ctr", "containerd"))("synthesised digests equal what ctr images import records", () => {
  let containerd: Containerd;
  beforeAll(async () => {
    containerd = await startContainerd();
  }, 60_000);
  afterAll(async () => {
    await containerd?.stop();
  });

  /** Imports into a namespace of its own and lists name -> manifest digest. */
  async function ctrImport(path: string, namespace: string): Promise<Record<string, string>> {
    const imported = await containerd.ctr(["-n", namespace, "images", "import", "--no-unpack", path], { timeoutMs: 60_000 });
    expect(imported.stderr).toBe("");
    expect(imported.code).toBe(0);
    const listed = await containerd.ctr(["-n", namespace, "images", "ls"]);
    expect(listed.code).toBe(0);
    const names: Record<string, string> = {};
    for (const line of listed.stdout.trim().split("\n").slice(1)) {
      const [name, , digest] = line.split(/\s+/);
      names[name!] = digest!;
    }
    return names;
  }

  const byName = (report: VerifyReport): Record<string, string> =>
    Object.fromEntries(report.images.flatMap((image) => image.names.map((name) => [name, image.manifestDigest])));

  const cases: [string, string][] = [
    ["archives/docker-save-single.tar", "single"],
    ["archives/docker-save-multi.tar", "multi"],
    ["archives/skopeo-docker-archive.tar", "skopeo"],
    ["bad/GOOD-baseline.tar", "good"],
  ];
  for (const [path, namespace] of cases) {
    it(path, async () => {
      const report = await verifyPath(fixture(path));
      expect(report.images.every((image) => image.manifestOrigin === "synthesized")).toBe(true);
      const recorded = await ctrImport(fixture(path), namespace);
      expect(byName(report)).toEqual(recorded);
    });
  }

  it("GOOD-baseline.tar: the digest expected.json recorded", async () => {
    const recorded = await ctrImport(fixture("bad/GOOD-baseline.tar"), "good-again");
    expect(recorded).toEqual({ "docker.io/fixture/good:1": "sha256:00a7728632a9329633b7c5ec4ed07443304e2484be097b82c0cea259edf72896" });
  });

  it("ctr-export.tar: the original manifests ctr itself exported", async () => {
    const report = await verifyPath(fixture("archives/ctr-export.tar"));
    expect(report.images.every((image) => image.manifestOrigin === "archive")).toBe(true);
    expect(byName(report)).toEqual(await ctrImport(fixture("archives/ctr-export.tar"), "ctr-export"));
  });
});
