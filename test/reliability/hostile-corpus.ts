// The hostile-archive corpus of issue 6: bad inputs built byte by byte, each with the family it
// belongs to and a fragment of the one-line error that must name the entry or field at fault.
// Cases are tar bytes or an OCI layout directory (files and symlinks written to disk).
import { execFileSync } from "node:child_process";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import {
  EMPTY_LAYER_DIFF_ID,
  OCI_INDEX,
  OCI_LAYER,
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
  makeImage,
  ociLayoutItems,
  paxRecords,
  sha256,
  tarEntry,
  tarHeader,
  withFile,
  withChecksum,
  withoutFile,
  type TarItem,
  type TestImage,
} from "../support/archive-builder.js";
import { withDictionary, xzOf } from "../support/xz-streams.js";

export const FAMILIES = ["names", "links", "duplicates", "json", "sizes-and-streams", "references"] as const;
export type Family = (typeof FAMILIES)[number];

/** A file or symlink of a directory input, by its path inside the layout. */
export type LayoutFile = { path: string; content: Buffer | string } | { path: string; symlink: string };

export type HostileInput = { kind: "tar"; bytes: Buffer } | { kind: "layout"; files: LayoutFile[] };

/** Caps passed as the CLI flags every reading command has (--max-json-size, --max-layer-size). */
export interface CaseLimits {
  maxJsonSize?: string;
  maxLayerSize?: string;
}

export interface HostileCase {
  /** Unique, human-readable. */
  name: string;
  family: Family;
  input: HostileInput;
  /** Part of the one-line error: it names the entry or field at fault. */
  fragment: string;
  limits?: CaseLimits;
}

const image = makeImage();
const gzImage = makeImage({ gzip: true, seed: "gz" });
const configName = `${hexOf(image.config.digest)}.json`;
const layerName = `${hexOf(image.layers[0]!.digest)}.tar`;
const dockerItems = (tags: string[] | null = ["hostile/app:1"], img: TestImage = image): TarItem[] => dockerArchiveItems([{ image: img, repoTags: tags }]);
const ociItems = (): TarItem[] => ociLayoutItems([gzImage]);
const manifestJson = (entries: Record<string, unknown>[]): string => JSON.stringify(entries);
const mPath = (img: TestImage): string => blobPath(img.manifest.digest);
const cPath = (img: TestImage): string => blobPath(img.config.digest);
const lPath = (img: TestImage): string => blobPath(img.layers[0]!.digest);

const tar = (items: readonly TarItem[]): HostileInput => ({ kind: "tar", bytes: buildTar(items) });
const raw = (bytes: Buffer): HostileInput => ({ kind: "tar", bytes });
/** A hand-made entry (or record pair) in front of a valid docker archive. */
const before = (entry: Buffer): HostileInput => tar([{ type: "raw", bytes: entry }, ...dockerItems()]);
const xEntry = (name: string): Buffer => tarEntry({ name }, Buffer.from("x"));

function nameCases(): HostileCase[] {
  const longName = `${"d/".repeat(2100)}x`;
  const longComponent = `d/${"n".repeat(256)}`;
  const wrongBlob = blobPath(sha256("not the content"));
  const cases: [string, HostileInput, string][] = [
    ["entry ../x", before(xEntry("../x")), 'unsafe entry name "../x": ".." component'],
    ["entry /x", before(xEntry("/x")), 'unsafe entry name "/x": absolute path'],
    ["entry ./../x", before(xEntry("./../x")), 'unsafe entry name "./../x": ".." component'],
    ["entry a/../../x", before(xEntry("a/../../x")), 'unsafe entry name "a/../../x": ".." component'],
    ["entry with a backslash", before(xEntry("..\\x")), 'unsafe entry name "..\\\\x": contains a backslash'],
    ["entry with a NUL byte (PAX path)", before(Buffer.concat([paxRecords({ path: "a\0b" }), xEntry("ab")])), 'unsafe entry name "a\\u0000b": contains a NUL byte'],
    ["PAX path expanding to ../x", before(Buffer.concat([paxRecords({ path: "../x" }), xEntry("x")])), 'unsafe entry name "../x": ".." component'],
    ["PAX path expanding to /x", before(Buffer.concat([paxRecords({ path: "/x" }), xEntry("x")])), 'unsafe entry name "/x": absolute path'],
    ["GNU long name expanding to ../x", before(Buffer.concat([gnuLongRecord("L", "../x"), xEntry("x")])), 'unsafe entry name "../x": ".." component'],
    ["GNU long name expanding to /x", before(Buffer.concat([gnuLongRecord("L", "/x"), xEntry("x")])), 'unsafe entry name "/x": absolute path'],
    ["name longer than 4096 bytes", before(Buffer.concat([paxRecords({ path: longName }), xEntry("x")])), `unsafe entry name ${JSON.stringify(longName.slice(0, 200))}… (4201 bytes): longer than 4096 bytes`],
    ["GNU long name of 3 MiB", before(Buffer.concat([gnuLongRecord("L", "a".repeat(3 * 1024 * 1024)), xEntry("x")])), `unsafe entry name "${"a".repeat(200)}"… (3145728 bytes): longer than 4096 bytes`],
    ["name component longer than 255 bytes", before(Buffer.concat([paxRecords({ path: longComponent }), xEntry("x")])), `unsafe entry name "${longComponent.slice(0, 200)}"… (258 bytes): component longer than 255 bytes`],
    [
      "blobs/sha256/<hex> whose content does not match",
      tar([...ociItems(), { type: "file", name: wrongBlob, content: "the content" }]),
      `${wrongBlob}: content does not match its name (content is ${sha256("the content")})`,
    ],
    [
      "layer tar entry ../evil",
      tar(dockerItems(null, makeImage({ layers: [buildTar([{ type: "raw", bytes: xEntry("../evil") }])] }))),
      'layer tar entry "../evil" escapes the root',
    ],
    [
      "layer tar PAX name a/../../x",
      tar(dockerItems(null, makeImage({ layers: [buildTar([{ type: "raw", bytes: Buffer.concat([paxRecords({ path: "a/../../x" }), xEntry("x")]) }])] }))),
      'layer tar entry "a/../../x" escapes the root',
    ],
    [
      "layout directory file name with a backslash",
      { kind: "layout", files: [...layoutFiles(), { path: "blobs/sha256/a\\b", content: "x" }] },
      'unsafe entry name "blobs/sha256/a\\\\b": contains a backslash',
    ],
  ];
  return cases.map(([name, input, fragment]) => ({ name, family: "names", input, fragment }));
}

