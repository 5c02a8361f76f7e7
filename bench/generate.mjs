// Generates the benchmark's images without downloading anything: one image of 8 layers, each layer
// a real tar of many files, half of them compressible text and half random bytes, written as
//   (a) a legacy docker-save archive with uncompressed layers (`<v1id>/layer.tar`, `<id>.json`,
//       `manifest.json`, `repositories`), and
//   (b) an OCI archive with gzip layers (`oci-layout`, `index.json`, `blobs/sha256/...`).
// Content is deterministic (seeded AES-CTR keystream for "random", a fixed text block for text), so
// both archives carry the same layers (same diff IDs) and regenerating gives the same bytes.
// Files land in bench/out/ with a `.params.json` beside each; a matching one means reuse.
//
//   node bench/generate.mjs [SIZE_MIB ...]     (default 256 1024; the memory job also wants 4096:
//                                               4 GiB + 2.6 GiB on disk, about 40 s + 2-4 min on 2 CPUs)
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { END_OF_ARCHIVE, entryBytes, padding, smallEntry, tarHeader } from "./tar.mjs";

const GENERATOR_VERSION = 2;
const LAYER_COUNT = 8;
const MIB = 1 << 20;
const CHUNK = MIB;
const SMALL_FILES_PER_LAYER = 32;
const SMALL_FILE_BYTES = 2048;
const CREATED = "2023-11-14T22:13:20Z";

export const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), "out");

export function imageName(sizeMiB) {
  return `lading-bench:${sizeMiB}m`;
}

/** The files of layer `index`: a directory, small config-like files, then big files alternating text/random. */
function layerPlan(sizeMiB, index) {
  const layerBytes = Math.floor((sizeMiB * MIB) / LAYER_COUNT);
  const dir = `layer${index}`;
  const entries = [{ name: `${dir}/`, size: 0, kind: "dir" }];
  for (let j = 0; j < SMALL_FILES_PER_LAYER; j++) {
    entries.push({ name: `${dir}/etc/conf-${String(j).padStart(2, "0")}.txt`, size: SMALL_FILE_BYTES, kind: "text" });
  }
  entries.splice(1, 0, { name: `${dir}/etc/`, size: 0, kind: "dir" });
  const bigFile = Math.max(MIB, Math.min(16 * MIB, Math.floor(layerBytes / 16 / MIB) * MIB));
  const used = entries.reduce((sum, e) => sum + entryBytes(e.size), 0) + END_OF_ARCHIVE.length;
  const bigCount = Math.max(2, Math.floor((layerBytes - used) / entryBytes(bigFile)));
  for (let j = 0; j < bigCount; j++) {
    const kind = (j + index) % 2 === 0 ? "random" : "text";
    entries.push({ name: `${dir}/data/${kind}-${String(j).padStart(3, "0")}.bin`, size: bigFile, kind });
  }
  entries.splice(1 + 1 + SMALL_FILES_PER_LAYER, 0, { name: `${dir}/data/`, size: 0, kind: "dir" });
  // One last file takes up what is left, so the layer is the requested size to within a block.
  const rest = layerBytes - entries.reduce((sum, e) => sum + entryBytes(e.size), 0) - END_OF_ARCHIVE.length - 512;
  if (rest >= 512) entries.push({ name: `${dir}/data/rest.bin`, size: Math.floor(rest / 512) * 512, kind: index % 2 === 0 ? "text" : "random" });
  const tarSize = entries.reduce((sum, e) => sum + entryBytes(e.size), 0) + END_OF_ARCHIVE.length;
  return { entries, tarSize };
}

/** 1 MiB of text that gzip level 1 shrinks about 3-4x, built with a fixed-seed PRNG. */
function makeTextBlock() {
  const words = "the of and image layer archive digest manifest config docker load save verify stream hash byte tar gzip blob index store reference tag platform linux amd64 runtime library package version release".split(" ");
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  };
  const parts = [];
  let length = 0;
  let line = 0;
  while (length < CHUNK) {
    let text = `${line++}:`;
    const count = 6 + (next() % 10);
    for (let k = 0; k < count; k++) text += " " + words[next() % words.length];
    text += "\n";
    parts.push(text);
    length += text.length;
  }
  return Buffer.from(parts.join(""), "latin1").subarray(0, CHUNK);
}

const TEXT_BLOCK = makeTextBlock();
const ZEROES = Buffer.alloc(CHUNK);

