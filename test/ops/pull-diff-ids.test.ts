// pull checks every layer's diff ID against its config as load does, against the real
// docker-registry (which checks none): gzip, zstd and uncompressed layers; the records it writes
// are load's; a config that lies fails the pull in load's words with the store left byte-identical;
// --skip-diff-id-check pulls it as skopeo would and save then warns; a layer already stored is
// settled by its record, or read from the store when it has none; a foreign layer is carried
// unchecked, as before.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compress as zstdCompress } from "zstd-napi";
import { DEFAULT_LIMITS } from "../../src/archive/read.js";
import { openTarStream } from "../../src/archive/source.js";
import { main } from "../../src/cli/main.js";
import { isLadingError } from "../../src/core/errors.js";
import { loadArchive } from "../../src/ops/load.js";
import { PullDiffIdCheck } from "../../src/ops/pull-diff-ids.js";
import { pullImages } from "../../src/ops/pull.js";
import type { RegistryClientFactory } from "../../src/ops/registry-access.js";
import { RegistryClient } from "../../src/registry/client.js";
import type { PlatformImage } from "../../src/store/image-records.js";
import { Store } from "../../src/store/store.js";
import { makeTempDir, removeTree, requirePeers, startRegistry, type Registry } from "../support/peers.js";
import { withDictionary, xzOf } from "../support/xz-streams.js";
import { snapshotTree } from "../support/store-tree.js";
import {
  blobOf,
  blobPath,
  buildTar,
  capturingTerminal,
  descriptorOf,
  FOREIGN_URLS,
  hexOf,
  layerTar,
  makeForeignImage,
  makeImage,
  OCI_MANIFEST,
  ociLayoutItems,
  sha256,
  type CliResult,
  type TestImage,
} from "../support/archive-builder.js";

const ready = requirePeers("docker-registry");

const client: RegistryClientFactory = (host) => new RegistryClient(host, { retryDelayMs: 10, credentials: async () => undefined });

/** Text that compresses about 2:1, so the big layer arrives in many of the client's batches. */
function noise(bytes: number, seed: string): string {
  const parts: string[] = [];
  let block = createHash("sha256").update(seed).digest();
  for (let made = 0; made < bytes; made += 64) {
    block = createHash("sha256").update(block).digest();
    parts.push(block.toString("hex"));
  }
  return parts.join("").slice(0, bytes);
}

const SMALL = layerTar({ "etc/hello.txt": "hello\n" });
const BIG = layerTar({ "opt/data.txt": noise(3 << 20, "big") });
const WRONG_DIFF_ID = sha256("not the layer");
const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

/** The diff ID the config lists for the second layer replaced by a wrong one. */
const lyingAbout = (config: Record<string, unknown>): Record<string, unknown> => {
  const rootfs = config.rootfs as { diff_ids: string[] };
  return { ...config, rootfs: { type: "layers", diff_ids: [rootfs.diff_ids[0], WRONG_DIFF_ID] } };
};

const GZIP = makeImage({ layers: [SMALL, BIG], gzip: true });
const GZIP_LYING = makeImage({ layers: [SMALL, BIG], gzip: true, editConfig: lyingAbout });
const ZSTD_LAYERS = [SMALL, BIG].map((tar) => ({ bytes: zstdCompress(tar), diffId: sha256(tar), mediaType: OCI_LAYER_ZSTD }));
const ZSTD = makeImage({ storedLayers: ZSTD_LAYERS });
const ZSTD_LYING = makeImage({ storedLayers: ZSTD_LAYERS, editConfig: lyingAbout });
const PLAIN = makeImage({ layers: [SMALL, BIG] });
const PLAIN_LYING = makeImage({ layers: [SMALL, BIG], editConfig: lyingAbout });

/** Uploads the image's blobs and puts its manifest under `repository:tag`, as a registry client would. */
async function pushTestImage(registry: string, repository: string, tag: string, image: TestImage): Promise<void> {
  const registryClient = client(registry);
  for (const blob of [image.config, ...image.layers]) await registryClient.uploadBlob(repository, blob, () => Readable.from([blob.bytes]));
  await registryClient.putManifest(repository, tag, image.manifest.bytes, image.manifest.mediaType);
}

