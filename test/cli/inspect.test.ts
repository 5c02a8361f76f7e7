// `lading inspect --platform` as a user runs it: the platform shown of a multi-platform image, a
// platform the store lacks (sparse) apart from one the image lacks, and a malformed value.
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobOf, buildTar, descriptorOf, ensureBuilt, makeImage, OCI_INDEX, OCI_MANIFEST, ociLayoutItems, runLading, type CliResult, type TestImage } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";
import { formatPlatform, hostPlatform } from "../../src/core/platform.js";

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-inspect-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const lading = (root: string, ...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);
const output = (result: CliResult): [number, string, string] => [result.code, result.stdout, result.stderr];

/** A store holding `archive` (loaded with `loadArgs`, which prints `loadNotes`), and its root. */
async function storeWith(archive: Buffer, loadArgs: string[] = [], loadNotes = ""): Promise<string> {
  const name = `archive-${counter}.tar`;
  const root = join(scratch, `store-${counter++}`);
  await writeFile(join(scratch, name), archive);
  const load = await lading(root, "load", "-q", ...loadArgs, "-i", join(scratch, name));
  expect([load.code, load.stderr]).toEqual([0, loadNotes]);
  return root;
}

/** Neither is the host's platform where the tests run, so the default (the first) is not the host's pick. */
const riscv = makeImage({ architecture: "riscv64", seed: "riscv" });
const s390x = makeImage({ architecture: "s390x", seed: "s390x" });
const index = blobOf(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [descriptorOf(riscv.manifest, { platform: { architecture: "riscv64", os: "linux" } }), descriptorOf(s390x.manifest, { platform: { architecture: "s390x", os: "linux" } })],
  }),
  OCI_INDEX,
);
const NAME = "example.com/multi/app:1";
const multiArchive = buildTar(
  ociLayoutItems([riscv, s390x], { indexEntries: [descriptorOf(index, { annotations: { "io.containerd.image.name": NAME } })], extraBlobs: [index] }),
);
const sizeOf = (image: TestImage): number => image.manifest.size + image.config.size + image.layers.reduce((sum, layer) => sum + layer.size, 0);

async function inspected(root: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  const result = await lading(root, "inspect", ...args);
  expect([result.code, result.stderr]).toEqual([0, ""]);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
}

/** dockerd 20.10's ContainerConfig for an image without one: every key of moby's container.Config, zero. */
const ZERO_CONTAINER_CONFIG =
  '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';