function keystream(layer, file) {
  const key = createHash("sha256").update(`lading-bench layer ${layer}`).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(file, 12);
  return createCipheriv("aes-256-ctr", key, iv);
}

/** The bytes of one layer tar, in chunks of at most 1 MiB. */
function* layerChunks(plan, layer) {
  for (const [fileIndex, entry] of plan.entries.entries()) {
    yield tarHeader(entry.name, entry.size, entry.kind === "dir" ? "5" : "0");
    if (entry.size === 0) continue;
    const cipher = entry.kind === "random" ? keystream(layer, fileIndex) : undefined;
    for (let done = 0; done < entry.size; done += CHUNK) {
      const take = Math.min(CHUNK, entry.size - done);
      yield cipher ? cipher.update(ZEROES.subarray(0, take)) : TEXT_BLOCK.subarray(0, take);
    }
    if (entry.size % 512 !== 0) yield padding(entry.size);
  }
  yield END_OF_ARCHIVE;
}

/** Appends to a file through an 8 MiB buffer, so that 512-byte headers do not each cost a write. */
class BufferedFile {
  static async create(path) {
    return new BufferedFile(await open(path, "w"));
  }
  constructor(handle) {
    this.handle = handle;
    this.buffer = Buffer.allocUnsafe(8 * MIB);
    this.fill = 0;
    this.bytes = 0;
  }
  async write(chunk) {
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, this.buffer.length - this.fill);
      chunk.copy(this.buffer, this.fill, offset, offset + take);
      this.fill += take;
      offset += take;
      if (this.fill === this.buffer.length) await this.flush();
    }
  }
  async flush() {
    if (this.fill > 0) await this.handle.write(this.buffer, 0, this.fill);
    this.fill = 0;
  }
  async close() {
    await this.flush();
    await this.handle.close();
  }
}

const sha256hex = (bytes) => createHash("sha256").update(bytes).digest("hex");

function configDocument(diffIds) {
  return JSON.stringify({
    architecture: "amd64",
    os: "linux",
    created: CREATED,
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: CREATED, created_by: `lading bench layer ${i}` })),
  });
}

async function writeDockerArchive(sizeMiB, path) {
  const out = await BufferedFile.create(path);
  const diffIds = [];
  const v1Ids = [];
  for (let i = 0; i < LAYER_COUNT; i++) {
    const plan = layerPlan(sizeMiB, i);
    const v1Id = sha256hex(`lading-bench ${sizeMiB} v1 layer ${i}`);
    const parent = v1Ids.at(-1);
    v1Ids.push(v1Id);
    await out.write(tarHeader(`${v1Id}/`, 0, "5"));
    await out.write(smallEntry(`${v1Id}/VERSION`, "1.0"));
    await out.write(smallEntry(`${v1Id}/json`, JSON.stringify({ id: v1Id, ...(parent ? { parent } : {}), created: CREATED, os: "linux" })));
    await out.write(tarHeader(`${v1Id}/layer.tar`, plan.tarSize));
    const diff = createHash("sha256");
    for (const chunk of layerChunks(plan, i)) {
      diff.update(chunk);
      await out.write(chunk);
    }
    await out.write(padding(plan.tarSize));
    diffIds.push(`sha256:${diff.digest("hex")}`);
  }
  const config = configDocument(diffIds);
  const configHex = sha256hex(config);
  const [repo, tag] = imageName(sizeMiB).split(":");
  await out.write(smallEntry(`${configHex}.json`, config));
  await out.write(smallEntry("manifest.json", JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [imageName(sizeMiB)], Layers: v1Ids.map((id) => `${id}/layer.tar`) }])));
  await out.write(smallEntry("repositories", JSON.stringify({ [repo]: { [tag]: v1Ids.at(-1) } })));
  await out.write(END_OF_ARCHIVE);
  await out.close();
  return { diffIds, imageId: `sha256:${configHex}` };
}

