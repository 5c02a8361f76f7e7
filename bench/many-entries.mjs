// Loads of archives of many small entries, where a load's time goes to files and fsyncs rather
// than to bytes (bench/RESULTS.md, "Seventeenth round"). Not part of `npm run bench`: run by hand
// after `npm run build`, on an idle machine.
//
//   node bench/many-entries.mjs [reps] [other lading.js ...]
//     builds two archives in bench/out (reproducible): `unused`, one small image plus 2000 entries
//     of 300 bytes that no image uses; `used`, 300 images of three 4 KiB layers each (1200 blobs,
//     300 synthesised manifests, 300 image records). Then loads each into an empty store `reps`
//     times (default 5), alternating this checkout's bin/lading.js with any other given, after a
//     `sync`, and prints each one's median and runs in ms.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { END_OF_ARCHIVE, smallEntry } from "./tar.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, "out");

/** Deterministic bytes: a sha256 chain from `seed`. */
function bytesFrom(seed, size) {
  const parts = [];
  let block = createHash("sha256").update(seed).digest();
  for (let length = 0; length < size; length += block.length) {
    parts.push(block);
    block = createHash("sha256").update(block).digest();
  }
  return Buffer.concat(parts).subarray(0, size);
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/** A layer tar of one file of `size` bytes. */
function layerTar(name, size) {
  return Buffer.concat([smallEntry(name, bytesFrom(name, size)), END_OF_ARCHIVE]);
}

/** A docker-save archive (manifest.json only) of `images`, each `layers` layers of `layerBytes`, plus `unused` entries of 300 bytes. */
function dockerArchive({ images, layers, layerBytes, unused }) {
  const entries = [];
  const manifest = [];
  for (let image = 0; image < images; image++) {
    const layerNames = [];
    const diffIds = [];
    for (let layer = 0; layer < layers; layer++) {
      const tar = layerTar(`etc/image-${image}-layer-${layer}`, layerBytes);
      entries.push(smallEntry(`blobs/sha256/${sha256(tar)}`, tar));
      layerNames.push(`blobs/sha256/${sha256(tar)}`);
      diffIds.push(`sha256:${sha256(tar)}`);
    }
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: diffIds } }));
    entries.push(smallEntry(`blobs/sha256/${sha256(config)}`, config));
    manifest.push({ Config: `blobs/sha256/${sha256(config)}`, RepoTags: [`bench/many:${image}`], Layers: layerNames });
  }
  for (let i = 0; i < unused; i++) entries.push(smallEntry(`extra/unused-${i}`, bytesFrom(`unused ${i}`, 300)));
  entries.push(smallEntry("manifest.json", Buffer.from(JSON.stringify(manifest))));
  return Buffer.concat([...entries, END_OF_ARCHIVE]);
}

const ARCHIVES = {
  unused: { images: 1, layers: 1, layerBytes: 4096, unused: 2000 },
  used: { images: 300, layers: 3, layerBytes: 4096, unused: 0 },
};

function archivePath(name) {
  const path = join(OUT, `many-entries-${name}.tar`);
  if (!existsSync(path)) writeFileSync(path, dockerArchive(ARCHIVES[name]));
  return path;
}

function timedLoad(lading, archive) {
  const root = mkdtempSync(join(tmpdir(), "lading-many-entries-"));
  try {
    execFileSync("sync");
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [lading, "--root", root, "load", "-q", "-i", archive], { stdio: ["ignore", "ignore", "pipe"] });
    const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
    if (run.status !== 0) throw new Error(`${lading} load ${archive} failed: ${run.stderr}`);
    return ms;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

const reps = Number(process.argv[2] ?? 5);
const ladings = [join(HERE, "..", "bin", "lading.js"), ...process.argv.slice(3)];
for (const name of Object.keys(ARCHIVES)) {
  const archive = archivePath(name);
  const runs = ladings.map(() => []);
  for (let rep = 0; rep < reps; rep++) ladings.forEach((lading, i) => runs[i].push(timedLoad(lading, archive)));
  ladings.forEach((lading, i) => console.log(`${name}\t${lading}\tmedian ${median(runs[i])} ms\t[${runs[i].join(" ")}]`));
}
