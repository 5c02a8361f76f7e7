// loadArchive through the library API: every real fixture lands in the store with the tags, image
// IDs, RepoDigests, config digests and diff IDs the tools that made it recorded.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { LadingError } from "../../src/core/errors.js";
import { inspectImage, listImages } from "../../src/ops/images.js";
import { loadArchive, type LoadResult } from "../../src/ops/load.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { filesUnder, mismatchedBlobs, snapshotTree } from "../support/store-tree.js";
import {
  blobPath,
  buildTar,
  descriptorOf,
  DOCKER_FOREIGN_LAYER,
  dockerArchiveItems,
  FOREIGN_URLS,
  hexOf,
  layerTar,
  makeForeignImage,
  makeImage,
  ociLayoutItems,
  sha256,
  withoutFile,
  type TarItem,
  type TestImage,
} from "../support/archive-builder.js";

type TestLayer = TestImage["layers"][number];
import {
  configFacts,
  DERIVED_A_MANIFEST,
  DERIVED_B_MANIFEST,
  EXPECTED_LOADS,
  FIXTURES,
  GOOD_BASELINE_SYNTH,
  HAVE_FIXTURES,
  REPO_ROOT,
  sharedExpected,
  synthesizedDigest,
  type ExpectedImage,
} from "./load-expectations.js";
import { withDictionary, xzOf } from "../support/xz-streams.js";

const roots: string[] = [];
async function freshStore(): Promise<Store> {
  const root = await mkdtemp(join(tmpdir(), "lading-load-"));
  roots.push(root);
  return Store.open(root);
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function loadItems(store: Store, items: readonly TarItem[], options: Parameters<typeof loadArchive>[2] = {}): Promise<LoadResult> {
  const bytes = buildTar(items);
  return loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length), options);
}

async function load(store: Store, path: string, options: Parameters<typeof loadArchive>[2] = {}): Promise<LoadResult> {
  return loadArchive(store, await openArchivePath(join(REPO_ROOT, path)), options);
}

const repositoryOf = (reference: string): string => {
  const at = reference.indexOf("@");
  if (at !== -1) return reference.slice(0, at);
  return reference.slice(0, reference.lastIndexOf(":"));
};

/** The repositories.json document Docker would hold for these images. */
function repositoriesFor(images: ExpectedImage[]): { Repositories: Record<string, Record<string, string>> } {
  const repositories: Record<string, Record<string, string>> = {};
  for (const image of images) {
    for (const reference of [...image.repoTags, ...image.repoDigests]) {
      (repositories[repositoryOf(reference)] ??= {})[reference] = image.id;
    }
  }
  const sorted = (record: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
  return { Repositories: Object.fromEntries(Object.entries(repositories).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, refs]) => [name, sorted(refs)])) };
}

describe("loadArchive of every real fixture", () => {
  for (const expected of EXPECTED_LOADS) {
    it.skipIf(expected.shared && !HAVE_FIXTURES)(`${expected.path}`, async () => {
      const store = await freshStore();
      const result = await load(store, expected.path);

      expect(result.moved).toEqual([]);
      expect(result.images).toEqual(
        expected.images.map((image) => ({
          id: image.id,
          origin: image.origin,
          listedIn: image.listedIn,
          tags: image.repoTags,
          digests: image.repoDigests,
          configDigest: image.configDigests[0],
          platforms: image.platforms,
          absent: [],
        })),
      );

      const listed = await listImages(store);
      expect(listed.map((summary) => [summary.id, summary.configDigest, summary.origin, summary.repoTags, summary.repoDigests, summary.incomplete]).sort()).toEqual(
        expected.images.map((image) => [image.id, image.configDigests[0], image.origin, image.repoTags, image.repoDigests, []]).sort(),
      );

      for (const image of expected.images) {
        const inspected = await inspectImage(store, image.id);
        const facts = configFacts.get(image.configDigests[0] as string);
        expect(facts).toBeDefined();
        expect(inspected).toMatchObject({
          Id: image.id,
          RepoTags: image.repoTags,
          RepoDigests: image.repoDigests,
          ConfigDigest: image.configDigests[0],
          ManifestOrigin: image.origin,
          Architecture: facts?.architecture,
          Os: "linux",
          RootFS: { Type: "layers", Layers: facts?.diffIds },
          Platforms: image.platforms,
          AbsentPlatforms: [],
        });
        // The other platforms' configs list the diff IDs the tools recorded too.
        for (const configDigest of image.configDigests) {
          const config = JSON.parse((await store.content.readBuffer(configDigest, 1 << 20)).toString("utf8")) as { rootfs: { diff_ids: string[] } };
          expect(config.rootfs.diff_ids).toEqual(configFacts.get(configDigest)?.diffIds);
        }
      }

      const repositories = await readFile(store.paths.repositoriesJson, "utf8").catch(() => undefined);
      const wanted = repositoriesFor(expected.images);
      if (Object.keys(wanted.Repositories).length === 0) expect(repositories === undefined || repositories === '{"Repositories":{}}').toBe(true);
      else expect(repositories).toBe(JSON.stringify(wanted));
      expect(await filesUnder(store.paths.ingest)).toEqual([]);
      expect(await mismatchedBlobs(store.paths.root)).toEqual([]);
    });
  }
});

