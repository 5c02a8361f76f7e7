// Combined archives (index.json beside manifest.json) as real peers write them and lading used to
// refuse: `ctr images export` of an image pulled by digest names it `repo@sha256:…` in RepoTags
// too; Docker 25+ `docker save` (classic store) leaves images saved by ID or digest out of
// index.json (moby#51389), and 25.0.0 to 25.0.2 write `"manifests": null` (moby#47210).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openTarStream } from "../../src/archive/source.js";
import { loadArchive, type LoadResult } from "../../src/ops/load.js";
import type { VerifyReport } from "../../src/ops/verify.js";
import { Store } from "../../src/store/store.js";
import { snapshotTree } from "../support/store-tree.js";
import {
  blobPath,
  buildTar,
  descriptorOf,
  DOCKER_FOREIGN_LAYER,
  ensureBuilt,
  synthesizedDockerDigest,
  FOREIGN_URLS,
  hexOf,
  makeImage,
  OCI_INDEX,
  ociLayoutItems,
  runLading,
  verifyItems,
  withFile,
  withoutFile,
  type TarItem,
  type TestImage,
} from "../support/archive-builder.js";

const roots: string[] = [];
async function freshStore(): Promise<Store> {
  const root = await mkdtemp(join(tmpdir(), "lading-combined-"));
  roots.push(root);
  return Store.open(root);
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function loadItems(store: Store, items: readonly TarItem[]): Promise<LoadResult> {
  const bytes = buildTar(items);
  return loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length));
}

const base = makeImage({ seed: "base" });
const app = makeImage({ seed: "app", layers: [base.layers[0]!.bytes, buildLayer("app")] });
const top = makeImage({ seed: "top", layers: [base.layers[0]!.bytes, buildLayer("app"), buildLayer("top")] });

function buildLayer(seed: string): Buffer {
  return buildTar([{ type: "file", name: `etc/${seed}.txt`, content: `${seed}\n` }]);
}

/** manifest.json as Docker 25+ and ctr write it: every path a blobs/sha256/<hex> blob. */
const manifestJson = (items: readonly { image: TestImage; repoTags: string[] | null }[]): string =>
  JSON.stringify(items.map(({ image, repoTags }) => ({ Config: blobPath(image.config.digest), RepoTags: repoTags, Layers: image.layers.map((layer) => blobPath(layer.digest)) })));


const named = (image: TestImage, name: string, refName: string): Record<string, unknown> =>
  descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": refName } });

const imageRows = (report: VerifyReport): [string, string[], string, string][] =>
  report.images.map((image) => [image.listedAt, image.names, image.manifestDigest, image.manifestOrigin]);