describe("lading inspect --platform", () => {
  it("shows the platform asked for, with its own manifest, config, layers and size", async () => {
    const root = await storeWith(multiArchive);
    expect(await inspected(root, "--platform", "linux/s390x", NAME)).toEqual([
      {
        Id: index.digest,
        RepoTags: [NAME],
        RepoDigests: [`example.com/multi/app@${index.digest}`],
        Parent: "",
        Comment: "",
        Created: "0001-01-01T00:00:00Z",
        Container: "",
        ContainerConfig: JSON.parse(ZERO_CONTAINER_CONFIG) as unknown,
        DockerVersion: "",
        Author: "",
        Config: { ...(JSON.parse(ZERO_CONTAINER_CONFIG) as object), Env: ["PATH=/bin"] },
        Architecture: "s390x",
        Os: "linux",
        Size: sizeOf(s390x),
        VirtualSize: sizeOf(s390x),
        RootFS: { Type: "layers", Layers: [s390x.layers[0]!.diffId] },
        Descriptor: { mediaType: OCI_INDEX, digest: index.digest, size: index.size },
        ConfigDigest: s390x.config.digest,
        ManifestDigest: s390x.manifest.digest,
        ManifestOrigin: "archive",
        Platforms: ["linux/riscv64", "linux/s390x"],
        AbsentPlatforms: [],
      },
    ]);
    const pick = async (...args: string[]): Promise<unknown[]> =>
      (await inspected(root, ...args)).map((entry) => [entry.Architecture, entry.ManifestDigest, entry.ConfigDigest, entry.Size]);
    expect(await pick("--platform", "linux/riscv64", NAME)).toEqual([["riscv64", riscv.manifest.digest, riscv.config.digest, sizeOf(riscv)]]);
    // Without --platform: the host's, else the first; and --platform applies to every IMAGE given.
    expect(await pick(NAME)).toEqual([["riscv64", riscv.manifest.digest, riscv.config.digest, sizeOf(riscv)]]);
    expect(await pick("--platform", "LINUX/S390X", NAME, index.digest)).toEqual([
      ["s390x", s390x.manifest.digest, s390x.config.digest, sizeOf(s390x)],
      ["s390x", s390x.manifest.digest, s390x.config.digest, sizeOf(s390x)],
    ]);
  });

  it("an architecture alone is on the host's operating system, and an operating system alone on the host's architecture, as docker takes them", async () => {
    const root = await storeWith(multiArchive);
    const [shown] = (await inspected(root, "--platform", "s390x", NAME)) as { ManifestDigest: string }[];
    expect(shown!.ManifestDigest).toBe(s390x.manifest.digest);
    const host = hostPlatform();
    expect(output(await lading(root, "inspect", "--platform", host.os, NAME))).toEqual([
      1,
      "[]\n",
      `Error: image with reference ${NAME} was found but does not provide the specified platform (${formatPlatform(host)}); it has linux/riscv64, linux/s390x\n`,
    ]);
  });

  it("a platform the image does not have is docker's error, naming what it has", async () => {
    const root = await storeWith(multiArchive);
    expect(output(await lading(root, "inspect", "--platform", "linux/arm64", NAME))).toEqual([
      1,
      "[]\n",
      `Error: image with reference ${NAME} was found but does not provide the specified platform (linux/arm64); it has linux/riscv64, linux/s390x\n`,
    ]);
    // The other images given are still shown, as docker inspect does.
    const mixed = await lading(root, "inspect", "--platform", "linux/arm/v7", NAME, "nope:1");
    expect([mixed.code, mixed.stdout, mixed.stderr]).toEqual([
      1,
      "[]\n",
      `Error: image with reference ${NAME} was found but does not provide the specified platform (linux/arm/v7); it has linux/riscv64, linux/s390x\nError: No such image: nope:1\n`,
    ]);
  });

  it("a platform the index lists but the store lacks (a sparse image) says it is not in this store", async () => {
    const root = await storeWith(multiArchive, ["--platform", "linux/riscv64"], `note: ${NAME} is sparse: linux/s390x not loaded\n`);
    expect(output(await lading(root, "inspect", "--platform", "linux/s390x", NAME))).toEqual([
      1,
      "[]\n",
      `Error: image ${NAME} lists platform linux/s390x (${s390x.manifest.digest}), but it is not in this store\n`,
    ]);
    const [entry] = await inspected(root, "--platform", "linux/riscv64", NAME);
    expect([entry!.ManifestDigest, entry!.Platforms, entry!.AbsentPlatforms]).toEqual([riscv.manifest.digest, ["linux/riscv64"], ["linux/s390x"]]);
  });

  it("a single-platform image is shown for its platform and refused for another", async () => {
    const root = await storeWith(buildTar(ociLayoutItems([s390x], { indexEntries: [descriptorOf(s390x.manifest, { annotations: { "io.containerd.image.name": "example.com/one:1" } })] })));
    expect((await inspected(root, "--platform", "linux/s390x", "example.com/one:1")).map((entry) => entry.ManifestDigest)).toEqual([s390x.manifest.digest]);
    expect(output(await lading(root, "inspect", "--platform", "linux/riscv64", "example.com/one:1"))).toEqual([
      1,
      "[]\n",
      "Error: image with reference example.com/one:1 was found but does not provide the specified platform (linux/riscv64); it has linux/s390x\n",
    ]);
  });

  it("a malformed --platform is the usage error every --platform gives, before the store is touched", async () => {
    const root = await storeWith(multiArchive);
    const before = await snapshotTree(root);
    for (const value of ["linux/amd64/v8/x", "linux//amd64", ""]) {
      expect(output(await lading(root, "inspect", "--platform", value, NAME))).toEqual([
        2,
        "",
        `lading: usage error: --platform: invalid platform ${JSON.stringify(value)}: want os/arch[/variant]\n`,
      ]);
    }
    expect(output(await lading(root, "load", "--platform", "linuxx", "-i", "x.tar"))).toEqual([
      2,
      "",
      'lading: usage error: --platform: invalid platform "linuxx": unknown operating system or architecture; want os/arch[/variant]\n',
    ]);
    expect(await snapshotTree(root)).toEqual(before);
  });
});