function linkCases(): HostileCase[] {
  const chain = (links: number): TarItem[] => {
    const items: TarItem[] = [];
    for (let i = 1; i <= links; i++) items.push({ type: "symlink", name: `l${i}`, target: i === 1 ? configName : `l${i - 1}` });
    return [...withFile(dockerItems(), "manifest.json", manifestJson([{ Config: `l${links}`, RepoTags: null, Layers: [layerName] }])), ...items];
  };
  const other = makeImage({ gzip: true, seed: "other" });
  const cases: [string, HostileInput, string][] = [
    ["symlink climbing out of the archive", tar([...dockerItems(), { type: "symlink", name: "evil", target: "../../etc/passwd" }]), 'symlink "evil" -> "../../etc/passwd": target escapes the archive'],
    ["absolute symlink", tar([...dockerItems(), { type: "symlink", name: "evil", target: "/etc/passwd" }]), 'symlink "evil" -> "/etc/passwd": absolute target'],
    ["hard link to ../x", tar([...dockerItems(), { type: "hardlink", name: "hl", target: "../x" }]), 'hard link "hl" points outside the archive ("../x")'],
    ["hard link to /etc/shadow", tar([...dockerItems(), { type: "hardlink", name: "hl", target: "/etc/shadow" }]), 'hard link "hl" points outside the archive ("/etc/shadow")'],
    [
      "GNU long link name expanding to ../x",
      tar([...dockerItems(), { type: "raw", bytes: Buffer.concat([gnuLongRecord("K", "../x"), tarEntry({ name: "hl", typeflag: "1", linkname: "x" })]) }]),
      'hard link "hl" points outside the archive ("../x")',
    ],
    [
      "PAX linkpath expanding to /etc/passwd",
      tar([...dockerItems(), { type: "raw", bytes: Buffer.concat([paxRecords({ linkpath: "/etc/passwd" }), tarEntry({ name: "sl", typeflag: "2", linkname: "x" })]) }]),
      'symlink "sl" -> "/etc/passwd": absolute target',
    ],
    [
      "link loop at manifest.json",
      tar([...withoutFile(dockerItems(), "manifest.json"), { type: "symlink", name: "manifest.json", target: "a" }, { type: "symlink", name: "a", target: "manifest.json" }]),
      'manifest.json: "manifest.json" is a chain of more than 16 links (or a loop)',
    ],
    ["chain of 17 links", tar(chain(17)), 'manifest.json[0].Config: "l17" is a chain of more than 16 links (or a loop)'],
    ["entry written through a symlink", tar([{ type: "symlink", name: "dir", target: "elsewhere" }, { type: "file", name: "dir/x", content: "x" }, ...dockerItems()]), 'entry "dir/x" is beneath the link "dir"'],
    ["symlink replacing a directory of earlier entries", tar([{ type: "file", name: "dir/x", content: "x" }, { type: "symlink", name: "dir", target: "elsewhere" }, ...dockerItems()]), 'link "dir" replaces a directory of earlier entries'],
    [
      "manifest path through a link to a directory",
      tar([
        { type: "file", name: configName, content: image.config.bytes },
        { type: "file", name: `real/${layerName}`, content: image.layers[0]!.bytes },
        { type: "symlink", name: "layers", target: "real" },
        { type: "file", name: "manifest.json", content: manifestJson([{ Config: configName, RepoTags: null, Layers: [`layers/${layerName}`] }]) },
      ]),
      `manifest.json[0].Layers[0]: "layers/${layerName}" reaches a file through the link "layers"`,
    ],
    [
      "blob that is a symlink to a blob of other content",
      tar([
        ...withoutFile(ociItems(), lPath(gzImage)),
        blobItem(other.layers[0]!),
        { type: "symlink", name: lPath(gzImage), target: hexOf(other.layers[0]!.digest) },
      ]),
      other.layers[0]!.size === gzImage.layers[0]!.size
        ? `${mPath(gzImage)} layers[0]: digest ${gzImage.layers[0]!.digest} does not match the content of ${lPath(gzImage)} (${other.layers[0]!.digest})`
        : `${mPath(gzImage)} layers[0]: size ${gzImage.layers[0]!.size} does not match ${lPath(gzImage)} (${other.layers[0]!.size} bytes)`,
    ],
    [
      "blob that is a symlink out of the archive",
      tar(ociItems().map((item): TarItem => (item.type === "file" && item.name === cPath(gzImage) ? { type: "symlink", name: item.name, target: "/etc/passwd" } : item))),
      `symlink "${cPath(gzImage)}" -> "/etc/passwd": absolute target`,
    ],
    [
      "layer tar hard link to ../../etc/shadow",
      tar(dockerItems(null, makeImage({ layers: [buildTar([{ type: "raw", bytes: tarEntry({ name: "ok", typeflag: "1", linkname: "../../etc/shadow" }) }])] }))),
      'layer tar hard link target of "ok" "../../etc/shadow" escapes the root',
    ],
    [
      "layout directory blob symlinked to /etc/passwd",
      { kind: "layout", files: layoutFiles().map((file) => (file.path === cPath(gzImage) ? { path: file.path, symlink: "/etc/passwd" } : file)) },
      `symlink "${cPath(gzImage)}" -> "/etc/passwd": absolute target`,
    ],
    [
      "blob that is a hard link to a missing entry",
      tar(ociItems().map((item): TarItem => (item.type === "file" && item.name === lPath(gzImage) ? { type: "hardlink", name: item.name, target: "blobs/sha256/gone" } : item))),
      `${mPath(gzImage)} layers[0]: "${lPath(gzImage)}" is a hard link to "blobs/sha256/gone", which is not in the archive`,
    ],
    [
      "blob that is a symlink to a missing entry",
      tar(ociItems().map((item): TarItem => (item.type === "file" && item.name === lPath(gzImage) ? { type: "symlink", name: item.name, target: "gone" } : item))),
      `${mPath(gzImage)} layers[0]: "${lPath(gzImage)}" is a symbolic link to "blobs/sha256/gone", which is not in the archive`,
    ],
    [
      "manifest.json layer through a chain of links to a missing entry",
      tar([...withoutFile(dockerItems(), layerName), { type: "symlink", name: layerName, target: "hop" }, { type: "hardlink", name: "hop", target: "gone" }]),
      `manifest.json[0].Layers[0]: "${layerName}" leads through links to "hop", a hard link to "gone", which is not in the archive`,
    ],
    [
      "layout directory blob symlinked to a missing file",
      { kind: "layout", files: layoutFiles().map((file) => (file.path === lPath(gzImage) ? { path: file.path, symlink: "gone" } : file)) },
      `${mPath(gzImage)} layers[0]: "${lPath(gzImage)}" is a symbolic link to "blobs/sha256/gone", which is not in the archive`,
    ],
    [
      "layout directory blob symlinked out of the layout",
      { kind: "layout", files: layoutFiles().map((file) => (file.path === cPath(gzImage) ? { path: file.path, symlink: "../../../outside" } : file)) },
      `symlink "${cPath(gzImage)}" -> "../../../outside": target escapes the archive`,
    ],
  ];
  return cases.map(([name, input, fragment]) => ({ name, family: "links", input, fragment }));
}