describe("ctr images export of an image pulled by digest: RepoTags holds repo@sha256:…", () => {
  const pinned = `registry.example:5000/mk/app3@${app.manifest.digest}`;
  /** What ctr 1.6 exports for `REG/mk/app3@sha256:…` and, optionally, a tagged image beside it. */
  const ctrExport = (repoTag: string, withTagged: boolean): TarItem[] => {
    const images = withTagged ? [base, app] : [app];
    const entries = [...(withTagged ? [named(base, "registry.example:5000/mk/rep:1", "1")] : []), named(app, pinned, `@${app.manifest.digest}`)];
    return [
      ...ociLayoutItems(images, { indexEntries: entries }),
      {
        type: "file",
        name: "manifest.json",
        content: manifestJson([{ image: app, repoTags: [repoTag] }, ...(withTagged ? [{ image: base, repoTags: ["registry.example:5000/mk/rep:1"] }] : [])]),
      },
    ];
  };

  it("verify accepts the name when it is the digest of the index.json entry describing the image", async () => {
    for (const withTagged of [false, true]) {
      const report = await verifyItems(ctrExport(pinned, withTagged));
      expect([report.valid, report.problems, report.warnings]).toEqual([true, [], []]);
      expect(imageRows(report)).toEqual([
        ...(withTagged ? [["index.json manifests[0]", ["registry.example:5000/mk/rep:1"], base.manifest.digest, "archive"]] : []),
        [`index.json manifests[${withTagged ? 1 : 0}]`, [pinned], app.manifest.digest, "archive"],
      ]);
    }
  });

  it("loads it as repo@sha256:…, as lading's own save by digest loads", async () => {
    const store = await freshStore();
    const result = await loadItems(store, ctrExport(pinned, true));
    expect(result.images.map(({ id, tags, digests, origin }) => ({ id, tags, digests, origin }))).toEqual([
      { id: base.manifest.digest, tags: ["registry.example:5000/mk/rep:1"], digests: [`registry.example:5000/mk/rep@${base.manifest.digest}`], origin: "archive" },
      { id: app.manifest.digest, tags: [], digests: [pinned], origin: "archive" },
    ]);
    expect(result.warnings).toEqual([]);
  });

  it("refuses a digest that is not that entry's, in one line naming the entry, and stores nothing", async () => {
    const other = `registry.example:5000/mk/app3@${base.manifest.digest}`;
    const unknown = `registry.example:5000/mk/app3@sha256:${"a".repeat(64)}`;
    for (const [repoTag, withTagged] of [
      [unknown, false],
      [other, true],
    ] as const) {
      const message = `manifest.json[0].RepoTags: ${repoTag} names the digest ${repoTag.slice(repoTag.indexOf("@") + 1)}, but index.json describes the image with config ${app.config.digest} as ${app.manifest.digest}`;
      const report = await verifyItems(ctrExport(repoTag, withTagged));
      expect([report.valid, report.problems]).toEqual([false, [{ entry: "manifest.json", message }]]);
      const store = await freshStore();
      const before = await snapshotTree(store.paths.root);
      const bytes = buildTar(ctrExport(repoTag, withTagged));
      await expect(loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length))).rejects.toThrow(message);
      expect(await snapshotTree(store.paths.root)).toEqual(before);
    }
  });

  it("names a digest two entries of index.json give the image (a tag and a pin) once in that refusal", async () => {
    const other = `registry.example:5000/mk/app3@${base.manifest.digest}`;
    const entries = [named(app, "registry.example:5000/mk/app:1", "1"), named(app, pinned, `@${app.manifest.digest}`)];
    const items: TarItem[] = [
      ...ociLayoutItems([app], { indexEntries: entries }),
      { type: "file", name: "manifest.json", content: manifestJson([{ image: app, repoTags: ["registry.example:5000/mk/app:1", other] }]) },
    ];
    const message = `manifest.json[0].RepoTags: ${other} names the digest ${base.manifest.digest}, but index.json describes the image with config ${app.config.digest} as ${app.manifest.digest}`;
    expect((await verifyItems(items)).problems).toEqual([{ entry: "manifest.json", message }]);
  });

  it("refuses the entry's digest under a name index.json does not give it", async () => {
    const renamed = `registry.example:5000/mk/other@${app.manifest.digest}`;
    const report = await verifyItems(ctrExport(renamed, false));
    expect(report.problems).toEqual([{ entry: "manifest.json", message: `manifest.json[0].RepoTags: ${renamed} is not a name index.json gives to config ${app.config.digest}` }]);
  });

  it("refuses a digest name in an archive without index.json, which keeps no manifest to pin", async () => {
    const items = [
      { type: "file", name: blobPath(app.config.digest), content: app.config.bytes },
      ...app.layers.map((layer): TarItem => ({ type: "file", name: blobPath(layer.digest), content: layer.bytes })),
      { type: "file", name: "manifest.json", content: manifestJson([{ image: app, repoTags: [pinned] }]) },
    ] as TarItem[];
    const report = await verifyItems(items);
    expect(report.problems).toEqual([
      {
        entry: "manifest.json[0].RepoTags[0]",
        message: `manifest.json[0].RepoTags[0]: "${pinned}" carries a digest, but the archive has no index.json to keep the manifest it pins: a name in manifest.json alone must be a tag`,
      },
    ]);
  });
});

