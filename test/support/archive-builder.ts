// Builds tar archives and small images for tests, byte by byte. Headers are made by hand (not by
// tar-stream's packer) so that tests can write what a well-behaved packer refuses to: names with
// "..", absolute names, NUL bytes, bad checksums, links anywhere, truncated streams.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Readable, Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { openTarStream } from "../../src/archive/source.js";
import type { ReadOptions } from "../../src/archive/read.js";
import { verifyArchive, type VerifyReport } from "../../src/ops/verify.js";

const BLOCK = 512;

export const sha256 = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
export const hexOf = (digest: string): string => digest.slice(digest.indexOf(":") + 1);

export type TarItem =
  | { type: "file"; name: string; content: Buffer | string; mode?: number }
  | { type: "dir"; name: string }
  | { type: "symlink"; name: string; target: string }
  | { type: "hardlink"; name: string; target: string }
  /** Blocks written exactly as given (a hand-made header, a PAX or GNU record, garbage). */
  | { type: "raw"; bytes: Buffer };

export interface HeaderFields {
  name: string;
  size?: number;
  /** "0" file, "1" hard link, "2" symlink, "5" directory, "x" PAX, "L" GNU long name, "K" GNU long link. */
  typeflag?: string;
  linkname?: string;
  mode?: number;
  prefix?: string;
  /** Replaces the computed checksum (to make a corrupt header). */
  checksum?: number;
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`archive-builder: ${JSON.stringify(value)} does not fit in ${length} bytes`);
  bytes.copy(block, offset);
}

const octal = (value: number, width: number): string => `${value.toString(8).padStart(width - 1, "0")}\0`;

/** One 512-byte ustar header. */
export function tarHeader(fields: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, fields.name);
  writeString(block, 100, 8, octal(fields.mode ?? 0o644, 8));
  writeString(block, 108, 8, octal(0, 8));
  writeString(block, 116, 8, octal(0, 8));
  writeString(block, 124, 12, octal(fields.size ?? 0, 12));
  writeString(block, 136, 12, octal(946684800, 12));
  writeString(block, 156, 1, fields.typeflag ?? "0");
  writeString(block, 157, 100, fields.linkname ?? "");
  writeString(block, 257, 6, "ustar\0");
  writeString(block, 263, 2, "00");
  writeString(block, 345, 155, fields.prefix ?? "");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.fill(0, 148, 156);
  writeString(block, 148, 8, `${(fields.checksum ?? sum).toString(8).padStart(6, "0")}\0 `);
  return block;
}

/** A copy of a header with `text` written at `offset` and the checksum recomputed over the result. */
export function patchedHeader(header: Buffer, offset: number, text: string): Buffer {
  const block = Buffer.from(header.subarray(0, BLOCK));
  block.write(text, offset, "latin1");
  return withChecksum(block);
}

/** A copy of a header block with its checksum recomputed (after a field was overwritten by hand). */
export function withChecksum(header: Buffer): Buffer {
  const block = Buffer.from(header.subarray(0, BLOCK));
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.fill(0, 148, 156);
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

const padding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);

/** A header plus its body and padding. */
export function tarEntry(fields: HeaderFields, body: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([tarHeader({ ...fields, size: fields.size ?? body.length }), body, padding(body.length)]);
}

/** A PAX extended header ("x") carrying the given records for the entry that follows it. */
export function paxRecords(records: Record<string, string>): Buffer {
  const lines = Object.entries(records).map(([key, value]) => {
    const text = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(text) + 1;
    while (String(length).length + Buffer.byteLength(text) !== length) length++;
    return `${length}${text}`;
  });
  return tarEntry({ name: "PaxHeader", typeflag: "x" }, Buffer.from(lines.join(""), "utf8"));
}

/** A GNU long-name ("L") or long-link ("K") record for the entry that follows it. */
export function gnuLongRecord(kind: "L" | "K", value: string): Buffer {
  return tarEntry({ name: "././@LongLink", typeflag: kind }, Buffer.from(`${value}\0`, "utf8"));
}

