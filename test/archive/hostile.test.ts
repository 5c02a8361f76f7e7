// Every hostile case of ../shared/docs/formats.md, on archives built here byte by byte: each
// refused with its own one-line message naming the entry or field at fault, and the harmless
// look-alikes (identical duplicates, unknown media types, sparse indexes, empty layers) accepted.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readArchive } from "../../src/archive/read.js";
import { openTarStream } from "../../src/archive/source.js";
import { verifyArchive, type VerifyReport } from "../../src/ops/verify.js";
import { SPARSE_FORMATS, sparseTar, writeWithHoles } from "../support/sparse-tar.js";
import {
  DOCKER_CONFIG,
  DOCKER_FOREIGN_LAYER,
  DOCKER_MANIFEST,
  EMPTY_LAYER,
  EMPTY_LAYER_DIFF_ID,
  FOREIGN_URLS,
  OCI_NONDISTRIBUTABLE_LAYER_GZIP,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  blobItem,
  blobOf,
  blobPath,
  buildTar,
  descriptorOf,
  dockerArchiveItems,
  gnuLongRecord,
  hexOf,
  layerTar,
  makeForeignImage,
  makeImage,
  ociLayoutItems,
  paxRecords,
  patchedHeader,
  sha256,
  tarEntry,
  tarHeader,
  verifyBytes,
  verifyItems,
  withFile,
  withoutFile,
  type Blob,
  type TarItem,
  type TestImage,
} from "../support/archive-builder.js";

type Problem = { entry: string; message: string };

function expectRefused(report: VerifyReport, problems: Problem[]): void {
  expect(report.problems).toEqual(problems);
  expect(report.valid).toBe(false);
  for (const problem of report.problems) expect(problem.message).not.toMatch(/[\r\n]/);
}

function expectValid(report: VerifyReport): void {
  expect(report.problems).toEqual([]);
  expect(report.valid).toBe(true);
}

const OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
const image = makeImage();
const gzImage = makeImage({ gzip: true, seed: "gz" });
const dockerItems = (tags: string[] | null = ["example/app:1"], img: TestImage = image): TarItem[] => dockerArchiveItems([{ image: img, repoTags: tags }]);
const configName = `${hexOf(image.config.digest)}.json`;
const layerName = `${hexOf(image.layers[0]!.digest)}.tar`;
const manifestJson = (items: Record<string, unknown>[]): string => JSON.stringify(items);
const mPath = (img: TestImage): string => blobPath(img.manifest.digest);
const cPath = (img: TestImage): string => blobPath(img.config.digest);
const lPath = (img: TestImage, index = 0): string => blobPath(img.layers[index]!.digest);
/** A PAX global header ("g") carrying the given records. */
const globalRecords = (records: Record<string, string>): Buffer => {
  const extended = paxRecords(records);
  return Buffer.concat([patchedHeader(extended, 156, "g"), extended.subarray(512)]);
};

describe("entry names", () => {
  const withEntry = (entry: Buffer): Buffer => buildTar([{ type: "raw", bytes: entry }, ...dockerItems()]);
  const cases: [string, Buffer, Problem][] = [
    ["../x", tarEntry({ name: "../x" }, Buffer.from("x")), { entry: "../x", message: 'unsafe entry name "../x": ".." component' }],
    ["/x", tarEntry({ name: "/x" }, Buffer.from("x")), { entry: "/x", message: 'unsafe entry name "/x": absolute path' }],
    ["./../x", tarEntry({ name: "./../x" }, Buffer.from("x")), { entry: "./../x", message: 'unsafe entry name "./../x": ".." component' }],
    ["a/../../x", tarEntry({ name: "a/../../x" }, Buffer.from("x")), { entry: "a/../../x", message: 'unsafe entry name "a/../../x": ".." component' }],
    ["a/../b (.. even when it stays inside)", tarEntry({ name: "a/../b" }, Buffer.from("x")), { entry: "a/../b", message: 'unsafe entry name "a/../b": ".." component' }],
    ["a backslash", tarEntry({ name: "..\\x" }, Buffer.from("x")), { entry: "..\\x", message: 'unsafe entry name "..\\\\x": contains a backslash' }],
    [
      "a NUL byte (PAX path)",
      Buffer.concat([paxRecords({ path: "a\0b" }), tarEntry({ name: "ab" }, Buffer.from("x"))]),
      { entry: "a\0b", message: 'unsafe entry name "a\\u0000b": contains a NUL byte' },
    ],
    [
      "a PAX path expanding to ../x",
      Buffer.concat([paxRecords({ path: "../x" }), tarEntry({ name: "x" }, Buffer.from("x"))]),
      { entry: "../x", message: 'unsafe entry name "../x": ".." component' },
    ],
    [
      "a GNU long name expanding to ../x",
      Buffer.concat([gnuLongRecord("L", "../x"), tarEntry({ name: "x" }, Buffer.from("x"))]),
      { entry: "../x", message: 'unsafe entry name "../x": ".." component' },
    ],
    [
      "a name longer than 4096 bytes",
      Buffer.concat([paxRecords({ path: `${"d/".repeat(2100)}x` }), tarEntry({ name: "x" }, Buffer.from("x"))]),
      // A long name is quoted by its first 200 characters and its length.
      { entry: `${"d/".repeat(100)}… (4201 bytes)`, message: `unsafe entry name "${"d/".repeat(100)}"… (4201 bytes): longer than 4096 bytes` },
    ],
    [
      "a GNU long name of 3 MiB",
      Buffer.concat([gnuLongRecord("L", "a".repeat(3 * 1024 * 1024)), tarEntry({ name: "x" }, Buffer.from("x"))]),
      { entry: `${"a".repeat(200)}… (3145728 bytes)`, message: `unsafe entry name "${"a".repeat(200)}"… (3145728 bytes): longer than 4096 bytes` },
    ],
    [
      "a component longer than 255 bytes",
      Buffer.concat([paxRecords({ path: `d/${"n".repeat(256)}` }), tarEntry({ name: "x" }, Buffer.from("x"))]),
      { entry: `d/${"n".repeat(198)}… (258 bytes)`, message: `unsafe entry name "d/${"n".repeat(198)}"… (258 bytes): component longer than 255 bytes` },
    ],
  ];
  for (const [title, entry, problem] of cases) {
    it(`refuses ${title}`, async () => {
      const report = await verifyBytes(withEntry(entry));
      expectRefused(report, [problem]);
      expect(report.images).toEqual([]);
    });
  }

  it("accepts a long (PAX) name that is safe, and ./ prefixes", async () => {
    const long = `${"deep/".repeat(30)}file`;
    const items = [...dockerItems(), { type: "file", name: long, content: "ok" } as TarItem];
    expectValid(await verifyItems(items));
    const dotted = dockerItems().map((item) => (item.type === "file" ? { ...item, name: `./${item.name}` } : item));
    expectValid(await verifyItems(dotted));
  });

  it("refuses a header with a bad checksum", async () => {
    const bytes = buildTar([{ type: "raw", bytes: tarEntry({ name: "junk", checksum: 1234 }, Buffer.from("x")) }, ...dockerItems()]);
    expectRefused(await verifyBytes(bytes), [{ entry: "(archive)", message: "invalid tar header at offset 0: checksum mismatch" }]);
  });
});

describe("links", () => {
  it("refuses a symlink that climbs out of the archive", async () => {
    const report = await verifyItems([...dockerItems(), { type: "symlink", name: "evil", target: "../../etc/passwd" }]);
    expectRefused(report, [{ entry: "evil", message: 'symlink "evil" -> "../../etc/passwd": target escapes the archive' }]);
  });

  it("refuses an absolute symlink", async () => {
    const report = await verifyItems([...dockerItems(), { type: "symlink", name: "evil", target: "/etc/passwd" }]);
    expectRefused(report, [{ entry: "evil", message: 'symlink "evil" -> "/etc/passwd": absolute target' }]);
  });

  it("refuses an entry written through a symlink", async () => {
    const report = await verifyItems([{ type: "symlink", name: "dir", target: "elsewhere" }, { type: "file", name: "dir/x", content: "x" }, ...dockerItems()]);
    expectRefused(report, [{ entry: "dir/x", message: 'entry "dir/x" is beneath the link "dir"' }]);
  });

  it("refuses a symlink that replaces a directory of earlier entries", async () => {
    const report = await verifyItems([{ type: "file", name: "dir/x", content: "x" }, { type: "symlink", name: "dir", target: "elsewhere" }, ...dockerItems()]);
    expectRefused(report, [{ entry: "dir", message: 'link "dir" replaces a directory of earlier entries' }]);
  });

  it("refuses an entry beneath a file", async () => {
    expectRefused(await verifyItems([{ type: "file", name: "a", content: "x" }, { type: "file", name: "a/b", content: "y" }, ...dockerItems()]), [
      { entry: "a/b", message: 'entry "a/b" is beneath the file "a"' },
    ]);
  });

  it("refuses a directory entry that replaces an earlier file or link (Docker's unpacking would remove it)", async () => {
    const items = dockerItems();
    const manifestAgain = [...items, { type: "dir", name: "manifest.json/" } as TarItem];
    expectRefused(await verifyItems(manifestAgain), [{ entry: "manifest.json", message: 'directory "manifest.json" replaces the file of an earlier entry' }]);
    expectRefused(await verifyItems([{ type: "symlink", name: "a", target: "manifest.json" }, { type: "dir", name: "a/" } as TarItem, ...items]), [
      { entry: "a", message: 'directory "a" replaces the link of an earlier entry' },
    ]);
  });

  it("refuses a file that replaces a directory of earlier entries", async () => {
    // Docker unpacks the archive before reading it: the file "a" would remove the directory holding a/b.
    expectRefused(await verifyItems([{ type: "file", name: "a/b", content: "y" }, { type: "file", name: "a", content: "x" }, ...dockerItems()]), [
      { entry: "a", message: 'file "a" replaces a directory of earlier entries' },
    ]);
    expectRefused(await verifyItems([{ type: "symlink", name: "a/b", target: "c" }, { type: "file", name: "a", content: "x" }, ...dockerItems()]), [
      { entry: "a", message: 'file "a" replaces a directory of earlier entries' },
    ]);
  });

  it("refuses hard links to outside the archive", async () => {
    expectRefused(await verifyItems([...dockerItems(), { type: "hardlink", name: "hl", target: "../x" }]), [
      { entry: "hl", message: 'hard link "hl" points outside the archive ("../x")' },
    ]);
    expectRefused(await verifyItems([...dockerItems(), { type: "hardlink", name: "hl", target: "/etc/shadow" }]), [
      { entry: "hl", message: 'hard link "hl" points outside the archive ("/etc/shadow")' },
    ]);
  });

  it("refuses a GNU long link name (K) expanding to ../x", async () => {
    const hardlink = Buffer.concat([gnuLongRecord("K", "../x"), tarEntry({ name: "hl", typeflag: "1", linkname: "x" })]);
    expectRefused(await verifyBytes(buildTar([...dockerItems(), { type: "raw", bytes: hardlink }])), [
      { entry: "hl", message: 'hard link "hl" points outside the archive ("../x")' },
    ]);
  });

  it("refuses a link loop", async () => {
    const items = [
      ...withoutFile(dockerItems(), "manifest.json"),
      { type: "symlink", name: "manifest.json", target: "a" },
      { type: "symlink", name: "a", target: "manifest.json" },
    ] as TarItem[];
    expectRefused(await verifyItems(items), [{ entry: "manifest.json", message: 'manifest.json: "manifest.json" is a chain of more than 16 links (or a loop)' }]);
  });

  const chain = (links: number): TarItem[] => {
    const items: TarItem[] = [];
    for (let i = 1; i <= links; i++) items.push({ type: "symlink", name: `l${i}`, target: i === 1 ? configName : `l${i - 1}` });
    return [...withFile(dockerItems(), "manifest.json", manifestJson([{ Config: `l${links}`, RepoTags: null, Layers: [layerName] }])), ...items];
  };

  it("follows a chain of 16 links", async () => {
    const report = await verifyItems(chain(16));
    expectValid(report);
    expect(report.images[0]!.configDigest).toBe(image.config.digest);
  });

  it("refuses a chain of 17 links", async () => {
    expectRefused(await verifyItems(chain(17)), [
      { entry: "manifest.json[0].Config", message: 'manifest.json[0].Config: "l17" is a chain of more than 16 links (or a loop)' },
    ]);
  });

  it("refuses a manifest path that goes through a link to a directory", async () => {
    const items: TarItem[] = [
      { type: "file", name: configName, content: image.config.bytes },
      { type: "file", name: `real/${layerName}`, content: image.layers[0]!.bytes },
      { type: "symlink", name: "layers", target: "real" },
      { type: "file", name: "manifest.json", content: manifestJson([{ Config: configName, RepoTags: null, Layers: [`layers/${layerName}`] }]) },
    ];
    expectRefused(await verifyItems(items), [
      { entry: "manifest.json[0].Layers[0]", message: `manifest.json[0].Layers[0]: "layers/${layerName}" reaches a file through the link "layers"` },
    ]);
  });

  it("accepts skopeo's <v1id>/layer.tar symlinks to ../<diffid>.tar", async () => {
    const items: TarItem[] = [
      { type: "file", name: configName, content: image.config.bytes },
      { type: "file", name: layerName, content: image.layers[0]!.bytes },
      { type: "symlink", name: "v1id/layer.tar", target: `../${layerName}` },
      { type: "file", name: "manifest.json", content: manifestJson([{ Config: configName, RepoTags: ["example/app:1"], Layers: ["v1id/layer.tar"] }]) },
    ];
    const report = await verifyItems(items);
    expectValid(report);
    expect(report.images[0]!.layers[0]!.digest).toBe(image.layers[0]!.digest);
  });
});

