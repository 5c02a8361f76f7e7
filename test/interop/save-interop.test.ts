// Archives lading saves are loaded by the real tools (dockerd 20.10, containerd 1.6's ctr,
// podman 4.3, skopeo 1.9), and the image IDs (config digests) and manifest digests they report
// are lading's. Two images: one with gzip OCI layers and an original manifest (testdata's
// oci-archive), one with an uncompressed layer and a synthesised manifest (a real docker save).
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { saveImages, saveToFile, type SaveOptions } from "../../src/ops/save.js";
import { Store } from "../../src/store/store.js";
import { blobOf, buildTar, descriptorOf, makeImage, ociLayoutItems, runLading, signatureArtifact } from "../support/archive-builder.js";
import { makeTempDir, podman, removeTree, requirePeers, run, startContainerd, startDockerd, startRegistry, type Containerd, type Dockerd } from "../support/peers.js";

const REPO = join(import.meta.dirname, "..", "..");
const DOCKER_SAVE = join(REPO, "testdata", "docker-save.tar");
const OCI_ARCHIVE = join(REPO, "testdata", "oci-archive.tar");
const ready = requirePeers("dockerd", "containerd", "ctr", "podman", "skopeo", "docker-registry") && existsSync(DOCKER_SAVE) && existsSync(OCI_ARCHIVE);
const sha256 = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

interface Saved {
  tag: string;
  full: string;
  config: string;
  manifest: string;
}