/** `lading --root ROOT ...` in process, as the CLI's main() runs it. */
async function lading(root: string, ...args: string[]): Promise<CliResult> {
  const captured = capturingTerminal();
  const code = await main(["node", "lading", "--root", root, ...args], captured.terminal);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

function archiveOf(image: TestImage, name: string): Buffer {
  return buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name } })] }));
}

async function loadInto(store: Store, image: TestImage, name: string, checkCompressedLayers = true): Promise<void> {
  const bytes = archiveOf(image, name);
  await loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length), { checkCompressedLayers });
}

/** The message a load gives for the lying image's second layer, and the one a pull gives for it. */
function loadMessage(image: TestImage): string {
  const [, layer] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
  return `${blobPath(image.manifest.digest)} layers[1]: layer ${blobPath(layer.digest)} has diff ID ${sha256(BIG)}, but ${blobPath(image.config.digest)} rootfs.diff_ids[1] is ${WRONG_DIFF_ID}`;
}
function pullMessage(image: TestImage, reference: string, recordSays = ""): string {
  const [, layer] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
  return `manifest ${image.manifest.digest} of ${reference} layers[1]: layer ${layer.digest} has diff ID ${sha256(BIG)}${recordSays}, but config ${image.config.digest} rootfs.diff_ids[1] is ${WRONG_DIFF_ID}`;
}

/** A layer tar a load refuses: its one entry's name escapes the root. */
const EVIL_TAR = layerTar({ "../evil": "x\n" });

/** An OCI archive of one artifact manifest, named `name`, whose one layer is `payload`: the store then holds it as no image's layer. */
async function artifactCarrying(dir: string, payload: Buffer, name: string): Promise<string> {
  const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
  const blob = blobOf(payload, "application/vnd.example.payload");
  const artifact = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example", config: descriptorOf(empty), layers: [descriptorOf(blob)] }), OCI_MANIFEST);
  const file = join(dir, `artifact-${sha256(name).slice(7, 19)}.tar`);
  await writeFile(file, buildTar(ociLayoutItems([], { indexEntries: [descriptorOf(artifact, { annotations: { "io.containerd.image.name": name } })], extraBlobs: [artifact, empty, blob] })));
  return file;
}

