// containerd 1.6's `ctr images export` of an image pulled by digest names it `REG/repo@sha256:…`
// in manifest.json's RepoTags as well as in index.json: lading verifies and loads such an archive
// (alone, and beside a tagged image), as the pinned reference ctr holds. The image comes from
// testdata's oci-archive, pushed by skopeo to a private registry and pulled by ctr by digest.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading } from "../support/archive-builder.js";
import { makeTempDir, removeTree, requirePeers, run, runBytes, startContainerd, startRegistry, type Containerd, type Registry } from "../support/peers.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");
const OCI_ARCHIVE = join(TESTDATA, "oci-archive.tar");
const DOCKER_SAVE = join(TESTDATA, "docker-save.tar");
const ready = requirePeers("containerd", "ctr", "skopeo", "docker-registry") && existsSync(OCI_ARCHIVE) && existsSync(DOCKER_SAVE);
const sha256 = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function ok(promise: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const result = await promise;
  expect([result.code, result.code === 0 ? "" : result.stderr]).toEqual([0, ""]);
  return result.stdout;
}

describe.skipIf(!ready)("ctr images export of an image pulled by digest (private containerd and registry)", () => {
  let dir: string;
  let registry: Registry;
  let containerd: Containerd;
  let pinned: string;
  let digest: string;
  let counter = 0;
  const fresh = (name: string): string => join(dir, `${name}-${counter++}`);
  const TAGGED = "docker.io/lading-testdata/app:1.0";

  beforeAll(async () => {
    ensureBuilt();
    dir = makeTempDir("lading-ctr-digest-");
    [registry, containerd] = await Promise.all([startRegistry(), startContainerd()]);
    await ok(run("skopeo", ["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `oci-archive:${OCI_ARCHIVE}`, `docker://${registry.url}/mk/app3:src`], { timeoutMs: 120_000 }));
    const raw = await runBytes("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${registry.url}/mk/app3:src`]);
    expect(raw.code).toBe(0);
    digest = sha256(raw.stdout);
    pinned = `${registry.url}/mk/app3@${digest}`;
    await ok(containerd.ctr(["images", "pull", "--plain-http", pinned], { timeoutMs: 120_000 }));
    await ok(containerd.ctr(["images", "import", DOCKER_SAVE]));
  }, 240_000);
  afterAll(async () => {
    await Promise.all([registry?.stop(), containerd?.stop()]);
    if (dir) await removeTree(dir);
  });

  async function exportOf(...names: string[]): Promise<string> {
    const archive = fresh("ctr-export.tar");
    await ok(containerd.ctr(["images", "export", archive, ...names]));
    return archive;
  }

  it("ctr writes the digest name in RepoTags, and lading verifies and loads it as that pinned reference", async () => {
    const archive = await exportOf(pinned);
    const manifestJson = JSON.parse(await ok(run("tar", ["-xOf", archive, "manifest.json"]))) as { RepoTags: string[] }[];
    expect(manifestJson.map((item) => item.RepoTags)).toEqual([[pinned]]);

    const verified = await runLading(["verify", "--json", archive]);
    const report = JSON.parse(verified.stdout) as { valid: boolean; problems: unknown[]; warnings: string[]; images: { names: string[]; manifestDigest: string; manifestOrigin: string }[] };
    expect([verified.code, report.valid, report.problems, report.warnings]).toEqual([0, true, [], []]);
    expect(report.images.map(({ names, manifestDigest, manifestOrigin }) => [names, manifestDigest, manifestOrigin])).toEqual([[[pinned], digest, "archive"]]);

    const root = fresh("store");
    expect(await runLading(["--root", root, "load", "-i", archive])).toEqual({ code: 0, stdout: `Loaded image: ${pinned}\n`, stderr: "" });
    const inspected = JSON.parse(await ok(runLading(["--root", root, "inspect", pinned]))) as { Id: string; RepoTags: string[]; RepoDigests: string[] }[];
    expect(inspected.map(({ Id, RepoTags, RepoDigests }) => ({ Id, RepoTags, RepoDigests }))).toEqual([{ Id: digest, RepoTags: [], RepoDigests: [pinned] }]);
  });

  it("beside a tagged image, each loads with its own name", async () => {
    const archive = await exportOf(pinned, TAGGED);
    const manifestJson = JSON.parse(await ok(run("tar", ["-xOf", archive, "manifest.json"]))) as { RepoTags: string[] }[];
    expect(manifestJson.map((item) => item.RepoTags).sort()).toEqual([[pinned], ["lading-testdata/app:1.0"]].sort());

    const root = fresh("store");
    const loaded = await runLading(["--root", root, "load", "-i", archive]);
    expect([loaded.code, loaded.stderr, loaded.stdout.split("\n").sort()]).toEqual([0, "", ["", `Loaded image: ${pinned}`, "Loaded image: lading-testdata/app:1.0"]]);
    const pinnedId = JSON.parse(await ok(runLading(["--root", root, "inspect", pinned]))) as { Id: string }[];
    expect(pinnedId.map((image) => image.Id)).toEqual([digest]);
  });
});
