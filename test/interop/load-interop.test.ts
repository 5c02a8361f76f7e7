// Archives made on the spot by docker save, skopeo copy, podman save and ctr images export: `lading
// load` yields the config digests and diff IDs those tools report, and for OCI inputs their
// manifest digests. In CI a missing peer fails the suite (requirePeers throws when CI=true).
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading } from "../support/archive-builder.js";
import { podman, removeTree, requirePeers, run, runBytes, startContainerd, startDockerd, type Containerd, type Dockerd } from "../support/peers.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const TESTDATA = join(REPO_ROOT, "testdata");
const sha256 = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-interop-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});
const fresh = (name: string): string => join(scratch, `${name}-${counter++}`);

interface LadingView {
  id: string;
  configDigest: string;
  diffIds: string[];
  repoTags: string[];
  repoDigests: string[];
}

/** Loads `archive` into a new store and inspects `query` (a tag, or the only image when omitted). */
async function ladingLoad(archive: string, query?: string, extra: string[] = []): Promise<{ stdout: string; image: LadingView }> {
  const root = fresh("store");
  const loaded = await runLading(["--root", root, "load", "-q", ...extra, "-i", archive]);
  expect({ code: loaded.code, stderr: loaded.code === 0 ? "" : loaded.stderr }).toEqual({ code: 0, stderr: "" });
  let target = query;
  if (target === undefined) {
    const images = JSON.parse((await runLading(["--root", root, "images", "--json"])).stdout) as { id: string }[];
    expect(images).toHaveLength(1);
    target = images[0]!.id;
  }
  const inspected = await runLading(["--root", root, "inspect", target]);
  expect([inspected.code, inspected.stderr]).toEqual([0, ""]);
  const [entry] = JSON.parse(inspected.stdout) as { Id: string; ConfigDigest: string; RootFS: { Layers: string[] }; RepoTags: string[]; RepoDigests: string[] }[];
  return {
    stdout: loaded.stdout,
    image: { id: entry!.Id, configDigest: entry!.ConfigDigest, diffIds: entry!.RootFS.Layers, repoTags: entry!.RepoTags, repoDigests: entry!.RepoDigests },
  };
}

async function ok(promise: Promise<{ code: number; stdout: string; stderr: string }>): Promise<string> {
  const result = await promise;
  expect(result.stderr === "" || result.code === 0 ? result.code : result.stderr).toBe(0);
  return result.stdout.trim();
}