describe("Docker 25+ docker save (classic store): images left out of index.json", () => {
  const leftOutWarning = (position: number, image: TestImage): string =>
    `manifest.json[${position}]: image with config ${image.config.digest} is not described by index.json (as Docker 25+ leaves out images saved by ID or digest); taken from manifest.json, its manifest synthesized`;
  const NULL_WARNING = `index.json: "manifests" is null (as Docker 25.0.0 to 25.0.2 write it on saving by digest or ID); read as an empty list`;
  const platformed = (image: TestImage, extra: Record<string, unknown> = {}): Record<string, unknown> => descriptorOf(image.manifest, { platform: { architecture: "amd64", os: "linux" }, ...extra });

  /** `docker save ID1 ID2 ID3`: manifest.json lists all three, index.json only the first; every manifest blob is written. */
  const savedByIds = (): TarItem[] => [
    ...ociLayoutItems([base, app, top], { indexEntries: [platformed(base)] }),
    { type: "file", name: "manifest.json", content: manifestJson([base, app, top].map((image) => ({ image, repoTags: null }))) },
  ];

  it("verify takes the images index.json leaves out from manifest.json, synthesised, with one warning each", async () => {
    const report = await verifyItems(savedByIds());
    expect([report.valid, report.problems]).toEqual([true, []]);
    expect(report.warnings).toEqual([leftOutWarning(1, app), leftOutWarning(2, top)]);
    expect(imageRows(report)).toEqual([
      ["index.json manifests[0]", [], base.manifest.digest, "archive"],
      ["manifest.json[1]", [], synthesizedDockerDigest(app), "synthesized"],
      ["manifest.json[2]", [], synthesizedDockerDigest(top), "synthesized"],
    ]);
    expect(report.roots.map((root) => [root.listedAt, root.digest, root.status])).toEqual([
      ["index.json manifests[0]", base.manifest.digest, "ok"],
      ["manifest.json[1]", synthesizedDockerDigest(app), "ok"],
      ["manifest.json[2]", synthesizedDockerDigest(top), "ok"],
    ]);
  });

  it("refuses one of them that leaves out a layer only its LayerSources calls foreign: no manifest vouches for that", async () => {
    const dropped = top.layers[2]!;
    const listed = JSON.parse(manifestJson([base, app, top].map((image) => ({ image, repoTags: null })))) as Record<string, unknown>[];
    listed[2]!.LayerSources = { [dropped.diffId]: { mediaType: DOCKER_FOREIGN_LAYER, digest: dropped.digest, size: dropped.size, urls: FOREIGN_URLS } };
    const items = withFile(withoutFile(savedByIds(), blobPath(dropped.digest)), "manifest.json", JSON.stringify(listed));
    const field = "manifest.json[2].Layers[2]";
    const report = await verifyItems(items);
    expect([report.valid, report.problems]).toEqual([
      false,
      [
        {
          entry: field,
          message: `${field}: "${blobPath(dropped.digest)}" is not in the archive; LayerSources calls it a foreign layer, but no index.json entry describes the image to say so (manifest.json is covered by no digest), and an image listed in manifest.json alone must carry every layer (as docker load and skopeo require)`,
        },
      ],
    ]);
    const store = await freshStore();
    const before = await snapshotTree(store.paths.root);
    await expect(loadItems(store, items)).rejects.toThrow(`${field}: "${blobPath(dropped.digest)}" is not in the archive; LayerSources calls it a foreign layer`);
    expect(await snapshotTree(store.paths.root)).toEqual(before);
  });

  it("load stores them all, untagged, and says which it took from manifest.json", async () => {
    const store = await freshStore();
    const result = await loadItems(store, savedByIds());
    expect(result.images.map(({ id, tags, digests, origin, configDigest }) => ({ id, tags, digests, origin, configDigest }))).toEqual([
      { id: base.manifest.digest, tags: [], digests: [], origin: "archive", configDigest: base.config.digest },
      { id: synthesizedDockerDigest(app), tags: [], digests: [], origin: "synthesized", configDigest: app.config.digest },
      { id: synthesizedDockerDigest(top), tags: [], digests: [], origin: "synthesized", configDigest: top.config.digest },
    ]);
    expect(result.warnings).toEqual([leftOutWarning(1, app), leftOutWarning(2, top)]);
  });

  it("lading load prints each image and, on standard error, the synthesised manifests and the warnings", async () => {
    ensureBuilt();
    const root = await mkdtemp(join(tmpdir(), "lading-combined-cli-"));
    roots.push(root);
    const loaded = await runLading(["--root", root, "load", "-i", "-"], buildTar(savedByIds()));
    expect(loaded).toEqual({
      code: 0,
      stdout: [base.manifest.digest, synthesizedDockerDigest(app), synthesizedDockerDigest(top)].map((id) => `Loaded image ID: ${id}\n`).join(""),
      stderr: [
        ...[app, top].map((image) => `note: ${synthesizedDockerDigest(image)} is listed only in manifest.json, which keeps no manifest: its manifest ${synthesizedDockerDigest(image)} was synthesized, not a registry digest`),
        `note: ${leftOutWarning(1, app)}`,
        `note: ${leftOutWarning(2, top)}`,
        "",
      ].join("\n"),
    });
  });

  it("with a tagged image among them, the untagged ones are all left out, and taken from manifest.json", async () => {
    const items = [
      ...ociLayoutItems([base, app, top], { indexEntries: [platformed(app, { annotations: { "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1" } })] }),
      { type: "file", name: "manifest.json", content: manifestJson([{ image: app, repoTags: ["app:1"] }, { image: base, repoTags: null }, { image: top, repoTags: null }]) },
    ] as TarItem[];
    const report = await verifyItems(items);
    expect([report.valid, report.problems, report.warnings]).toEqual([true, [], [leftOutWarning(1, base), leftOutWarning(2, top)]]);
    expect(imageRows(report)).toEqual([
      ["index.json manifests[0]", ["docker.io/library/app:1"], app.manifest.digest, "archive"],
      ["manifest.json[1]", [], synthesizedDockerDigest(base), "synthesized"],
      ["manifest.json[2]", [], synthesizedDockerDigest(top), "synthesized"],
    ]);
  });

  it('reads "manifests": null (25.0.0 to 25.0.2, save by digest) as an empty list', async () => {
    const items = withFile(
      [...ociLayoutItems([top]), { type: "file", name: "manifest.json", content: manifestJson([{ image: top, repoTags: null }]) }],
      "index.json",
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: null }),
    );
    const report = await verifyItems(items);
    expect([report.valid, report.problems, report.warnings]).toEqual([true, [], [NULL_WARNING, leftOutWarning(0, top)]]);
    expect(imageRows(report)).toEqual([["manifest.json[0]", [], synthesizedDockerDigest(top), "synthesized"]]);
    const result = await loadItems(await freshStore(), items);
    expect(result.images.map(({ id, origin }) => [id, origin])).toEqual([[synthesizedDockerDigest(top), "synthesized"]]);
    expect(result.warnings).toEqual([NULL_WARNING, leftOutWarning(0, top)]);
  });

  it('refuses "schemaVersion": 2.0 beside "manifests": null as beside an empty list, in load and verify, and the store stays as it was', async () => {
    ensureBuilt();
    const root = await mkdtemp(join(tmpdir(), "lading-combined-cli-"));
    roots.push(root);
    expect((await runLading(["--root", root, "load", "-q", "-i", "-"], buildTar(ociLayoutItems([base])))).code).toBe(0);
    const before = await snapshotTree(root);
    const refused = "index.json: schemaVersion: 2.0 has a fraction or an exponent, which Go refuses for an integer field";
    for (const manifests of ["null", "[]"]) {
      const archive = buildTar(
        withFile(
          [...ociLayoutItems([top]), { type: "file", name: "manifest.json", content: manifestJson([{ image: top, repoTags: null }]) }],
          "index.json",
          `{"schemaVersion":2.0,"mediaType":"${OCI_INDEX}","manifests":${manifests}}`,
        ),
      );
      expect(await runLading(["--root", root, "load", "-i", "-"], archive)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${refused}\n` });
      expect(await runLading(["verify", "-"], archive)).toEqual({
        code: 1,
        stdout: "format: docker-archive+oci-layout\narchive is INVALID: 1 problem\n",
        stderr: `error: ${refused}\n`,
      });
    }
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("keeps refusing what Docker does not write: a tagged image left out, an index.json image manifest.json does not list, other paths", async () => {
    const notDescribed = (position: number, image: TestImage): { entry: string; message: string } => ({
      entry: "manifest.json",
      message: `manifest.json[${position}]: image with config ${image.config.digest} is not described by index.json`,
    });
    const tagged = [
      ...ociLayoutItems([base, app], { indexEntries: [platformed(base)] }),
      { type: "file", name: "manifest.json", content: manifestJson([{ image: base, repoTags: null }, { image: app, repoTags: ["app:1"] }]) },
    ] as TarItem[];
    expect((await verifyItems(tagged)).problems).toEqual([notDescribed(1, app)]);

    const unlisted = [
      ...ociLayoutItems([base, app], { indexEntries: [platformed(base)] }),
      { type: "file", name: "manifest.json", content: manifestJson([{ image: app, repoTags: null }]) },
    ] as TarItem[];
    expect((await verifyItems(unlisted)).problems).toEqual([notDescribed(0, app)]);

    // docker-save names (<hex>.json, <hex>.tar) beside index.json: not the shape Docker 25+ writes.
    const legacyNames = [
      ...ociLayoutItems([base], { indexEntries: [platformed(base)] }),
      { type: "file", name: `${hexOf(app.config.digest)}.json`, content: app.config.bytes },
      ...app.layers.map((layer): TarItem => ({ type: "file", name: `${hexOf(layer.digest)}.tar`, content: layer.bytes })),
      {
        type: "file",
        name: "manifest.json",
        content: JSON.stringify([
          { Config: blobPath(base.config.digest), RepoTags: null, Layers: base.layers.map((layer) => blobPath(layer.digest)) },
          { Config: `${hexOf(app.config.digest)}.json`, RepoTags: null, Layers: app.layers.map((layer) => `${hexOf(layer.digest)}.tar`) },
        ]),
      },
    ] as TarItem[];
    expect((await verifyItems(legacyNames)).problems).toEqual([notDescribed(1, app)]);
  });

  it("names the manifest.json item at fault by its own position when an earlier item failed", async () => {
    const items = [
      ...ociLayoutItems([base, app], { indexEntries: [platformed(base)] }),
      {
        type: "file",
        name: "manifest.json",
        content: JSON.stringify([
          { Config: "blobs/sha256/missing", RepoTags: null, Layers: [] },
          ...JSON.parse(manifestJson([{ image: base, repoTags: null }, { image: app, repoTags: ["app:1"] }])),
        ]),
      },
    ] as TarItem[];
    const report = await verifyItems(items);
    expect(report.problems.map((problem) => problem.message)).toEqual([
      'manifest.json[0].Config: "blobs/sha256/missing" is not in the archive',
      `manifest.json[2]: image with config ${app.config.digest} is not described by index.json`,
    ]);
  });

  it('keeps refusing "manifests": null outside that shape', async () => {
    const nullIndex = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: null });
    const refused = { entry: "index.json", message: "index.json: manifests: Invalid input: expected array, received null" };
    expect((await verifyItems(withFile(ociLayoutItems([top]), "index.json", nullIndex))).problems).toEqual([refused]);
    const legacyNames = withFile(
      [
        ...ociLayoutItems([]),
        { type: "file", name: `${hexOf(top.config.digest)}.json`, content: top.config.bytes },
        ...top.layers.map((layer): TarItem => ({ type: "file", name: `${hexOf(layer.digest)}.tar`, content: layer.bytes })),
        { type: "file", name: "manifest.json", content: JSON.stringify([{ Config: `${hexOf(top.config.digest)}.json`, RepoTags: null, Layers: top.layers.map((layer) => `${hexOf(layer.digest)}.tar`) }]) },
      ],
      "index.json",
      nullIndex,
    );
    // index.json, refused as a whole, lists nothing to hold manifest.json to: its problem alone.
    expect((await verifyItems(legacyNames)).problems).toEqual([refused]);
  });
});