describe("lading inspect of an artifact (no platform image)", () => {
  const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
  const chart = blobOf("chart bytes\n", "application/vnd.example.chart.content.v1.tar+gzip");
  const chartManifest = blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: "application/vnd.example.chart",
      config: descriptorOf(empty),
      layers: [descriptorOf(chart, { annotations: { "org.opencontainers.image.title": "chart.tgz" } })],
      annotations: { "org.opencontainers.image.created": "2024-01-02T03:04:05Z" },
    }),
    OCI_MANIFEST,
  );
  // No artifactType: the config's media type is the artifact's type (the distribution spec's rule).
  const helmConfig = blobOf('{"name":"x","version":"1.0.0"}', "application/vnd.cncf.helm.config.v1+json");
  const helmManifest = blobOf(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptorOf(helmConfig), layers: [descriptorOf(chart)], subject: descriptorOf(chartManifest) }),
    OCI_MANIFEST,
  );
  const bundle = blobOf(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, artifactType: "application/vnd.example.bundle", manifests: [descriptorOf(chartManifest), descriptorOf(helmManifest)] }),
    OCI_INDEX,
  );
  const named = (blob: typeof chartManifest, name: string): Record<string, unknown> => descriptorOf(blob, { annotations: { "io.containerd.image.name": name } });
  const archive = buildTar(
    ociLayoutItems([], {
      indexEntries: [named(chartManifest, "example.com/charts/x:1"), named(helmManifest, "example.com/charts/helm:1"), named(bundle, "example.com/charts/bundle:1")],
      extraBlobs: [chartManifest, empty, chart, helmManifest, helmConfig, bundle],
    }),
  );

  it("a manifest artifact: its identity, artifactType, config, layers as descriptors; no image-only field", async () => {
    const root = await storeWith(archive);
    expect(await inspected(root, "example.com/charts/x:1")).toEqual([
      {
        Id: chartManifest.digest,
        RepoTags: ["example.com/charts/x:1"],
        RepoDigests: [`example.com/charts/x@${chartManifest.digest}`],
        Descriptor: { mediaType: OCI_MANIFEST, digest: chartManifest.digest, size: chartManifest.size },
        ArtifactType: "application/vnd.example.chart",
        ConfigDigest: empty.digest,
        ConfigMediaType: "application/vnd.oci.empty.v1+json",
        ManifestDigest: chartManifest.digest,
        Layers: [{ mediaType: chart.mediaType, digest: chart.digest, size: chart.size, annotations: { "org.opencontainers.image.title": "chart.tgz" } }],
        Manifests: null,
        Subject: null,
        Annotations: { "org.opencontainers.image.created": "2024-01-02T03:04:05Z" },
        ManifestOrigin: "archive",
        Platforms: [],
        AbsentPlatforms: [],
      },
    ]);
  });

  it("a manifest without artifactType takes its config's media type; its subject is shown", async () => {
    const root = await storeWith(archive);
    const [entry] = await inspected(root, helmManifest.digest.slice(7, 19));
    expect([entry!.Id, entry!.ArtifactType, entry!.ConfigDigest, entry!.ConfigMediaType, entry!.ManifestDigest, entry!.Layers, entry!.Subject, entry!.Annotations]).toEqual([
      helmManifest.digest,
      "application/vnd.cncf.helm.config.v1+json",
      helmConfig.digest,
      "application/vnd.cncf.helm.config.v1+json",
      helmManifest.digest,
      [{ mediaType: chart.mediaType, digest: chart.digest, size: chart.size }],
      { mediaType: OCI_MANIFEST, digest: chartManifest.digest, size: chartManifest.size },
      null,
    ]);
  });

  it("an index artifact: its artifactType and its children as descriptors", async () => {
    const root = await storeWith(archive);
    expect(await inspected(root, "example.com/charts/bundle:1")).toEqual([
      {
        Id: bundle.digest,
        RepoTags: ["example.com/charts/bundle:1"],
        RepoDigests: [`example.com/charts/bundle@${bundle.digest}`],
        Descriptor: { mediaType: OCI_INDEX, digest: bundle.digest, size: bundle.size },
        ArtifactType: "application/vnd.example.bundle",
        ConfigDigest: null,
        ConfigMediaType: null,
        ManifestDigest: null,
        Layers: null,
        Manifests: [descriptorOf(chartManifest), descriptorOf(helmManifest)],
        Subject: null,
        Annotations: null,
        ManifestOrigin: "archive",
        Platforms: [],
        AbsentPlatforms: [],
      },
    ]);
  });

  it("--platform on an artifact is docker's error: it provides no platform", async () => {
    const root = await storeWith(archive);
    expect(output(await lading(root, "inspect", "--platform", "linux/amd64", "example.com/charts/x:1"))).toEqual([
      1,
      "[]\n",
      "Error: image with reference example.com/charts/x:1 was found but does not provide the specified platform (linux/amd64); it has no platform image\n",
    ]);
  });

  it("an index whose platform images are all absent is still refused, not shown as an artifact", async () => {
    const sparse = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(s390x.manifest, { platform: { architecture: "s390x", os: "linux" } })] }), OCI_INDEX);
    const root = await storeWith(buildTar(ociLayoutItems([], { indexEntries: [named(sparse, "example.com/sparse:1")], extraBlobs: [sparse] })), [], "note: example.com/sparse:1 is sparse: linux/s390x not loaded\n");
    expect(output(await lading(root, "inspect", "example.com/sparse:1"))).toEqual([1, "[]\n", "Error: image example.com/sparse:1 holds no platform image in this store\n"]);
  });
});