describe.skipIf(!HAVE_FIXTURES)("synthesised manifests", () => {
  it("docker-save images get the manifest containerd's importer writes (pinned by ctr-export.tar and by ctr import)", async () => {
    const fixtures = sharedExpected!.fixtures;
    const ctrIndex = fixtures["ctr-export.tar"]!.index!.manifests.map((entry) => [entry.annotations?.["io.containerd.image.name"], entry.digest]);
    expect(ctrIndex).toEqual([
      ["docker.io/fixture/derived-a:1.0", DERIVED_A_MANIFEST],
      ["docker.io/fixture/derived-b:1.0", DERIVED_B_MANIFEST],
    ]);
    const multi = fixtures["docker-save-multi.tar"]!;
    const multiPath = join(FIXTURES, "archives", "docker-save-multi.tar");
    expect(await Promise.all(multi.images.map((image) => synthesizedDigest(multiPath, image)))).toEqual([DERIVED_A_MANIFEST, DERIVED_B_MANIFEST]);

    for (const name of ["docker-save-single.tar", "skopeo-docker-archive.tar"]) {
      const expected = EXPECTED_LOADS.find((entry) => entry.path.endsWith(`/${name}`))!;
      const computed = await synthesizedDigest(join(FIXTURES, "archives", name), fixtures[name]!.images[0]!);
      expect(computed).toBe(expected.images[0]!.id);
    }

    expect(sharedExpected!.bad["GOOD-baseline.tar"]!.results).toContain(`unpacking docker.io/fixture/good:1 (${GOOD_BASELINE_SYNTH})...done`);
    const store = await freshStore();
    const result = await load(store, "../shared/fixtures/bad/GOOD-baseline.tar");
    expect(result.images.map((image) => [image.id, image.origin, image.tags, image.digests])).toEqual([[GOOD_BASELINE_SYNTH, "synthesized", ["fixture/good:1"], []]]);
  });
});