/** Serialises items; names longer than 100 bytes get a PAX path record. Ends with two zero blocks unless `end` is false. */
export function buildTar(items: readonly TarItem[], options: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  const longName = (name: string): string => {
    if (Buffer.byteLength(name) <= 100) return name;
    parts.push(paxRecords({ path: name }));
    return name.slice(0, 99);
  };
  for (const item of items) {
    switch (item.type) {
      case "raw":
        parts.push(item.bytes);
        break;
      case "file": {
        const body = Buffer.isBuffer(item.content) ? item.content : Buffer.from(item.content, "utf8");
        parts.push(tarEntry({ name: longName(item.name), mode: item.mode ?? 0o644 }, body));
        break;
      }
      case "dir":
        parts.push(tarEntry({ name: longName(item.name), typeflag: "5", mode: 0o755 }));
        break;
      case "symlink":
        parts.push(tarEntry({ name: longName(item.name), typeflag: "2", linkname: item.target, mode: 0o777 }));
        break;
      case "hardlink":
        parts.push(tarEntry({ name: longName(item.name), typeflag: "1", linkname: item.target }));
        break;
    }
  }
  if (options.end !== false) parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

/** A layer tar holding the given files (name -> content). */
export function layerTar(files: Record<string, string>): Buffer {
  return buildTar(Object.entries(files).map(([name, content]): TarItem => ({ type: "file", name, content })));
}

/** The 1024-zero-byte tar with no entries (BuildKit's empty layer). */
export const EMPTY_LAYER = Buffer.alloc(1024);
export const EMPTY_LAYER_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";

export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
  mediaType: string;
}

export const blobOf = (bytes: Buffer | string, mediaType: string): Blob => {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, "utf8");
  return { bytes: buffer, digest: sha256(buffer), size: buffer.length, mediaType };
};

export const descriptorOf = (blob: Blob, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  mediaType: blob.mediaType,
  digest: blob.digest,
  size: blob.size,
  ...extra,
});

export interface TestImage {
  layers: (Blob & { diffId: string })[];
  config: Blob;
  manifest: Blob;
}

export interface ImageOptions {
  /** Uncompressed layer tars; default one small layer. */
  layers?: Buffer[];
  /** Layers given exactly as stored (corrupt, truncated, oddly compressed), with the diff ID the config is to list. */
  storedLayers?: { bytes: Buffer; diffId: string; mediaType: string }[];
  gzip?: boolean;
  architecture?: string;
  /** A distinguishing file content so two images differ. */
  seed?: string;
  /** Rewrites the config object before it is serialised. */
  editConfig?: (config: Record<string, unknown>) => Record<string, unknown>;
  /** Rewrites the manifest object before it is serialised. */
  editManifest?: (manifest: Record<string, unknown>) => Record<string, unknown>;
}

/** An OCI image: layers (maybe gzip), a config listing their diff IDs, a manifest. */
export function makeImage(options: ImageOptions = {}): TestImage {
  const tars = options.layers ?? [layerTar({ "etc/hello.txt": `hello ${options.seed ?? "world"}\n` })];
  const layers = options.storedLayers
    ? options.storedLayers.map((layer) => ({ ...blobOf(layer.bytes, layer.mediaType), diffId: layer.diffId }))
    : tars.map((tar) => {
        const stored = options.gzip ? gzipSync(tar) : tar;
        return { ...blobOf(stored, options.gzip ? OCI_LAYER_GZIP : OCI_LAYER), diffId: sha256(tar) };
      });
  let config: Record<string, unknown> = {
    architecture: options.architecture ?? "amd64",
    os: "linux",
    config: { Env: ["PATH=/bin"] },
    rootfs: { type: "layers", diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map(() => ({ created_by: "test" })),
  };
  if (options.editConfig) config = options.editConfig(config);
  const configBlob = blobOf(JSON.stringify(config), OCI_CONFIG);
  let manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptorOf(configBlob),
    layers: layers.map((layer) => descriptorOf(layer)),
  };
  if (options.editManifest) manifest = options.editManifest(manifest);
  return { layers, config: configBlob, manifest: blobOf(JSON.stringify(manifest), OCI_MANIFEST) };
}

/**
 * An OCI artifact (artifactType application/vnd.example.sig) whose one layer is `payload`, with
 * the blobs an archive of it must carry besides the artifact's manifest.
 */