function duplicateCases(): HostileCase[] {
  const twice = (items: TarItem[], name: string, second: string | Buffer): HostileInput => tar([...items, { type: "file", name, content: second }]);
  const cases: [string, HostileInput, string][] = [
    ["manifest.json twice, different content", twice(dockerItems(), "manifest.json", manifestJson([{ Config: configName, RepoTags: ["hostile/other:1"], Layers: [layerName] }])), 'duplicate entry "manifest.json" with different content'],
    ["index.json twice, different content", twice(ociItems(), "index.json", JSON.stringify({ schemaVersion: 2, manifests: [] })), 'duplicate entry "index.json" with different content'],
    ["blob twice, different content", twice(ociItems(), lPath(gzImage), Buffer.from("other")), `duplicate entry "${lPath(gzImage)}" with different content`],
    ["a file and a symlink of the same name", tar([...dockerItems(), { type: "symlink", name: layerName, target: configName }]), `duplicate entry "${layerName}" with different content`],
    ["oci-layout twice, different content", twice(ociItems(), "oci-layout", JSON.stringify({ imageLayoutVersion: "1.1.0" })), 'duplicate entry "oci-layout" with different content'],
  ];
  return cases.map(([name, input, fragment]) => ({ name, family: "duplicates", input, fragment }));
}

