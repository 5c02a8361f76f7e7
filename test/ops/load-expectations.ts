// What loading each real fixture must produce, tied to ../shared/fixtures/expected.json and
// testdata/expected.json. Image IDs of OCI inputs are the archives' own root digests; image IDs of
// docker-save inputs are the digests of the manifest lading synthesises, which is the one
// containerd's importer writes (so ctr-export.tar, made by ctr from the same images, pins two of
// them, and `ctr images import` of GOOD-baseline.tar reported the third).
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import tarStream from "tar-stream";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const FIXTURES = join(REPO_ROOT, "..", "shared", "fixtures");
export const TESTDATA = join(REPO_ROOT, "testdata");
export const HAVE_FIXTURES = existsSync(join(FIXTURES, "expected.json"));

interface SharedImage {
  imageId: string;
  diffIds: string[];
  architecture: string;
  manifestDigest?: string;
  repoTags?: string[];
  configPath?: string;
  layers: { blobSha256?: string; digest?: string; blobSize?: number; size?: number; compression: string }[];
}
interface TestdataImage {
  configDigest: string;
  diffIds: string[];
  platform: { architecture: string };
  manifestDigest?: string;
}

export const sharedExpected = HAVE_FIXTURES
  ? (JSON.parse(readFileSync(join(FIXTURES, "expected.json"), "utf8")) as {
      fixtures: Record<string, { path: string; images: SharedImage[]; index: { manifests: { digest: string; annotations?: Record<string, string> }[] } | null }>;
      bad: Record<string, { results: string[] }>;
      dockerDataRoot: { repositoriesJson: { Repositories: Record<string, Record<string, string>> } };
    })
  : undefined;
export const testdataExpected = JSON.parse(readFileSync(join(TESTDATA, "expected.json"), "utf8")) as {
  files: Record<string, { images: TestdataImage[]; indexDigest?: string }>;
};

/** Config digest -> what the tools recorded about that image (diff IDs, architecture). */
export const configFacts = new Map<string, { diffIds: string[]; architecture: string }>();
for (const fixture of Object.values(sharedExpected?.fixtures ?? {})) {
  for (const image of fixture.images) configFacts.set(image.imageId, { diffIds: image.diffIds, architecture: image.architecture });
}
for (const file of Object.values(testdataExpected.files)) {
  for (const image of file.images) configFacts.set(image.configDigest, { diffIds: image.diffIds, architecture: image.platform.architecture });
}

export interface ExpectedImage {
  /** Image ID: the root digest. */
  id: string;
  origin: "archive" | "synthesized";
  /** Where the archive lists it: each synthesised one here is of a manifest.json-only archive. */
  listedIn: "index.json" | "manifest.json";
  repoTags: string[];
  repoDigests: string[];
  /** The config digest of each platform image, in the archive's order. */
  configDigests: string[];
  platforms: string[];
}

export interface ExpectedLoad {
  /** Path relative to the repo root. */
  path: string;
  shared: boolean;
  stdout: string;
  images: ExpectedImage[];
}

const IMPORTED_SYNTH = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
export const DERIVED_A_MANIFEST = "sha256:662400124e1af9323b39bb1b8c1760dcec107697fdc9695102e02efb0dfe175d";
export const DERIVED_B_MANIFEST = "sha256:0b6aaa7c48083bcdd854f648faa89a3753d09991541441a57f3b796fe90df875";
const UMOCI_APP_SYNTH = "sha256:87d776c852de5104a7b77328d913d7bd1f056b25cdbc3b361c9b012f16d74115";
export const TESTDATA_APP_SYNTH = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
/** What `ctr images import` of GOOD-baseline.tar reported (expected.json bad["GOOD-baseline.tar"]). */
export const GOOD_BASELINE_SYNTH = "sha256:00a7728632a9329633b7c5ec4ed07443304e2484be097b82c0cea259edf72896";

const IMPORTED_CONFIG = "sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b";
const DERIVED_A_CONFIG = "sha256:65ba0f4cf299619b9270d0b31ffdcdaea5b006888832db4661ff0d4885cb4713";
const DERIVED_B_CONFIG = "sha256:870c32292415ea8fdb36f41eee09b89d1ac470a2cc4b2c4f64a800c9862c052e";
const FX_APP_CONFIG = "sha256:f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67";
const FX_BASE_CONFIG = "sha256:586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11";
const FX_BASE_ARM_CONFIG = "sha256:d7599c507646386b2df3f2f83fb186008d04e11eabb2784672a9668511cf3dbe";
const TD_APP_CONFIG = "sha256:fb5b2ad6a24aa54f8c9ca0f7cdf584eb08a611b5ae9cf62d54baa695825784c0";