export function signatureArtifact(payload: Blob): { artifact: Blob; blobs: Blob[] } {
  const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
  const artifact = blobOf(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.sig", config: descriptorOf(empty), layers: [descriptorOf(payload)] }), OCI_MANIFEST);
  return { artifact, blobs: [artifact, empty, payload] };
}

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/** The manifest lading synthesises for a manifest.json image of uncompressed layers: its image ID. */
export const synthesizedDockerDigest = (image: TestImage): string =>
  blobOf(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: DOCKER_CONFIG, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((layer) => ({ mediaType: "application/vnd.docker.image.rootfs.diff.tar", digest: layer.digest, size: layer.size })),
    }),
    DOCKER_MANIFEST,
  ).digest;
export const OCI_NONDISTRIBUTABLE_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
export const FOREIGN_URLS = ["https://example.invalid/base-layer.tar.gz"];

/**
 * An image whose first layer is foreign (`mediaType`, with `urls`) and whose second is an
 * ordinary gzip layer: a Windows base image's shape. A Docker foreign layer comes in a Docker
 * manifest. Leave the first layer's blob out (withoutFile) for an archive that does not carry it.
 */
export function makeForeignImage(mediaType = DOCKER_FOREIGN_LAYER, seed = "foreign"): TestImage {
  const foreignTar = layerTar({ "Files/base.txt": `base ${seed}\n` });
  const ownTar = layerTar({ "Files/own.txt": `own ${seed}\n` });
  const docker = mediaType === DOCKER_FOREIGN_LAYER;
  const image = makeImage({
    storedLayers: [
      { bytes: gzipSync(foreignTar), diffId: sha256(foreignTar), mediaType },
      { bytes: gzipSync(ownTar), diffId: sha256(ownTar), mediaType: docker ? "application/vnd.docker.image.rootfs.diff.tar.gzip" : OCI_LAYER_GZIP },
    ],
    editConfig: (config) => ({ ...config, os: "windows" }),
    editManifest: (manifest) => {
      const [foreign, own] = manifest.layers as Record<string, unknown>[];
      const layers = [{ ...foreign, urls: FOREIGN_URLS }, own];
      if (!docker) return { ...manifest, layers };
      return { ...manifest, mediaType: DOCKER_MANIFEST, config: { ...(manifest.config as Record<string, unknown>), mediaType: DOCKER_CONFIG }, layers };
    },
  });
  return docker ? { ...image, manifest: { ...image.manifest, mediaType: DOCKER_MANIFEST }, config: { ...image.config, mediaType: DOCKER_CONFIG } } : image;
}

export const blobPath = (digest: string): string => `blobs/${digest.replace(":", "/")}`;
export const blobItem = (blob: Blob | Buffer): TarItem => {
  const bytes = Buffer.isBuffer(blob) ? blob : blob.bytes;
  return { type: "file", name: blobPath(sha256(bytes)), content: bytes };
};

export interface LayoutOptions {
  /** index.json entries; default one manifest descriptor per image. */
  indexEntries?: Record<string, unknown>[];
  layoutVersion?: string;
  /** Blobs beyond those of the images (indexes, artifacts). */
  extraBlobs?: (Blob | Buffer)[];
}

/** The entries of an OCI image layout (oci-layout, index.json, blobs) holding the images. */
export function ociLayoutItems(images: readonly TestImage[], options: LayoutOptions = {}): TarItem[] {
  const entries = options.indexEntries ?? images.map((image) => descriptorOf(image.manifest));
  const index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries };
  const items: TarItem[] = [
    { type: "file", name: "oci-layout", content: JSON.stringify({ imageLayoutVersion: options.layoutVersion ?? "1.0.0" }) },
    { type: "file", name: "index.json", content: JSON.stringify(index) },
  ];
  const seen = new Set<string>();
  const add = (blob: Blob | Buffer): void => {
    const bytes = Buffer.isBuffer(blob) ? blob : blob.bytes;
    const digest = sha256(bytes);
    if (seen.has(digest)) return;
    seen.add(digest);
    items.push(blobItem(bytes));
  };
  for (const image of images) {
    add(image.manifest);
    add(image.config);
    image.layers.forEach(add);
  }
  (options.extraBlobs ?? []).forEach(add);
  return items;
}