/** A Windows-shaped image whose first layer is an uncompressed foreign layer (`tar`, with urls), its diff ID its digest. */
function uncompressedForeign(tar: Buffer): TestImage {
  const own = layerTar({ "Files/own.txt": "own\n" });
  return makeImage({
    storedLayers: [
      { bytes: tar, diffId: sha256(tar), mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar" },
      { bytes: own, diffId: sha256(own), mediaType: "application/vnd.oci.image.layer.v1.tar" },
    ],
    editConfig: (config) => ({ ...config, os: "windows" }),
    editManifest: (manifest) => {
      const [foreign, ownLayer] = manifest.layers as Record<string, unknown>[];
      return { ...manifest, layers: [{ ...foreign, urls: FOREIGN_URLS }, ownLayer] };
    },
  });
}

const UNCHECKED_TWO = "2 layers whose diff IDs were never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check them";

describe.skipIf(!ready)("pull checks diff IDs as load does (docker-registry 2.8)", () => {
  let dir: string;
  let registry: Registry;
  let counter = 0;
  const newRoot = (): string => join(dir, `root-${counter++}`);

  beforeAll(async () => {
    dir = makeTempDir("lading-pull-diff-ids-");
    registry = await startRegistry();
    await pushTestImage(registry.url, "gzip/app", "1", GZIP);
    await pushTestImage(registry.url, "gzip/app", "lying", GZIP_LYING);
    await pushTestImage(registry.url, "zstd/app", "1", ZSTD);
    await pushTestImage(registry.url, "zstd/app", "lying", ZSTD_LYING);
    await pushTestImage(registry.url, "plain/app", "1", PLAIN);
    await pushTestImage(registry.url, "plain/app", "lying", PLAIN_LYING);
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    if (dir) await removeTree(dir);
  });

  it("gzip, zstd and uncompressed layers pass, the compressed ones are recorded as a load records them, and save warns of nothing", async () => {
    const root = newRoot();
    for (const repository of ["gzip/app", "zstd/app", "plain/app"]) {
      const pulled = await lading(root, "pull", "-q", `${registry.url}/${repository}:1`);
      expect(pulled).toEqual({ code: 0, stdout: `${registry.url}/${repository}:1\n`, stderr: "" });
    }
    // The same bytes a load writes: a load of the same images into another store.
    const loaded = await Store.open(newRoot());
    for (const image of [GZIP, ZSTD, PLAIN]) await loadInto(loaded, image, `example.com/loaded:${image.manifest.digest.slice(7, 19)}`);
    const pulledRecords = await snapshotTree(join(root, "diffids"));
    expect(pulledRecords).toEqual(await snapshotTree(loaded.paths.diffIds));
    for (const image of [GZIP, ZSTD]) {
      for (const [index, tar] of [SMALL, BIG].entries()) {
        expect(await readFile(join(root, "diffids", "sha256", hexOf(image.layers[index]!.digest)), "utf8")).toBe(`${sha256(tar)} ${tar.length} layer-checked\n`);
      }
    }
    // Four records: the uncompressed layers are their own diff IDs.
    expect(Object.keys(pulledRecords).filter((name) => name.startsWith("sha256/"))).toHaveLength(4);

    for (const repository of ["gzip/app", "zstd/app", "plain/app"]) {
      const saved = await lading(root, "save", "-q", "-o", join(dir, `saved-${counter++}.tar`), `${registry.url}/${repository}:1`);
      expect(saved).toEqual({ code: 0, stdout: "", stderr: "" });
    }
  });

  it("a config that lists a wrong diff ID fails the pull in load's words, and the store is left byte-identical", async () => {
    for (const [repository, image] of [
      ["gzip/app", GZIP_LYING],
      ["zstd/app", ZSTD_LYING],
      ["plain/app", PLAIN_LYING],
    ] as const) {
      const reference = `${registry.url}/${repository}:lying`;
      const root = newRoot();
      const store = await Store.open(root);
      await loadInto(store, makeImage({ seed: "already here", gzip: true }), "example.com/here:1");
      const before = await snapshotTree(root);

      const loadFailure = await loadInto(await Store.open(newRoot()), image, "example.com/lying:1").catch((error: unknown) => error);
      expect(isLadingError(loadFailure) && loadFailure.message).toBe(loadMessage(image));

      const pulled = await lading(root, "pull", reference);
      expect(pulled).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${pullMessage(image, reference)}\n` });
      expect(await snapshotTree(root)).toEqual(before);
    }
  });

  it("--skip-diff-id-check pulls a compressed layer whose diff ID is wrong, as skopeo does; save then warns of it", async () => {
    for (const [repository, image] of [
      ["gzip/app", GZIP_LYING],
      ["zstd/app", ZSTD_LYING],
    ] as const) {
      const reference = `${registry.url}/${repository}:lying`;
      const root = newRoot();
      const pulled = await lading(root, "pull", "-q", "--skip-diff-id-check", reference);
      expect(pulled).toEqual({ code: 0, stdout: `${reference}\n`, stderr: "" });
      // Nothing was decompressed, so nothing is recorded.
      const store = await Store.open(root);
      for (const layer of image.layers) expect(await store.diffIds.get(layer.digest)).toBeUndefined();
      const saved = await lading(root, "save", "-q", "-o", join(dir, `skipped-${counter++}.tar`), reference);
      expect(saved).toEqual({ code: 0, stdout: "", stderr: `warning: ${reference} has ${UNCHECKED_TWO}\n` });
    }
    // An uncompressed layer's digest is its diff ID: that much is checked all the same, as load does.
    const reference = `${registry.url}/plain/app:lying`;
    const plain = await lading(newRoot(), "pull", "--skip-diff-id-check", reference);
    expect(plain).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${pullMessage(PLAIN_LYING, reference)}\n` });
  });

  it("a layer already stored is not downloaded: its record settles it, or without one it is read from the store and then recorded", async () => {
    const reference = `${registry.url}/gzip/app:1`;
    const lying = `${registry.url}/gzip/app:lying`;
    const [small, big] = GZIP.layers as [TestImage["layers"][number], TestImage["layers"][number]];

    // Loaded without the check: no record. A pull of a config that contradicts the layer fails.
    const unrecorded = await Store.open(newRoot());
    await loadInto(unrecorded, GZIP, "example.com/skipped:1", false);
    const before = await snapshotTree(unrecorded.paths.root);
    const failure = await pullImages(unrecorded, [lying], { client }).catch((error: unknown) => error);
    expect(isLadingError(failure) && [failure.kind, failure.message]).toEqual(["invalid", pullMessage(GZIP_LYING, lying)]);
    expect(await snapshotTree(unrecorded.paths.root)).toEqual(before);
    // One whose config agrees passes; the layers, read from the store, are now recorded.
    const pulled = await pullImages(unrecorded, [reference], { client });
    expect([pulled.fetchedBlobs, pulled.images[0]?.layers.map((layer) => layer.status)]).toEqual([0, ["Already exists", "Already exists"]]);
    expect(await unrecorded.diffIds.get(small.digest)).toEqual({ diffId: sha256(SMALL), size: SMALL.length, layerChecked: true });
    expect(await unrecorded.diffIds.get(big.digest)).toEqual({ diffId: sha256(BIG), size: BIG.length, layerChecked: true });
    const saved = await lading(unrecorded.paths.root, "save", "-q", "-o", join(dir, `stored-${counter++}.tar`), "example.com/skipped:1");
    expect(saved).toEqual({ code: 0, stdout: "", stderr: "" });

    // Loaded with the check: the record settles it, in load's words.
    const recorded = await Store.open(newRoot());
    await loadInto(recorded, GZIP, "example.com/checked:1");
    const recordedBefore = await snapshotTree(recorded.paths.root);
    const record = recorded.diffIds.recordPath(big.digest) as string;
    const againstRecord = await pullImages(recorded, [lying], { client }).catch((error: unknown) => error);
    expect(isLadingError(againstRecord) && againstRecord.message).toBe(pullMessage(GZIP_LYING, lying, ` (as the store's record ${record} says)`));
    expect(await snapshotTree(recorded.paths.root)).toEqual(recordedBefore);
  });

  it("a stored blob no image lists as a layer (an artifact's) is read as a download would be: a pull of an image listing it fails as in a fresh store, also with --skip-diff-id-check", async () => {
    const evil = makeImage({ layers: [EVIL_TAR], seed: "evil" });
    await pushTestImage(registry.url, "evil/app", "1", evil);
    const reference = `${registry.url}/evil/app:1`;
    const message = `manifest ${evil.manifest.digest} of ${reference} layers[0]: layer ${evil.layers[0]!.digest}: layer tar entry "../evil" escapes the root`;
    for (const flags of [[], ["--skip-diff-id-check"]]) {
      const fresh = await lading(newRoot(), "pull", ...flags, reference);
      expect(fresh).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${message}\n` });
      const root = newRoot();
      const loaded = await lading(root, "load", "-q", "-i", await artifactCarrying(dir, EVIL_TAR, "example.com/art:1"));
      expect(loaded.code).toBe(0);
      const before = await snapshotTree(root);
      expect(await lading(root, "pull", ...flags, reference)).toEqual(fresh);
      expect(await snapshotTree(root)).toEqual(before);
    }
  });

  it("an uncompressed foreign layer a pull carried is unchecked until fsck reads it: save warns, fsck reports one a load would refuse and records one that passes", async () => {
    const windows = await startRegistry({ allowLayerUrls: true });
    try {
      for (const [name, tar, bad] of [
        ["good", layerTar({ "Files/base.txt": "base\n" }), false],
        ["evil", EVIL_TAR, true],
      ] as const) {
        const image = uncompressedForeign(tar);
        await pushTestImage(windows.url, `win/${name}`, "1", image);
        const reference = `${windows.url}/win/${name}:1`;
        const root = newRoot();
        expect(await lading(root, "pull", "-q", "--platform", "windows/amd64", reference)).toEqual({ code: 0, stdout: `${reference}\n`, stderr: "" });
        const oneUnchecked = `warning: ${reference} has 1 layer whose diff ID was never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check it\n`;
        expect(await lading(root, "save", "-q", "-o", join(dir, `win-${counter++}.tar`), reference)).toEqual({ code: 0, stdout: "", stderr: oneUnchecked });
        const fsck = await lading(root, "fsck", "--json");
        const report = JSON.parse(fsck.stdout) as { diffIdsRecorded: number; problems: { kind: string; message: string }[] };
        const foreign = image.layers[0]!;
        const store = await Store.open(root);
        if (bad) {
          expect([fsck.code, report.diffIdsRecorded, report.problems.map((problem) => [problem.kind, problem.message])]).toEqual([
            1,
            0,
            [["bad-layer", `image ${image.manifest.digest}: layer ${foreign.digest}: layer tar entry "../evil" escapes the root`]],
          ]);
          expect(await store.diffIds.get(foreign.digest)).toBeUndefined();
        } else {
          expect([fsck.code, report.diffIdsRecorded, report.problems]).toEqual([0, 1, []]);
          expect(await store.diffIds.get(foreign.digest)).toEqual({ diffId: foreign.digest, size: tar.length, layerChecked: true });
          expect(await lading(root, "save", "-q", "-o", join(dir, `win-${counter++}.tar`), reference)).toEqual({ code: 0, stdout: "", stderr: "" });
        }
      }
    } finally {
      await windows.stop();
    }
  });

  it("a stored layer whose record gives a decompressed size over the pull's limit (a load with a higher --max-layer-size wrote it) is refused as its download would be", async () => {
    const reference = `${registry.url}/gzip/app:1`;
    const big = GZIP.layers[1]!;
    const store = await Store.open(newRoot());
    await loadInto(store, GZIP, "example.com/loaded:1");
    const overLimit = DEFAULT_LIMITS.maxLayerBytes + 1;
    await writeFile(store.diffIds.recordPath(big.digest) as string, `${sha256(BIG)} ${overLimit} layer-checked\n`);
    const before = await snapshotTree(store.paths.root);
    const failure = await pullImages(store, [reference], { client }).catch((error: unknown) => error);
    expect(isLadingError(failure) && failure.message).toBe(`manifest ${GZIP.manifest.digest} of ${reference} layers[1]: layer ${big.digest}: decompressed size exceeds the limit of ${DEFAULT_LIMITS.maxLayerBytes} bytes`);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("an uncompressed layer one image lists as foreign is vouched for by another that lists it as a layer: a save of the first does not warn of it, and fsck has nothing to say", async () => {
    const windows = await startRegistry({ allowLayerUrls: true });
    try {
      const shared = layerTar({ "Files/base.txt": "shared\n" });
      const foreignImage = uncompressedForeign(shared);
      await pushTestImage(windows.url, "win/shared", "1", foreignImage);
      const reference = `${windows.url}/win/shared:1`;
      const root = newRoot();
      await loadInto(await Store.open(root), makeImage({ layers: [shared] }), "example.com/plain:1");
      expect(await lading(root, "pull", "-q", "--platform", "windows/amd64", reference)).toEqual({ code: 0, stdout: `${reference}\n`, stderr: "" });
      expect(await lading(root, "save", "-q", "-o", join(dir, `shared-${counter++}.tar`), reference)).toEqual({ code: 0, stdout: "", stderr: "" });
      const fsck = await lading(root, "fsck");
      expect(fsck.code).toBe(0);
    } finally {
      await windows.stop();
    }
  });

  it("an unreadable record of another image does not fail a pull that looks for what vouches for a stored layer (fsck reports it)", async () => {
    const reference = `${registry.url}/plain/app:1`;
    const store = await Store.open(newRoot());
    await loadInto(store, PLAIN, "example.com/plain:1");
    const other = makeImage({ seed: "other" });
    await loadInto(store, other, "example.com/other:1");
    await writeFile(join(store.paths.images, `sha256-${hexOf(other.manifest.digest)}.json`), "{broken");
    const pulled = await pullImages(store, [reference], { client });
    expect(pulled.images.map((image) => image.layers.map((layer) => layer.status))).toEqual([["Already exists", "Already exists"]]);
  });

  it("a stored layer whose only record an earlier lading wrote (no layer-checked mark) is read from the store again, and its record rewritten", async () => {
    const reference = `${registry.url}/gzip/app:1`;
    const big = GZIP.layers[1]!;
    const store = await Store.open(newRoot());
    await loadInto(store, GZIP, "example.com/loaded:1");
    const record = store.diffIds.recordPath(big.digest) as string;
    await writeFile(record, `${sha256(BIG)} ${BIG.length}\n`);
    const lying = `${registry.url}/gzip/app:lying`;
    const failure = await pullImages(store, [lying], { client }).catch((error: unknown) => error);
    expect(isLadingError(failure) && failure.message).toBe(pullMessage(GZIP_LYING, lying));
    await pullImages(store, [reference], { client });
    expect(await readFile(record, "utf8")).toBe(`${sha256(BIG)} ${BIG.length} layer-checked\n`);
  });

  it("a foreign layer keeps its handling: pulled with its digest checked, its diff ID taken from the config", async () => {
    const windows = await startRegistry({ allowLayerUrls: true });
    try {
      const image = makeForeignImage(undefined, "pull");
      const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
      await pushTestImage(windows.url, "win/app", "1", image);
      const root = newRoot();
      const reference = `${windows.url}/win/app:1`;
      const pulled = await lading(root, "pull", "-q", "--platform", "windows/amd64", reference);
      expect(pulled).toEqual({ code: 0, stdout: `${reference}\n`, stderr: "" });
      const store = await Store.open(root);
      expect([await store.diffIds.get(foreign.digest), await store.diffIds.get(own.digest)]).toEqual([undefined, { diffId: own.diffId, size: expect.any(Number), layerChecked: true }]);
      const saved = await lading(root, "save", "-q", "-o", join(dir, `foreign-${counter++}.tar`), reference);
      expect(saved).toEqual({
        code: 0,
        stdout: "",
        stderr: `warning: ${reference} has 1 layer whose diff ID was never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check it\n`,
      });
    } finally {
      await windows.stop();
    }
  });

  it("an xz layer a registry serves as gzip is refused from its first bytes, before any of it is decompressed, and the store is left byte-identical", async () => {
    // One layer shorter than the probe's sniff, one arriving in many batches whose block header asks
    // for a 384 MiB dictionary: decompressing it is refused too, so the message shows which check ran first.
    for (const [tag, tar, bytes] of [
      ["xz", SMALL, xzOf(SMALL)],
      ["xz-dictionary", BIG, withDictionary(xzOf(BIG), 384 << 20)],
    ] as const) {
      const image = makeImage({ storedLayers: [{ bytes, diffId: sha256(tar), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" }], seed: tag });
      await pushTestImage(registry.url, "mislabelled/app", tag, image);
      const reference = `${registry.url}/mislabelled/app:${tag}`;
      const root = newRoot();
      const store = await Store.open(root);
      await loadInto(store, makeImage({ seed: "already here", gzip: true }), "example.com/here:1");
      const before = await snapshotTree(root);
      const layer = image.layers[0]!.digest;
      expect(await lading(root, "pull", reference)).toEqual({
        code: 1,
        stdout: "",
        stderr: `lading: error: manifest ${image.manifest.digest} of ${reference} layers[0]: media type application/vnd.oci.image.layer.v1.tar+gzip says gzip but ${layer} is xz\n`,
      });
      expect(await snapshotTree(root)).toEqual(before);
    }
  });
});

// docker-registry 2.8 stores every blob under its sha256 (an upload by sha512 is answered with the
// sha256), so a layer addressed by sha512 is pulled from registries that keep it; the check that
// follows its download is the same, and is run here on the bytes directly.
describe("what a pull records for a layer addressed by sha512", () => {
  it("an uncompressed layer checked on download is recorded as a load records it (save asks for that record)", async () => {
    const plain = makeImage({ layers: [BIG], seed: "pulled sha512" });
    const layer = plain.layers[0]!;
    const layer512 = `sha512:${createHash("sha512").update(layer.bytes).digest("hex")}`;
    const root = makeTempDir("lading-pull-sha512-");
    const store = await Store.open(root);
    const check = new PullDiffIdCheck(store, true);
    const image: PlatformImage = {
      platform: "linux/amd64",
      manifest: { mediaType: plain.manifest.mediaType, digest: plain.manifest.digest, size: plain.manifest.size },
      config: { mediaType: plain.config.mediaType, digest: plain.config.digest, size: plain.config.size },
      layers: [{ mediaType: layer.mediaType, digest: layer512, size: layer.bytes.length, diffId: sha256(BIG) }],
    };
    check.claimLayers(image, "example.com/s512:1");
    const probe = check.probe(layer512)!;
    for (let at = 0; at < layer.bytes.length; at += 256 << 10) await probe.push(layer.bytes.subarray(at, at + (256 << 10)));
    await check.checkDownloaded({ digest: layer512, size: layer.bytes.length }, probe);
    await check.record();
    expect(await readFile(join(root, "diffids", "sha512", hexOf(layer512)), "utf8")).toBe(`${sha256(BIG)} ${BIG.length} layer-checked\n`);
    await removeTree(root);
  });
});