describe("duplicate entries", () => {
  const twice = (name: string, items: TarItem[], second: string | Buffer): TarItem[] => [...items, { type: "file", name, content: second }];

  it("refuses manifest.json twice with different content", async () => {
    const items = twice("manifest.json", dockerItems(), manifestJson([{ Config: configName, RepoTags: ["example/other:1"], Layers: [layerName] }]));
    expectRefused(await verifyItems(items), [{ entry: "manifest.json", message: 'duplicate entry "manifest.json" with different content' }]);
  });

  it("accepts manifest.json twice with identical content", async () => {
    const original = dockerItems().find((item) => item.type === "file" && item.name === "manifest.json") as { content: string };
    const report = await verifyItems(twice("manifest.json", dockerItems(), original.content));
    expectValid(report);
    expect(report.images.map((i) => i.names)).toEqual([["docker.io/example/app:1"]]);
  });

  it("refuses index.json twice with different content, accepts it identical", async () => {
    const items = ociLayoutItems([gzImage]);
    const indexJson = (items[1] as { content: string }).content;
    expectRefused(await verifyItems(twice("index.json", items, JSON.stringify({ schemaVersion: 2, manifests: [] }))), [
      { entry: "index.json", message: 'duplicate entry "index.json" with different content' },
    ]);
    expectValid(await verifyItems(twice("index.json", items, indexJson)));
  });

  it("refuses a blob twice with different content, accepts it identical", async () => {
    const items = ociLayoutItems([gzImage]);
    expectRefused(await verifyItems(twice(lPath(gzImage), items, Buffer.from("other"))), [
      { entry: lPath(gzImage), message: `duplicate entry "${lPath(gzImage)}" with different content` },
    ]);
    expectValid(await verifyItems(twice(lPath(gzImage), items, gzImage.layers[0]!.bytes)));
  });

  it("refuses a file and a link of the same name", async () => {
    const items: TarItem[] = [...dockerItems(), { type: "symlink", name: layerName, target: configName }];
    expectRefused(await verifyItems(items), [{ entry: layerName, message: `duplicate entry "${layerName}" with different content` }]);
  });
});

describe("JSON documents", () => {
  it("refuses manifest.json beyond the manifest.json cap", async () => {
    const items = withFile(dockerItems(), "manifest.json", manifestJson([{ Config: configName, RepoTags: Array.from({ length: 200 }, (_, i) => `x/y:${i}`), Layers: [layerName] }]));
    expectRefused(await verifyItems(items, { maxManifestJsonBytes: 1024 }), [
      { entry: "manifest.json", message: "manifest.json: manifest.json is larger than the JSON size cap of 1024 bytes" },
    ]);
    // the same archive within the cap
    expectValid(await verifyItems(items, { maxManifestJsonBytes: 8192 }));
    expect(Buffer.byteLength((items.find((i) => i.type === "file" && i.name === "manifest.json") as { content: string }).content)).toBeGreaterThan(1024);
  });

  it("applies the JSON cap to manifest.json when it is below the manifest.json cap", async () => {
    expectRefused(await verifyItems(dockerItems(), { maxJsonBytes: 16, maxManifestJsonBytes: 16 }), [
      { entry: "manifest.json", message: "manifest.json: manifest.json is larger than the JSON size cap of 16 bytes" },
    ]);
  });

  it("refuses a config beyond the JSON cap (--max-json-size)", async () => {
    expectRefused(await verifyItems(dockerItems(), { maxJsonBytes: 64 }), [
      { entry: configName, message: `manifest.json[0].Config: ${configName} is larger than the JSON size cap of 64 bytes` },
    ]);
  });

  it("refuses deep nesting", async () => {
    const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
    expectRefused(await verifyItems(withFile(dockerItems(), "manifest.json", deep)), [
      { entry: "manifest.json", message: "manifest.json: JSON nested deeper than 64 levels" },
    ]);
  });

  it("refuses duplicate keys in manifest.json, in a config and in index.json", async () => {
    const dupManifest = `[{"Config":${JSON.stringify(configName)},"Config":"other.json","RepoTags":null,"Layers":[${JSON.stringify(layerName)}]}]`;
    expectRefused(await verifyItems(withFile(dockerItems(), "manifest.json", dupManifest)), [
      { entry: "manifest.json", message: 'manifest.json: duplicate key "Config"' },
    ]);

    const dupConfig = image.config.bytes.toString().replace('"os":"linux"', '"os":"linux","os":"windows"');
    const dupConfigName = `${hexOf(sha256(dupConfig))}.json`;
    const items = withFile(withoutFile(dockerItems(), configName), dupConfigName, dupConfig);
    const withManifest = withFile(items, "manifest.json", manifestJson([{ Config: dupConfigName, RepoTags: null, Layers: [layerName] }]));
    expectRefused(await verifyItems(withManifest), [{ entry: dupConfigName, message: `${dupConfigName}: duplicate key "os"` }]);

    const dupIndex = `{"schemaVersion":2,"schemaVersion":2,"manifests":[]}`;
    expectRefused(await verifyItems(withFile(ociLayoutItems([gzImage]), "index.json", dupIndex)), [
      { entry: "index.json", message: 'index.json: duplicate key "schemaVersion"' },
    ]);
  });

  it("refuses manifest.json that is null or an object, accepts [] (docker loads it) with a warning", async () => {
    expectRefused(await verifyItems(withFile(dockerItems(), "manifest.json", "null")), [
      { entry: "manifest.json", message: "manifest.json: manifest.json is not a JSON object or array" },
    ]);
    expectRefused(await verifyItems(withFile(dockerItems(), "manifest.json", "{}")), [
      { entry: "manifest.json", message: "manifest.json: (document): Invalid input: expected array, received object" },
    ]);
    const empty = await verifyItems(withFile(dockerItems(), "manifest.json", "[]"));
    expectValid(empty);
    expect(empty.images).toEqual([]);
    expect(empty.warnings).toEqual(["the archive holds no image: manifest.json lists none"]);
    const emptyIndex = await verifyItems(ociLayoutItems([], { indexEntries: [] }));
    expectValid(emptyIndex);
    expect(emptyIndex.warnings).toEqual(["the archive holds no image: index.json lists none"]);
    // An unreadable document lists no image either: that is its problem, not a warning.
    expect((await verifyItems(withFile(dockerItems(), "manifest.json", "{}"))).warnings).toEqual([]);
  });
});