function jsonCases(): HostileCase[] {
  const withManifestJson = (content: string): HostileInput => tar(withFile(dockerItems(), "manifest.json", content));
  const withIndexEntry = (entry: Record<string, unknown>, extraBlobs: Buffer[] = []): HostileInput =>
    tar(ociLayoutItems([gzImage], { indexEntries: [entry], extraBlobs }));
  const withDigest = (digest: string): HostileInput => withIndexEntry({ ...descriptorOf(gzImage.manifest), digest });
  const oci = (img: TestImage): HostileInput => tar(ociLayoutItems([img]));

  const dupConfig = image.config.bytes.toString().replace('"os":"linux"', '"os":"linux","os":"windows"');
  const dupConfigName = `${hexOf(sha256(dupConfig))}.json`;
  const dupConfigItems = withFile(withFile(withoutFile(dockerItems(), configName), dupConfigName, dupConfig), "manifest.json", manifestJson([{ Config: dupConfigName, RepoTags: null, Layers: [layerName] }]));

  const indexBody = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] }), OCI_INDEX);
  const schema1 = blobOf(JSON.stringify({ schemaVersion: 1, name: "x/y", tag: "1", fsLayers: [], history: [] }), "application/vnd.docker.distribution.manifest.v1+prettyjws");
  const noRootfs = makeImage({ gzip: true, seed: "no-rootfs", editConfig: ({ rootfs: _rootfs, ...rest }) => rest });
  const wrongDiffId = sha256("something else");
  const diffMismatch = makeImage({ gzip: true, seed: "diff", editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [wrongDiffId] } }) });
  const dockerDiffMismatch = makeImage({ editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [wrongDiffId] } }) });
  const countMismatch = makeImage({ gzip: true, seed: "count", editConfig: (c) => ({ ...c, rootfs: { type: "layers", diff_ids: [(c.rootfs as { diff_ids: string[] }).diff_ids[0], EMPTY_LAYER_DIFF_ID] } }) });
  const configTrick = makeImage({ gzip: true, seed: "trick", editManifest: (m) => ({ ...m, config: { ...(m.config as object), digest: "sha256:../../../etc/passwd" } }) });
  const sha512Upper = makeImage({ gzip: true, seed: "512", editManifest: (m) => ({ ...m, layers: [{ mediaType: OCI_LAYER_GZIP, digest: `sha512:${"A".repeat(128)}`, size: 1 }] }) });
  const unknownBody = makeImage({ gzip: true, seed: "unknown-body", editManifest: (m) => ({ ...m, mediaType: "application/vnd.oci.image.manifest.v9+json" }) });
  const wrongTypes = makeImage({ gzip: true, seed: "types", editConfig: (c) => ({ ...c, architecture: 64 }) });
  const hugeConfig = makeImage({ seed: "huge", editConfig: (c) => ({ ...c, config: { Env: [`PAD=${"p".repeat(9 * 1024 * 1024)}`] } }) });
  const fakeConfigName = `${"a".repeat(64)}.json`;
  const untypedBody = makeImage({ gzip: true, seed: "untyped", editManifest: ({ mediaType: _mediaType, ...rest }) => rest });
  const craneLayerName = `${hexOf(gzImage.layers[0]!.digest)}.tar.gz`;
  const otherMtimeLayer = Buffer.from(gzImage.layers[0]!.bytes);
  otherMtimeLayer[4] = otherMtimeLayer[4]! ^ 1; // the gzip header's mtime: same diff ID, other blob
  const craneItems: TarItem[] = [
    { type: "file", name: `${hexOf(gzImage.config.digest)}.json`, content: gzImage.config.bytes },
    { type: "file", name: craneLayerName, content: otherMtimeLayer },
    { type: "file", name: "manifest.json", content: manifestJson([{ Config: `${hexOf(gzImage.config.digest)}.json`, RepoTags: null, Layers: [craneLayerName] }]) },
  ];
  const otherConfig = Buffer.from(gzImage.config.bytes.toString().replace("amd64", "arm64"));
  const dataMismatch = makeImage({ gzip: true, seed: "gz", editManifest: (m) => ({ ...m, config: { ...(m.config as object), data: otherConfig.toString("base64") } }) });
  // Keys Go's encoding/json reads as one struct field (it matches field names case-insensitively).
  const caseKeysManifestJson = `[{"Config":${JSON.stringify(configName)},"RepoTags":["casekeys/img:1"],"Layers":[${JSON.stringify(layerName)}],"config":"other.json","layers":["other.tar"]}]`;
  const caseKeysManifest = makeImage({ gzip: true, seed: "case-manifest", editManifest: (m) => ({ ...m, Layers: [] }) });
  const caseKeysConfig = makeImage({ gzip: true, seed: "case-config", editConfig: (c) => ({ ...c, config: { User: "nobody", "U\u017fer": "root" } }) });
  const gzIndexText = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] });
  const sizeSpelt = (spelling: string): string => gzIndexText.replace(`"size":${gzImage.manifest.size}`, `"size":${spelling}`);
  const floatVersionManifest = blobOf(gzImage.manifest.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":2.0'), OCI_MANIFEST);
  const nested = [blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(gzImage.manifest)] }), OCI_INDEX)];
  for (let i = 1; i < 9; i++) nested.push(blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptorOf(nested[i - 1]!)] }), OCI_INDEX));

  const cases: [string, HostileInput, string, CaseLimits?][] = [
    ["manifest.json that is not JSON", withManifestJson("[{"), "manifest.json: invalid JSON: "],
    ["manifest.json null", withManifestJson("null"), "manifest.json: manifest.json is not a JSON object or array"],
    ["manifest.json after a byte-order mark (Go's decoder refuses it too)", withManifestJson("\uFEFF[]"), "manifest.json: manifest.json is not a JSON object or array"],
    ["manifest.json an object", withManifestJson("{}"), "manifest.json: (document): Invalid input: expected array, received object"],
    ["manifest.json Config a number", withManifestJson(manifestJson([{ Config: 7, RepoTags: null, Layers: [layerName] }])), "manifest.json: [0].Config: Invalid input: expected string, received number"],
    ["manifest.json Layers a string", withManifestJson(manifestJson([{ Config: configName, RepoTags: null, Layers: layerName }])), "manifest.json: [0].Layers: Invalid input: expected array, received string"],
    ["manifest.json RepoTags a string", withManifestJson(manifestJson([{ Config: configName, RepoTags: "hostile/app:1", Layers: [layerName] }])), "manifest.json: [0].RepoTags: Invalid input: expected array, received string"],
    [
      "manifest.json Config misspelt Cnnfig in its second image",
      withManifestJson(manifestJson([{ Config: configName, RepoTags: null, Layers: [layerName] }, { Cnnfig: configName, RepoTags: null, Layers: [layerName] }])),
      'manifest.json: [1].Config: missing (there is a key "Cnnfig", one character off)',
    ],
    ["manifest.json without Layers", withManifestJson(manifestJson([{ Config: configName, RepoTags: null }])), "manifest.json: [0].Layers: missing"],
    ["oci-layout imageLayoutVersion misspelt imageLayoutVession", tar(withFile(ociItems(), "oci-layout", JSON.stringify({ imageLayoutVession: "1.0.0" }))), 'oci-layout: imageLayoutVersion: missing (there is a key "imageLayoutVession", one character off)'],
    ["index.json that is not JSON", tar(withFile(ociItems(), "index.json", "{ not json")), "index.json: invalid JSON: "],
    ["index.json null", tar(withFile(ociItems(), "index.json", "null")), "index.json: index.json is not a JSON object or array"],
    ["index.json manifests not an array", tar(withFile(ociItems(), "index.json", JSON.stringify({ schemaVersion: 2, manifests: {} }))), "index.json: manifests: Invalid input: expected array, received object"],
    ["config with a wrong type (architecture 64)", oci(wrongTypes), `${cPath(wrongTypes)}: architecture: Invalid input: expected string, received number`],
    // The default caps, without flags: 20 MiB for manifest.json, 8 MiB for other JSON.
    ["manifest.json beyond the default 20 MiB cap", withManifestJson(manifestJson([{ Config: configName, RepoTags: null, Layers: [layerName], Pad: "p".repeat(21 * 1024 * 1024) }])), "manifest.json: manifest.json is larger than the JSON size cap of 20971520 bytes"],
    ["config beyond the default 8 MiB cap", tar(dockerItems(null, hugeConfig)), `manifest.json[0].Config: ${hexOf(hugeConfig.config.digest)}.json is larger than the JSON size cap of 8388608 bytes`],
    ["config beyond the JSON cap", tar(dockerItems()), `manifest.json[0].Config: ${configName} is larger than the JSON size cap of 64 bytes`, { maxJsonSize: "64" }],
    ["index.json beyond the JSON cap", oci(gzImage), "index.json: index.json is larger than the JSON size cap of 128 bytes", { maxJsonSize: "128" }],
    ["manifest beyond the JSON cap", oci(gzImage), `${mPath(gzImage)} is larger than the JSON size cap of 300 bytes`, { maxJsonSize: "300" }],
    ["deeply nested manifest.json", withManifestJson(`${"[".repeat(100)}${"]".repeat(100)}`), "manifest.json: JSON nested deeper than 64 levels"],
    ["deeply nested index.json", tar(withFile(ociItems(), "index.json", `{"schemaVersion":2,"manifests":[],"x":${"[".repeat(100)}${"]".repeat(100)}}`)), "index.json: JSON nested deeper than 64 levels"],
    ["duplicate key in manifest.json", withManifestJson(`[{"Config":${JSON.stringify(configName)},"Config":"other.json","RepoTags":null,"Layers":[${JSON.stringify(layerName)}]}]`), 'manifest.json: duplicate key "Config"'],
    ["duplicate key in a config", tar(dupConfigItems), `${dupConfigName}: duplicate key "os"`],
    ["duplicate key in index.json", tar(withFile(ociItems(), "index.json", `{"schemaVersion":2,"schemaVersion":2,"manifests":[]}`)), 'index.json: duplicate key "schemaVersion"'],
    [
      "manifest.json keys Config and config (Go reads the last)",
      withManifestJson(caseKeysManifestJson),
      'manifest.json: [0].config: keys "Config" and "config" are one field, Config, to Go, which matches field names case-insensitively and reads both into it',
    ],
    [
      "manifest.json config without Config (Go reads it as Config)",
      withManifestJson(`[{"config":${JSON.stringify(configName)},"RepoTags":null,"Layers":[${JSON.stringify(layerName)}]}]`),
      'manifest.json: [0].config: key "config" is field Config only to Go, which matches field names case-insensitively; spell it "Config"',
    ],
    [
      "index.json entry with digest and Digest",
      withIndexEntry({ ...descriptorOf(gzImage.manifest), Digest: image.manifest.digest, Size: image.manifest.size }),
      'index.json: manifests[0].Digest: keys "digest" and "Digest" are one field, digest, to Go, which matches field names case-insensitively and reads both into it',
    ],
    [
      "manifest with layers and Layers",
      oci(caseKeysManifest),
      `${mPath(caseKeysManifest)}: Layers: keys "layers" and "Layers" are one field, layers, to Go, which matches field names case-insensitively and reads both into it`,
    ],
    [
      "config with User and U\u017fer (long s folds to s)",
      oci(caseKeysConfig),
      `${cPath(caseKeysConfig)}: config.U\u017fer: keys "User" and "U\u017fer" are one field, User, to Go, which matches field names case-insensitively and reads both into it`,
    ],
    [
      "oci-layout with imageLayoutVersion and ImageLayoutVersion",
      tar(withFile(ociItems(), "oci-layout", '{"imageLayoutVersion":"1.0.0","ImageLayoutVersion":"2.0.0"}')),
      'oci-layout: ImageLayoutVersion: keys "imageLayoutVersion" and "ImageLayoutVersion" are one field, imageLayoutVersion, to Go',
    ],
    ["index.json size 398.0 (Go refuses it for an int64)", tar(withFile(ociItems(), "index.json", sizeSpelt(`${gzImage.manifest.size}.0`))), `index.json: manifests[0].size: ${gzImage.manifest.size}.0 has a fraction or an exponent, which Go refuses for an integer field`],
    ["index.json size 398e0", tar(withFile(ociItems(), "index.json", sizeSpelt(`${gzImage.manifest.size}e0`))), `index.json: manifests[0].size: ${gzImage.manifest.size}e0 has a fraction or an exponent, which Go refuses for an integer field`],
    [
      "manifest schemaVersion 2.0",
      withIndexEntry(descriptorOf(floatVersionManifest), [floatVersionManifest.bytes]),
      `${blobPath(floatVersionManifest.digest)}: schemaVersion: 2.0 has a fraction or an exponent, which Go refuses for an integer field`,
    ],
    [
      "manifest body with an unknown media type",
      withIndexEntry(descriptorOf(unknownBody.manifest), [unknownBody.manifest.bytes, unknownBody.config.bytes, unknownBody.layers[0]!.bytes]),
      `${mPath(unknownBody)}: media type ${OCI_MANIFEST} in its descriptor but application/vnd.oci.image.manifest.v9+json in its body`,
    ],
    ["manifest whose body is an index (CVE-2021-41190)", withIndexEntry({ ...descriptorOf(indexBody), mediaType: OCI_MANIFEST }, [indexBody.bytes]), `${blobPath(indexBody.digest)}: described as a manifest but its body is an index`],
    ["index whose body is a manifest", withIndexEntry({ ...descriptorOf(gzImage.manifest), mediaType: OCI_INDEX }), `${mPath(gzImage)}: described as an index but its body is a manifest`],
    [
      "descriptor media type disagreeing with the body",
      withIndexEntry({ ...descriptorOf(gzImage.manifest), mediaType: "application/vnd.docker.distribution.manifest.v2+json" }),
      `${mPath(gzImage)}: media type application/vnd.docker.distribution.manifest.v2+json in its descriptor but ${OCI_MANIFEST} in its body`,
    ],
    [
      "Docker manifest descriptor over a body naming no media type",
      tar(ociLayoutItems([untypedBody], { indexEntries: [{ ...descriptorOf(untypedBody.manifest), mediaType: "application/vnd.docker.distribution.manifest.v2+json" }] })),
      `${mPath(untypedBody)}: media type application/vnd.docker.distribution.manifest.v2+json in its descriptor but none in its body`,
    ],
    ["schema 1 manifest", tar(ociLayoutItems([], { indexEntries: [descriptorOf(schema1)], extraBlobs: [schema1] })), "index.json manifests[0]: Docker schema 1 manifests are obsolete and not supported"],
    ["schema 1 manifest disguised as OCI", tar(ociLayoutItems([], { indexEntries: [{ ...descriptorOf(schema1), mediaType: OCI_MANIFEST }], extraBlobs: [schema1] })), `${blobPath(schema1.digest)}: Docker schema 1 manifests are obsolete and not supported`],
    ["config without rootfs", oci(noRootfs), `${cPath(noRootfs)}: rootfs: missing`],
    [
      "diff ID mismatch (OCI)",
      oci(diffMismatch),
      `${mPath(diffMismatch)} layers[0]: layer ${lPath(diffMismatch)} has diff ID ${diffMismatch.layers[0]!.diffId}, but ${cPath(diffMismatch)} rootfs.diff_ids[0] is ${wrongDiffId}`,
    ],
    [
      "diff ID mismatch (docker archive)",
      tar(dockerItems(null, dockerDiffMismatch)),
      `manifest.json[0].Layers[0]: layer ${layerName} has diff ID ${image.layers[0]!.diffId}, but ${hexOf(dockerDiffMismatch.config.digest)}.json rootfs.diff_ids[0] is ${wrongDiffId}`,
    ],
    ["layer count mismatch", oci(countMismatch), `${cPath(countMismatch)}: rootfs.diff_ids lists 2 layers but the image has 1`],
    ["digest with uppercase hex", withDigest(gzImage.manifest.digest.toUpperCase().replace("SHA256", "sha256")), "index.json: manifests[0].digest: invalid sha256 digest"],
    ["digest of the wrong length", withDigest("sha256:abc"), 'index.json: manifests[0].digest: invalid sha256 digest "sha256:abc" (want 64 lowercase hex digits)'],
    ["digest with an unknown algorithm", withDigest(`md5:${"a".repeat(32)}`), `index.json: manifests[0].digest: unsupported digest algorithm "md5"`],
    ["digest with an invalid algorithm", withDigest(`SHA_256:${"a".repeat(64)}`), `index.json: manifests[0].digest: invalid digest "SHA_256:${"a".repeat(64)}"`],
    ["digest that is a path trick", withDigest("sha256:../../x"), 'index.json: manifests[0].digest: invalid digest "sha256:../../x"'],
    ["config digest that is a path trick", oci(configTrick), `${mPath(configTrick)}: config.digest: invalid digest "sha256:../../../etc/passwd"`],
    ["sha512 layer digest with uppercase hex", oci(sha512Upper), `${mPath(sha512Upper)}: layers[0].digest: invalid sha512 digest`],
    [
      "<hex>.json config whose content is not its name",
      tar(withFile(withFile(withoutFile(dockerItems(), configName), fakeConfigName, image.config.bytes), "manifest.json", manifestJson([{ Config: fakeConfigName, RepoTags: null, Layers: [layerName] }]))),
      `manifest.json[0].Config: ${fakeConfigName} is named for ${"a".repeat(64)} but its content is ${image.config.digest}`,
    ],
    [
      "descriptor data that is not the content its digest names",
      oci(dataMismatch),
      `${mPath(dataMismatch)} config: data does not match digest ${gzImage.config.digest} (it decodes to content with digest ${sha256(otherConfig)})`,
    ],
    [
      "<hex>.tar.gz layer whose content is not its name",
      tar(craneItems),
      `manifest.json[0].Layers[0]: ${craneLayerName} is named for ${hexOf(gzImage.layers[0]!.digest)} but its content is ${sha256(otherMtimeLayer)}`,
    ],
    ["oci-layout version 2.0.0", tar(ociLayoutItems([gzImage], { layoutVersion: "2.0.0" })), 'oci-layout: unsupported imageLayoutVersion "2.0.0" (want "1.0.0")'],
    ["indexes nested deeper than 8 levels", withIndexEntry(descriptorOf(nested[8]!), nested.map((blob) => blob.bytes)), `${blobPath(nested[1]!.digest)} manifests[0]: indexes nested deeper than 8 levels`],
    ["layout directory with an invalid index.json", { kind: "layout", files: layoutFiles().map((file) => (file.path === "index.json" ? { path: file.path, content: "{" } : file)) }, "index.json: invalid JSON: "],
  ];
  return cases.map(([name, input, fragment, limits]) => ({ name, family: "json", input, fragment, ...(limits ? { limits } : {}) }));
}

