// Every real archive made by real tools verifies, and what lading reports equals what the tools
// and an independent parser recorded (../shared/fixtures/expected.json, testdata/expected.json).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { main } from "../../src/cli/main.js";
import { verifyArchive, type VerifiedImage, type VerifyReport } from "../../src/ops/verify.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");

const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
const DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

interface ExpectedLayer {
  digest?: string;
  blobSha256?: string;
  size?: number;
  blobSize?: number;
  mediaType?: string;
  compression: string;
  diffId: string;
  uncompressedSize: number;
}

interface ExpectedImage {
  source: "manifest.json" | "index.json";
  repoTags?: string[] | null;
  indexChain?: string[];
  refName?: string | null;
  containerdName?: string | null;
  manifestDigest?: string;
  manifestMediaType?: string;
  imageId: string;
  diffIds: string[];
  architecture: string;
  os: string;
  platform?: { os: string; architecture: string; variant?: string } | null;
  layers: ExpectedLayer[];
}

interface ExpectedFixture {
  path: string;
  format: string;
  images: ExpectedImage[];
}

const expected = JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as {
  fixtures: Record<string, ExpectedFixture>;
  bad: Record<string, { results: string[] }>;
};

/** Docker's normalisation, written independently of src/core/reference.ts. */
function fullName(name: string): string {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const withTag = /:[\w][\w.-]*$/.test(name.slice(name.lastIndexOf("/") + 1)) ? name : `${name}:latest`;
  if (first.includes(".") || first.includes(":") || first === "localhost") return withTag;
  return slash === -1 ? `docker.io/library/${withTag}` : `docker.io/${withTag}`;
}

async function verifyPath(path: string): Promise<VerifyReport> {
  return verifyArchive(await openArchivePath(path));
}

/** The parts of a reported image that expected.json pins down. */
function comparable(image: VerifiedImage): Omit<VerifiedImage, "listedAt" | "rootDigest" | "rootMediaType"> {
  const { listedAt: _listed, rootDigest: _root, rootMediaType: _type, ...rest } = image;
  return rest;
}

function expectedOciImage(image: ExpectedImage): Omit<VerifiedImage, "listedAt" | "rootDigest" | "rootMediaType"> {
  return {
    names: image.containerdName ? [fullName(image.containerdName)] : [],
    manifestDigest: image.manifestDigest!,
    manifestMediaType: image.manifestMediaType!,
    manifestOrigin: "archive",
    configDigest: image.imageId,
    platform: `${image.os}/${image.architecture}`,
    layers: image.layers.map((layer) => ({
      digest: layer.digest!,
      size: layer.size!,
      mediaType: layer.mediaType!,
      compression: layer.compression,
      diffId: layer.diffId,
      uncompressedSize: layer.uncompressedSize,
    })),
  };
}

/** A docker-save image: everything but the synthesised manifest digest, checked separately. */
function expectedDockerImage(image: ExpectedImage): Omit<VerifiedImage, "listedAt" | "rootDigest" | "rootMediaType" | "manifestDigest"> {
  return {
    names: (image.repoTags ?? []).map(fullName),
    manifestMediaType: DOCKER_MANIFEST,
    manifestOrigin: "synthesized",
    configDigest: image.imageId,
    platform: `${image.os}/${image.architecture}`,
    layers: image.layers.map((layer) => ({
      digest: layer.blobSha256!,
      size: layer.blobSize!,
      mediaType: layer.compression === "gzip" ? DOCKER_LAYER_GZIP : DOCKER_LAYER,
      compression: layer.compression,
      diffId: layer.diffId,
      uncompressedSize: layer.uncompressedSize,
    })),
  };
}

