// verify --roundtrip compares the saved archive with the input archive itself, not with what the
// temporary store recorded: a name the load gives to another image, or a root it leaves out, is a
// difference; a bare tag the docker layout cannot carry is a note; the oci layout carries it.
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { verifyRoundtrip } from "../../src/ops/roundtrip.js";
import { verifyArchive } from "../../src/ops/verify.js";
import { blobOf, buildTar, descriptorOf, dockerArchiveItems, makeImage, OCI_INDEX, OCI_MANIFEST, ociLayoutItems, withFile, type TarItem, signatureArtifact } from "../support/archive-builder.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const haveFixtures = existsSync(join(FIXTURES, "expected.json"));
const UMOCI = join(FIXTURES, "layouts", "oci-umoci-gzip");
const BASE_ARM64 = "sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171";
const APP = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";
const BASE = "sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7";

const streamOf = (items: readonly TarItem[]) => openTarStream(Readable.from([buildTar(items)]));
const summary = (report: Awaited<ReturnType<typeof verifyRoundtrip>>) => ({
  schemaVersion: report.schemaVersion,
  valid: report.valid,
  exact: report.exact,
  problems: report.problems,
  warnings: report.warnings,
  images: report.images.map((image) => ({ id: image.id, names: image.names, bareTags: image.bareTags, differences: image.differences, notes: image.notes })),
});

describe("verifyRoundtrip against the input archive", () => {
  it("a name two images of the input claim, which the store gives to the last, is a difference for the first", async () => {
    const first = makeImage({ seed: "first" });
    const second = makeImage({ seed: "second" });
    const report = await verifyRoundtrip(
      await streamOf(dockerArchiveItems([
        { image: first, repoTags: ["example/app:1"] },
        { image: second, repoTags: ["example/app:1", "example/app:2"] },
      ])),
    );
    // The input has no manifests: the roots are lading's synthesised ones, found back by config.
    const idOf = (config: string): string => report.images.find((image) => image.platforms[0]!.config === config)!.id;
    const firstId = idOf(first.config.digest);
    const secondId = idOf(second.config.digest);
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: false,
      exact: false,
      problems: [],
      warnings: [
        `docker.io/example/app:1 names 2 images, ${firstId} (manifest.json[0]) and ${secondId} (manifest.json[1]): a load gives it to the last, as docker load does, and leaves ${firstId} without it`,
      ],
      images: [
        { id: firstId, names: ["docker.io/example/app:1"], bareTags: [], differences: ["name docker.io/example/app:1: in the input, not in the saved archive"], notes: [] },
        { id: secondId, names: ["docker.io/example/app:1", "docker.io/example/app:2"], bareTags: [], differences: [], notes: [] },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    });
  });

  it("gives verify's warnings about the input, an archive of no image's included, but not those the trip says in its own words", async () => {
    const empty = ociLayoutItems([]);
    const emptyTrip = await verifyRoundtrip(await streamOf(empty));
    expect([emptyTrip.valid, emptyTrip.warnings]).toEqual([true, ["the archive holds no image: index.json lists none"]]);
    expect(emptyTrip.warnings).toEqual((await verifyArchive(await streamOf(empty))).warnings);
    // A bare tag is a note of the trip, and an entry of unknown type a difference: not warned of twice.
    const image = makeImage({ seed: "bare" });
    const thing = blobOf('{"not":"an image"}', "application/vnd.example.thing.v1+json");
    const items = ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "org.opencontainers.image.ref.name": "bare" } }), descriptorOf(thing)], extraBlobs: [thing] });
    expect((await verifyArchive(await streamOf(items))).warnings).toHaveLength(2);
    expect((await verifyRoundtrip(await streamOf(items))).warnings).toEqual([]);
  });

  it("a root of unknown media type, which load leaves out, is a difference", async () => {
    const image = makeImage({ seed: "known" });
    const thing = blobOf('{"not":"an image"}', "application/vnd.example.thing.v1+json");
    const items = ociLayoutItems([image], {
      indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "example/known:1" } }), descriptorOf(thing)],
      extraBlobs: [thing],
    });
    const report = await verifyRoundtrip(await streamOf(items));
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: false,
      exact: false,
      problems: [],
      warnings: [],
      images: [
        { id: image.manifest.digest, names: ["docker.io/example/known:1"], bareTags: [], differences: [], notes: [] },
        {
          id: thing.digest,
          names: [],
          bareTags: [],
          differences: [`root ${thing.digest} is not in the saved archive (load leaves out a root of unknown media type application/vnd.example.thing.v1+json)`],
          notes: [],
        },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    });
  });
});