function streamCases(): HostileCase[] {
  const whole = buildTar(dockerItems());
  const configEnd = 512 + Math.ceil(image.config.size / 512) * 512;
  const layerEnd = configEnd + 512 + Math.ceil(image.layers[0]!.size / 512) * 512;
  const manifestHeader = layerEnd;
  const cut = (offset: number): HostileInput => raw(whole.subarray(0, offset));
  const cuts: [string, number, string][] = [
    ["truncated inside the first header", 100, "unexpected end of archive before the first entry"],
    ["truncated at the end of the first header", 512, `unexpected end of archive in entry "${configName}"`],
    ["truncated inside the config", 512 + 10, `unexpected end of archive in entry "${configName}" (got 10 of ${image.config.size} bytes)`],
    ["truncated in the config's padding", 512 + image.config.size + 1, `unexpected end of archive after entry "${configName}"`],
    ["truncated inside the layer's header", configEnd + 200, `unexpected end of archive after entry "${configName}"`],
    ["truncated inside the layer", configEnd + 512 + 1000, `unexpected end of archive in entry "${layerName}" (got 1000 of ${image.layers[0]!.size} bytes)`],
    ["truncated in the layer's padding", configEnd + 512 + image.layers[0]!.size + 1, `unexpected end of archive after entry "${layerName}"`],
    ["truncated inside manifest.json's header", manifestHeader + 300, `unexpected end of archive after entry "${layerName}"`],
    ["truncated inside manifest.json", manifestHeader + 512 + 5, 'unexpected end of archive in entry "manifest.json"'],
  ];
  const gz = gzipSync(whole);
  const badCrc = Buffer.from(gz);
  badCrc.writeUInt32LE((badCrc.readUInt32LE(badCrc.length - 8) ^ 1) >>> 0, badCrc.length - 8);
  const zst = execFileSync("zstd", ["-c", "-q"], { input: whole });
  const zstCorrupt = Buffer.from(zst);
  for (let i = 20; i < 40; i++) zstCorrupt[i] = zstCorrupt[i]! ^ 0xff;

  const layerContent = layerTar({ "etc/data": "some data ".repeat(200) });
  const gzLayer = gzipSync(layerContent);
  const gzLayerBadCrc = Buffer.from(gzLayer);
  gzLayerBadCrc.writeUInt32LE((gzLayerBadCrc.readUInt32LE(gzLayerBadCrc.length - 8) ^ 1) >>> 0, gzLayerBadCrc.length - 8);
  const zstLayer = execFileSync("zstd", ["-c", "-q"], { input: layerContent });
  const storedLayer = (bytes: Buffer, mediaType = OCI_LAYER_GZIP): TestImage => makeImage({ storedLayers: [{ bytes, diffId: sha256(layerContent), mediaType }] });
  const layerFailure = (bad: TestImage, reason: string): string => `${mPath(bad)} layers[0]: layer ${lPath(bad)}: ${reason}`;
  const badCrcLayer = storedLayer(gzLayerBadCrc);
  const truncatedGzLayer = storedLayer(gzLayer.subarray(0, gzLayer.length - 20));
  const truncatedZstLayer = storedLayer(zstLayer.subarray(0, zstLayer.length - 10), "application/vnd.oci.image.layer.v1.tar+zstd");
  const bomb = makeImage({ storedLayers: [{ bytes: gzipSync(layerTar({ zeros: "\0".repeat(4 * 1024 * 1024) })), diffId: sha256("unknown"), mediaType: OCI_LAYER_GZIP }] });
  const notTar = makeImage({ layers: [Buffer.from("just some bytes that are no tar at all")] });
  const bigPlainLayer = makeImage({ layers: [layerTar({ zeros: "\0".repeat(2 * 1024 * 1024) })] });
  const size = gzImage.layers[0]!.size;
  const wrongSize = makeImage({ gzip: true, seed: "gz", editManifest: (m) => ({ ...m, layers: (m.layers as Record<string, unknown>[]).map((l) => ({ ...l, size: size + 1 })) }) });
  // Made with a 4 KiB dictionary, their block headers ask for 384 MiB, which liblzma would fill.
  const bigDictionary = (bytes: Buffer): Buffer => withDictionary(xzOf(bytes, ["--lzma2=preset=0,dict=4KiB"]), 384 * 1024 * 1024);
  const bigDictionaryLayer = makeImage({ storedLayers: [{ bytes: bigDictionary(layerContent), diffId: sha256(layerContent), mediaType: OCI_LAYER }] });
  const badSizeField = Buffer.from(tarHeader({ name: "junk", size: 1 }));
  badSizeField.write("9999zz\0", 124, "latin1");

  const cases: [string, HostileInput, string, CaseLimits?][] = [
    ...cuts.map(([name, offset, fragment]): [string, HostileInput, string] => [name, cut(offset), fragment]),
    ["empty input", raw(Buffer.alloc(0)), "not an image archive: it has neither manifest.json nor oci-layout and index.json"],
    ["descriptor size disagreeing with the blob", tar(ociLayoutItems([wrongSize])), `${mPath(wrongSize)} layers[0]: size ${size + 1} does not match ${lPath(wrongSize)} (${size} bytes)`],
    ["tar header with a bad checksum", before(tarEntry({ name: "junk", checksum: 1234 }, Buffer.from("x"))), "invalid tar header at offset 0: checksum mismatch"],
    ["tar header with a garbage size field", raw(Buffer.concat([withChecksum(badSizeField), whole])), "invalid tar header at offset 0: invalid size field"],
    ["gzip archive with a bad CRC", raw(badCrc), "corrupt gzip stream: incorrect data check"],
    ["gzip archive truncated", raw(gz.subarray(0, gz.length - 100)), "corrupt gzip stream: unexpected end of file"],
    ["zstd archive truncated", raw(zst.subarray(0, zst.length - 10)), "corrupt zstd stream: unexpected end of file"],
    ["zstd archive corrupt", raw(zstCorrupt), "corrupt zstd stream: data corruption detected"],
    ["gzip layer with a bad CRC", tar(ociLayoutItems([badCrcLayer])), layerFailure(badCrcLayer, "corrupt gzip stream: incorrect data check")],
    ["gzip layer truncated", tar(ociLayoutItems([truncatedGzLayer])), layerFailure(truncatedGzLayer, "corrupt gzip stream: unexpected end of file")],
    ["zstd layer truncated", tar(ociLayoutItems([truncatedZstLayer])), layerFailure(truncatedZstLayer, "corrupt zstd stream: unexpected end of file")],
    ["xz layer asking for a 384 MiB dictionary", tar(dockerItems(null, bigDictionaryLayer)), `manifest.json[0].Layers[0]: layer ${hexOf(bigDictionaryLayer.layers[0]!.digest)}.tar: xz stream needs a 384 MiB dictionary, more than the limit of 64 MiB`],
    ["xz archive asking for a 384 MiB dictionary", raw(bigDictionary(whole)), "xz archive needs a 384 MiB dictionary, more than the limit of 64 MiB"],
    ["layer that is no tar", tar(dockerItems(null, notTar)), `manifest.json[0].Layers[0]: layer ${hexOf(notTar.layers[0]!.digest)}.tar: not a tar archive`],
    ["decompression bomb beyond --max-layer-size", tar(ociLayoutItems([bomb])), layerFailure(bomb, "decompressed size exceeds the limit of 1048576 bytes"), { maxLayerSize: "1m" }],
    ["uncompressed layer beyond --max-layer-size", tar(dockerItems(null, bigPlainLayer)), `entry "${hexOf(bigPlainLayer.layers[0]!.digest)}.tar": size ${bigPlainLayer.layers[0]!.size} exceeds the limit of 1048576 bytes (--max-layer-size)`, { maxLayerSize: "1m" }],
    ["missing referenced blob", tar(withoutFile(ociItems(), lPath(gzImage))), `${mPath(gzImage)} layers[0]: blob ${gzImage.layers[0]!.digest} is missing`],
    ["missing manifest.json layer", tar(withoutFile(dockerItems(), layerName)), `manifest.json[0].Layers[0]: "${layerName}" is not in the archive`],
  ];
  return cases.map(([name, input, fragment, limits]) => ({ name, family: "sizes-and-streams", input, fragment, ...(limits ? { limits } : {}) }));
}