const untagged = (id: string, configDigests: string[], platforms = ["linux/amd64"]): ExpectedImage => ({
  id,
  origin: "archive",
  listedIn: "index.json",
  repoTags: [],
  repoDigests: [],
  configDigests,
  platforms,
});

const testdataApp: ExpectedImage = {
  id: TESTDATA_APP_SYNTH,
  origin: "synthesized",
  listedIn: "manifest.json",
  repoTags: ["lading-testdata/app:1.0", "lading-testdata/app:latest"],
  repoDigests: [],
  configDigests: [TD_APP_CONFIG],
  platforms: ["linux/amd64"],
};
const testdataAppStdout = "Loaded image: lading-testdata/app:1.0\nLoaded image: lading-testdata/app:latest\n";

export const EXPECTED_LOADS: ExpectedLoad[] = [
  {
    path: "../shared/fixtures/archives/docker-save-single.tar",
    shared: true,
    stdout:
      "Loaded image: fixture/imported:1.0\nLoaded image: fixture/imported:latest\nLoaded image: imported-plain:latest\nLoaded image: localhost:5000/team/imported:v1\n",
    images: [
      {
        id: IMPORTED_SYNTH,
        origin: "synthesized",
        listedIn: "manifest.json",
        repoTags: ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"],
        repoDigests: [],
        configDigests: [IMPORTED_CONFIG],
        platforms: ["linux/amd64"],
      },
    ],
  },
  {
    path: "../shared/fixtures/archives/docker-save-multi.tar",
    shared: true,
    stdout: "Loaded image: fixture/derived-a:1.0\nLoaded image: fixture/derived-b:1.0\n",
    images: [
      {
        id: DERIVED_A_MANIFEST,
        origin: "synthesized",
        listedIn: "manifest.json",
        repoTags: ["fixture/derived-a:1.0"],
        repoDigests: [],
        configDigests: [DERIVED_A_CONFIG],
        platforms: ["linux/amd64"],
      },
      {
        id: DERIVED_B_MANIFEST,
        origin: "synthesized",
        listedIn: "manifest.json",
        repoTags: ["fixture/derived-b:1.0"],
        repoDigests: [],
        configDigests: [DERIVED_B_CONFIG],
        platforms: ["linux/amd64"],
      },
    ],
  },
  {
    path: "../shared/fixtures/archives/skopeo-docker-archive.tar",
    shared: true,
    stdout: "Loaded image: fixture/umoci-app:1.0\nLoaded image: fixture/umoci-app:latest\nLoaded image: registry.example.com:5000/team/umoci-app:v1\n",
    images: [
      {
        id: UMOCI_APP_SYNTH,
        origin: "synthesized",
        listedIn: "manifest.json",
        repoTags: ["fixture/umoci-app:1.0", "fixture/umoci-app:latest", "registry.example.com:5000/team/umoci-app:v1"],
        repoDigests: [],
        configDigests: [FX_APP_CONFIG],
        platforms: ["linux/amd64"],
      },
    ],
  },
  {
    // ref.name "1.0" alone names no repository: loaded untagged.
    path: "../shared/fixtures/archives/skopeo-oci-archive.tar",
    shared: true,
    stdout: "Loaded image ID: sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf\n",
    images: [untagged("sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf", [FX_APP_CONFIG])],
  },
  {
    path: "../shared/fixtures/archives/oci-archive-multiplatform.tar",
    shared: true,
    stdout: "Loaded image ID: sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355\n",
    images: [untagged("sha256:76411f078d5e6ede430895ca18355bbac7eb708906c380c735edbb549722e355", [FX_BASE_CONFIG, FX_BASE_ARM_CONFIG], ["linux/amd64", "linux/arm64"])],
  },
  {
    path: "../shared/fixtures/archives/ctr-export.tar",
    shared: true,
    stdout: "Loaded image: fixture/derived-a:1.0\nLoaded image: fixture/derived-b:1.0\n",
    images: [
      {
        id: DERIVED_A_MANIFEST,
        origin: "archive",
        listedIn: "index.json",
        repoTags: ["fixture/derived-a:1.0"],
        repoDigests: [`fixture/derived-a@${DERIVED_A_MANIFEST}`],
        configDigests: [DERIVED_A_CONFIG],
        platforms: ["linux/amd64"],
      },
      {
        id: DERIVED_B_MANIFEST,
        origin: "archive",
        listedIn: "index.json",
        repoTags: ["fixture/derived-b:1.0"],
        repoDigests: [`fixture/derived-b@${DERIVED_B_MANIFEST}`],
        configDigests: [DERIVED_B_CONFIG],
        platforms: ["linux/amd64"],
      },
    ],
  },
  {
    path: "../shared/fixtures/layouts/oci-umoci-gzip",
    shared: true,
    stdout: [
      "Loaded image ID: sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7",
      "Loaded image ID: sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf",
      "Loaded image ID: sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171",
      "",
    ].join("\n"),
    images: [
      untagged("sha256:57009ae630dfebf18c507dd57f5e36de2f7ea3951ccf61c2a740725f695fb8f7", [FX_BASE_CONFIG]),
      untagged("sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf", [FX_APP_CONFIG]),
      untagged("sha256:3bd9904a391610ae47557455df7ed7f5c55ecb3fd2804743dc747b7ea108e171", [FX_BASE_ARM_CONFIG], ["linux/arm64"]),
    ],
  },
  {
    path: "testdata/oci-layout",
    shared: false,
    stdout:
      "Loaded image ID: sha256:6fb75827e642046b4c6ce9265e77e8cf6ea5476eceb3af6b2d55b2c7aba4127a\nLoaded image ID: sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e\n",
    images: [
      untagged("sha256:6fb75827e642046b4c6ce9265e77e8cf6ea5476eceb3af6b2d55b2c7aba4127a", ["sha256:923ca15e43e80e59804bbff69666f7b81d2ca33d520762fa49f757834097615c"]),
      untagged("sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e", [TD_APP_CONFIG]),
    ],
  },
  {
    path: "testdata/oci-archive.tar",
    shared: false,
    stdout: "Loaded image ID: sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e\n",
    images: [untagged("sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e", [TD_APP_CONFIG])],
  },
  ...["docker-archive.tar", "docker-archive.tar.gz", "docker-archive.tar.bz2", "docker-archive.tar.xz", "docker-archive.tar.zst", "docker-save.tar"].map(
    (name): ExpectedLoad => ({ path: `testdata/${name}`, shared: false, stdout: testdataAppStdout, images: [testdataApp] }),
  ),
  {
    path: "testdata/oci-multiplatform.tar",
    shared: false,
    stdout: "Loaded image ID: sha256:797b264987ad4dc1204bdbf5d26ed90293f22e70d542954cf366f9eed2300689\n",
    images: [
      untagged(
        "sha256:797b264987ad4dc1204bdbf5d26ed90293f22e70d542954cf366f9eed2300689",
        ["sha256:645a84dd440557ae7566383ba5bb76ace5e4e7ebbb080c7fc0a70aa422c5d26a", "sha256:caf175150e9ed03658e45b9bdadafc2177245eb48a1e46ba93cc7293ed995fb5"],
        ["linux/amd64", "linux/arm64"],
      ),
    ],
  },
];