describe.skipIf(!haveFixtures)("verifyRoundtrip and bare tags", () => {
  it("the docker layout leaves bare tags out: valid, every digest proved, but not exact, and said in notes", async () => {
    const report = await verifyRoundtrip(await openArchivePath(UMOCI));
    const note = (tag: string): string => `bare tag ${tag} is left out: the docker layout names an image only as repository:tag`;
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: true,
      exact: false,
      problems: [],
      warnings: [],
      images: [
        { id: BASE_ARM64, names: [], bareTags: ["base-arm64"], differences: [], notes: [note("base-arm64")] },
        { id: APP, names: [], bareTags: ["app"], differences: [], notes: [note("app")] },
        { id: BASE, names: [], bareTags: ["base"], differences: [], notes: [note("base")] },
      ],
    });
  });

  it("the oci layout carries them: exact", async () => {
    const report = await verifyRoundtrip(await openArchivePath(UMOCI), { format: "oci" });
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: true,
      exact: true,
      problems: [],
      warnings: [],
      images: [
        { id: BASE_ARM64, names: [], bareTags: ["base-arm64"], differences: [], notes: [] },
        { id: APP, names: [], bareTags: ["app"], differences: [], notes: [] },
        { id: BASE, names: [], bareTags: ["base"], differences: [], notes: [] },
      ],
    });
    expect(report.images.find((image) => image.id === APP)!.platforms).toEqual([
      {
        platform: "linux/amd64",
        manifest: APP,
        config: "sha256:f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67",
        layers: [
          { digest: "sha256:3c814ad1634f3a7d663993b30be3c8944a4b2d8379dcd422a6342bcf8dc54781", diffId: "sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0" },
          { digest: "sha256:e099f4ace1f8e043608c5faabbc51173598f0ad93e3dea3a1d65d057e09fd4de", diffId: "sha256:f866a726b09c50f4443150885dae992b6af0058aaf2d8db24db8e40d82a5f707" },
        ],
      },
    ]);
  });
});

describe("verifyRoundtrip and what index.json says beyond names", () => {
  // An image entry with a platform that says more than its config, an artifact entry with
  // artifactType and an annotation of its own, and index.json's own annotations: the store
  // records none of them, so no trip keeps them.
  const image = makeImage({ seed: "entry-fields" });
  const { artifact, blobs: artifactBlobs } = signatureArtifact(blobOf("signature", "application/vnd.example.sig.v1"));
  const entries = [
    descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/fields:1", "org.opencontainers.image.ref.name": "1" }, platform: { os: "linux", architecture: "amd64", "os.features": ["sse4"] } }),
    descriptorOf(artifact, { artifactType: "application/vnd.example.sig", annotations: { "org.example.note": "keep-me" } }),
  ];
  const items = withFile(
    ociLayoutItems([image], { indexEntries: entries, extraBlobs: artifactBlobs }),
    "index.json",
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries, annotations: { "org.example.top": "x" } }),
  );

  it.each(["oci", "docker"] as const)("each field the %s layout's trip drops is a difference naming the entry and the field", async (format) => {
    const report = await verifyRoundtrip(await streamOf(items), { format });
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: false,
      exact: false,
      problems: ['index.json: annotations["org.example.top"] "x" is not in the saved archive'],
      warnings: [],
      images: [
        {
          id: image.manifest.digest,
          names: ["docker.io/example/fields:1"],
          bareTags: [],
          differences: ['index.json manifests[0]: platform {"architecture":"amd64","os":"linux","os.features":["sse4"]} is not in the saved archive'],
          notes: [],
        },
        {
          id: artifact.digest,
          names: [],
          bareTags: [],
          differences: [
            'index.json manifests[1]: annotations["org.example.note"] "keep-me" is not in the saved archive',
            'index.json manifests[1]: artifactType "application/vnd.example.sig" is not in the saved archive',
          ],
          notes: [],
        },
      ].sort((a, b) => (a.id < b.id ? -1 : 1)),
    });
  });

  it.each(["oci", "docker"] as const)("a platform that only repeats the config's, as Docker 25+ docker save writes it: the %s layout's trip is exact", async (format) => {
    const dockerStyle = [
      descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/fields:1", "org.opencontainers.image.ref.name": "1" }, platform: { architecture: "amd64", os: "linux" } }),
    ];
    const layout = withFile(ociLayoutItems([image], { indexEntries: dockerStyle }), "index.json", JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: dockerStyle }));
    const report = await verifyRoundtrip(await streamOf(layout), { format });
    expect([report.valid, report.exact, report.problems, report.images.map((each) => each.differences)]).toEqual([true, true, [], [[]]]);
  });

  it("names alone on the entries: the trip is exact", async () => {
    const named = [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/example/fields:1", "org.opencontainers.image.ref.name": "1" } })];
    const report = await verifyRoundtrip(await streamOf(ociLayoutItems([image], { indexEntries: named })), { format: "oci" });
    expect(summary(report)).toEqual({
      schemaVersion: 1,
      valid: true,
      exact: true,
      problems: [],
      warnings: [],
      images: [{ id: image.manifest.digest, names: ["docker.io/example/fields:1"], bareTags: [], differences: [], notes: [] }],
    });
  });
});