/** The entries of a docker-save archive (skopeo/crane-like shape: <hex>.json config, <hex>.tar layers, manifest.json). */
export function dockerArchiveItems(images: readonly { image: TestImage; repoTags: string[] | null }[]): TarItem[] {
  const items: TarItem[] = [];
  const seen = new Set<string>();
  const manifest = images.map(({ image, repoTags }) => {
    const configName = `${hexOf(image.config.digest)}.json`;
    const layerNames = image.layers.map((layer) => `${hexOf(layer.digest)}.tar`);
    if (!seen.has(configName)) items.push({ type: "file", name: configName, content: image.config.bytes });
    seen.add(configName);
    image.layers.forEach((layer, index) => {
      const name = layerNames[index]!;
      if (!seen.has(name)) items.push({ type: "file", name, content: layer.bytes });
      seen.add(name);
    });
    return { Config: configName, RepoTags: repoTags, Layers: layerNames };
  });
  items.push({ type: "file", name: "manifest.json", content: JSON.stringify(manifest) });
  return items;
}

/** Replaces (or appends) the file item with this name. */
export function withFile(items: readonly TarItem[], name: string, content: Buffer | string): TarItem[] {
  const replaced = items.map((item) => (item.type === "file" && item.name === name ? { ...item, content } : item));
  return replaced.some((item) => item.type === "file" && item.name === name) ? replaced : [...replaced, { type: "file", name, content }];
}

export const withoutFile = (items: readonly TarItem[], name: string): TarItem[] =>
  items.filter((item) => item.type === "raw" || item.name !== name);

/** Runs verify over archive bytes, as `lading verify -` would. */
export async function verifyBytes(bytes: Buffer, options: ReadOptions = {}): Promise<VerifyReport> {
  const source = await openTarStream(Readable.from([bytes]), bytes.length);
  return verifyArchive(source, options);
}

export const verifyItems = (items: readonly TarItem[], options: ReadOptions = {}): Promise<VerifyReport> =>
  verifyBytes(buildTar(items), options);

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Newest modification time of the TypeScript sources under src/. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/, so that bin/lading.js runs the code under test. */
export function ensureBuilt(): void {
  // The CLI's bundle, which bin/lading.js runs (the build writes it before tsc's output).
  const cli = join(REPO_ROOT, "dist", "cli", "lading.js");
  const built = existsSync(cli) ? statSync(cli).mtimeMs : 0;
  if (built >= newestSource(join(REPO_ROOT, "src"))) return;
  // The bundles are written before tsc runs, and tsc emits even when some file has a type error
  // (another change in progress): only a missing CLI is fatal.
  const build = spawnSync("npm", ["run", "--silent", "build"], { cwd: REPO_ROOT, stdio: "pipe", encoding: "utf8" });
  if (!existsSync(cli)) throw new Error(`npm run build did not produce dist/cli/lading.js: ${build.stdout}${build.stderr}`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Where and how a spawned lading runs: standard input bytes, working directory, environment. */
export interface RunOptions {
  input?: Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** A command that runs node in turn, such as `setpriv --reuid=65534 ...`. */
  through?: string[];
}

/** Runs `node bin/lading.js ARGS` as a user would, optionally with bytes on standard input. */
export function runLading(args: string[], input?: Buffer | RunOptions): Promise<CliResult> {
  const options: RunOptions = Buffer.isBuffer(input) ? { input } : (input ?? {});
  return new Promise((resolve, reject) => {
    const argv = [...(options.through ?? []), process.execPath, join(REPO_ROOT, "bin", "lading.js"), ...args];
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

/** A terminal whose two streams collect what is written to them, for running the CLI in process. */
export function capturingTerminal(): { terminal: { stdout: Writable; stderr: Writable }; stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]): Writable =>
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        into.push(chunk.toString());
        callback();
      },
    });
  return { terminal: { stdout: sink(out), stderr: sink(err) }, stdout: () => out.join(""), stderr: () => err.join("") };
}

/** The message a promise rejects with; fails the test when it resolves. */
export async function failureOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected a failure");
}