export const sha256Of = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

/** The bytes of one entry of a tar file (uncompressed tars only). */
export async function tarEntryBytes(archive: string, name: string): Promise<Buffer> {
  const extract = tarStream.extract();
  const found = new Promise<Buffer>((resolve, reject) => {
    let result: Buffer | undefined;
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on("end", () => {
        if (header.name === name) result = Buffer.concat(chunks);
        next();
      });
    });
    extract.on("finish", () => (result ? resolve(result) : reject(new Error(`${name} not in ${archive}`))));
    extract.on("error", reject);
  });
  createReadStream(archive).pipe(extract);
  return found;
}

/**
 * The Docker schema2 manifest containerd's importer writes for a manifest.json image, built here
 * from what expected.json recorded, independently of src/archive/synthesize.ts.
 */
export async function synthesizedDigest(archive: string, image: SharedImage): Promise<string> {
  const config = await tarEntryBytes(archive, image.configPath ?? "");
  const layerType = (compression: string): string =>
    compression === "gzip" ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : "application/vnd.docker.image.rootfs.diff.tar";
  const manifest =
    `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
    `"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"${sha256Of(config)}","size":${config.length}},` +
    `"layers":[${image.layers
      .map((layer) => `{"mediaType":"${layerType(layer.compression)}","digest":"${layer.blobSha256 ?? ""}","size":${layer.blobSize ?? 0}}`)
      .join(",")}]}`;
  return sha256Of(manifest);
}