describe.skipIf(!requirePeers("dockerd", "docker"))("docker save (private dockerd)", () => {
  let dockerd: Dockerd;
  beforeAll(async () => {
    dockerd = await startDockerd();
    await ok(dockerd.docker(["load", "-i", join(TESTDATA, "docker-save.tar")]));
    const rootfs = fresh("rootfs.tar");
    await ok(run("tar", ["-cf", rootfs, "-C", TESTDATA, "README.md", "make.sh"]));
    await ok(dockerd.docker(["import", "--change", "ENV FOO=bar", rootfs, "interop/imported:1"]));
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it("config digests and diff IDs equal docker inspect's, for every tag saved", async () => {
    const archive = fresh("docker-save.tar");
    await ok(dockerd.docker(["save", "-o", archive, "lading-testdata/app:1.0", "interop/imported:1"]));
    for (const tag of ["lading-testdata/app:1.0", "interop/imported:1"]) {
      const id = await ok(dockerd.docker(["image", "inspect", "--format", "{{.Id}}", tag]));
      const layers = JSON.parse(await ok(dockerd.docker(["image", "inspect", "--format", "{{json .RootFS.Layers}}", tag]))) as string[];
      const { image, stdout } = await ladingLoad(archive, tag);
      // lading prints in the archive's order, and docker save's order of images varies between runs.
      expect(stdout.split("\n").sort()).toEqual(["", "Loaded image: interop/imported:1", "Loaded image: lading-testdata/app:1.0"]);
      expect(image.configDigest).toBe(id);
      expect(image.diffIds).toEqual(layers);
      expect(image.repoDigests).toEqual([]); // docker 20.10 saves no manifest: lading's is synthesised
    }
  });
});

describe.skipIf(!requirePeers("skopeo"))("skopeo copy", () => {
  const source = `oci:${join(TESTDATA, "oci-layout")}:app`;

  it("oci-archive: the manifest digest is the image ID and the RepoDigest; config and diff IDs match", async () => {
    const archive = fresh("skopeo-oci.tar");
    await ok(run("skopeo", ["copy", "-q", source, `oci-archive:${archive}:app`]));
    const raw = await runBytes("skopeo", ["inspect", "--raw", `oci-archive:${archive}:app`]);
    const config = await runBytes("skopeo", ["inspect", "--config", "--raw", `oci-archive:${archive}:app`]);
    const { image } = await ladingLoad(archive, "interop/skopeo:app", ["--name", "interop/skopeo"]);
    expect(image.id).toBe(sha256(raw.stdout));
    expect(image.repoDigests).toEqual([`interop/skopeo@${sha256(raw.stdout)}`]);
    expect(image.configDigest).toBe(sha256(config.stdout));
    expect(image.diffIds).toEqual((JSON.parse(config.stdout.toString("utf8")) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids);
  });

  it("docker-archive: config and diff IDs match, tags come from RepoTags", async () => {
    const archive = fresh("skopeo-docker.tar");
    await ok(run("skopeo", ["copy", "-q", source, `docker-archive:${archive}:interop/skopeo-da:v1`]));
    const config = await runBytes("skopeo", ["inspect", "--config", "--raw", `docker-archive:${archive}`]);
    const { image, stdout } = await ladingLoad(archive, "interop/skopeo-da:v1");
    expect(stdout).toBe("Loaded image: interop/skopeo-da:v1\n");
    expect(image.configDigest).toBe(sha256(config.stdout));
    expect(image.diffIds).toEqual((JSON.parse(config.stdout.toString("utf8")) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids);
  });
});

describe.skipIf(!requirePeers("podman", "skopeo"))("podman save", () => {
  let root: string;
  let p: ReturnType<typeof podman>;
  beforeAll(async () => {
    root = fresh("podman");
    p = podman(root);
    await ok(p.run(["load", "-q", "-i", join(TESTDATA, "docker-save.tar")]));
  });
  afterAll(async () => {
    if (root) await removeTree(root);
  });

  const podmanFacts = async (): Promise<{ id: string; layers: string[] }> => ({
    id: `sha256:${await ok(p.run(["image", "inspect", "--format", "{{.Id}}", "lading-testdata/app:1.0"]))}`,
    layers: JSON.parse(await ok(p.run(["image", "inspect", "--format", "{{json .RootFS.Layers}}", "lading-testdata/app:1.0"]))) as string[],
  });

  it("docker-archive: config and diff IDs equal podman inspect's", async () => {
    const archive = fresh("podman-docker.tar");
    await ok(p.run(["save", "-q", "--format", "docker-archive", "-o", archive, "lading-testdata/app:1.0"]));
    const facts = await podmanFacts();
    // podman 4.3 files a docker-save image named without a registry under localhost/.
    const { image, stdout } = await ladingLoad(archive, "localhost/lading-testdata/app:1.0");
    expect(stdout).toBe("Loaded image: localhost/lading-testdata/app:1.0\n");
    expect(image.configDigest).toBe(facts.id);
    expect(image.diffIds).toEqual(facts.layers);
  });

  // podman converts the image to OCI on the way out (a new config, so a new config digest): the
  // digests to match are those of the archive as skopeo reads it; the diff IDs stay podman's.
  it("oci-archive: manifest and config digests equal skopeo's reading of the archive, diff IDs podman's", async () => {
    const archive = fresh("podman-oci.tar");
    await ok(p.run(["save", "-q", "--format", "oci-archive", "-o", archive, "lading-testdata/app:1.0"]));
    const facts = await podmanFacts();
    const raw = await runBytes("skopeo", ["inspect", "--raw", `oci-archive:${archive}`]);
    const config = await runBytes("skopeo", ["inspect", "--config", "--raw", `oci-archive:${archive}`]);
    const { image } = await ladingLoad(archive);
    expect(image.id).toBe(sha256(raw.stdout));
    expect(image.configDigest).toBe(sha256(config.stdout));
    expect(image.diffIds).toEqual(facts.layers);
  });
});

describe.skipIf(!requirePeers("containerd", "ctr"))("ctr images export (private containerd)", () => {
  let containerd: Containerd;
  beforeAll(async () => {
    containerd = await startContainerd();
    await ok(containerd.ctr(["images", "import", join(TESTDATA, "docker-save.tar")]));
  });
  afterAll(async () => {
    await containerd?.stop();
  });

  it("the manifest digest ctr images ls shows is the image ID; config and diff IDs match the content ctr holds", async () => {
    const name = "docker.io/lading-testdata/app:1.0";
    const listing = await ok(containerd.ctr(["images", "ls"]));
    const row = listing.split("\n").find((line) => line.startsWith(`${name} `));
    const digest = row?.split(/\s+/).find((field) => field.startsWith("sha256:"));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const manifest = JSON.parse(await ok(containerd.ctr(["content", "get", digest!]))) as { config: { digest: string } };
    const config = JSON.parse(await ok(containerd.ctr(["content", "get", manifest.config.digest]))) as { rootfs: { diff_ids: string[] } };

    const archive = fresh("ctr-export.tar");
    await ok(containerd.ctr(["images", "export", archive, name]));
    const { image, stdout } = await ladingLoad(archive, "lading-testdata/app:1.0");
    expect(stdout).toBe("Loaded image: lading-testdata/app:1.0\n");
    expect(image.id).toBe(digest);
    expect(image.repoDigests).toEqual([`lading-testdata/app@${digest}`]);
    expect(image.configDigest).toBe(manifest.config.digest);
    expect(image.diffIds).toEqual(config.rootfs.diff_ids);
  });
});