describe("OCI layout documents", () => {
  const indexOf = (...manifests: Record<string, unknown>[]): Blob => blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }), OCI_INDEX);

  it("ignores unknown media types in index.json", async () => {
    const unknown = { mediaType: "application/vnd.example.thing.v1+json", digest: sha256("not here"), size: 8 };
    const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(gzImage.manifest), unknown] }));
    expectValid(report);
    expect(report.images.map((i) => i.manifestDigest)).toEqual([gzImage.manifest.digest]);
    expect(report.warnings).toEqual([`index.json: entry ${unknown.digest} has unknown media type application/vnd.example.thing.v1+json; ignored`]);
  });

  it("checks the blobs of an attestation or artifact manifest as an image's: all present and matching", async () => {
    const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
    const payload = blobOf('{"predicate":"x"}', "application/vnd.in-toto+json");
    const attestation = blobOf(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example+json", config: descriptorOf(empty), layers: [descriptorOf(payload)], subject: descriptorOf(gzImage.manifest) }),
      OCI_MANIFEST,
    );
    const index = indexOf(
      descriptorOf(gzImage.manifest, { platform: { os: "linux", architecture: "amd64" } }),
      descriptorOf(attestation, { platform: { os: "unknown", architecture: "unknown" }, annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": gzImage.manifest.digest } }),
    );
    const layout = (blobs: (Blob | Buffer)[]): TarItem[] => ociLayoutItems([gzImage], { indexEntries: [descriptorOf(index)], extraBlobs: [index, attestation, ...blobs] });
    const complete = await verifyItems(layout([empty, payload]));
    expectValid(complete);
    expect(complete.images.map((i) => [i.rootDigest, i.manifestDigest])).toEqual([[index.digest, gzImage.manifest.digest]]);
    expectRefused(await verifyItems(layout([empty])), [
      { entry: blobPath(payload.digest), message: `${blobPath(attestation.digest)} layers[0]: blob ${payload.digest} is missing (${blobPath(payload.digest)})` },
    ]);
    const alteredBytes = Buffer.from('{"predicate":"y"}');
    const altered: TarItem = { type: "file", name: blobPath(payload.digest), content: alteredBytes };
    const alteredDigest = sha256(alteredBytes);
    // Said once, as the artifact's problem (verify leaves out the name problem of a blob a root's problem names).
    expectRefused(await verifyItems([...layout([empty]), altered]), [
      {
        entry: blobPath(payload.digest),
        message: `${blobPath(attestation.digest)} layers[0]: digest ${payload.digest} does not match the content of ${blobPath(payload.digest)} (${alteredDigest})`,
      },
    ]);
  });

  describe("an index's child of an unknown media type (an artifact) is checked like any blob", () => {
    const artifact = blobOf('{"artifact":"x"}', "application/vnd.example+json");
    const impostor = blobOf('{"artifact":"y"}', "application/vnd.example+json");
    const withChild = (child: Record<string, unknown>): Blob => indexOf(descriptorOf(gzImage.manifest), child);
    const layout = (child: Record<string, unknown>, blobs: TarItem[]): TarItem[] => [
      ...ociLayoutItems([gzImage], { indexEntries: [descriptorOf(withChild(child))], extraBlobs: [withChild(child)] }),
      ...blobs,
    ];
    const good = descriptorOf(artifact);

    it("accepts it when it matches", async () => {
      expectValid(await verifyItems(layout(good, [blobItem(artifact)])));
    });

    it("refuses a size that disagrees with the blob", async () => {
      const tooLong = { ...good, size: artifact.size + 1 };
      expectRefused(await verifyItems(layout(tooLong, [blobItem(artifact)])), [
        {
          entry: blobPath(artifact.digest),
          message: `${blobPath(withChild(tooLong).digest)} manifests[1]: size ${artifact.size + 1} does not match ${blobPath(artifact.digest)} (${artifact.size} bytes)`,
        },
      ]);
    });

    it("refuses a blob that is a link to other content", async () => {
      expect(impostor.size).toBe(artifact.size);
      const linked: TarItem = { type: "symlink", name: blobPath(artifact.digest), target: hexOf(impostor.digest) };
      expectRefused(await verifyItems(layout(good, [blobItem(impostor), linked])), [
        {
          entry: blobPath(artifact.digest),
          message: `${blobPath(withChild(good).digest)} manifests[1]: digest ${artifact.digest} does not match the content of ${blobPath(artifact.digest)} (${impostor.digest})`,
        },
      ]);
    });
  });

  it("refuses a manifest whose body is an index (CVE-2021-41190)", async () => {
    const index = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] }), OCI_INDEX);
    const items = ociLayoutItems([gzImage], { indexEntries: [{ ...descriptorOf(index), mediaType: OCI_MANIFEST }], extraBlobs: [index] });
    expectRefused(await verifyItems(items), [{ entry: blobPath(index.digest), message: `${blobPath(index.digest)}: described as a manifest but its body is an index` }]);
  });

  it("refuses an index whose body is a manifest (CVE-2021-41190)", async () => {
    const items = ociLayoutItems([gzImage], { indexEntries: [{ ...descriptorOf(gzImage.manifest), mediaType: OCI_INDEX }] });
    expectRefused(await verifyItems(items), [{ entry: mPath(gzImage), message: `${mPath(gzImage)}: described as an index but its body is a manifest` }]);
  });

  it("refuses a manifest whose body names another media type than its descriptor", async () => {
    const dockerTyped = { ...descriptorOf(gzImage.manifest), mediaType: "application/vnd.docker.distribution.manifest.v2+json" };
    expectRefused(await verifyItems(ociLayoutItems([gzImage], { indexEntries: [dockerTyped] })), [
      {
        entry: mPath(gzImage),
        message: `${mPath(gzImage)}: media type application/vnd.docker.distribution.manifest.v2+json in its descriptor but ${OCI_MANIFEST} in its body`,
      },
    ]);
  });

  it("refuses a Docker manifest or list descriptor over a body that names no media type; an OCI body may omit it", async () => {
    const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
    const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
    const untyped = makeImage({ gzip: true, seed: "gz", editManifest: ({ mediaType: _m, ...rest }) => rest });
    expectValid(await verifyItems(ociLayoutItems([untyped])));
    expectRefused(await verifyItems(ociLayoutItems([untyped], { indexEntries: [{ ...descriptorOf(untyped.manifest), mediaType: DOCKER_MANIFEST }] })), [
      { entry: mPath(untyped), message: `${mPath(untyped)}: media type ${DOCKER_MANIFEST} in its descriptor but none in its body` },
    ]);
    const list = blobOf(JSON.stringify({ schemaVersion: 2, manifests: [descriptorOf(gzImage.manifest)] }), DOCKER_LIST);
    expectRefused(await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(list)], extraBlobs: [list] })), [
      { entry: blobPath(list.digest), message: `${blobPath(list.digest)}: media type ${DOCKER_LIST} in its descriptor but none in its body` },
    ]);
    const ociList = { ...descriptorOf(list), mediaType: OCI_INDEX };
    expectValid(await verifyItems(ociLayoutItems([gzImage], { indexEntries: [ociList], extraBlobs: [list] })));
  });

  it("refuses schema 1 manifests with a clear message", async () => {
    const schema1 = blobOf(JSON.stringify({ schemaVersion: 1, name: "x/y", tag: "1", fsLayers: [], history: [] }), "application/vnd.docker.distribution.manifest.v1+prettyjws");
    expectRefused(await verifyItems(ociLayoutItems([], { indexEntries: [descriptorOf(schema1)], extraBlobs: [schema1] })), [
      { entry: "index.json manifests[0]", message: "index.json manifests[0]: Docker schema 1 manifests are obsolete and not supported" },
    ]);
    const disguised = { ...descriptorOf(schema1), mediaType: OCI_MANIFEST };
    expectRefused(await verifyItems(ociLayoutItems([], { indexEntries: [disguised], extraBlobs: [schema1] })), [
      { entry: blobPath(schema1.digest), message: `${blobPath(schema1.digest)}: Docker schema 1 manifests are obsolete and not supported` },
    ]);
  });

  it("refuses oci-layout version 2.0.0", async () => {
    expectRefused(await verifyItems(ociLayoutItems([gzImage], { layoutVersion: "2.0.0" })), [
      { entry: "oci-layout", message: 'oci-layout: unsupported imageLayoutVersion "2.0.0" (want "1.0.0")' },
    ]);
  });

  it("reports a sparse multi-platform index as absent platforms, valid", async () => {
    const arm = makeImage({ gzip: true, architecture: "arm64", seed: "arm" });
    const index = indexOf(
      descriptorOf(gzImage.manifest, { platform: { os: "linux", architecture: "amd64" } }),
      descriptorOf(arm.manifest, { platform: { os: "linux", architecture: "arm64", variant: "v8" } }),
    );
    const items = ociLayoutItems([gzImage], { indexEntries: [descriptorOf(index)], extraBlobs: [index] });
    const report = await verifyItems(items);
    expectValid(report);
    expect(report.images.map((i) => [i.rootDigest, i.manifestDigest, i.platform])).toEqual([[index.digest, gzImage.manifest.digest, "linux/amd64"]]);
    expect(report.absent).toEqual([{ rootDigest: index.digest, digest: arm.manifest.digest, platform: "linux/arm64" }]);
  });

  it("warns when an index entry's platform contradicts the config (os, architecture, or variant when both give one), and reports the index's", async () => {
    const indexed = (img: TestImage, platform: Record<string, string>): TarItem[] => ociLayoutItems([img], { indexEntries: [descriptorOf(img.manifest, { platform })] });
    const amd64 = await verifyItems(indexed(gzImage, { os: "linux", architecture: "arm64", variant: "v8" }));
    expectValid(amd64);
    expect(amd64.images.map((i) => i.platform)).toEqual(["linux/arm64"]);
    expect(amd64.warnings).toEqual([`index.json manifests[0]: the index gives platform linux/arm64/v8 but ${cPath(gzImage)} is linux/amd64`]);
    expect((await verifyItems(indexed(gzImage, { os: "windows", architecture: "amd64" }))).warnings).toEqual([
      `index.json manifests[0]: the index gives platform windows/amd64 but ${cPath(gzImage)} is linux/amd64`,
    ]);

    const armV6 = makeImage({ gzip: true, architecture: "arm", seed: "arm", editConfig: (c) => ({ ...c, variant: "v6" }) });
    const index = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(armV6.manifest, { platform: { os: "linux", architecture: "arm", variant: "v7" } })] }), OCI_INDEX);
    const nested = await verifyItems(ociLayoutItems([armV6], { indexEntries: [descriptorOf(index)], extraBlobs: [index] }));
    expectValid(nested);
    expect(nested.warnings).toEqual([`${blobPath(index.digest)} manifests[0]: the index gives platform linux/arm/v7 but ${cPath(armV6)} is linux/arm/v6`]);

    // The same platform spelt otherwise, or a variant only one side gives: no contradiction.
    const arm64 = makeImage({ gzip: true, architecture: "arm64", seed: "arm64" });
    expect((await verifyItems(indexed(arm64, { os: "linux", architecture: "aarch64" }))).warnings).toEqual([]);
    expect((await verifyItems(indexed(arm64, { os: "linux", architecture: "arm64", variant: "v8" }))).warnings).toEqual([]);
    expect((await verifyItems(indexed(armV6, { os: "linux", architecture: "arm" }))).warnings).toEqual([]);
  });

  it("follows nested indexes", async () => {
    const inner = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] }), OCI_INDEX);
    const outer = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(inner)] }), OCI_INDEX);
    const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(outer)], extraBlobs: [inner, outer] }));
    expectValid(report);
    expect(report.images.map((i) => [i.rootDigest, i.rootMediaType, i.manifestDigest])).toEqual([[outer.digest, OCI_INDEX, gzImage.manifest.digest]]);
  });

  it("refuses indexes nested deeper than 8 levels", async () => {
    const levels = [blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] }), OCI_INDEX)];
    for (let i = 1; i < 9; i++) levels.push(blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(levels[i - 1]!)] }), OCI_INDEX));
    const top = levels[8]!;
    const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(top)], extraBlobs: levels }));
    const deepest = levels[0]!;
    expectRefused(report, [
      { entry: `${blobPath(levels[1]!.digest)} manifests[0]`, message: `${blobPath(levels[1]!.digest)} manifests[0]: indexes nested deeper than 8 levels` },
    ]);
    expect(deepest.digest).not.toBe(top.digest);
  });

  describe("an index that lists a child again (legal, meaningless: ctr import accepts it and lists the platform once)", () => {
    const amd64 = { platform: { os: "linux", architecture: "amd64" } };
    /** `levels` indexes, each listing the next one `fanOut` times; the last lists the image. */
    const fanOut = (times: number, levels: number): { top: Blob; indexes: Blob[] } => {
      let child = descriptorOf(gzImage.manifest, amd64);
      const indexes: Blob[] = [];
      for (let level = 0; level < levels; level++) {
        indexes.push(indexOf(...Array.from({ length: times }, () => child)));
        child = descriptorOf(indexes.at(-1)!);
      }
      return { top: indexes.at(-1)!, indexes };
    };

    it("resolves each blob once and reports the image once, however many paths lead to it", async () => {
      // 4^5 = 1024 paths to one manifest: walked path by path, that was 1024 images.
      const { top, indexes } = fanOut(4, 5);
      const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(top)], extraBlobs: indexes }));
      expectValid(report);
      expect(report.images.map((i) => [i.rootDigest, i.manifestDigest, i.platform])).toEqual([[top.digest, gzImage.manifest.digest, "linux/amd64"]]);
      expect(report.roots[0]!.images).toHaveLength(1);
    });

    it("reports a repeated absent child once, and one manifest the index gives two platforms once per platform", async () => {
      const arm = makeImage({ gzip: true, architecture: "arm64", seed: "arm" });
      const absentArm = descriptorOf(arm.manifest, { platform: { os: "linux", architecture: "arm64" } });
      const index = indexOf(descriptorOf(gzImage.manifest, amd64), absentArm, descriptorOf(gzImage.manifest, { platform: { os: "linux", architecture: "amd64", variant: "v2" } }), absentArm, descriptorOf(gzImage.manifest, amd64));
      const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(index)], extraBlobs: [index] }));
      expectValid(report);
      expect(report.images.map((i) => i.platform)).toEqual(["linux/amd64", "linux/amd64/v2"]);
      expect(report.absent).toEqual([{ rootDigest: index.digest, digest: arm.manifest.digest, platform: "linux/arm64" }]);
    });

    it("still refuses an index met again deeper down when its indexes would then nest deeper than 8 levels", async () => {
      // top -> [chain (7 levels: fine at depth 1), a -> b -> chain (at depth 3: 10 levels)]
      const chain = [indexOf(descriptorOf(gzImage.manifest))];
      for (let i = 1; i < 7; i++) chain.push(indexOf(descriptorOf(chain[i - 1]!)));
      const b = indexOf(descriptorOf(chain[6]!));
      const a = indexOf(descriptorOf(b));
      const top = indexOf(descriptorOf(chain[6]!), descriptorOf(a));
      const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(top)], extraBlobs: [...chain, a, b, top] }));
      expectRefused(report, [{ entry: `${blobPath(b.digest)} manifests[0]`, message: `${blobPath(b.digest)} manifests[0]: indexes nested deeper than 8 levels` }]);
    });

    it("refuses, in one line, index.json entries that together reach more than 100000 descriptors", async () => {
      // 2000 distinct absent children, reached from 60 entries: 2001 descriptors each.
      const wide = indexOf(...Array.from({ length: 2000 }, (_, n) => ({ mediaType: OCI_MANIFEST, digest: sha256(`child ${n}`), size: 100 })));
      const entries = Array.from({ length: 60 }, (_, n) => descriptorOf(wide, { annotations: { "io.containerd.image.name": `docker.io/example/wide:${n}` } }));
      const report = await verifyItems(ociLayoutItems([], { indexEntries: entries, extraBlobs: [wide] }));
      expectRefused(report, [{ entry: blobPath(wide.digest), message: `${blobPath(wide.digest)}: index.json reaches more than 100000 descriptors (index entries, configs and layers)` }]);
      // Stopped at the entry that went over: what the others reached is bounded by the limit.
      expect(report.roots).toHaveLength(50);
      expect(report.absent).toHaveLength(49 * 2000);
    });
  });

  it("checks index.json and manifest.json describe the same images", async () => {
    const other = makeImage({ seed: "other" });
    const items = [...ociLayoutItems([image, other]), ...withFile([], "manifest.json", manifestJson([{ Config: cPath(image), RepoTags: ["example/app:1"], Layers: [lPath(image)] }]))];
    expectRefused(await verifyItems(items), [
      {
        entry: "manifest.json",
        message: `manifest.json[0].RepoTags: docker.io/example/app:1 is not a name index.json gives to config ${image.config.digest}`,
      },
    ]);
    // The other way: a name only index.json gives is an image (or a tag) docker's loader never sees.
    const named = (img: TestImage, name: string): Record<string, unknown> => descriptorOf(img.manifest, { annotations: { "io.containerd.image.name": name } });
    const hidden = [
      ...ociLayoutItems([image, other], { indexEntries: [named(image, "docker.io/example/app:1"), named(other, "docker.io/library/busybox:latest")] }),
      ...withFile([], "manifest.json", manifestJson([{ Config: cPath(image), RepoTags: ["example/app:1"], Layers: [lPath(image)] }])),
    ];
    expectRefused(await verifyItems(hidden), [
      { entry: "index.json", message: `index.json: docker.io/library/busybox:latest names ${other.manifest.digest}, but manifest.json gives that name to none of its images` },
    ]);
    const stranger = [...ociLayoutItems([image]), { type: "file", name: cPath(other), content: other.config.bytes }, { type: "file", name: lPath(other), content: other.layers[0]!.bytes }] as TarItem[];
    const withStranger = [...stranger, { type: "file", name: "manifest.json", content: manifestJson([{ Config: cPath(other), RepoTags: null, Layers: [lPath(other)] }]) } as TarItem];
    expectRefused(await verifyItems(withStranger), [
      { entry: "manifest.json", message: `manifest.json[0]: image with config ${other.config.digest} is not described by index.json` },
    ]);
  });
});

