// loadArchive says, one warning line each, which fields of index.json and of the entries it stores
// the store does not keep; never the names, nor the config's own platform Docker 25+ repeats.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive, type LoadResult } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { blobOf, buildTar, descriptorOf, dockerArchiveItems, makeImage, OCI_INDEX, ociLayoutItems, withFile, type TarItem, signatureArtifact } from "../support/archive-builder.js";
import { FIXTURES, HAVE_FIXTURES } from "./load-expectations.js";

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

async function loadItems(items: readonly TarItem[], options: Parameters<typeof loadArchive>[2] = {}): Promise<LoadResult> {
  const root = await mkdtemp(join(tmpdir(), "lading-dropped-"));
  roots.push(root);
  const bytes = buildTar(items);
  return loadArchive(await Store.open(root), await openTarStream(Readable.from([bytes]), bytes.length), options);
}

const named = (name: string, tag: string): Record<string, string> => ({ "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag });
const KEPT_NOT = "is not kept by the store (saving writes the entry without it)";

describe("loadArchive: index.json fields the store does not keep", () => {
  it("one line per field: index.json's own, then each entry's platform, artifactType and annotations but the names", async () => {
    const image = makeImage({ seed: "dropped-fields" });
    const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("signature", "application/vnd.example.sig.v1"));
    // A variant the config does not give is the entry's own word, not the config's.
    const entries = [
      descriptorOf(image.manifest, { platform: { os: "linux", architecture: "amd64", variant: "v3" }, annotations: { ...named("docker.io/example/fields:1", "1"), "org.example.note": "keep-me" } }),
      descriptorOf(artifact, { artifactType: "application/vnd.example.sig", annotations: { "org.example.signer": "ci" } }),
    ];
    const items = withFile(
      ociLayoutItems([image], { indexEntries: entries, extraBlobs: artifactBlobs }),
      "index.json",
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, annotations: { "org.example.top": "x" } }),
    );
    const result = await loadItems(items);
    expect(result.images.map((loaded) => [loaded.id, loaded.tags, loaded.platforms])).toEqual([
      [image.manifest.digest, ["example/fields:1"], ["linux/amd64/v3"]],
      [artifact.digest, [], []],
    ]);
    expect(result.warnings).toEqual([
      'index.json: annotations["org.example.top"] "x" is not kept by the store (saving writes index.json without it)',
      `index.json manifests[0]: annotations["org.example.note"] "keep-me" ${KEPT_NOT}`,
      `index.json manifests[0]: platform {"architecture":"amd64","os":"linux","variant":"v3"} ${KEPT_NOT}`,
      `index.json manifests[1]: annotations["org.example.signer"] "ci" ${KEPT_NOT}`,
      `index.json manifests[1]: artifactType "application/vnd.example.sig" ${KEPT_NOT}`,
    ]);
  });

  it("Docker 25+ docker save entries (the names, and the platform of the image's own config) say nothing", async () => {
    const amd64 = makeImage({ seed: "docker25-amd64" });
    const arm = makeImage({ seed: "docker25-arm", architecture: "arm", editConfig: (config) => ({ ...config, variant: "v7", "os.version": "", "os.features": [] }) });
    const windows = makeImage({ seed: "docker25-windows", editConfig: (config) => ({ ...config, os: "windows", "os.version": "10.0.17763.5329" }) });
    const entries = [
      descriptorOf(amd64.manifest, { platform: { architecture: "amd64", os: "linux" }, annotations: named("docker.io/library/app:1", "1") }),
      descriptorOf(arm.manifest, { platform: { architecture: "arm", os: "linux", variant: "v7" }, annotations: named("docker.io/library/app:arm", "arm") }),
      descriptorOf(windows.manifest, { platform: { architecture: "amd64", os: "windows", "os.version": "10.0.17763.5329" }, annotations: named("docker.io/library/app:win", "win") }),
    ];
    const result = await loadItems(ociLayoutItems([amd64, arm, windows], { indexEntries: entries }));
    expect(result.images.map((loaded) => loaded.tags)).toEqual([["app:1"], ["app:arm"], ["app:win"]]);
    expect(result.warnings).toEqual([]);
  });

  it("a platform on an index's entry is the entry's own, whatever its children say", async () => {
    const amd64 = makeImage({ seed: "index-amd64" });
    const index = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(amd64.manifest, { platform: { architecture: "amd64", os: "linux" } })] }), OCI_INDEX);
    const entries = [descriptorOf(index, { platform: { architecture: "amd64", os: "linux" }, annotations: named("docker.io/library/multi:1", "1") })];
    const result = await loadItems(ociLayoutItems([amd64], { indexEntries: entries, extraBlobs: [index] }));
    expect(result.warnings).toEqual([`index.json manifests[0]: platform {"architecture":"amd64","os":"linux"} ${KEPT_NOT}`]);
  });

  it("a long value is shown by its start and its length, and line separators JSON leaves raw are escaped, so that each note stays one line", async () => {
    const image = makeImage({ seed: "long-values" });
    const long = "x".repeat(300);
    const entries = [descriptorOf(image.manifest, { annotations: { ...named("docker.io/example/long:1", "1"), "org.example.long": long, "org.example.sep\u2028": "a\u0085b\u2029" } })];
    const result = await loadItems(ociLayoutItems([image], { indexEntries: entries }));
    expect(result.warnings).toEqual([
      `index.json manifests[0]: annotations["org.example.long"] "${"x".repeat(199)}… (300 bytes) ${KEPT_NOT}`,
      `index.json manifests[0]: annotations["org.example.sep\\u2028"] "a\\u0085b\\u2029" ${KEPT_NOT}`,
    ]);
  });

  describe("at most 20 lines, then one counting the rest", () => {
    const image = makeImage({ seed: "many-entries" });
    const entriesWithNotes = (count: number): Record<string, unknown>[] =>
      Array.from({ length: count }, (_, n) => descriptorOf(image.manifest, { annotations: { ...named(`docker.io/example/many:${n}`, `${n}`), "org.example.n": `${n}` } }));
    const lineOf = (n: number): string => `index.json manifests[${n}]: annotations["org.example.n"] "${n}" ${KEPT_NOT}`;
    const lines = (count: number): string[] => Array.from({ length: count }, (_, n) => lineOf(n));

    it.each([
      [20, lines(20)],
      [21, [...lines(20), "... and 1 more field not kept"]],
      [2000, [...lines(20), "... and 1980 more fields not kept"]],
    ])("%i fields", async (count, expected) => {
      const result = await loadItems(ociLayoutItems([image], { indexEntries: entriesWithNotes(count) }));
      expect(result.images[0]?.tags.length).toBe(count);
      expect(result.warnings).toEqual(expected);
    });
  });

  describe("--platform: the fields of the entries of the roots it stores", () => {
    const amd64 = makeImage({ seed: "selected-amd64" });
    const arm64 = makeImage({ seed: "selected-arm64", architecture: "arm64" });
    const armOnly = makeImage({ seed: "arm-only", architecture: "arm64" });
    // The index's children carry platforms and an annotation of their own: they are the index's bytes, kept.
    const index = blobOf(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          descriptorOf(amd64.manifest, { platform: { architecture: "amd64", os: "linux" }, annotations: { "org.example.child": "amd64" } }),
          descriptorOf(arm64.manifest, { platform: { architecture: "arm64", os: "linux" }, annotations: { "org.example.child": "arm64" } }),
        ],
      }),
      OCI_INDEX,
    );
    const entries = [
      descriptorOf(index, { annotations: { ...named("docker.io/example/multi:1", "1"), "org.example.note": "index" } }),
      descriptorOf(armOnly.manifest, { annotations: { ...named("docker.io/example/arm:1", "1"), "org.example.note": "arm-only" } }),
    ];
    const items = ociLayoutItems([amd64, arm64, armOnly], { indexEntries: entries, extraBlobs: [index] });

    it("one platform: the index's entry is stored, its fields said; the other root is not stored, its fields not said", async () => {
      const result = await loadItems(items, { platforms: [{ os: "linux", architecture: "amd64" }] });
      expect(result.images.map((loaded) => [loaded.tags, loaded.platforms, loaded.absent])).toEqual([[["example/multi:1"], ["linux/amd64"], ["linux/arm64"]]]);
      expect(result.warnings).toEqual([`index.json manifests[0]: annotations["org.example.note"] "index" ${KEPT_NOT}`]);
    });

    it("without it, both roots are stored and both entries' fields said", async () => {
      const result = await loadItems(items);
      expect(result.warnings).toEqual([`index.json manifests[0]: annotations["org.example.note"] "index" ${KEPT_NOT}`, `index.json manifests[1]: annotations["org.example.note"] "arm-only" ${KEPT_NOT}`]);
    });
  });

  it("a manifest.json-only archive has no index.json entry: nothing to say", async () => {
    const image = makeImage({ seed: "docker-only" });
    const result = await loadItems(dockerArchiveItems([{ image, repoTags: ["example/docker:1"] }]));
    expect(result.warnings).toEqual([]);
  });
});

describe.skipIf(!HAVE_FIXTURES)("loadArchive of the real fixtures: no field said dropped", () => {
  const bareTag = (tag: string, digest: string): string => `index.json: ref.name ${JSON.stringify(tag)} is a bare tag without a repository; image ${digest} is left untagged (--name REPOSITORY tags it)`;
  it.each([
    ["archives/docker-save-single.tar", []],
    ["archives/docker-save-multi.tar", []],
    ["archives/skopeo-docker-archive.tar", []],
    ["archives/ctr-export.tar", []],
    ["archives/skopeo-oci-archive.tar", [bareTag("1.0", "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf")]],
    ["archives/oci-archive-multiplatform.tar", [bareTag("1.0", "sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355")]],
    [
      "layouts/oci-umoci-gzip",
      [
        bareTag("base", "sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7"),
        bareTag("app", "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf"),
        bareTag("base-arm64", "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171"),
      ],
    ],
  ])("%s", async (path, expected) => {
    const root = await mkdtemp(join(tmpdir(), "lading-dropped-"));
    roots.push(root);
    const result = await loadArchive(await Store.open(root), await openArchivePath(join(FIXTURES, path)));
    expect(result.warnings).toEqual(expected);
  });
});