function referenceCases(): HostileCase[] {
  const hex = "a".repeat(64);
  const annotated = (annotations: Record<string, string>): HostileInput => tar(ociLayoutItems([gzImage], { indexEntries: [descriptorOf(gzImage.manifest, { annotations })] }));
  const containerd = 'index.json manifests[0].annotations["io.containerd.image.name"]';
  const refName = 'index.json manifests[0].annotations["org.opencontainers.image.ref.name"]';
  const cases: [string, HostileInput, string][] = [
    ["RepoTags with an uppercase repository", tar(dockerItems(["team/App:1"])), "manifest.json[0].RepoTags[0]: invalid reference format: repository name (team/App) must be lowercase"],
    ["RepoTags that is 64 hex digits", tar(dockerItems([hex])), `manifest.json[0].RepoTags[0]: invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`],
    ["RepoTags with an invalid tag", tar(dockerItems(["x/y:bad tag"])), 'manifest.json[0].RepoTags[0]: invalid reference format: "x/y:bad tag"'],
    ["RepoTags empty string", tar(dockerItems([""])), 'manifest.json[0].RepoTags[0]: invalid reference format: ""'],
    ["RepoTags with sha256 as the repository", tar(dockerItems(["sha256:1"])), 'manifest.json[0].RepoTags[0]: "sha256:1" uses the digest algorithm "sha256" as a repository name'],
    ["RepoTags with a tag longer than 128", tar(dockerItems([`x/y:${"t".repeat(129)}`])), `manifest.json[0].RepoTags[0]: invalid reference format: "x/y:${"t".repeat(129)}"`],
    ["io.containerd.image.name uppercase", annotated({ "io.containerd.image.name": "docker.io/Library/App:1" }), `${containerd}: invalid reference format: repository name (Library/App) must be lowercase`],
    ["io.containerd.image.name 64 hex digits", annotated({ "io.containerd.image.name": hex }), `${containerd}: invalid repository name (${hex}), cannot specify 64-byte hexadecimal strings`],
    ["io.containerd.image.name with sha256 as the repository", annotated({ "io.containerd.image.name": "sha256:1" }), `${containerd}: "sha256:1" uses the digest algorithm "sha256" as a repository name`],
    ["ref.name with an invalid tag", annotated({ "org.opencontainers.image.ref.name": "example.com/x:bad tag" }), `${refName}: invalid reference format: "example.com/x:bad tag"`],
    ["ref.name uppercase beside a valid containerd name", annotated({ "io.containerd.image.name": "docker.io/library/app:1", "org.opencontainers.image.ref.name": "not/A:valid" }), `${refName}: invalid reference format: repository name (not/A) must be lowercase`],
    ["ref.name with sha256 as the repository", annotated({ "org.opencontainers.image.ref.name": "sha256:1" }), `${refName}: "sha256:1" uses the digest algorithm "sha256" as a repository name`],
  ];
  return cases.map(([name, input, fragment]) => ({ name, family: "references", input, fragment }));
}

