import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LOCAL_DOCKER_CLIENT,
  TEST_REGISTRY_USER,
  makeTempDir,
  peerAvailable,
  podman,
  removeTree,
  requirePeers,
  run,
  runBytes,
  startContainerd,
  startDockerd,
  startRegistry,
  type Containerd,
  type Dockerd,
  type Registry,
} from "./peers.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const fixtures = `${repoRoot}../shared/fixtures`;
const dockerSaveSingle = `${fixtures}/archives/docker-save-single.tar`;

interface FixtureImage {
  repoTags: string[];
}
// The shared fixtures live outside the repo; tests on them skip where they are absent, while the
// same peers are also exercised on the repo's own testdata/.
const haveFixtures = existsSync(`${fixtures}/expected.json`);
const expected = (haveFixtures ? JSON.parse(readFileSync(`${fixtures}/expected.json`, "utf8")) : { fixtures: {} }) as {
  fixtures: Record<string, { images: FixtureImage[] }>;
};
const sha256 = (b: Buffer | string): string => "sha256:" + createHash("sha256").update(b).digest("hex");
const singleTags = expected.fixtures["docker-save-single.tar"]?.images[0]?.repoTags ?? [];
const testdata = `${repoRoot}testdata`;

describe("run", () => {
  it("returns code, stdout and stderr without a shell", async () => {
    expect(await run("sh", ["-c", 'printf "%s" "$0"; printf err >&2; exit 3', "a b;$x"])).toEqual({
      code: 3,
      stdout: "a b;$x",
      stderr: "err",
    });
  });

  it("feeds input to stdin", async () => {
    expect(await run("cat", [], { input: Buffer.from("bytes\n") })).toEqual({ code: 0, stdout: "bytes\n", stderr: "" });
  });

  it("rejects when the timeout expires", async () => {
    await expect(run("sleep", ["5"], { timeoutMs: 100 })).rejects.toThrow("sleep 5: timed out after 100 ms");
  });
});