describe("configs and layers", () => {
  it("refuses a config without rootfs", async () => {
    const noRootfs = makeImage({ gzip: true, editConfig: ({ rootfs: _r, ...rest }) => rest });
    expectRefused(await verifyItems(ociLayoutItems([noRootfs])), [
      { entry: cPath(noRootfs), message: `${cPath(noRootfs)}: rootfs: missing` },
    ]);
  });

  it("refuses a config or history time the Go peers cannot read (docker, containerd and podman refuse the image), naming the field", async () => {
    const badTime = makeImage({ gzip: true, seed: "time", editConfig: (c) => ({ ...c, created: "garbage" }) });
    expectRefused(await verifyItems(ociLayoutItems([badTime])), [{ entry: cPath(badTime), message: `${cPath(badTime)}: created: "garbage" is not an RFC 3339 time` }]);
    const badHistory = makeImage({ seed: "history", editConfig: (c) => ({ ...c, created: "2024-01-01T00:00:00Z", history: [{ created: "2024-01-01 00:00:00" }] }) });
    expectRefused(await verifyItems(dockerArchiveItems([{ image: badHistory, repoTags: ["example/history:1"] }])), [
      { entry: `${hexOf(badHistory.config.digest)}.json`, message: `${hexOf(badHistory.config.digest)}.json: history[0].created: "2024-01-01 00:00:00" is not an RFC 3339 time` },
    ]);
    expectValid(await verifyItems(ociLayoutItems([makeImage({ gzip: true, seed: "good-time", editConfig: (c) => ({ ...c, created: "2024-02-29T23:59:59.123456789+05:30", history: [{ created: "1970-01-01T00:00:00Z" }] }) })])));
  });

  it("refuses a diff ID mismatch (OCI)", async () => {
    const wrong = sha256("something else");
    const bad = makeImage({ gzip: true, editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [wrong] } }) });
    expectRefused(await verifyItems(ociLayoutItems([bad])), [
      {
        entry: lPath(bad),
        message: `${mPath(bad)} layers[0]: layer ${lPath(bad)} has diff ID ${bad.layers[0]!.diffId}, but ${cPath(bad)} rootfs.diff_ids[0] is ${wrong}`,
      },
    ]);
  });

  it("refuses a diff ID mismatch (docker-archive)", async () => {
    const wrong = sha256("something else");
    const bad = makeImage({ editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [wrong] } }) });
    const badConfig = `${hexOf(bad.config.digest)}.json`;
    expectRefused(await verifyItems(dockerItems(null, bad)), [
      {
        entry: layerName,
        message: `manifest.json[0].Layers[0]: layer ${layerName} has diff ID ${image.layers[0]!.diffId}, but ${badConfig} rootfs.diff_ids[0] is ${wrong}`,
      },
    ]);
  });

  it("refuses a layer count mismatch", async () => {
    const extra = makeImage({ gzip: true, editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [gzImage.layers[0]!.diffId, EMPTY_LAYER_DIFF_ID] } }) });
    expectRefused(await verifyItems(ociLayoutItems([extra])), [
      { entry: cPath(extra), message: `${cPath(extra)}: rootfs.diff_ids lists 2 layers but the image has 1` },
    ]);
  });

  it("refuses a <hex>.json config whose content is not its name", async () => {
    const fakeName = `${"a".repeat(64)}.json`;
    const items = withFile(withoutFile(dockerItems(), configName), fakeName, image.config.bytes);
    const fixed = withFile(items, "manifest.json", manifestJson([{ Config: fakeName, RepoTags: null, Layers: [layerName] }]));
    expectRefused(await verifyItems(fixed), [
      { entry: fakeName, message: `manifest.json[0].Config: ${fakeName} is named for ${"a".repeat(64)} but its content is ${image.config.digest}` },
    ]);
  });

  it("refuses a <hex>.tar.gz or <hex>.tar layer (crane, skopeo) whose content is not its name; a legacy <v1id>/layer.tar is no claim", async () => {
    const layer = gzImage.layers[0]!;
    const craneItems = (layerName: string, layerBytes: Buffer): TarItem[] => [
      { type: "file", name: `sha256:${hexOf(gzImage.config.digest)}`, content: gzImage.config.bytes },
      { type: "file", name: layerName, content: layerBytes },
      { type: "file", name: "manifest.json", content: manifestJson([{ Config: `sha256:${hexOf(gzImage.config.digest)}`, RepoTags: ["example/crane:1"], Layers: [layerName] }]) },
    ];
    const craneName = `${hexOf(layer.digest)}.tar.gz`;
    expectValid(await verifyItems(craneItems(craneName, layer.bytes)));

    // Another gzip header mtime: the same diff ID, another blob than the one the name promises.
    const otherMtime = Buffer.from(layer.bytes);
    otherMtime[4] = otherMtime[4]! ^ 1;
    const refused = (name: string): Problem[] => [
      { entry: name, message: `manifest.json[0].Layers[0]: ${name} is named for ${hexOf(layer.digest)} but its content is ${sha256(otherMtime)}` },
    ];
    expectRefused(await verifyItems(craneItems(craneName, otherMtime)), refused(craneName));
    expectRefused(await verifyItems(craneItems(`./sha256:${craneName}`, otherMtime)), refused(`sha256:${craneName}`));
    expectRefused(await verifyItems(craneItems(`${hexOf(layer.digest)}.tar`, otherMtime)), refused(`${hexOf(layer.digest)}.tar`));
    // The name a link gives counts as the entry's own.
    const linked = [...craneItems("layer.bin", otherMtime), { type: "symlink", name: craneName, target: "layer.bin" } as TarItem];
    expectRefused(await verifyItems(withFile(linked, "manifest.json", manifestJson([{ Config: `sha256:${hexOf(gzImage.config.digest)}`, RepoTags: null, Layers: [craneName] }]))), refused(craneName));

    const legacyName = `${"b".repeat(64)}/layer.tar`;
    expectValid(await verifyItems(craneItems(legacyName, otherMtime)));
  });

  it("refuses a layer whose inner tar has ../evil or a hard link out under any name an extractor reads (plain, PAX, GNU long record, GNU.sparse.name, behind a PAX size), a hard link ahead, a bad header or size, a type 'S' sparse file, is cut short, or is no tar", async () => {
    const MiB = 1024 * 1024;
    const layerWith = (second: Buffer): Buffer => buildTar([{ type: "file", name: "ok", content: "x" }, { type: "raw", bytes: second }]);
    const flippedNameByte = (entry: Buffer): Buffer => {
      const copy = Buffer.from(entry);
      copy[0] = copy[0]! ^ 1;
      return copy;
    };
    const cases: [string, Buffer, string][] = [
      ["../evil", buildTar([{ type: "raw", bytes: tarEntry({ name: "../evil" }, Buffer.from("x")) }]), 'layer tar entry "../evil" escapes the root'],
      ["not a tar", Buffer.from("just some bytes that are no tar at all"), "not a tar archive"],
      ["hard link", buildTar([{ type: "raw", bytes: tarEntry({ name: "ok", typeflag: "1", linkname: "../../etc/shadow" }) }]), 'layer tar hard link target of "ok" "../../etc/shadow" escapes the root'],
      ["PAX", buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ path: "a/../../x" }), tarEntry({ name: "x" }, Buffer.from("x"))]) }]), 'layer tar entry "a/../../x" escapes the root'],
      // Go's archive/tar stops at the end marker, tar-stream reads on and would unpack ../evil.
      [
        "../evil after the end marker",
        Buffer.concat([buildTar([{ type: "file", name: "ok", content: "x" }]), buildTar([{ type: "raw", bytes: tarEntry({ name: "../evil" }, Buffer.from("x")) }])]),
        "layer tar has data after its end-of-archive marker",
      ],
      [
        "a lone zero block",
        buildTar([{ type: "file", name: "ok", content: "x" }, { type: "raw", bytes: Buffer.alloc(512) }, { type: "raw", bytes: tarEntry({ name: "../evil" }, Buffer.from("x")) }]),
        "layer tar has a lone zero block before entry 2 (the end of an archive is two)",
      ],
      ["a header whose checksum is wrong", layerWith(flippedNameByte(tarEntry({ name: "b" }, Buffer.from("x")))), "layer tar has a bad header checksum at entry 2"],
      [
        "a size field that is not octal",
        layerWith(Buffer.concat([patchedHeader(tarEntry({ name: "b" }, Buffer.from("x")), 124, "0000000001x\0"), Buffer.alloc(512, 0x78)])),
        "layer tar has an invalid size field at entry 2",
      ],
      [
        "a PAX header over 1 MiB",
        buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ comment: "c".repeat(MiB + 1 - 17) }), tarEntry({ name: "x" }, Buffer.from("x"))]) }]),
        `layer tar has an extended header of ${MiB + 1} bytes`,
      ],
      // Go's archive/tar reads no body for types 1-6 whatever the size says: the next header is ../evil.
      [
        "a symlink whose size field claims a body",
        buildTar([{ type: "raw", bytes: Buffer.concat([tarEntry({ name: "l", typeflag: "2", linkname: "ok", size: 512 }), tarEntry({ name: "../evil" }, Buffer.from("x"))]) }]),
        'layer tar entry "../evil" escapes the root',
      ],
      [
        "a PAX linkpath out",
        buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ linkpath: "../../etc/shadow" }), tarEntry({ name: "ok", typeflag: "1", linkname: "inside" })]) }]),
        'layer tar hard link target of "ok" "../../etc/shadow" escapes the root',
      ],
      [
        "a GNU long name out",
        buildTar([{ type: "raw", bytes: Buffer.concat([gnuLongRecord("L", "../../evil"), tarEntry({ name: "short" }, Buffer.from("x"))]) }]),
        'layer tar entry "../../evil" escapes the root',
      ],
      [
        "a GNU long link out",
        buildTar([{ type: "raw", bytes: Buffer.concat([gnuLongRecord("K", "../../etc/shadow"), tarEntry({ name: "ok", typeflag: "1", linkname: "inside" })]) }]),
        'layer tar hard link target of "ok" "../../etc/shadow" escapes the root',
      ],
      // GNU tar, Go and Python read a PAX size over the header's: "a" is empty and ../../evil is the next header.
      [
        "a PAX size of 0 under a header size that covers the next header",
        buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ size: "0" }), tarHeader({ name: "a", size: 1024 }), tarEntry({ name: "../../evil" }, Buffer.from("evil\n"))]) }]),
        'layer tar entry "../../evil" escapes the root',
      ],
      [
        "a PAX sparse 1.0 file whose real name (GNU.sparse.name) is out",
        buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "../../evil2", "GNU.sparse.realsize": "0" }), tarEntry({ name: "harmless" }, Buffer.from("0\n"))]) }]),
        'layer tar entry "../../evil2" escapes the root',
      ],
      // GNU tar and Python's tarfile take GNU.sparse.name even without a sparse version record.
      [
        "a GNU.sparse.name out on a plain file",
        buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ "GNU.sparse.name": "../x" }), tarEntry({ name: "ok" }, Buffer.from("x"))]) }]),
        'layer tar entry "../x" escapes the root',
      ],
      // Go takes a GNU long name over a PAX path, whichever comes first.
      [
        "a GNU long name out before a harmless PAX path",
        buildTar([{ type: "raw", bytes: Buffer.concat([gnuLongRecord("L", "../../evil"), paxRecords({ path: "fine" }), tarEntry({ name: "short" }, Buffer.from("x"))]) }]),
        'layer tar entry "../../evil" escapes the root',
      ],
      [
        "a GNU long link out before a harmless PAX linkpath",
        buildTar([{ type: "raw", bytes: Buffer.concat([gnuLongRecord("K", "../../etc/shadow"), paxRecords({ linkpath: "inside" }), tarEntry({ name: "ok", typeflag: "1", linkname: "inside" })]) }]),
        'layer tar hard link target of "ok" "../../etc/shadow" escapes the root',
      ],
      [
        "a PAX global header naming the entries after it",
        buildTar([{ type: "raw", bytes: Buffer.concat([globalRecords({ path: "../evil" }), tarEntry({ name: "ok" }, Buffer.from("x"))]) }]),
        'layer tar has a PAX global header with a "path" record before entry 1, which extractors apply differently',
      ],
      [
        "a GNU sparse file of type 'S'",
        layerWith(tarEntry({ name: "sp", typeflag: "S", size: 512 }, Buffer.alloc(512))),
        "layer tar entry \"sp\" is a GNU sparse file of type 'S', which docker and containerd refuse to unpack",
      ],
      ["a PAX size that is not decimal", layerWith(Buffer.concat([paxRecords({ size: "5abc" }), tarEntry({ name: "b", size: 0 }, Buffer.from("hello"))])), 'layer tar: PAX size record "5abc" of entry "b" is not a decimal number'],
      ["a PAX size in exponent form", layerWith(Buffer.concat([paxRecords({ size: "1e3" }), tarEntry({ name: "b", size: 0 }, Buffer.from("hello"))])), 'layer tar: PAX size record "1e3" of entry "b" is not a decimal number'],
      ["a negative base-256 size", layerWith(patchedHeader(tarEntry({ name: "b" }), 124, "\xff".repeat(12))), 'layer tar: negative size field (-1) in entry "b"'],
      // docker load and ctr import both fail on it: "link f l: no such file or directory".
      [
        "a hard link to an entry after it",
        buildTar([{ type: "raw", bytes: Buffer.concat([tarEntry({ name: "l", typeflag: "1", linkname: "./d//f" }), tarEntry({ name: "d/f" }, Buffer.from("data\n"))]) }]),
        'layer tar hard link "l" points to "d/f", which comes after it in the layer (docker and containerd cannot make the link)',
      ],
      // The config's diff ID is the digest of these very bytes: only the tar's own shape is wrong.
      ["a tar cut inside a body", buildTar([{ type: "file", name: "ok", content: "x".repeat(1000) }], { end: false }).subarray(0, 512 + 300), "layer tar is truncated"],
    ];
    // Every case's outcome at once, so that a failure shows all the cases that went wrong.
    const outcomes = async (expectation: boolean): Promise<[string, Problem[], boolean][]> =>
      Promise.all(
        cases.map(async ([label, tar, reason]): Promise<[string, Problem[], boolean]> => {
          const evil = makeImage({ layers: [tar] });
          const evilLayer = `${hexOf(evil.layers[0]!.digest)}.tar`;
          if (expectation) return [label, [{ entry: evilLayer, message: `manifest.json[0].Layers[0]: layer ${evilLayer}: ${reason}` }], false];
          const report = await verifyItems(dockerItems(null, evil));
          return [label, report.problems, report.valid];
        }),
      );
    expect(await outcomes(false)).toEqual(await outcomes(true));
  });

  it("accepts zeros after a layer's end marker (padding to a record size)", async () => {
    const padded = makeImage({ layers: [Buffer.concat([buildTar([{ type: "file", name: "ok", content: "x" }]), Buffer.alloc(10240)])] });
    expect((await verifyItems(dockerItems(null, padded))).problems).toEqual([]);
  });

  it("accepts GNU tar's PAX sparse files in a layer, as docker and containerd unpack them, and refuses its type 'S', as both do", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lading-sparse-layer-"));
    try {
      writeWithHoles(join(dir, "holes"), Buffer.concat([Buffer.alloc(100, 0x61), Buffer.alloc(1 << 20), Buffer.from("end")]));
      for (const { tarOptions, described } of SPARSE_FORMATS) {
        const sparse = makeImage({ layers: [sparseTar(dir, ["holes"], tarOptions)] });
        const report = await verifyItems(dockerItems(null, sparse));
        const sparseLayer = `${hexOf(sparse.layers[0]!.digest)}.tar`;
        if (described === "GNU tar's type 'S'") {
          expectRefused(report, [{ entry: sparseLayer, message: `manifest.json[0].Layers[0]: layer ${sparseLayer}: layer tar entry "holes" is a GNU sparse file of type 'S', which docker and containerd refuse to unpack` }]);
        } else expectValid(report);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("accepts a hard link to an entry before it, and to a name the layer does not hold (a layer below may: containerd links to it)", async () => {
    const tar = buildTar([{ type: "file", name: "d/f", content: "data\n" }, { type: "hardlink", name: "l", target: "./d/f" }, { type: "hardlink", name: "m", target: "below" }]);
    expectValid(await verifyItems(dockerItems(null, makeImage({ layers: [tar] }))));
  });

  it("accepts a PAX global header that renames nothing (git archive writes a comment)", async () => {
    const tar = buildTar([{ type: "raw", bytes: Buffer.concat([globalRecords({ comment: "0123abcd" }), tarEntry({ name: "ok" }, Buffer.from("x"))]) }]);
    expectValid(await verifyItems(dockerItems(null, makeImage({ layers: [tar] }))));
  });

  it("accepts absolute names and ./ inside a layer (unpackers strip them)", async () => {
    const tar = buildTar([{ type: "raw", bytes: tarEntry({ name: "/etc/x" }, Buffer.from("x")) }, { type: "file", name: "./etc/y", content: "y" }]);
    expectValid(await verifyItems(dockerItems(null, makeImage({ layers: [tar] }))));
  });

  it("accepts the empty 1024-zero-byte layer, even twice in one image", async () => {
    expect(sha256(EMPTY_LAYER)).toBe(EMPTY_LAYER_DIFF_ID);
    const empty = makeImage({ layers: [layerTar({ "a.txt": "a" }), EMPTY_LAYER, EMPTY_LAYER] });
    const report = await verifyItems(dockerItems(["example/empty:1"], empty));
    expectValid(report);
    expect(report.images[0]!.layers.slice(1)).toEqual([
      { digest: EMPTY_LAYER_DIFF_ID, size: 1024, mediaType: "application/vnd.docker.image.rootfs.diff.tar", compression: "none", diffId: EMPTY_LAYER_DIFF_ID, uncompressedSize: 1024 },
      { digest: EMPTY_LAYER_DIFF_ID, size: 1024, mediaType: "application/vnd.docker.image.rootfs.diff.tar", compression: "none", diffId: EMPTY_LAYER_DIFF_ID, uncompressedSize: 1024 },
    ]);
  });

  it("accepts a zero-byte layer and a gzip of nothing as empty tars (Go's archive/tar reads no entries), diff ID of the empty string", async () => {
    const emptyDiffId = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const plain = makeImage({ layers: [Buffer.alloc(0)] });
    const plainReport = await verifyItems(dockerItems(["example/empty:1"], plain));
    expectValid(plainReport);
    expect(plainReport.images[0]!.layers).toEqual([
      { digest: emptyDiffId, size: 0, mediaType: "application/vnd.docker.image.rootfs.diff.tar", compression: "none", diffId: emptyDiffId, uncompressedSize: 0 },
    ]);
    const gzipped = makeImage({ layers: [Buffer.alloc(0)], gzip: true });
    const gzReport = await verifyItems(ociLayoutItems([gzipped]));
    expectValid(gzReport);
    expect(gzReport.images[0]!.layers.map((layer) => [layer.compression, layer.diffId, layer.uncompressedSize])).toEqual([["gzip", emptyDiffId, 0]]);
  });

  it("refuses corrupt and truncated gzip layers", async () => {
    const tar = layerTar({ "etc/data": "some data ".repeat(200) });
    const good = gzipSync(tar);
    const badCrc = Buffer.from(good);
    badCrc.writeUInt32LE((badCrc.readUInt32LE(badCrc.length - 8) ^ 1) >>> 0, badCrc.length - 8);
    const truncated = good.subarray(0, good.length - 20);
    const cases: [Buffer, string][] = [
      [badCrc, "corrupt gzip stream: incorrect data check"],
      [truncated, "corrupt gzip stream: unexpected end of file"],
    ];
    for (const [stored, reason] of cases) {
      const bad = makeImage({ storedLayers: [{ bytes: stored, diffId: sha256(tar), mediaType: OCI_LAYER_GZIP }] });
      expectRefused(await verifyItems(ociLayoutItems([bad])), [
        { entry: lPath(bad), message: `${mPath(bad)} layers[0]: layer ${lPath(bad)}: ${reason}` },
      ]);
    }
  });

  it("refuses a decompression bomb beyond --max-layer-size", async () => {
    const bomb = gzipSync(layerTar({ zeros: "\0".repeat(4 * 1024 * 1024) }));
    expect(bomb.length).toBeLessThan(10_000);
    const bad = makeImage({ storedLayers: [{ bytes: bomb, diffId: sha256("unknown"), mediaType: OCI_LAYER_GZIP }] });
    expectRefused(await verifyItems(ociLayoutItems([bad]), { maxLayerBytes: 1024 * 1024 }), [
      { entry: lPath(bad), message: `${mPath(bad)} layers[0]: layer ${lPath(bad)}: decompressed size exceeds the limit of 1048576 bytes` },
    ]);
  });

  it("refuses any entry larger than --max-layer-size, referenced or not, before its body is read or written", async () => {
    const junk: TarItem = { type: "file", name: "junk", content: Buffer.alloc(2 * 1024 * 1024) };
    const message = 'entry "junk": size 2097152 exceeds the limit of 1048576 bytes (--max-layer-size)';
    expectRefused(await verifyItems([junk, ...dockerItems()], { maxLayerBytes: 1024 * 1024 }), [{ entry: "junk", message }]);
    // A load's writer (its ingest) is never opened for it, nor for anything after it.
    const opened: string[] = [];
    const source = await openTarStream(Readable.from([buildTar([junk, ...dockerItems()])]));
    const openWriter = async (name: string): Promise<undefined> => {
      opened.push(name);
      return undefined;
    };
    await expect(readArchive(source, { maxLayerBytes: 1024 * 1024, openWriter })).rejects.toThrow(message);
    expect(opened).toEqual([]);
  });

  it("refuses a layer media type that claims zstd for gzip bytes", async () => {
    const lying = makeImage({ gzip: true, editManifest: (m) => ({ ...m, layers: (m.layers as Record<string, unknown>[]).map((l) => ({ ...l, mediaType: "application/vnd.oci.image.layer.v1.tar+zstd" })) }) });
    expectRefused(await verifyItems(ociLayoutItems([lying])), [
      { entry: lPath(lying), message: `${mPath(lying)} layers[0]: media type application/vnd.oci.image.layer.v1.tar+zstd says zstd but ${lPath(lying)} is gzip` },
    ]);
  });
});

describe("foreign (non-distributable) layers", () => {
  const foreign = makeForeignImage();
  const nondist = makeForeignImage(OCI_NONDISTRIBUTABLE_LAYER_GZIP, "nondist");
  const absentWarning = (img: TestImage, field: string): string =>
    `${field}: foreign layer ${img.layers[0]!.digest} is not in the archive; its diff ID ${img.layers[0]!.diffId} is the config's, unchecked`;
  const absentLayer = (img: TestImage) => ({
    digest: img.layers[0]!.digest,
    size: img.layers[0]!.size,
    mediaType: img.layers[0]!.mediaType,
    compression: "gzip",
    diffId: img.layers[0]!.diffId,
    uncompressedSize: null,
    absent: true,
  });

  for (const [title, img] of [
    ["a Docker foreign layer", foreign],
    ["an OCI non-distributable layer", nondist],
  ] as const) {
    it(`accepts ${title} the archive does not carry: the config's diff ID, unchecked, with a warning`, async () => {
      const report = await verifyItems(withoutFile(ociLayoutItems([img]), lPath(img)));
      expectValid(report);
      expect(report.images.map((i) => [i.manifestDigest, i.manifestMediaType, i.manifestOrigin])).toEqual([[img.manifest.digest, img.manifest.mediaType, "archive"]]);
      expect(report.images[0]!.layers[0]).toEqual(absentLayer(img));
      expect(report.images[0]!.layers[1]).toEqual({
        digest: img.layers[1]!.digest,
        size: img.layers[1]!.size,
        mediaType: img.layers[1]!.mediaType,
        compression: "gzip",
        diffId: img.layers[1]!.diffId,
        uncompressedSize: 2048,
      });
      expect(report.warnings).toEqual([absentWarning(img, `${mPath(img)} layers[0]`)]);
    });
  }

  it("checks a foreign layer the archive carries like any other layer", async () => {
    expectValid(await verifyItems(ociLayoutItems([foreign])));
    const wrong = sha256("another base");
    const lying = makeForeignImage();
    const bad = makeImage({
      storedLayers: lying.layers.map((layer, index) => ({ bytes: layer.bytes, mediaType: layer.mediaType, diffId: index === 0 ? wrong : layer.diffId })),
    });
    expectRefused(await verifyItems(ociLayoutItems([bad])), [
      { entry: lPath(bad), message: `${mPath(bad)} layers[0]: layer ${lPath(bad)} has diff ID ${lying.layers[0]!.diffId}, but ${cPath(bad)} rootfs.diff_ids[0] is ${wrong}` },
    ]);
  });

  it("still refuses an ordinary layer the archive does not carry, naming the layer", async () => {
    expectRefused(await verifyItems(withoutFile(ociLayoutItems([foreign]), lPath(foreign, 1))), [
      { entry: mPath(foreign), message: `${mPath(foreign)} layers[1]: blob ${foreign.layers[1]!.digest} is missing` },
    ]);
  });

  describe("in manifest.json (Docker's LayerSources)", () => {
    const foreignConfig = `${hexOf(foreign.config.digest)}.json`;
    const source = { ...descriptorOf(foreign.layers[0]!), urls: FOREIGN_URLS };
    const item = (layerSources?: Record<string, unknown>): Record<string, unknown> => ({
      Config: foreignConfig,
      RepoTags: ["example.com/win/app:1"],
      Layers: foreign.layers.map((layer) => blobPath(layer.digest)),
      ...(layerSources ? { LayerSources: layerSources } : {}),
    });
    const items = (manifest: Record<string, unknown>): TarItem[] => [
      { type: "file", name: foreignConfig, content: foreign.config.bytes },
      blobItem(foreign.layers[1]!),
      { type: "file", name: "manifest.json", content: manifestJson([manifest]) },
    ];

    const synthesized = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, digest: foreign.config.digest, size: foreign.config.size },
      layers: [
        { mediaType: DOCKER_FOREIGN_LAYER, digest: foreign.layers[0]!.digest, size: foreign.layers[0]!.size, urls: FOREIGN_URLS },
        { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: foreign.layers[1]!.digest, size: foreign.layers[1]!.size },
      ],
    });

    it("refuses a Layers path the archive does not carry though LayerSources calls it foreign: manifest.json, which no digest covers, cannot vouch for that", async () => {
      const field = "manifest.json[0].Layers[0]";
      expectRefused(await verifyItems(items(item({ [foreign.layers[0]!.diffId]: source }))), [
        {
          entry: field,
          message: `${field}: "${lPath(foreign)}" is not in the archive; LayerSources calls it a foreign layer, but no index.json entry describes the image to say so (manifest.json is covered by no digest), and an image listed in manifest.json alone must carry every layer (as docker load and skopeo require)`,
        },
      ]);
    });

    it("a foreign layer the archive does carry keeps LayerSources' media type and urls in the synthesised manifest", async () => {
      const sources = { [foreign.layers[0]!.diffId]: source };
      const withLayer = await verifyItems([blobItem(foreign.layers[0]!), ...items(item(sources))]);
      expectValid(withLayer);
      expect(withLayer.images.map((i) => [i.manifestDigest, i.manifestOrigin, i.layers[0]!.mediaType])).toEqual([[sha256(synthesized), "synthesized", DOCKER_FOREIGN_LAYER]]);
      const other = { ...source, digest: foreign.layers[1]!.digest };
      expectRefused(await verifyItems([blobItem(foreign.layers[0]!), ...items(item({ [foreign.layers[0]!.diffId]: other }))]), [
        {
          entry: lPath(foreign),
          message: `manifest.json[0].Layers[0]: LayerSources gives that layer as ${foreign.layers[1]!.digest}, but ${lPath(foreign)} is ${foreign.layers[0]!.digest}`,
        },
      ]);
    });

    it("refuses an absent Layers path that names another digest than LayerSources gives", async () => {
      const other = `sha256:${"ab".repeat(32)}`;
      const misnamed = { ...item({ [foreign.layers[0]!.diffId]: source }), Layers: [blobPath(other), blobPath(foreign.layers[1]!.digest)] };
      expectRefused(await verifyItems(items(misnamed)), [
        { entry: blobPath(other), message: `manifest.json[0].Layers[0]: ${blobPath(other)} is named for ${other}, but LayerSources gives that layer as ${foreign.layers[0]!.digest}` },
      ]);
    });

    it("refuses an absent Layers path without a foreign LayerSources descriptor, naming the layer", async () => {
      const missing = `manifest.json[0].Layers[0]: "${lPath(foreign)}" is not in the archive`;
      expectRefused(await verifyItems(items(item())), [{ entry: "manifest.json[0].Layers[0]", message: missing }]);
      const ordinary = { ...source, mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip" };
      expectRefused(await verifyItems(items(item({ [foreign.layers[0]!.diffId]: ordinary }))), [{ entry: "manifest.json[0].Layers[0]", message: missing }]);
    });
  });
});