/** Gzips one layer into `path`, hashing both sides in the same pass. */
async function gzipLayer(sizeMiB, index, path) {
  const diff = createHash("sha256");
  const blob = createHash("sha256");
  let size = 0;
  await pipeline(
    Readable.from(layerChunks(layerPlan(sizeMiB, index), index)),
    async function* (source) {
      for await (const chunk of source) {
        diff.update(chunk);
        yield chunk;
      }
    },
    createGzip({ level: 1, chunkSize: 256 * 1024 }),
    async function* (source) {
      for await (const chunk of source) {
        blob.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(path),
  );
  return { diffId: `sha256:${diff.digest("hex")}`, digest: `sha256:${blob.digest("hex")}`, size, path };
}

async function mapLimited(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

async function writeOciArchive(sizeMiB, path) {
  const tmp = `${path}.layers`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const indexes = Array.from({ length: LAYER_COUNT }, (_, i) => i);
    // zlib runs on libuv's thread pool, so layers gzip on every core at once.
    const layers = await mapLimited(indexes, availableParallelism(), (i) => gzipLayer(sizeMiB, i, join(tmp, `${i}.tar.gz`)));
    const config = configDocument(layers.map((l) => l.diffId));
    const configDesc = { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${sha256hex(config)}`, size: Buffer.byteLength(config) };
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: configDesc,
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
    });
    const manifestDigest = `sha256:${sha256hex(manifest)}`;
    const tag = imageName(sizeMiB).split(":")[1];
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          digest: manifestDigest,
          size: Buffer.byteLength(manifest),
          platform: { architecture: "amd64", os: "linux" },
          annotations: { "io.containerd.image.name": `docker.io/library/${imageName(sizeMiB)}`, "org.opencontainers.image.ref.name": tag },
        },
      ],
    });
    const out = await BufferedFile.create(path);
    await out.write(smallEntry("oci-layout", JSON.stringify({ imageLayoutVersion: "1.0.0" })));
    await out.write(smallEntry("index.json", index));
    await out.write(tarHeader("blobs/", 0, "5"));
    await out.write(tarHeader("blobs/sha256/", 0, "5"));
    await out.write(smallEntry(`blobs/sha256/${manifestDigest.slice(7)}`, manifest));
    await out.write(smallEntry(`blobs/sha256/${configDesc.digest.slice(7)}`, config));
    for (const layer of layers) {
      await out.write(tarHeader(`blobs/sha256/${layer.digest.slice(7)}`, layer.size));
      for await (const chunk of createReadStream(layer.path, { highWaterMark: 8 * MIB })) await out.write(chunk);
      await out.write(padding(layer.size));
    }
    await out.write(END_OF_ARCHIVE);
    await out.close();
    return { diffIds: layers.map((l) => l.diffId), imageId: configDesc.digest, manifestDigest };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

const KINDS = {
  docker: { file: (mib) => `docker-${mib}m.tar`, write: writeDockerArchive },
  oci: { file: (mib) => `oci-gzip-${mib}m.tar`, write: writeOciArchive },
};

/** Returns the archive of `kind` ("docker" | "oci") at `sizeMiB`, generating it unless a matching one exists. */
export async function ensureArchive(kind, sizeMiB, log = () => {}) {
  const path = join(OUT_DIR, KINDS[kind].file(sizeMiB));
  const paramsPath = `${path}.params.json`;
  const params = { generator: GENERATOR_VERSION, kind, sizeMiB, layers: LAYER_COUNT };
  const recorded = await readFile(paramsPath, "utf8").then(JSON.parse, () => undefined);
  const existing = await stat(path).catch(() => undefined);
  if (recorded && existing && JSON.stringify(recorded.params) === JSON.stringify(params) && recorded.bytes === existing.size) {
    return { kind, sizeMiB, path, image: imageName(sizeMiB), ...recorded.result, bytes: existing.size, reused: true };
  }
  await mkdir(OUT_DIR, { recursive: true });
  await rm(paramsPath, { force: true });
  log(`generating ${path} ...`);
  const started = process.hrtime.bigint();
  const partial = `${path}.partial`;
  const result = await KINDS[kind].write(sizeMiB, partial);
  await rename(partial, path);
  const bytes = (await stat(path)).size;
  await writeFile(paramsPath, JSON.stringify({ params, bytes, result }, null, 2) + "\n");
  log(`generated ${path}: ${(bytes / MIB).toFixed(1)} MiB in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  return { kind, sizeMiB, path, image: imageName(sizeMiB), ...result, bytes, reused: false };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const sizes = process.argv.slice(2).map(Number);
  for (const sizeMiB of sizes.length > 0 ? sizes : [256, 1024]) {
    if (!Number.isInteger(sizeMiB) || sizeMiB < 16) throw new Error(`size in MiB must be an integer >= 16: ${sizeMiB}`);
    for (const kind of Object.keys(KINDS)) {
      const archive = await ensureArchive(kind, sizeMiB, (line) => console.log(line));
      console.log(`${archive.reused ? "reused" : "ready"}: ${archive.path} (${archive.bytes} bytes, image ${archive.imageId})`);
    }
  }
}