describe("peerAvailable / requirePeers", () => {
  it("finds binaries on PATH and by path, and not made-up ones", () => {
    expect(peerAvailable("sh")).toBe(true);
    expect(peerAvailable("/bin/sh")).toBe(true);
    expect(peerAvailable("lading-no-such-peer")).toBe(false);
  });

  it("returns false for a missing peer locally and throws in CI", () => {
    const saved = process.env.CI;
    try {
      process.env.CI = "false";
      expect(requirePeers("sh", "lading-no-such-peer")).toBe(false);
      process.env.CI = "true";
      expect(() => requirePeers("sh", "lading-no-such-peer")).toThrow(
        "peer tools missing in CI: lading-no-such-peer (run .ci/install-peers.sh)",
      );
      expect(requirePeers("sh")).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });
});

describe.skipIf(!requirePeers("dockerd", "docker"))("private dockerd", () => {
  let d: Dockerd;
  beforeAll(async () => {
    d = await startDockerd();
  });
  afterAll(async () => {
    await d?.stop();
  });

  it("answers with API version 1.41", async () => {
    const r = await d.docker(["version", "--format", "{{.Server.APIVersion}}"]);
    expect(r).toEqual({ code: 0, stdout: "1.41\n", stderr: "" });
  });

  it("answers the newer /usr/local/bin client too", async ({ skip }) => {
    if (!peerAvailable(LOCAL_DOCKER_CLIENT)) skip();
    const r = await run(LOCAL_DOCKER_CLIENT, ["version", "--format", "{{.Server.APIVersion}}"], { env: d.env });
    expect(r.stdout).toBe("1.41\n");
  });

  it("loads testdata/docker-save.tar with its two tags", async () => {
    const r = await d.docker(["load", "-i", `${testdata}/docker-save.tar`]);
    expect(r).toEqual({
      code: 0,
      stdout: "Loaded image: lading-testdata/app:1.0\nLoaded image: lading-testdata/app:latest\n",
      stderr: "",
    });
  });

  it.skipIf(!haveFixtures)("loads docker-save-single.tar with exactly its four tags", async () => {
    expect(singleTags).toHaveLength(4);
    const r = await d.docker(["load", "-i", dockerSaveSingle]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(singleTags.map((t) => `Loaded image: ${t}\n`).join(""));
    expect(existsSync(`${d.dataRoot}/image/vfs/repositories.json`)).toBe(true);
  });

  it("removes its temp dir and stops its containerd on stop", async () => {
    const other = await startDockerd();
    const dir = other.dataRoot.replace(/\/root$/, "");
    const containerdPid = Number(readFileSync(`${dir}/exec/containerd/containerd.pid`, "utf8").trim());
    await other.stop();
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(`/proc/${containerdPid}/cmdline`) && readFileSync(`/proc/${containerdPid}/cmdline`, "utf8").includes(dir)).toBe(false);
  });
});

describe.skipIf(!requirePeers("containerd", "ctr"))("private containerd", () => {
  let c: Containerd;
  beforeAll(async () => {
    c = await startContainerd();
  });
  afterAll(async () => {
    await c?.stop();
  });

  it("imports testdata/oci-archive.tar under its manifest digest", async () => {
    const r = await c.ctr(["images", "import", "--base-name", "lading-testdata/app", `${testdata}/oci-archive.tar`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("unpacking lading-testdata/app:app (sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e)...done");
  });

  it.skipIf(!haveFixtures)("imports GOOD-baseline.tar and names its manifest digest", async () => {
    const r = await c.ctr(["images", "import", `${fixtures}/bad/GOOD-baseline.tar`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("sha256:00a7728632a9329633b7c5ec4ed07443304e2484be097b82c0cea259edf72896");
    const ls = await c.ctr(["images", "ls", "-q"]);
    expect(ls.stdout.split("\n")).toContain("docker.io/fixture/good:1");
  });
});

describe.skipIf(!requirePeers("docker-registry"))("loopback registry", () => {
  let reg: Registry;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("answers /v2/ with {}", async () => {
    expect(reg.url).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`http://${reg.url}/v2/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("{}");
  });

  it("requires the htpasswd user when started with auth", async () => {
    const authed = await startRegistry({ htpasswd: TEST_REGISTRY_USER.htpasswd });
    try {
      const anon = await fetch(`http://${authed.url}/v2/`);
      expect(anon.status).toBe(401);
      await anon.arrayBuffer();
      const basic = Buffer.from(`${TEST_REGISTRY_USER.user}:${TEST_REGISTRY_USER.password}`).toString("base64");
      const ok = await fetch(`http://${authed.url}/v2/`, { headers: { authorization: `Basic ${basic}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe("{}");
    } finally {
      await authed.stop();
    }
  });
});

describe.skipIf(!requirePeers("skopeo"))("skopeo", () => {
  it.skipIf(!haveFixtures)("prints the exact manifest bytes of the umoci layout's app tag", async () => {
    const r = await runBytes("skopeo", ["inspect", "--raw", `oci:${fixtures}/layouts/oci-umoci-gzip:app`]);
    expect(r.code).toBe(0);
    expect(sha256(r.stdout)).toBe(
      "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf",
    );
  });
});

describe.skipIf(!requirePeers("podman"))("podman", () => {
  let root: string;
  beforeAll(() => {
    root = makeTempDir("lading-podman-");
  });
  afterAll(async () => {
    await removeTree(root);
  });

  it("loads testdata/docker-save.tar, prefixing unqualified names with localhost/", async () => {
    const r = await podman(root).run(["load", "-q", "-i", `${testdata}/docker-save.tar`]);
    expect(r.stdout).toBe("Loaded image: localhost/lading-testdata/app:1.0\nLoaded image: localhost/lading-testdata/app:latest\n");
    const id = await podman(root).run(["image", "inspect", "--format", "{{.Id}}", "lading-testdata/app:latest"]);
    expect(id.stdout).toBe("fb5b2ad6a24aa54f8c9ca0f7cdf584eb08a611b5ae9cf62d54baa695825784c0\n");
  });

  it.skipIf(!haveFixtures)("loads docker-save-single.tar, prefixing unqualified names with localhost/", async () => {
    const p = podman(root);
    const r = await p.run(["load", "-i", dockerSaveSingle]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "Loaded image: localhost/fixture/imported:1.0",
        "Loaded image: localhost/fixture/imported:latest",
        "Loaded image: localhost/imported-plain:latest",
        "Loaded image: localhost:5000/team/imported:v1",
        "",
      ].join("\n"),
    );
    const ids = await p.run(["image", "inspect", "--format", "{{.Id}}", "fixture/imported:1.0", "localhost:5000/team/imported:v1"]);
    expect(ids.stdout).toBe("eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b\n".repeat(2));
  });
});

interface TestdataImage {
  ref?: string;
  manifestDigest?: string;
  configDigest: string;
}
interface TestdataFile {
  fileSha256?: string;
  uncompressedSha256?: string;
  compression?: string;
  images: TestdataImage[];
}
const testdataExpected = JSON.parse(readFileSync(`${testdata}/expected.json`, "utf8")) as { files: Record<string, TestdataFile> };

describe("testdata/ made by testdata/make.sh", () => {
  it("holds exactly the files expected.json describes, with their recorded sha256", () => {
    const files = Object.entries(testdataExpected.files);
    expect(files.map(([name]) => name).sort()).toEqual([
      "docker-archive.tar",
      "docker-archive.tar.bz2",
      "docker-archive.tar.gz",
      "docker-archive.tar.xz",
      "docker-archive.tar.zst",
      "docker-save.tar",
      "oci-archive.tar",
      "oci-layout",
      "oci-multiplatform.tar",
    ]);
    for (const [name, f] of files) {
      if (f.fileSha256 !== undefined) expect([name, sha256(readFileSync(`${testdata}/${name}`))]).toEqual([name, f.fileSha256]);
    }
  });

  it.skipIf(!requirePeers("gzip", "xz", "bzip2", "zstd"))("compressed copies decompress to docker-archive.tar", async () => {
    const tools: Record<string, string> = { gzip: "gzip", xz: "xz", bzip2: "bzip2", zstd: "zstd" };
    for (const [name, f] of Object.entries(testdataExpected.files)) {
      if (f.compression === undefined) continue;
      const tool = tools[f.compression];
      expect(tool).toBeDefined();
      const r = await runBytes(tool as string, ["-dc", `${testdata}/${name}`]);
      expect([name, r.code, sha256(r.stdout)]).toEqual([name, 0, f.uncompressedSha256]);
    }
  });

  it.skipIf(!requirePeers("skopeo"))("skopeo reads the oci-layout tags with the recorded digests", async () => {
    for (const img of testdataExpected.files["oci-layout"]?.images ?? []) {
      const raw = await runBytes("skopeo", ["inspect", "--raw", `oci:${testdata}/oci-layout:${img.ref}`]);
      const cfg = await runBytes("skopeo", ["inspect", "--config", "--raw", `oci:${testdata}/oci-layout:${img.ref}`]);
      expect([img.ref, sha256(raw.stdout), sha256(cfg.stdout)]).toEqual([img.ref, img.manifestDigest, img.configDigest]);
    }
  });
});