describe("shared fixtures: docker-save archives", () => {
  for (const name of ["docker-save-single.tar", "docker-save-multi.tar", "skopeo-docker-archive.tar"]) {
    it(`${name} verifies and matches expected.json`, async () => {
      const fixture = expected.fixtures[name]!;
      const report = await verifyPath(join(FIXTURES, fixture.path));
      expect(report.problems).toEqual([]);
      expect(report.valid).toBe(true);
      expect(report.format).toBe("docker-archive");
      expect(report.compression).toBe("none");
      expect(report.absent).toEqual([]);
      expect(report.warnings).toEqual([]);
      expect(report.images.map(({ listedAt: _l, manifestDigest: _m, rootDigest: _r, rootMediaType: _t, ...rest }) => rest)).toEqual(
        fixture.images.map(expectedDockerImage),
      );
      for (const image of report.images) {
        expect(image.rootDigest).toBe(image.manifestDigest);
        expect(image.rootMediaType).toBe(DOCKER_MANIFEST);
        expect(image.layers.map((layer) => layer.diffId)).toEqual(fixture.images[report.images.indexOf(image)]!.diffIds);
      }
    });
  }

  it("docker-save-multi.tar: the synthesised manifests are the ones ctr exported for the same images", async () => {
    const saved = await verifyPath(join(FIXTURES, "archives/docker-save-multi.tar"));
    const ctrImages = expected.fixtures["ctr-export.tar"]!.images.filter((image) => image.source === "index.json");
    expect(saved.images.map((image) => [image.configDigest, image.manifestDigest])).toEqual(
      ctrImages.map((image) => [image.imageId, image.manifestDigest]),
    );
    expect(saved.images.map((image) => image.manifestDigest)).toEqual([
      "sha256:662400124e1af9323b39bb1b8c1760dcec107697fdc9695102e02efb0dfe175d",
      "sha256:0b6aaa7c48083bcdd854f648faa89a3753d09991541441a57f3b796fe90df875",
    ]);
  });

  it("bad/GOOD-baseline.tar: the synthesised digest is the one ctr import recorded", async () => {
    const report = await verifyPath(join(FIXTURES, "bad/GOOD-baseline.tar"));
    expect(report.valid).toBe(true);
    const ctrLine = expected.bad["GOOD-baseline.tar"]!.results.find((line) => line.startsWith("unpacking "))!;
    const recorded = /\((sha256:[0-9a-f]{64})\)/.exec(ctrLine)![1];
    expect(recorded).toBe("sha256:00a7728632a9329633b7c5ec4ed07443304e2484be097b82c0cea259edf72896");
    expect(report.images).toEqual([
      {
        names: ["docker.io/fixture/good:1"],
        listedAt: "manifest.json[0]",
        rootDigest: recorded,
        rootMediaType: DOCKER_MANIFEST,
        manifestDigest: recorded,
        manifestMediaType: DOCKER_MANIFEST,
        manifestOrigin: "synthesized",
        configDigest: "sha256:586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11",
        platform: "linux/amd64",
        layers: [
          {
            digest: "sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
            size: 30208,
            mediaType: DOCKER_LAYER,
            compression: "none",
            diffId: "sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0",
            uncompressedSize: 30208,
          },
        ],
      },
    ]);
  });
});

describe("shared fixtures: OCI archives and layouts", () => {
  it("skopeo-oci-archive.tar: manifest digest, config, layers; the bare ref.name 1.0 is not a name", async () => {
    const fixture = expected.fixtures["skopeo-oci-archive.tar"]!;
    const report = await verifyPath(join(FIXTURES, fixture.path));
    expect(report.valid).toBe(true);
    expect(report.format).toBe("oci-layout");
    expect(report.images.map(comparable)).toEqual(fixture.images.map(expectedOciImage));
    expect(report.images[0]!.rootDigest).toBe("sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf");
    expect(report.images[0]!.rootMediaType).toBe(OCI_MANIFEST);
    expect(report.warnings).toEqual(['index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged']);
  });

  it("oci-archive-multiplatform.tar: both platforms under one index root", async () => {
    const fixture = expected.fixtures["oci-archive-multiplatform.tar"]!;
    const report = await verifyPath(join(FIXTURES, fixture.path));
    expect(report.valid).toBe(true);
    expect(report.format).toBe("oci-layout");
    expect(report.images.map(comparable)).toEqual(fixture.images.map(expectedOciImage));
    expect(report.images.map((image) => image.platform)).toEqual(["linux/amd64", "linux/arm64"]);
    expect(report.images.map((image) => [image.rootDigest, image.rootMediaType])).toEqual([
      ["sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355", OCI_INDEX],
      ["sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355", OCI_INDEX],
    ]);
    expect(fixture.images[0]!.indexChain).toEqual(["sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355"]);
    expect(report.absent).toEqual([]);
    expect(report.warnings).toEqual(['index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged']);
  });

  it("layouts/oci-umoci-gzip (a directory): three images, bare ref names are not names", async () => {
    const fixture = expected.fixtures["oci-umoci-gzip"]!;
    const report = await verifyPath(join(FIXTURES, fixture.path));
    expect(report.valid).toBe(true);
    expect(report.format).toBe("oci-layout");
    expect(report.compression).toBe("none");
    expect(report.images.map(comparable)).toEqual(fixture.images.map(expectedOciImage));
    expect(report.images.map((image) => image.rootDigest)).toEqual(fixture.images.map((image) => image.manifestDigest));
    expect(report.images.map((image) => image.platform)).toEqual(["linux/amd64", "linux/amd64", "linux/arm64"]);
    expect(report.warnings).toEqual([
      'index.json: ref.name "base" is a bare tag without a repository; the image is untagged',
      'index.json: ref.name "app" is a bare tag without a repository; the image is untagged',
      'index.json: ref.name "base-arm64" is a bare tag without a repository; the image is untagged',
    ]);
  });

  it("ctr-export.tar: OCI layout + manifest.json agree; names from io.containerd.image.name", async () => {
    const fixture = expected.fixtures["ctr-export.tar"]!;
    const report = await verifyPath(join(FIXTURES, fixture.path));
    expect(report.problems).toEqual([]);
    expect(report.valid).toBe(true);
    expect(report.format).toBe("docker-archive+oci-layout");
    const fromIndex = fixture.images.filter((image) => image.source === "index.json");
    expect(report.images.map(comparable)).toEqual(fromIndex.map(expectedOciImage));
    expect(report.images.map((image) => image.names)).toEqual([["docker.io/fixture/derived-a:1.0"], ["docker.io/fixture/derived-b:1.0"]]);
    // manifest.json describes the same images, by config
    const fromManifestJson = fixture.images.filter((image) => image.source === "manifest.json");
    expect(fromManifestJson.map((image) => image.imageId)).toEqual(report.images.map((image) => image.configDigest));
    expect(report.warnings).toEqual([]);
  });
});