describe("verifyRoundtrip of an archive lading refuses", () => {
  // The report `lading verify --roundtrip --json` prints, where the library used to reject.
  it.skipIf(!haveFixtures)("a layer whose diff ID is not its config's: a report of that one problem, not valid", async () => {
    const report = await verifyRoundtrip(await openArchivePath(join(FIXTURES, "bad", "diffid-mismatch.tar")));
    expect(report).toEqual({
      schemaVersion: 1,
      valid: false,
      exact: false,
      format: "docker",
      images: [],
      problems: [
        "manifest.json[0].Layers[0]: layer bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar has diff ID sha256:554d7e7509a1a339e1ead60d7b9edcfc6b8e0751e420322f30b8e9a53d9ad97a, but 586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11.json rootfs.diff_ids[0] is sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
      ],
      warnings: [],
    });
  });

  it("a named artifact the docker layout cannot list: a report of the refusal; with format oci, the trip is exact", async () => {
    const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
    const payload = blobOf("sbom\n", "application/vnd.example.payload");
    const artifact = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sbom", config: descriptorOf(empty), layers: [descriptorOf(payload)] }), OCI_MANIFEST);
    const items = ociLayoutItems([], { indexEntries: [descriptorOf(artifact, { annotations: { "io.containerd.image.name": "example.com/sbom:1" } })], extraBlobs: [artifact, empty, payload] });
    expect(await verifyRoundtrip(await streamOf(items))).toEqual({
      schemaVersion: 1,
      valid: false,
      exact: false,
      format: "docker",
      images: [],
      problems: [`example.com/sbom:1 is not a container image (${artifact.digest} has no image config), so docker's manifest.json cannot list it: save it with --format oci`],
      warnings: [],
    });
    expect((await verifyRoundtrip(await streamOf(items), { format: "oci" })).exact).toBe(true);
  });

  it("a failure of the machine's, not of the archive (no scratch space), still rejects", async () => {
    const temporary = process.env.TMPDIR;
    const missing = join(tmpdir(), "lading-no-such-directory");
    process.env.TMPDIR = missing;
    try {
      await expect(verifyRoundtrip(await streamOf(dockerArchiveItems([{ image: makeImage({ seed: "machine" }), repoTags: ["example/app:1"] }])))).rejects.toMatchObject({
        kind: "io",
        message: `cannot create the directory ${missing}/lading-roundtrip-XXXXXX: no such file or directory (lading's scratch space in TMPDIR)`,
      });
    } finally {
      if (temporary === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = temporary;
    }
  });
});