/** The files of a valid OCI layout directory holding gzImage. */
function layoutFiles(): LayoutFile[] {
  return ociItems().flatMap((item): LayoutFile[] => (item.type === "file" ? [{ path: item.name, content: item.content }] : []));
}

/** Every case, names unique. */
export function hostileCorpus(): HostileCase[] {
  const cases = [...nameCases(), ...linkCases(), ...duplicateCases(), ...jsonCases(), ...streamCases(), ...referenceCases()];
  const seen = new Set<string>();
  for (const entry of cases) {
    if (seen.has(entry.name)) throw new Error(`hostile corpus: duplicate case name ${JSON.stringify(entry.name)}`);
    seen.add(entry.name);
  }
  return cases;
}

/** Writes a case's input under `dir` (a file for tar bytes, a directory for a layout); returns its path. */
export async function writeHostileInput(entry: HostileCase, dir: string): Promise<string> {
  const slug = entry.name.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "").toLowerCase();
  if (entry.input.kind === "tar") {
    const path = join(dir, `${slug}.tar`);
    await writeFile(path, entry.input.bytes);
    return path;
  }
  const root = join(dir, slug);
  for (const file of entry.input.files) {
    const path = join(root, file.path);
    await mkdir(dirname(path), { recursive: true });
    if ("symlink" in file) await symlink(file.symlink, path);
    else await writeFile(path, file.content);
  }
  return root;
}

/** CLI flags for a case's caps. */
export function limitFlags(limits: CaseLimits | undefined): string[] {
  return [...(limits?.maxJsonSize ? ["--max-json-size", limits.maxJsonSize] : []), ...(limits?.maxLayerSize ? ["--max-layer-size", limits.maxLayerSize] : [])];
}