describe("digests and blobs", () => {
  const withDigest = (digest: string): TarItem[] =>
    ociLayoutItems([gzImage], { indexEntries: [{ ...descriptorOf(gzImage.manifest), digest }] });
  const cases: [string, string, string][] = [
    ["uppercase hex", gzImage.manifest.digest.toUpperCase().replace("SHA256", "sha256"), "want 64 lowercase hex digits"],
    ["a wrong length", "sha256:abc", "want 64 lowercase hex digits"],
    ["an unknown algorithm", `md5:${"a".repeat(32)}`, ""],
    ["a path trick", "sha256:../../x", ""],
  ];
  for (const [title, digest] of cases) {
    it(`refuses a descriptor digest with ${title} in index.json`, async () => {
      const message =
        title === "an unknown algorithm"
          ? `index.json: manifests[0].digest: unsupported digest algorithm "md5" in "${digest}"`
          : title === "a path trick"
            ? `index.json: manifests[0].digest: invalid digest "${digest}"`
            : `index.json: manifests[0].digest: invalid sha256 digest "${digest}" (want 64 lowercase hex digits)`;
      expectRefused(await verifyItems(withDigest(digest)), [{ entry: "index.json", message }]);
    });
  }

  it("refuses a path trick in a manifest's config and layer descriptors", async () => {
    const trick = makeImage({ gzip: true, editManifest: (m) => ({ ...m, config: { ...(m.config as object), digest: "sha256:../../../etc/passwd" } }) });
    expectRefused(await verifyItems(ociLayoutItems([trick])), [
      { entry: mPath(trick), message: `${mPath(trick)}: config.digest: invalid digest "sha256:../../../etc/passwd"` },
    ]);
    const layerTrick = makeImage({ gzip: true, editManifest: (m) => ({ ...m, layers: [{ mediaType: OCI_LAYER_GZIP, digest: `sha512:${"A".repeat(128)}`, size: 1 }] }) });
    expectRefused(await verifyItems(ociLayoutItems([layerTrick])), [
      { entry: mPath(layerTrick), message: `${mPath(layerTrick)}: layers[0].digest: invalid sha512 digest "sha512:${"A".repeat(128)}" (want 128 lowercase hex digits)` },
    ]);
  });

  it("refuses a blob whose content does not match its name", async () => {
    const wrongName = blobPath(sha256("not the content"));
    const unreferenced = [...ociLayoutItems([gzImage]), { type: "file", name: wrongName, content: "the content" } as TarItem];
    expectRefused(await verifyItems(unreferenced), [{ entry: wrongName, message: `${wrongName}: content does not match its name (content is ${sha256("the content")})` }]);

    const swapped = withFile(ociLayoutItems([gzImage]), cPath(gzImage), Buffer.from(gzImage.config.bytes.toString().replace("amd64", "arm64")));
    const actual = sha256(Buffer.from(gzImage.config.bytes.toString().replace("amd64", "arm64")));
    // A blob the image uses: said once, as the image's problem.
    expectRefused(await verifyItems(swapped), [
      { entry: cPath(gzImage), message: `${mPath(gzImage)} config: digest ${gzImage.config.digest} does not match the content of ${cPath(gzImage)} (${actual})` },
    ]);
  });

  it("refuses a docker-save entry named for a digest its content is not, even one no manifest.json item uses", async () => {
    const claimed = sha256("not the content").slice("sha256:".length);
    const content = sha256("the content");
    for (const name of [`${claimed}.tar`, `${claimed}.tar.gz`, `${claimed}.json`, `sha256:${claimed}`, `extra/${claimed}.tar`]) {
      const items = [...dockerItems(), { type: "file", name, content: "the content" } as TarItem];
      expectRefused(await verifyItems(items), [{ entry: name, message: `${name}: content does not match its name (content is ${content})` }]);
    }
  });

  it("refuses a blob that is a link to a blob of other content", async () => {
    const other = makeImage({ gzip: true, seed: "other" });
    const items = [
      ...withoutFile(ociLayoutItems([gzImage]), lPath(gzImage)),
      blobItem(other.layers[0]!),
      { type: "symlink", name: lPath(gzImage), target: hexOf(other.layers[0]!.digest) } as TarItem,
    ];
    const size = gzImage.layers[0]!.size;
    const otherSize = other.layers[0]!.size;
    const expected =
      size === otherSize
        ? `${mPath(gzImage)} layers[0]: digest ${gzImage.layers[0]!.digest} does not match the content of ${lPath(gzImage)} (${other.layers[0]!.digest})`
        : `${mPath(gzImage)} layers[0]: size ${size} does not match ${lPath(gzImage)} (${otherSize} bytes)`;
    expectRefused(await verifyItems(items), [{ entry: lPath(gzImage), message: expected }]);
  });

  it("ignores, with a warning, a file under blobs/sha256/ whose name is no valid digest: no descriptor can name it", async () => {
    const upper = `blobs/sha256/${hexOf(gzImage.layers[0]!.digest).toUpperCase()}`;
    const items = [...ociLayoutItems([gzImage]), { type: "file", name: upper, content: gzImage.layers[0]!.bytes } as TarItem];
    const report = await verifyItems(items);
    expectValid(report);
    expect(report.warnings).toEqual([`${upper}: ignored, as its name is no digest: invalid sha256 digest "sha256:${hexOf(gzImage.layers[0]!.digest).toUpperCase()}" (want 64 lowercase hex digits)`]);
  });

  it("refuses a descriptor size that disagrees with the blob", async () => {
    const size = gzImage.layers[0]!.size;
    const wrongSize = makeImage({ gzip: true, seed: "gz", editManifest: (m) => ({ ...m, layers: (m.layers as Record<string, unknown>[]).map((l) => ({ ...l, size: size + 1 })) }) });
    expectRefused(await verifyItems(ociLayoutItems([wrongSize])), [
      { entry: lPath(wrongSize), message: `${mPath(wrongSize)} layers[0]: size ${size + 1} does not match ${lPath(wrongSize)} (${size} bytes)` },
    ]);
  });

  it("checks a descriptor's embedded data (OCI 1.1) against its size and digest", async () => {
    const withConfigData = (data: string): TestImage =>
      makeImage({ gzip: true, seed: "gz", editManifest: (m) => ({ ...m, config: { ...(m.config as object), data } }) });
    const config = gzImage.config.bytes;
    const embedded = withConfigData(config.toString("base64"));
    expectValid(await verifyItems(ociLayoutItems([embedded])));

    const sameSize = Buffer.from(config.toString().replace("amd64", "arm64"));
    expect(sameSize.length).toBe(config.length);
    const otherContent = withConfigData(sameSize.toString("base64"));
    expectRefused(await verifyItems(ociLayoutItems([otherContent])), [
      { entry: mPath(otherContent), message: `${mPath(otherContent)} config: data does not match digest ${gzImage.config.digest} (it decodes to content with digest ${sha256(sameSize)})` },
    ]);
    const shorter = withConfigData(Buffer.from("{}").toString("base64"));
    expectRefused(await verifyItems(ociLayoutItems([shorter])), [
      { entry: mPath(shorter), message: `${mPath(shorter)} config: data decodes to 2 bytes but size is ${config.length}` },
    ]);
    const urlSafe = withConfigData(Buffer.from([0xfb, 0xff]).toString("base64url"));
    expectRefused(await verifyItems(ociLayoutItems([urlSafe])), [{ entry: mPath(urlSafe), message: `${mPath(urlSafe)} config: data is not standard base64` }]);

    const badEntry = descriptorOf(gzImage.manifest, { data: Buffer.from("not the manifest").toString("base64") });
    expectRefused(await verifyItems(ociLayoutItems([gzImage], { indexEntries: [badEntry] })), [
      { entry: "index.json", message: `index.json manifests[0]: data decodes to 16 bytes but size is ${gzImage.manifest.size}` },
    ]);
  });

  it("accepts an uncompressed layer labelled +gzip (podman does this): compression from the bytes", async () => {
    const labelled = makeImage({ editManifest: (m) => ({ ...m, layers: (m.layers as Record<string, unknown>[]).map((l) => ({ ...l, mediaType: OCI_LAYER_GZIP })) }) });
    const report = await verifyItems(ociLayoutItems([labelled]));
    expectValid(report);
    expect(report.images[0]!.layers[0]).toEqual({
      digest: labelled.layers[0]!.digest,
      size: labelled.layers[0]!.size,
      mediaType: OCI_LAYER_GZIP,
      compression: "none",
      diffId: labelled.layers[0]!.digest,
      uncompressedSize: labelled.layers[0]!.size,
    });
  });

  it("accepts sha512 descriptors and blobs/sha512/ names", async () => {
    const digest512 = `sha512:${createHash("sha512").update(gzImage.manifest.bytes).digest("hex")}`;
    const items = [
      ...withoutFile(ociLayoutItems([gzImage], { indexEntries: [{ ...descriptorOf(gzImage.manifest), digest: digest512 }] }), mPath(gzImage)),
      { type: "file", name: blobPath(digest512), content: gzImage.manifest.bytes } as TarItem,
    ];
    const report = await verifyItems(items);
    expectValid(report);
    expect(report.images.map((i) => [i.rootDigest, i.manifestDigest])).toEqual([[digest512, digest512]]);
  });

  it("follows a hard link to a file inside the archive", async () => {
    const items = [...withFile(dockerItems(), "manifest.json", manifestJson([{ Config: "cfg", RepoTags: null, Layers: [layerName] }])), { type: "hardlink", name: "cfg", target: configName } as TarItem];
    const report = await verifyItems(items);
    expectValid(report);
    expect(report.images[0]!.configDigest).toBe(image.config.digest);
  });

  it("refuses a top-level index.json entry whose manifest is absent", async () => {
    expectRefused(await verifyItems(withoutFile(ociLayoutItems([gzImage]), mPath(gzImage))), [
      { entry: mPath(gzImage), message: `index.json manifests[0]: blob ${gzImage.manifest.digest} is missing (${mPath(gzImage)})` },
    ]);
  });

  it("refuses a missing referenced blob", async () => {
    expectRefused(await verifyItems(withoutFile(ociLayoutItems([gzImage]), lPath(gzImage))), [
      { entry: mPath(gzImage), message: `${mPath(gzImage)} layers[0]: blob ${gzImage.layers[0]!.digest} is missing` },
    ]);
  });
});