describe("lading inspect shows what docker image inspect derives from the image", () => {
  const MULTI = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "archives", "docker-save-multi.tar");
  /** The keys dockerd 20.10 derives from the config, then lading's own. */
  const KEYS = ["Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture"];
  const LADING_KEYS = ["RootFS", "Descriptor", "ConfigDigest", "ManifestDigest", "ManifestOrigin", "Platforms", "AbsentPlatforms"];
  const derived = (entry: Record<string, unknown>, keys: readonly string[]): string => JSON.stringify(Object.fromEntries(keys.map((key) => [key, entry[key]])));

  it.skipIf(!existsSync(MULTI))("a docker-built image: Container, ContainerConfig, DockerVersion and the whole Config, byte for byte as dockerd 20.10.24 shows them", async () => {
    const root = join(scratch, `store-${counter++}`);
    expect((await lading(root, "load", "-q", "-i", MULTI)).code).toBe(0);
    const [entry] = await inspected(root, "fixture/derived-a:1.0");
    // `docker image inspect fixture/derived-a:1.0` on dockerd 20.10.24 after `docker load` of the same archive.
    const docker =
      '{"Parent":"","Comment":"derived a","Created":"2026-11-30T08:17:34.893298312Z","Container":"abef31d508e69c07c119c2c3afdc27f2e3add9c8d8c0ae626ed9364f56940ac2","ContainerConfig":{"Hostname":"abef31d508e6","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["FOO=bar"],"Cmd":["/bin/tool"],"Image":"fixture/imported:1.0","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"org.example.fixture":"imported"}},"DockerVersion":"20.10.24+dfsg1","Author":"make-fixtures","Config":{"Hostname":"abef31d508e6","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["FOO=bar","VARIANT=a"],"Cmd":["/bin/tool"],"Image":"fixture/imported:1.0","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"org.example.fixture":"derived-a"}},"Architecture":"amd64","Os":"linux"}';
    expect(derived(entry!, Object.keys(JSON.parse(docker) as object))).toBe(docker);
    expect(Object.keys(entry!)).toEqual([...KEYS, "Os", "Size", "VirtualSize", ...LADING_KEYS]);
  });

  it("an OCI image: no created is Go's zero time, Variant and OsVersion shown, Config's omitempty keys only when set, unknown keys dropped", async () => {
    const image = makeImage({
      seed: "derived-fields",
      editConfig: (config) => ({ ...config, architecture: "arm64", variant: "v8", "os.version": "10.0.1", config: { Env: ["A=1"], ExposedPorts: { "80/tcp": {} }, StopSignal: "SIGTERM", Unknown: 1 } }),
    });
    const root = await storeWith(buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/hand/x:1" } })] })));
    const [entry] = await inspected(root, "hand/x:1");
    // `docker image inspect` on dockerd 20.10.24 of an image with this config, loaded from lading's docker-layout convert of it.
    const docker =
      '{"Parent":"","Comment":"","Created":"0001-01-01T00:00:00Z","Container":"","ContainerConfig":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"DockerVersion":"","Author":"","Config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null,"StopSignal":"SIGTERM"},"Architecture":"arm64","Variant":"v8","Os":"linux","OsVersion":"10.0.1"}';
    expect(derived(entry!, Object.keys(JSON.parse(docker) as object))).toBe(docker);
    expect(Object.keys(entry!)).toEqual([...KEYS, "Variant", "Os", "OsVersion", "Size", "VirtualSize", ...LADING_KEYS]);
  });
});