describe("the --json document through the CLI", () => {
  it("equals the report of verifyArchive for every fixture", async () => {
    const paths = [...Object.values(expected.fixtures).map((fixture) => join(FIXTURES, fixture.path)), join(FIXTURES, "bad/GOOD-baseline.tar")];
    for (const path of paths) {
      let stdout = "";
      let stderr = "";
      const terminal = {
        stdout: new Writable({ write: (chunk: Buffer, _e, done) => ((stdout += chunk.toString()), done()) }),
        stderr: new Writable({ write: (chunk: Buffer, _e, done) => ((stderr += chunk.toString()), done()) }),
      };
      const code = await main(["node", "lading", "verify", path, "--json"], terminal);
      expect({ path, code, stderr }).toEqual({ path, code: 0, stderr: "" });
      expect(JSON.parse(stdout)).toEqual(JSON.parse(JSON.stringify(await verifyPath(path))));
    }
  });
});

interface TestdataImage {
  ref?: string;
  repoTags?: string[];
  manifestDigest?: string;
  configDigest: string;
  platform: { os: string; architecture: string };
  diffIds: string[];
  layers?: { digest: string; size: number; mediaType: string }[];
}
interface TestdataFile {
  format: string;
  compression?: string;
  indexDigest?: string;
  images: TestdataImage[];
}

const testdataExpected = join(TESTDATA, "expected.json");
const testdata = existsSync(testdataExpected)
  ? (JSON.parse(readFileSync(testdataExpected, "utf8")) as { files: Record<string, TestdataFile> }).files
  : undefined;

describe.skipIf(testdata === undefined)("testdata/ archives made by testdata/make.sh", () => {
  const files = Object.entries(testdata ?? {});
  for (const [name, file] of files) {
    it(`${name} verifies and matches testdata/expected.json`, async () => {
      const report = await verifyPath(join(TESTDATA, name));
      expect(report.problems).toEqual([]);
      expect(report.valid).toBe(true);
      expect(report.compression).toBe(file.compression ?? "none");
      expect(report.format).toBe(file.format === "docker-archive" ? "docker-archive" : "oci-layout");
      expect(report.images.map((image) => image.configDigest)).toEqual(file.images.map((image) => image.configDigest));
      expect(report.images.map((image) => image.platform)).toEqual(file.images.map((image) => `${image.platform.os}/${image.platform.architecture}`));
      expect(report.images.map((image) => image.layers.map((layer) => layer.diffId))).toEqual(file.images.map((image) => image.diffIds));
      if (file.format === "docker-archive") {
        expect(report.images.map((image) => image.names)).toEqual(file.images.map((image) => (image.repoTags ?? []).map(fullName)));
        expect(report.images.every((image) => image.manifestOrigin === "synthesized")).toBe(true);
      } else {
        expect(report.images.map((image) => image.manifestDigest)).toEqual(file.images.map((image) => image.manifestDigest));
        expect(report.images.map((image) => image.names)).toEqual(file.images.map(() => []));
        expect(report.images.every((image) => image.manifestOrigin === "archive")).toBe(true);
        file.images.forEach((image, index) => {
          if (image.layers === undefined) return; // make.sh records layers only for single-image layouts
          expect(report.images[index]!.layers.map(({ digest, size, mediaType }) => ({ digest, size, mediaType }))).toEqual(image.layers);
        });
        const roots = file.indexDigest ? file.images.map(() => file.indexDigest) : file.images.map((image) => image.manifestDigest);
        expect(report.images.map((image) => image.rootDigest)).toEqual(roots);
        expect(report.warnings).toEqual([...new Set(file.images.map((image) => image.ref))].map(
          (ref) => `index.json: ref.name ${JSON.stringify(ref)} is a bare tag without a repository; the image is untagged`,
        ));
      }
    });
  }

  it("every docker-archive shape of the same image synthesises the same manifest", async () => {
    const dockerNames = files.filter(([, file]) => file.format === "docker-archive").map(([name]) => name);
    expect(dockerNames.length).toBeGreaterThanOrEqual(2);
    const digests = new Set<string>();
    for (const name of dockerNames) {
      const report = await verifyPath(join(TESTDATA, name));
      for (const image of report.images) digests.add(image.manifestDigest);
    }
    expect(digests.size).toBe(1);
  });
});