describe("truncated and compressed archives", () => {
  const whole = buildTar(dockerItems());
  const configEntryEnd = 512 + Math.ceil(image.config.size / 512) * 512;

  it("refuses an archive cut at several offsets", async () => {
    const cases: [number, Problem][] = [
      [100, { entry: "(archive)", message: "unexpected end of archive before the first entry" }],
      [512 + 10, { entry: configName, message: `unexpected end of archive in entry "${configName}" (got 10 of ${image.config.size} bytes)` }],
      [configEntryEnd + 200, { entry: configName, message: `unexpected end of archive after entry "${configName}"` }],
      [configEntryEnd + 512 + 1000, { entry: layerName, message: `unexpected end of archive in entry "${layerName}" (got 1000 of ${image.layers[0]!.size} bytes)` }],
    ];
    for (const [offset, problem] of cases) {
      expectRefused(await verifyBytes(whole.subarray(0, offset)), [problem]);
    }
  });

  it("accepts an archive that ends right after its last entry, without the zero blocks", async () => {
    expectValid(await verifyBytes(whole.subarray(0, whole.length - 1024)));
  });

  it("refuses an empty input", async () => {
    expectRefused(await verifyBytes(Buffer.alloc(0)), [{ entry: "(archive)", message: "not an image archive: it has neither manifest.json nor oci-layout and index.json" }]);
  });

  for (const [tool, args, compression] of [
    ["gzip", ["-c", "-n"], "gzip"],
    ["zstd", ["-c", "-q"], "zstd"],
    ["xz", ["-c"], "xz"],
    ["bzip2", ["-c"], "bzip2"],
  ] as const) {
    it(`accepts a whole archive compressed with ${tool}`, async () => {
      const compressed = execFileSync(tool, [...args], { input: whole });
      const report = await verifyBytes(compressed);
      expectValid(report);
      expect(report.compression).toBe(compression);
      expect(report.images.map((i) => i.configDigest)).toEqual([image.config.digest]);
    });
  }

  it("reads a gzip archive followed by zero padding (as gzip -t does), also when the padding comes in a later chunk", async () => {
    const padded = Buffer.concat([gzipSync(whole), Buffer.alloc(512)]);
    const splitAt = padded.length - 512;
    for (const source of [[padded], [padded.subarray(0, splitAt), padded.subarray(splitAt)]]) {
      const report = await verifyArchive(await openTarStream(Readable.from(source), padded.length));
      expectValid(report);
      expect([report.compression, report.images.map((i) => i.configDigest)]).toEqual(["gzip", [image.config.digest]]);
    }
  });

  it("refuses a gzip layer with any byte after its last member, zeros too (Go's gzip reader in docker and containerd reads them as a header: \"invalid header\"), and a zstd layer with any after its last frame", async () => {
    const tar = layerTar({ a: "a" });
    const member = gzipSync(tar);
    const frame = execFileSync("zstd", ["-c", "-q"], { input: tar });
    const cases: [string, Buffer, string][] = [
      [OCI_LAYER_GZIP, Buffer.concat([member, Buffer.alloc(512)]), "corrupt gzip stream: incorrect header check"],
      [OCI_LAYER_GZIP, Buffer.concat([member, Buffer.alloc(1)]), "corrupt gzip stream: incorrect header check"],
      [OCI_LAYER_GZIP, Buffer.concat([member, Buffer.from("\0GARBAGE!")]), "corrupt gzip stream: incorrect header check"],
      [OCI_LAYER_GZIP, Buffer.concat([member, Buffer.from("GARBAGE!")]), "corrupt gzip stream: incorrect header check"],
      [OCI_LAYER_GZIP, Buffer.concat([member, Buffer.of(0x1f)]), "corrupt gzip stream: unexpected end of file"],
      [OCI_LAYER_ZSTD, Buffer.concat([frame, Buffer.alloc(512)]), "corrupt zstd stream: unknown frame descriptor"],
    ];
    for (const [mediaType, bytes, reason] of cases) {
      const bad = makeImage({ storedLayers: [{ bytes, diffId: sha256(tar), mediaType }] });
      expectRefused(await verifyItems(ociLayoutItems([bad])), [{ entry: lPath(bad), message: `${mPath(bad)} layers[0]: layer ${lPath(bad)}: ${reason}` }]);
    }
    // Members one after another are one stream, as gzip and Go's reader read them.
    const twoMembers = makeImage({ storedLayers: [{ bytes: Buffer.concat([gzipSync(tar.subarray(0, 700)), gzipSync(tar.subarray(700))]), diffId: sha256(tar), mediaType: OCI_LAYER_GZIP }] });
    const report = await verifyItems(ociLayoutItems([twoMembers]));
    expectValid(report);
    expect(report.images.map((i) => i.layers.map((l) => [l.digest, l.diffId]))).toEqual([[[twoMembers.layers[0]!.digest, sha256(tar)]]]);
  });

  it("refuses a corrupt or truncated compressed archive", async () => {
    const gz = gzipSync(whole);
    const badCrc = Buffer.from(gz);
    badCrc.writeUInt32LE((badCrc.readUInt32LE(badCrc.length - 8) ^ 1) >>> 0, badCrc.length - 8);
    expectRefused(await verifyBytes(badCrc), [{ entry: "(archive)", message: "corrupt gzip stream: incorrect data check" }]);
    expectRefused(await verifyBytes(gz.subarray(0, gz.length - 100)), [{ entry: "(archive)", message: "corrupt gzip stream: unexpected end of file" }]);
    const zst = execFileSync("zstd", ["-c", "-q"], { input: whole });
    expectRefused(await verifyBytes(zst.subarray(0, zst.length - 10)), [{ entry: "(archive)", message: "corrupt zstd stream: unexpected end of file" }]);
  });
});