describe.skipIf(!ready)("archives saved by lading, loaded by the real tools", () => {
  let dir: string;
  let store: Store;
  let gzipImage: Saved;
  let plainImage: Saved;
  const archives: Record<string, string> = {};

  async function describeImage(tag: string, full: string): Promise<Saved> {
    const id = await store.references.get(tag);
    const found = (await store.records.get(id ?? ""))!;
    return { tag, full, config: found.images[0]!.config.digest, manifest: found.id };
  }

  async function save(name: string, images: string[], options: SaveOptions = {}): Promise<string> {
    const file = join(dir, name);
    await saveToFile(file, (sink) => saveImages(store, images, sink, options));
    archives[name] = file;
    return file;
  }

  beforeAll(async () => {
    dir = makeTempDir("lading-save-interop-");
    store = await Store.open(join(dir, "store"));
    await loadArchive(store, await openArchivePath(OCI_ARCHIVE), { name: "lading-testdata/oci" });
    await loadArchive(store, await openArchivePath(DOCKER_SAVE));
    gzipImage = await describeImage("lading-testdata/oci:app", "docker.io/lading-testdata/oci:app");
    plainImage = await describeImage("lading-testdata/app:1.0", "docker.io/lading-testdata/app:1.0");
    await save("both.tar", ["lading-testdata/oci:app", "lading-testdata/app:1.0"]);
    await save("gzip-only.oci.tar", ["lading-testdata/oci:app"], { format: "oci" });
    await save("plain-only.oci.tar", ["lading-testdata/app:1.0"], { format: "oci" });
    await save("both.tar.gz", ["lading-testdata/oci:app", "lading-testdata/app:1.0"], { compress: "gzip" });
    await save("both.tar.zst", ["lading-testdata/oci:app", "lading-testdata/app:1.0"], { compress: "zstd" });
  }, 60_000);

  afterAll(async () => {
    if (dir) await removeTree(dir);
  });

  it("the two images are what testdata says: one gzip OCI image, one synthesised docker manifest", async () => {
    const records = await store.records.list();
    expect(records.map((record) => [record.id, record.origin, record.images[0]!.layers[0]!.mediaType]).sort()).toEqual(
      [
        [gzipImage.manifest, "archive", "application/vnd.oci.image.layer.v1.tar+gzip"],
        [plainImage.manifest, "synthesized", "application/vnd.docker.image.rootfs.diff.tar"],
      ].sort(),
    );
  });

  describe("dockerd 20.10", () => {
    let dockerd: Dockerd;
    beforeAll(async () => {
      dockerd = await startDockerd();
    }, 60_000);
    afterAll(async () => dockerd?.stop());

    it("docker load accepts the combined archive, gzip layers included, and reports lading's image IDs", async () => {
      const loaded = await dockerd.docker(["load", "-i", archives["both.tar"]!]);
      expect([loaded.code, loaded.stdout]).toEqual([0, "Loaded image: lading-testdata/oci:app\nLoaded image: lading-testdata/app:1.0\n"]);
      for (const image of [gzipImage, plainImage]) {
        const inspected = await dockerd.docker(["image", "inspect", "--format", "{{.Id}}", image.tag]);
        expect(inspected.stdout.trim()).toBe(image.config);
      }
    });

    it("docker load takes the combined archive compressed with gzip (--compress gzip)", async () => {
      const loaded = await dockerd.docker(["load", "-i", archives["both.tar.gz"]!]);
      expect([loaded.code, loaded.stdout]).toEqual([0, "Loaded image: lading-testdata/oci:app\nLoaded image: lading-testdata/app:1.0\n"]);
      const inspected = await dockerd.docker(["image", "inspect", "--format", "{{.Id}}", gzipImage.tag, plainImage.tag]);
      expect(inspected.stdout).toBe(`${gzipImage.config}\n${plainImage.config}\n`);
    });

    it("docker load takes a docker-layout archive whose index.json alone carries an untagged artifact: the image loads", async () => {
      const image = makeImage({ seed: "beside-artifact" });
      const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("sig\n", "application/vnd.example.payload"));
      const input = join(dir, "image-and-artifact.oci.tar");
      const entries = [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/beside-artifact:1" } }), descriptorOf(artifact)];
      writeFileSync(input, buildTar(ociLayoutItems([image], { indexEntries: entries, extraBlobs: artifactBlobs })));
      const output = join(dir, "image-and-artifact.docker.tar");
      expect((await runLading(["convert", "-q", input, output])).code).toBe(0);
      const loaded = await dockerd.docker(["load", "-i", output]);
      expect([loaded.code, loaded.stdout]).toEqual([0, "Loaded image: example/beside-artifact:1\n"]);
      const inspected = await dockerd.docker(["image", "inspect", "--format", "{{.Id}}", "example/beside-artifact:1"]);
      expect(inspected.stdout.trim()).toBe(image.config.digest);
    });
  });

  describe("containerd 1.6", () => {
    let containerd: Containerd;
    beforeAll(async () => {
      containerd = await startContainerd();
    }, 60_000);
    afterAll(async () => containerd?.stop());

    it("ctr images import takes the combined archive with lading's manifest digests", async () => {
      const imported = await containerd.ctr(["images", "import", archives["both.tar"]!]);
      expect(imported.code).toBe(0);
      const listed = await containerd.ctr(["images", "ls"]);
      const targets = Object.fromEntries(
        listed.stdout
          .trim()
          .split("\n")
          .slice(1)
          .map((line) => line.split(/\s+/))
          .map(([name, , digest]) => [name, digest]),
      );
      expect(targets).toEqual({ [gzipImage.full]: gzipImage.manifest, [plainImage.full]: plainImage.manifest });
    });
  });

  describe("podman 4.3", () => {
    // podman load reads a combined archive as docker-archive (manifest.json wins): it keeps the
    // config (image ID) but re-encodes the manifest, and, as with any docker save archive, it puts
    // familiar names without a registry under localhost/. From --format oci it reads index.json:
    // containerd names and lading's manifest digest are kept.
    async function withPodman(work: (pod: ReturnType<typeof podman>) => Promise<void>): Promise<void> {
      const root = makeTempDir("lading-podman-");
      try {
        await work(podman(root));
      } finally {
        await removeTree(root);
      }
    }

    it("podman load takes the combined archive with lading's image IDs", async () => {
      await withPodman(async (pod) => {
        const loaded = await pod.run(["load", "-i", archives["both.tar"]!]);
        expect(loaded.code).toBe(0);
        for (const image of [gzipImage, plainImage]) {
          const inspected = await pod.run(["image", "inspect", "--format", "{{.Id}}", `localhost/${image.tag}`]);
          expect(inspected.stdout.trim()).toBe(image.config.slice("sha256:".length));
        }
      });
    }, 60_000);

    // podman 4.3 (containers/image) reads a zstd archive as docker-archive, but not a gzip one:
    // "loading tar component manifest.json: unexpected EOF", whoever compressed it.
    it("podman load takes the combined archive compressed with zstd (--compress zstd)", async () => {
      await withPodman(async (pod) => {
        const loaded = await pod.run(["load", "-i", archives["both.tar.zst"]!]);
        expect(loaded.code).toBe(0);
        const inspected = await pod.run(["image", "inspect", "--format", "{{.Id}}", `localhost/${gzipImage.tag}`, `localhost/${plainImage.tag}`]);
        expect(inspected.stdout).toBe(`${gzipImage.config.slice("sha256:".length)}\n${plainImage.config.slice("sha256:".length)}\n`);
      });
    }, 60_000);

    it("podman load of an OCI archive keeps the full name, the image ID and lading's manifest digest", async () => {
      await withPodman(async (pod) => {
        const loaded = await pod.run(["load", "-i", archives["gzip-only.oci.tar"]!]);
        expect([loaded.code, loaded.stdout.trim().split("\n").at(-1)]).toEqual([0, `Loaded image: ${gzipImage.full}`]);
        const inspected = await pod.run(["image", "inspect", "--format", "{{.Id}} {{.Digest}}", gzipImage.full]);
        expect(inspected.stdout.trim()).toBe(`${gzipImage.config.slice("sha256:".length)} ${gzipImage.manifest}`);
      });
    }, 60_000);
  });

  describe("skopeo 1.9", () => {
    it("docker-archive: reads each image of the combined archive with lading's config", async () => {
      for (const image of [gzipImage, plainImage]) {
        const config = await run("skopeo", ["inspect", "--config", "--raw", `docker-archive:${archives["both.tar"]}:${image.tag}`]);
        expect([config.code, sha256(config.stdout)]).toEqual([0, image.config]);
      }
    });

    it("docker-archive: reads the combined archive compressed with zstd (--compress zstd)", async () => {
      for (const image of [gzipImage, plainImage]) {
        const config = await run("skopeo", ["inspect", "--config", "--raw", `docker-archive:${archives["both.tar.zst"]}:${image.tag}`]);
        expect([config.code, sha256(config.stdout)]).toEqual([0, image.config]);
      }
    });

    it("oci-archive: the manifest bytes are lading's, byte for byte", async () => {
      for (const [name, image] of [
        ["gzip-only.oci.tar", gzipImage],
        ["plain-only.oci.tar", plainImage],
      ] as const) {
        const raw = await run("skopeo", ["inspect", "--raw", `oci-archive:${archives[name]}`]);
        expect([raw.code, sha256(raw.stdout)]).toEqual([0, image.manifest]);
        const config = await run("skopeo", ["inspect", "--config", "--raw", `oci-archive:${archives[name]}`]);
        expect(sha256(config.stdout)).toBe(image.config);
      }
    });

    it("oci-archive:FILE:TAG finds an OCI manifest by its tag, not a Docker one, as lading's note on such a save says", async () => {
      const byTag = await run("skopeo", ["inspect", "--raw", `oci-archive:${archives["gzip-only.oci.tar"]}:app`]);
      expect([byTag.code, sha256(byTag.stdout)]).toEqual([0, gzipImage.manifest]);
      const dockerByTag = await run("skopeo", ["inspect", "--raw", `oci-archive:${archives["plain-only.oci.tar"]}:1.0`]);
      expect([dockerByTag.code, dockerByTag.stderr]).toEqual([1, expect.stringContaining(`no descriptor found for reference \\"1.0\\"`)]);
    });

    it("registry end to end: skopeo --preserve-digests pushes lading's OCI archive with the same digest", async () => {
      const registry = await startRegistry();
      try {
        const target = `docker://${registry.url}/lading/app:1`;
        const pushed = await run("skopeo", ["copy", "--dest-tls-verify=false", "--preserve-digests", `oci-archive:${archives["gzip-only.oci.tar"]}`, target]);
        expect([pushed.code, pushed.stderr]).toEqual([0, ""]);
        const raw = await run("skopeo", ["inspect", "--tls-verify=false", "--raw", target]);
        expect(sha256(raw.stdout)).toBe(gzipImage.manifest);
      } finally {
        await registry.stop();
      }
    }, 60_000);
  });
});
