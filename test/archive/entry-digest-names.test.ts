// Which archive entry names give their content a digest: one rule (digestNamedBy) for the load's
// shortcuts, the blob-name check of every OCI layout blob and manifest.json's configs and layers.
// Before it there were three, which disagreed; each disagreement has a case below.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { digestNamedBy } from "../../src/archive/names.js";
import { openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import {
  DOCKER_FOREIGN_LAYER,
  FOREIGN_URLS,
  blobItem,
  blobPath,
  buildTar,
  descriptorOf,
  hexOf,
  makeForeignImage,
  makeImage,
  sha256,
  verifyItems,
  type TarItem,
} from "../support/archive-builder.js";
import { filesUnder } from "../support/store-tree.js";

const HEX = "0123456789abcdef".repeat(4);
const HEX128 = HEX.repeat(2);
const V1ID = "f".repeat(64);

describe("digestNamedBy", () => {
  it.each([
    // OCI layout (docker-save shape 4)
    [`blobs/sha256/${HEX}`, `sha256:${HEX}`],
    [`blobs/sha512/${HEX128}`, `sha512:${HEX128}`],
    [`./blobs/sha256/${HEX}`, `sha256:${HEX}`],
    // skopeo (shape 2) and legacy docker (shape 1) configs and layers
    [`${HEX}.tar`, `sha256:${HEX}`],
    [`${HEX}.json`, `sha256:${HEX}`],
    // crane (shape 3)
    [`${HEX}.tar.gz`, `sha256:${HEX}`],
    [`sha256:${HEX}`, `sha256:${HEX}`],
    [`sha256:${HEX}.tar.gz`, `sha256:${HEX}`],
    [`./sha256:${HEX}.json`, `sha256:${HEX}`],
    [HEX, `sha256:${HEX}`],
    // the last component counts wherever it stands (outside blobs/<alg>/)
    [`dir/${HEX}.json`, `sha256:${HEX}`],
    [`dir/${HEX}.tar`, `sha256:${HEX}`],
    // no digest: legacy v1 IDs, metadata, other suffixes and spellings
    [`${V1ID}/layer.tar`, undefined],
    [`${V1ID}/json`, undefined],
    [`${V1ID}/VERSION`, undefined],
    ["manifest.json", undefined],
    ["index.json", undefined],
    ["oci-layout", undefined],
    ["repositories", undefined],
    [`${HEX}.tar.zst`, undefined],
    [`${HEX}.TAR`, undefined],
    [`${HEX.toUpperCase()}.tar`, undefined],
    [`${HEX.slice(1)}.tar`, undefined],
    [`${HEX}0.tar`, undefined],
    [`sha512:${HEX128}`, undefined],
    [`md5:${HEX}.tar`, undefined],
    [`blobs/sha256/${HEX}/layer.tar`, undefined],
  ])("%s gives %s", (name, digest) => {
    expect(digestNamedBy(name)).toBe(digest);
  });

  it.each([
    [`blobs/sha256/${HEX.toUpperCase()}`, `blobs/sha256/${HEX.toUpperCase()}: invalid sha256 digest "sha256:${HEX.toUpperCase()}" (want 64 lowercase hex digits)`],
    [`blobs/sha256/${HEX.slice(1)}`, `blobs/sha256/${HEX.slice(1)}: invalid sha256 digest "sha256:${HEX.slice(1)}" (want 64 lowercase hex digits)`],
    [`blobs/sha512/${HEX}`, `blobs/sha512/${HEX}: invalid sha512 digest "sha512:${HEX}" (want 128 lowercase hex digits)`],
    [`blobs/md5/${HEX.slice(32)}`, `blobs/md5/${HEX.slice(32)}: unsupported digest algorithm "md5" in "md5:${HEX.slice(32)}"`],
    [`blobs/SHA256/${HEX}`, `blobs/SHA256/${HEX}: invalid digest "SHA256:${HEX}"`],
    [`../${HEX}.tar`, `unsafe entry name "../${HEX}.tar": ".." component`],
    [`blobs/sha256/../${HEX}`, `unsafe entry name "blobs/sha256/../${HEX}": ".." component`],
    [`/blobs/sha256/${HEX}`, `unsafe entry name "/blobs/sha256/${HEX}": absolute path`],
  ])("%s is refused", (name, message) => {
    expect(() => digestNamedBy(name)).toThrow(message);
  });
});

// The three places disagreed; each case below failed (or passed where it now fails) before.
describe("manifest.json paths are checked by the one rule", () => {
  const image = makeImage({ seed: "names" });
  const layer = image.layers[0]!;
  const other = makeImage({ seed: "other" }).layers[0]!;
  const configName = `${hexOf(image.config.digest)}.json`;
  const archive = (files: Record<string, Buffer>, config: string, layers: string[], links: Record<string, string> = {}): TarItem[] => [
    ...Object.entries(files).map(([name, content]): TarItem => ({ type: "file", name, content })),
    ...Object.entries(links).map(([name, target]): TarItem => ({ type: "symlink", name, target })),
    { type: "file", name: "manifest.json", content: JSON.stringify([{ Config: config, RepoTags: null, Layers: layers }]) },
  ];

  it("a layer named <hex>.json, sha256:<hex> or <hex> (config names) must hold that digest", async () => {
    for (const name of [`${hexOf(other.digest)}.json`, `sha256:${hexOf(other.digest)}`, hexOf(other.digest)]) {
      const report = await verifyItems(archive({ [configName]: image.config.bytes, [name]: layer.bytes }, configName, [name]));
      expect(report.problems).toEqual([{ entry: name, message: `manifest.json[0].Layers[0]: ${name} is named for ${hexOf(other.digest)} but its content is ${layer.digest}` }]);
    }
  });

  it("a config named <hex>.tar or <hex>.tar.gz (layer names) must hold that digest", async () => {
    for (const name of [`${hexOf(other.digest)}.tar`, `${hexOf(other.digest)}.tar.gz`]) {
      const report = await verifyItems(archive({ [name]: image.config.bytes, [`${hexOf(layer.digest)}.tar`]: layer.bytes }, name, [`${hexOf(layer.digest)}.tar`]));
      expect(report.problems).toEqual([{ entry: name, message: `manifest.json[0].Config: ${name} is named for ${hexOf(other.digest)} but its content is ${image.config.digest}` }]);
    }
  });

  it("a layer in a directory, dir/<hex>.tar, must hold that digest (as a config there had to)", async () => {
    const name = `dir/${hexOf(other.digest)}.tar`;
    const report = await verifyItems(archive({ [configName]: image.config.bytes, [name]: layer.bytes }, configName, [name]));
    expect(report.problems).toEqual([{ entry: name, message: `manifest.json[0].Layers[0]: ${name} is named for ${hexOf(other.digest)} but its content is ${layer.digest}` }]);
  });

  it("a manifest.json-only archive's layer path blobs/sha256/<A>, a link to blob <B>, is refused", async () => {
    const linkName = blobPath(other.digest);
    const items = archive({ [configName]: image.config.bytes, [blobPath(layer.digest)]: layer.bytes }, configName, [linkName], { [linkName]: hexOf(layer.digest) });
    const report = await verifyItems(items);
    expect(report.problems).toEqual([{ entry: linkName, message: `manifest.json[0].Layers[0]: ${linkName} is named for ${hexOf(other.digest)} but its content is ${layer.digest}` }]);
  });

  it("a config reached through a link is checked against the name of the file it reaches", async () => {
    const lying = `${hexOf(other.digest)}.json`;
    const items = archive({ [lying]: image.config.bytes, [`${hexOf(layer.digest)}.tar`]: layer.bytes }, "config.json", [`${hexOf(layer.digest)}.tar`], { "config.json": lying });
    const report = await verifyItems(items);
    expect(report.problems).toEqual([{ entry: lying, message: `manifest.json[0].Config: ${lying} is named for ${hexOf(other.digest)} but its content is ${image.config.digest}` }]);
  });

  describe("an absent foreign layer's path", () => {
    const foreign = makeForeignImage(DOCKER_FOREIGN_LAYER, "names");
    const foreignConfig = `${hexOf(foreign.config.digest)}.json`;
    const refusedFor = async (path: string): Promise<unknown> => {
      const item = {
        Config: foreignConfig,
        RepoTags: null,
        Layers: [path, blobPath(foreign.layers[1]!.digest)],
        LayerSources: { [foreign.layers[0]!.diffId]: { ...descriptorOf(foreign.layers[0]!), urls: FOREIGN_URLS } },
      };
      const items: TarItem[] = [
        { type: "file", name: foreignConfig, content: foreign.config.bytes },
        blobItem(foreign.layers[1]!),
        { type: "file", name: "manifest.json", content: JSON.stringify([item]) },
      ];
      return (await verifyItems(items)).problems;
    };

    it("under blobs/ must be a valid digest", async () => {
      expect(await refusedFor(`blobs/md5/${HEX.slice(32)}`)).toEqual([
        { entry: `blobs/md5/${HEX.slice(32)}`, message: `manifest.json[0].Layers[0]: blobs/md5/${HEX.slice(32)}: unsupported digest algorithm "md5" in "md5:${HEX.slice(32)}"` },
      ]);
      expect(await refusedFor("blobs/sha256/abc")).toEqual([
        { entry: "blobs/sha256/abc", message: 'manifest.json[0].Layers[0]: blobs/sha256/abc: invalid sha256 digest "sha256:abc" (want 64 lowercase hex digits)' },
      ]);
    });

    it("named <hex>.json or sha256:<hex> must name LayerSources' digest", async () => {
      for (const path of [`${HEX}.json`, `sha256:${HEX}`]) {
        expect(await refusedFor(path)).toEqual([
          { entry: path, message: `manifest.json[0].Layers[0]: ${path} is named for sha256:${HEX}, but LayerSources gives that layer as ${foreign.layers[0]!.digest}` },
        ]);
      }
      // Named right, it is refused only as a layer manifest.json alone says is foreign.
      expect(await refusedFor(blobPath(foreign.layers[0]!.digest))).toEqual([expect.objectContaining({ entry: "manifest.json[0].Layers[0]" })]);
    });
  });
});

describe("load: a name under blobs/ that is no valid digest never stands for a stored blob", () => {
  const roots: string[] = [];
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
  });

  // Once read as the sha256 digest it is not: from a stream read once, the load then failed on
  // the stored blob's content rather than on the name. Such a file is no blob: it is ignored, with a word.
  it.each([["sha512"], ["md5"]])("blobs/%s/<64 hex of a stored blob>, from a stream read once", async (algorithm) => {
    const root = await mkdtemp(join(tmpdir(), "lading-entry-names-"));
    roots.push(root);
    const store = await Store.open(root);
    const stored = Buffer.from("a stored blob\n");
    const ingest = await store.content.openIngest();
    await ingest.write(stored);
    const digest = await ingest.commit({ size: stored.length });
    const image = makeImage({ seed: "load" });
    const name = `blobs/${algorithm}/${hexOf(digest)}`;
    const items: TarItem[] = [
      { type: "file", name: "oci-layout", content: JSON.stringify({ imageLayoutVersion: "1.0.0" }) },
      { type: "file", name: "index.json", content: JSON.stringify({ schemaVersion: 2, manifests: [descriptorOf(image.manifest)] }) },
      { type: "file", name, content: Buffer.from("other bytes, \n") },
      blobItem(image.manifest),
      blobItem(image.config),
      blobItem(image.layers[0]!),
    ];
    const reason =
      algorithm === "sha512"
        ? `invalid sha512 digest "sha512:${hexOf(digest)}" (want 128 lowercase hex digits)`
        : `unsupported digest algorithm "md5" in "md5:${hexOf(digest)}"`;
    const { images, warnings } = await loadArchive(store, await openTarStream(Readable.from([buildTar(items)])));
    expect([images.map((loaded) => loaded.id), warnings]).toEqual([[image.manifest.digest], [`${name}: ignored, as its name is no digest: ${reason}`]]);
    expect(await filesUnder(store.paths.ingest)).toEqual([]);
    expect(await store.content.has(sha256("other bytes, \n"))).toBe(false);
  });
});