describe("names", () => {
  it("normalises RepoTags to full names", async () => {
    const report = await verifyItems(dockerItems(["busybox", "team/app:1.0", "localhost:5000/x/y:v1", "docker.io/library/alpine:3"]));
    expectValid(report);
    expect(report.images[0]!.names).toEqual([
      "docker.io/library/busybox:latest",
      "docker.io/team/app:1.0",
      "localhost:5000/x/y:v1",
      "docker.io/library/alpine:3",
    ]);
  });

  it("accepts RepoTags null (saved by ID): untagged", async () => {
    const report = await verifyItems(dockerItems(null));
    expectValid(report);
    expect(report.images[0]!.names).toEqual([]);
  });

  it("refuses invalid RepoTags", async () => {
    const hex = "a".repeat(64);
    const cases: [string, string][] = [
      ["team/App:1", "manifest.json[0].RepoTags[0]: invalid reference format: repository name (team/App) must be lowercase"],
      // an uppercase first component is a registry host, as in distribution/reference
      ["Team/App:1", "manifest.json[0].RepoTags[0]: invalid reference format: repository name (App) must be lowercase"],
      [hex, `manifest.json[0].RepoTags[0]: invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`],
      ["x/y:bad tag", 'manifest.json[0].RepoTags[0]: invalid reference format: "x/y:bad tag"'],
      ["", 'manifest.json[0].RepoTags[0]: invalid reference format: ""'],
      // docker load refuses these too, but only after storing the layers
      [`x/y@sha256:${hex}`, `manifest.json[0].RepoTags[0]: "x/y@sha256:${hex}" carries a digest, but the archive has no index.json to keep the manifest it pins: a name in manifest.json alone must be a tag`],
      [`x/y:1@sha256:${hex}`, `manifest.json[0].RepoTags[0]: "x/y:1@sha256:${hex}" carries a digest; an image's name in an archive must be a tag`],
    ];
    for (const [tag, message] of cases) {
      expectRefused(await verifyItems(dockerItems([tag])), [{ entry: "manifest.json[0].RepoTags[0]", message }]);
    }
  });

  it("names from io.containerd.image.name and full ref.name; bare ref.name is a warning", async () => {
    const entry = (annotations: Record<string, string>): Record<string, unknown> => descriptorOf(gzImage.manifest, { annotations });
    const cases: [Record<string, string>, string[], string[]][] = [
      [{ "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "1" }, ["docker.io/library/app:1"], []],
      [{ "org.opencontainers.image.ref.name": "registry.example.com/team/app:2" }, ["registry.example.com/team/app:2"], []],
      [{ "org.opencontainers.image.ref.name": "1.0" }, [], ['index.json: ref.name "1.0" is a bare tag without a repository; the image is untagged']],
    ];
    for (const [annotations, names, warnings] of cases) {
      const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [entry(annotations)] }));
      expectValid(report);
      expect(report.images[0]!.names).toEqual(names);
      expect(report.warnings).toEqual(warnings);
    }
  });

  it("refuses invalid ref.name and io.containerd.image.name", async () => {
    const hex = "b".repeat(64);
    const cases: [Record<string, string>, Problem][] = [
      [
        { "io.containerd.image.name": "docker.io/Library/App:1" },
        {
          entry: 'index.json manifests[0].annotations["io.containerd.image.name"]',
          message: 'index.json manifests[0].annotations["io.containerd.image.name"]: invalid reference format: repository name (Library/App) must be lowercase',
        },
      ],
      [
        { "org.opencontainers.image.ref.name": "example.com/x:bad tag" },
        {
          entry: 'index.json manifests[0].annotations["org.opencontainers.image.ref.name"]',
          message: 'index.json manifests[0].annotations["org.opencontainers.image.ref.name"]: invalid reference format: "example.com/x:bad tag"',
        },
      ],
      [
        { "io.containerd.image.name": hex },
        {
          entry: 'index.json manifests[0].annotations["io.containerd.image.name"]',
          message: `index.json manifests[0].annotations["io.containerd.image.name"]: invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`,
        },
      ],
      [
        { "io.containerd.image.name": `docker.io/library/app@sha256:${hex}` },
        {
          entry: 'index.json manifests[0].annotations["io.containerd.image.name"]',
          message: `index.json manifests[0].annotations["io.containerd.image.name"]: "docker.io/library/app@sha256:${hex}" names the digest sha256:${hex}, not the entry's own ${gzImage.manifest.digest}`,
        },
      ],
      [
        { "io.containerd.image.name": `docker.io/library/app:1@${gzImage.manifest.digest}` },
        {
          entry: 'index.json manifests[0].annotations["io.containerd.image.name"]',
          message: `index.json manifests[0].annotations["io.containerd.image.name"]: "docker.io/library/app:1@${gzImage.manifest.digest}" carries a digest; an image's name in an archive must be a tag`,
        },
      ],
      [
        { "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "not/A:valid" },
        {
          entry: 'index.json manifests[0].annotations["org.opencontainers.image.ref.name"]',
          message: 'index.json manifests[0].annotations["org.opencontainers.image.ref.name"]: invalid reference format: repository name (not/A) must be lowercase',
        },
      ],
    ];
    for (const [annotations, problem] of cases) {
      const report = await verifyItems(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(gzImage.manifest, { annotations })] }));
      expectRefused(report, [problem]);
    }
  });

  it("accepts a containerd name by the entry's own digest (an image saved or exported by digest), beside manifest.json's untagged image", async () => {
    const pinned = `docker.io/example/app@${gzImage.manifest.digest}`;
    const layout = ociLayoutItems([gzImage], { indexEntries: [descriptorOf(gzImage.manifest, { annotations: { "io.containerd.image.name": pinned } })] });
    const report = await verifyItems(layout);
    expectValid(report);
    expect(report.images.map((entry) => entry.names)).toEqual([[pinned]]);
    const withManifestJson = [...layout, ...withFile([], "manifest.json", manifestJson([{ Config: cPath(gzImage), RepoTags: null, Layers: [lPath(gzImage)] }]))];
    expectValid(await verifyItems(withManifestJson));
  });
});

describe("the blob item helper", () => {
  it("names a blob by the sha256 of its bytes", () => {
    expect(blobItem(Buffer.from("abc"))).toEqual({
      type: "file",
      name: "blobs/sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      content: Buffer.from("abc"),
    });
  });
});