describe.skipIf(!HAVE_FIXTURES)("loading into a shared store", () => {
  it("every fixture into one store: the union of all tags, Docker's bytes", async () => {
    const store = await freshStore();
    for (const expected of EXPECTED_LOADS) await load(store, expected.path);
    const byId = new Map<string, ExpectedImage>();
    for (const image of EXPECTED_LOADS.flatMap((entry) => entry.images)) {
      const known = byId.get(image.id);
      byId.set(image.id, known ? { ...known, repoDigests: [...new Set([...known.repoDigests, ...image.repoDigests])] } : image);
    }
    expect(await readFile(store.paths.repositoriesJson, "utf8")).toBe(JSON.stringify(repositoriesFor([...byId.values()])));
    expect((await listImages(store)).map((summary) => summary.id).sort()).toEqual([...byId.keys()].sort());
  });

  it("loading the same archive twice leaves the store byte-for-byte as the first load left it", async () => {
    const store = await freshStore();
    await load(store, "../shared/fixtures/archives/ctr-export.tar");
    const before = await snapshotTree(store.paths.root);
    const again = await load(store, "../shared/fixtures/archives/ctr-export.tar");
    expect(again.moved).toEqual([]);
    expect(again.images.map((image) => image.tags)).toEqual([["fixture/derived-a:1.0"], ["fixture/derived-b:1.0"]]);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("a tag that moves is reported with the ID it leaves, like docker's 'renaming the old one'", async () => {
    const store = await freshStore();
    await load(store, "../shared/fixtures/archives/docker-save-single.tar");
    const result = await load(store, "../shared/fixtures/archives/skopeo-oci-archive.tar", { name: "fixture/imported" });
    const id = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";
    expect(result.moved).toEqual([{ reference: "fixture/imported:1.0", previousId: "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1" }]);
    expect(result.images.map((image) => [image.id, image.tags, image.digests])).toEqual([[id, ["fixture/imported:1.0"], [`fixture/imported@${id}`]]]);
    expect(await store.references.get("fixture/imported:1.0")).toBe(id);
    expect(await store.references.get("fixture/imported:latest")).toBe("sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1");
  });

  it("--name gives a bare ref.name tag its repository, and the archive's digest becomes a RepoDigest", async () => {
    const store = await freshStore();
    const result = await load(store, "../shared/fixtures/archives/skopeo-oci-archive.tar", { name: "localhost:5000/team/app" });
    const id = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";
    expect(result.images.map((image) => [image.tags, image.digests])).toEqual([[["localhost:5000/team/app:1.0"], [`localhost:5000/team/app@${id}`]]]);
    expect(await readFile(store.paths.repositoriesJson, "utf8")).toBe(
      `{"Repositories":{"localhost:5000/team/app":{"localhost:5000/team/app:1.0":"${id}","localhost:5000/team/app@${id}":"${id}"}}}`,
    );
  });

  it("--platform keeps one platform of an index: the index bytes are the image, the other child is recorded absent", async () => {
    const store = await freshStore();
    const result = await load(store, "../shared/fixtures/archives/oci-archive-multiplatform.tar", { platforms: [{ os: "linux", architecture: "arm64" }] });
    const id = "sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355";
    expect(result.images).toEqual([
      { id, origin: "archive", listedIn: "index.json", tags: [], digests: [], configDigest: "sha256:d7599c507646386b2df3f2f83fb186008d04e11eabb2784672a9668511cf3dbe", platforms: ["linux/arm64"], absent: ["linux/amd64"] },
    ]);
    expect(await store.content.has(id)).toBe(true);
    expect(await store.content.has("sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7")).toBe(false);
    expect(await store.content.has("sha256:586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11")).toBe(false);
    const inspected = await inspectImage(store, id);
    expect(inspected).toMatchObject({ Architecture: "arm64", ManifestDigest: "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171", AbsentPlatforms: ["linux/amd64"] });

    // Loading the rest later completes the same image.
    const rest = await load(store, "../shared/fixtures/archives/oci-archive-multiplatform.tar");
    expect(rest.images.map((image) => [image.platforms, image.absent])).toEqual([[["linux/amd64", "linux/arm64"], []]]);
    expect((await store.records.get(id))?.images.map((image) => image.platform).sort()).toEqual(["linux/amd64", "linux/arm64"]);
    expect((await store.records.get(id))?.absent).toEqual([]);
  });

  it("--platform naming a platform the archive lacks fails and changes nothing", async () => {
    const store = await freshStore();
    await load(store, "testdata/oci-archive.tar");
    const before = await snapshotTree(store.paths.root);
    await expect(load(store, "../shared/fixtures/archives/oci-archive-multiplatform.tar", { platforms: [{ os: "linux", architecture: "s390x" }] })).rejects.toMatchObject({
      kind: "not-found",
      message: "platform linux/s390x is not in the archive (it has linux/amd64, linux/arm64)",
    });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("a store whose blob and ingest directories were removed after it was opened still loads (a long-running server's store emptied under it)", async () => {
    const store = await freshStore();
    await rm(join(store.paths.root, "blobs"), { recursive: true });
    await rm(store.paths.ingest, { recursive: true });
    const result = await load(store, "../shared/fixtures/archives/ctr-export.tar");
    expect(result.images.map((image) => image.tags)).toEqual([["fixture/derived-a:1.0"], ["fixture/derived-b:1.0"]]);
    expect(await mismatchedBlobs(store.paths.root)).toEqual([]);
    const untouched = await freshStore();
    await load(untouched, "../shared/fixtures/archives/ctr-export.tar");
    expect(await filesUnder(join(store.paths.root, "blobs"))).toEqual(await filesUnder(join(untouched.paths.root, "blobs")));
  });

  it("a zero-byte layer and a gzip of nothing load as empty tars (docker and podman load them)", async () => {
    const store = await freshStore();
    const plain = makeImage({ layers: [Buffer.alloc(0)], seed: "plain" });
    const gzipped = makeImage({ layers: [Buffer.alloc(0)], gzip: true, seed: "gz" });
    const oci = await loadItems(store, ociLayoutItems([gzipped]));
    expect(oci.images.map((image) => [image.id, image.configDigest])).toEqual([[gzipped.manifest.digest, gzipped.config.digest]]);
    const docker = await loadItems(store, dockerArchiveItems([{ image: plain, repoTags: ["example/empty:1"] }]));
    expect(docker.images.map((image) => [image.tags, image.configDigest])).toEqual([[["example/empty:1"], plain.config.digest]]);
    expect(await inspectImage(store, "example/empty:1")).toMatchObject({ RootFS: { Type: "layers", Layers: [sha256("")] } });
    expect(await mismatchedBlobs(store.paths.root)).toEqual([]);
  });

  it("an image whose foreign layer the archive does not carry loads with the layer listed, absent, and no blob of it", async () => {
    const store = await freshStore();
    const image = makeForeignImage();
    const [foreign, own] = image.layers as [TestLayer, TestLayer];
    const result = await loadItems(store, withoutFile(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "example.com/win/app:1" } })] }), blobPath(foreign.digest)));
    expect(result.images.map((loaded) => [loaded.id, loaded.origin, loaded.tags, loaded.platforms])).toEqual([[image.manifest.digest, "archive", ["example.com/win/app:1"], ["windows/amd64"]]]);
    expect(result.warnings).toEqual([`${blobPath(image.manifest.digest)} layers[0]: foreign layer ${foreign.digest} is not in the archive; its diff ID ${foreign.diffId} is the config's, unchecked`]);
    expect((await store.records.get(image.manifest.digest))?.images[0]?.layers).toEqual([
      { mediaType: DOCKER_FOREIGN_LAYER, digest: foreign.digest, size: foreign.size, diffId: foreign.diffId, absent: true, urls: FOREIGN_URLS },
      { mediaType: own.mediaType, digest: own.digest, size: own.size, diffId: own.diffId },
    ]);
    expect(await store.content.has(foreign.digest)).toBe(false);
    expect(await filesUnder(join(store.paths.root, "blobs"))).toEqual([image.config.digest, image.manifest.digest, own.digest].map((digest) => blobPath(digest).slice("blobs/".length)).sort());
    expect(await inspectImage(store, "example.com/win/app:1")).toMatchObject({ Id: image.manifest.digest, RootFS: { Type: "layers", Layers: [foreign.diffId, own.diffId] } });
    expect((await listImages(store)).map((summary) => [summary.id, summary.incomplete])).toEqual([[image.manifest.digest, []]]);
  });

  it("a later archive that carries the foreign layer stores it, and the record no longer calls it absent", async () => {
    const store = await freshStore();
    const image = makeForeignImage();
    const foreign = image.layers[0]!;
    await loadItems(store, withoutFile(ociLayoutItems([image]), blobPath(foreign.digest)));
    await loadItems(store, ociLayoutItems([image]));
    expect(await store.content.has(foreign.digest, foreign.size)).toBe(true);
    expect((await store.records.get(image.manifest.digest))?.images[0]?.layers[0]).toEqual({ mediaType: DOCKER_FOREIGN_LAYER, digest: foreign.digest, size: foreign.size, diffId: foreign.diffId, urls: FOREIGN_URLS });
    // And the other way: an archive without it takes nothing from the record.
    await loadItems(store, withoutFile(ociLayoutItems([image]), blobPath(foreign.digest)));
    expect((await store.records.get(image.manifest.digest))?.images[0]?.layers[0]?.absent).toBeUndefined();
  });

  it("says so, as verify does, when an index entry's platform contradicts the config, and loads the image under the index's platform", async () => {
    const store = await freshStore();
    const image = makeImage({ gzip: true, seed: "platform" });
    const result = await loadItems(store, ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { platform: { os: "linux", architecture: "arm64", variant: "v8" } })] }));
    expect(result.images.map((loaded) => loaded.platforms)).toEqual([["linux/arm64"]]);
    // The store keeps the platform the image loads under, not the entry's: saving leaves it to the config.
    expect(result.warnings).toEqual([
      `index.json manifests[0]: the index gives platform linux/arm64/v8 but ${blobPath(image.config.digest)} is linux/amd64`,
      'index.json manifests[0]: platform {"architecture":"arm64","os":"linux","variant":"v8"} is not kept by the store (saving writes the entry without it)',
    ]);
  });

  it("an archive listing no image (valid, as verify says) loads nothing, with a warning, and leaves the store as it was", async () => {
    const store = await freshStore();
    await load(store, "testdata/oci-archive.tar");
    const before = await snapshotTree(store.paths.root);
    const fromManifestJson = await loadItems(store, [{ type: "file", name: "manifest.json", content: "[]" }]);
    expect(fromManifestJson).toEqual({ images: [], moved: [], format: "docker-archive", warnings: ["the archive holds no image: manifest.json lists none"] });
    const fromIndex = await loadItems(store, ociLayoutItems([], { indexEntries: [] }));
    expect(fromIndex).toEqual({ images: [], moved: [], format: "oci-layout", warnings: ["the archive holds no image: index.json lists none"] });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("an image whose root is addressed by sha512 is refused before anything is stored (the store names images by sha256), not stored where no name reaches it", async () => {
    const store = await freshStore();
    await load(store, "testdata/oci-archive.tar");
    const before = await snapshotTree(store.paths.root);
    const image = makeImage({ gzip: true, seed: "root512" });
    const digest512 = `sha512:${createHash("sha512").update(image.manifest.bytes).digest("hex")}`;
    const items: TarItem[] = [
      ...withoutFile(ociLayoutItems([image], { indexEntries: [{ ...descriptorOf(image.manifest), digest: digest512 }] }), blobPath(image.manifest.digest)),
      { type: "file", name: blobPath(digest512), content: image.manifest.bytes },
    ];
    await expect(loadItems(store, items)).rejects.toMatchObject({
      kind: "invalid",
      message: `index.json: image ${digest512} is addressed by sha512, but the store names images by sha256 digests, so it cannot be stored (verify and convert read it)`,
    });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("an xz layer or archive whose block header asks for a dictionary over 64 MiB is refused from that header, before anything is stored", async () => {
    const store = await freshStore();
    await load(store, "testdata/oci-archive.tar");
    const before = await snapshotTree(store.paths.root);
    const tar = layerTar({ "etc/data": "some data\n".repeat(500) });
    // Made with a 4 KiB dictionary: liblzma would decode it, once it had allocated 384 MiB.
    const crafted = makeImage({ storedLayers: [{ bytes: withDictionary(xzOf(tar, ["--lzma2=preset=0,dict=4KiB"]), 384 * 1024 * 1024), diffId: sha256(tar), mediaType: "application/vnd.docker.image.rootfs.diff.tar" }] });
    const items = dockerArchiveItems([{ image: crafted, repoTags: ["example/xz:1"] }]);
    await expect(loadItems(store, items)).rejects.toMatchObject({
      kind: "invalid",
      message: `manifest.json[0].Layers[0]: layer ${hexOf(crafted.layers[0]!.digest)}.tar: xz stream needs a 384 MiB dictionary, more than the limit of 64 MiB`,
    });
    const archive = withDictionary(xzOf(buildTar(dockerArchiveItems([{ image: makeImage({ seed: "xz" }), repoTags: ["example/xz:2"] }])), ["--lzma2=preset=0,dict=4KiB"]), 384 * 1024 * 1024);
    await expect(loadArchive(store, await openTarStream(Readable.from([archive]), archive.length))).rejects.toMatchObject({
      kind: "invalid",
      message: "xz archive needs a 384 MiB dictionary, more than the limit of 64 MiB",
    });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("an xz -9 layer (64 MiB dictionary) in an archive compressed by xz -9e in blocks (-T2) loads", async () => {
    const store = await freshStore();
    const tar = layerTar({ "etc/data": "some data\n".repeat(50_000) });
    const image = makeImage({ storedLayers: [{ bytes: xzOf(tar, ["-9"]), diffId: sha256(tar), mediaType: "application/vnd.docker.image.rootfs.diff.tar" }] });
    const archive = xzOf(buildTar(dockerArchiveItems([{ image, repoTags: ["example/xz:9"] }])), ["-9e", "-T2", "--block-size=64KiB"]);
    const result = await loadArchive(store, await openTarStream(Readable.from([archive]), archive.length));
    expect(result.images.map((loaded) => [loaded.tags, loaded.configDigest])).toEqual([[["example/xz:9"], image.config.digest]]);
    expect(await inspectImage(store, "example/xz:9")).toMatchObject({ RootFS: { Type: "layers", Layers: [sha256(tar)] } });
    expect(await mismatchedBlobs(store.paths.root)).toEqual([]);
  });

  // Regression: leases/ used to be created by the first load, even a failed one.
  it("a failed first load into a brand-new store adds nothing to it (not even leases/)", async () => {
    const store = await freshStore();
    const before = await snapshotTree(store.paths.root);
    await expect(load(store, "../shared/fixtures/bad/missing-config.tar")).rejects.toMatchObject({ kind: "invalid" });
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });
});

// Regression (fixed in 477ac38): openDirectory used to put each file's read stream into flowing
// mode when yielding it, so a consumer that awaited anything before reading lost the bytes
// ('size 0 does not match its header'). Waiting 20 ms before reading each body shows it.
it("an OCI layout directory's entry bodies keep their bytes until the reader gets to them", async () => {
  const source = await openArchivePath(join(REPO_ROOT, "testdata", "oci-layout"));
  const sizes: [string, number, number][] = [];
  for await (const entry of source.entries) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    let read = 0;
    for await (const chunk of entry.body) read += (chunk as Buffer).length;
    sizes.push([entry.name, entry.size, read]);
  }
  expect(sizes.filter(([, size, read]) => size !== read)).toEqual([]);
});

describe("an input stream that fails", () => {
  // A 200 KiB layer, so that the stream fails inside the archive, past its first entries.
  const archive = buildTar(ociLayoutItems([makeImage({ layers: [layerTar({ "data.bin": "x".repeat(200 * 1024) })] })]));

  /** The archive's first 64 KiB, plain or gzip-compressed, then the stream is destroyed as a dropped connection would be. */
  function reset(compress: boolean): Readable {
    const input = new Readable({ read: () => undefined });
    input.push((compress ? gzipSync(archive) : archive).subarray(0, 64 * 1024));
    setTimeout(() => input.destroy(new Error("network reset")), 20);
    return input;
  }

  it("fails load with one line, kind io, and leaves the store as it was; verify reports it as the archive's problem", async () => {
    const store = await freshStore();
    await loadItems(store, ociLayoutItems([makeImage({ layers: [layerTar({ "kept.txt": "kept" })] })]));
    const before = await snapshotTree(store.paths.root);
    const outcomes: string[] = [];
    for (const compress of [false, true]) {
      const error = await loadArchive(store, await openTarStream(reset(compress))).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      outcomes.push(`${error instanceof LadingError ? error.kind : "untyped"}: ${(error as Error).message}`);
      const report = await verifyArchive(await openTarStream(reset(compress)));
      expect([report.valid, report.problems]).toEqual([false, [{ entry: "(archive)", message: "reading the archive failed: network reset" }]]);
    }
    expect(outcomes).toEqual(["io: reading the archive failed: network reset", "io: reading the archive failed: network reset"]);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });
});
