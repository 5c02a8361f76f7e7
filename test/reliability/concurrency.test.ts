// Eight `lading` processes on one store at once, for several rounds: four load different archives
// (docker-save and OCI, all sharing one layer, each with a layer of its own), two tag and untag,
// one untags tags made before the round, and one prunes in a loop. Before each round the images
// to be loaded are loaded and removed again, so their blobs sit unreferenced in the store while
// prune runs: exactly the blobs a load in progress is about to reference.
// At the end: every command succeeded; repositories.json holds exactly the references the
// completed commands made (and the seed's); every reference resolves to an image record whose
// manifest, config and layers are present and hash to their names; fsck is clean; a last prune
// finds nothing to reclaim; the seed image's record and blobs are untouched.
import { createHash, randomBytes } from "node:crypto";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { removeImage, tagImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, descriptorOf, dockerArchiveItems, ensureBuilt, layerTar, makeImage, ociLayoutItems, runLading, type CliResult } from "../support/archive-builder.js";
import { snapshotTree } from "../support/store-tree.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { withoutLockWaits } from "../support/lock-waits.js";

const ROUNDS = 3;
const LOADERS = 4;
const TAGGERS = 2;
const TAGS_PER_TAGGER = 4;
const UNTAGS_PER_ROUND = 4;
const PROCESSES = LOADERS + TAGGERS + 2;
const LAYER_MEGABYTES = 2;
const SEED_ID = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";

let scratch: string;
let root: string;
let operations = 0;
let prunes = 0;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-concurrency-"));
  root = join(scratch, "store");
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
  if (process.env.LADING_FIGURES_FILE) {
    await appendFile(process.env.LADING_FIGURES_FILE, `${JSON.stringify({ concurrency: { processes: PROCESSES, rounds: ROUNDS, operations, prunes } })}\n`);
  }
});

function lading(...args: string[]): Promise<CliResult> {
  return runLading(["--root", root, ...args], { cwd: scratch });
}

/** Runs a command that must succeed with nothing on stderr but lock waits; counts it. */
async function succeed(...args: string[]): Promise<string> {
  const result = await lading(...args);
  const said = withoutLockWaits(result.stderr);
  if (result.code !== 0 || said !== "") throw new Error(`lading ${args.join(" ")} failed with exit code ${result.code}: ${result.stderr}`);
  operations++;
  return result.stdout;
}

const sharedLayer = layerTar({ "shared/readme.txt": "a layer every loaded image has\n" });

/** Writes loader `lane`'s archive for `round`: docker-save for even lanes, OCI for odd ones. */
async function archiveFor(lane: number, round: number): Promise<{ path: string; tag: string }> {
  const own = buildTar([{ type: "file", name: `lane${lane}/round${round}.bin`, content: randomBytes(LAYER_MEGABYTES * 1024 * 1024) }]);
  const image = makeImage({ layers: [sharedLayer, own], seed: `${lane}-${round}` });
  const repository = `conc/load${lane}`;
  const tag = `${repository}:r${round}`;
  const items =
    lane % 2 === 0
      ? dockerArchiveItems([{ image, repoTags: [tag] }])
      : ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": `docker.io/${tag}` } })] });
  const path = join(scratch, `load${lane}-r${round}.tar`);
  await writeFile(path, buildTar(items));
  return { path, tag };
}

/** The references a `load --json` made: tag and digest references mapped to image IDs. */
function loadedReferences(stdout: string): Map<string, string> {
  const result = JSON.parse(stdout) as { images: { id: string; tags: string[]; digests: string[] }[] };
  const references = new Map<string, string>();
  for (const image of result.images) for (const reference of [...image.tags, ...image.digests]) references.set(reference, image.id);
  return references;
}

async function repositoriesJson(): Promise<Map<string, string>> {
  const document = JSON.parse(await readFile(join(root, "repositories.json"), "utf8")) as { Repositories: Record<string, Record<string, string>> };
  return new Map(Object.values(document.Repositories).flatMap((references) => Object.entries(references)));
}

const sha256Of = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const blobFile = (digest: string): string => join(root, "blobs", ...digest.split(":"));

/** Reads a blob and checks that it hashes to its name. */
async function verifiedBlob(digest: string): Promise<Buffer> {
  const bytes = await readFile(blobFile(digest));
  expect(sha256Of(bytes)).toBe(digest);
  return bytes;
}

/** Resolves an image ID to its record and checks every blob it and its manifests name. */
async function expectImageComplete(id: string): Promise<void> {
  const record = JSON.parse(await readFile(join(root, "images", `${id.replace(":", "-")}.json`), "utf8")) as {
    id: string;
    images: { manifest: { digest: string }; config: { digest: string }; layers: { digest: string }[] }[];
  };
  expect(record.id).toBe(id);
  await verifiedBlob(id);
  for (const image of record.images) {
    const manifest = JSON.parse((await verifiedBlob(image.manifest.digest)).toString("utf8")) as { config: { digest: string }; layers: { digest: string }[] };
    expect(manifest.config.digest).toBe(image.config.digest);
    expect(manifest.layers.map((layer) => layer.digest)).toEqual(image.layers.map((layer) => layer.digest));
    await verifiedBlob(image.config.digest);
    for (const layer of image.layers) await verifiedBlob(layer.digest);
  }
}

describe(`${PROCESSES} processes at once on one store`, () => {
  it(`${ROUNDS} rounds of loads, tags, untags and prunes: every completed effect is there, nothing else changed, fsck is clean`, async () => {
    const started = performance.now();
    await loadArchive(await Store.open(root), await openArchivePath(join(REPO_ROOT, "testdata", "docker-archive.tar")));
    const seedRecord = await readFile(join(root, "images", `${SEED_ID.replace(":", "-")}.json`));
    const seedBlobs = Object.fromEntries(Object.entries(await snapshotTree(join(root, "blobs"))).filter(([path]) => path.includes("/")));
    const expected = new Map<string, string>([
      ["lading-testdata/app:1.0", SEED_ID],
      ["lading-testdata/app:latest", SEED_ID],
    ]);

    for (let round = 0; round < ROUNDS; round++) {
      const archives = await Promise.all(Array.from({ length: LOADERS }, (_, lane) => archiveFor(lane, round)));
      // Set-up, in this process (only the round itself is timed by process start-ups): load and
      // remove each image, so that its blobs stay in the store referenced by nothing; make the
      // tags the untagger removes during the round.
      const store = await Store.open(root);
      for (const archive of archives) {
        await loadArchive(store, await openArchivePath(archive.path));
        expect((await removeImage(store, archive.tag)).deleted).toHaveLength(1);
      }
      const doomed = Array.from({ length: UNTAGS_PER_ROUND }, (_, index) => `conc/untag:r${round}-${index}`);
      for (const tag of doomed) await tagImage(store, "lading-testdata/app:1.0", tag);

      let working = LOADERS + TAGGERS + 1;
      const done = (): void => {
        working--;
      };
      const loaders = archives.map(async (archive) => {
        const loaded = loadedReferences(await succeed("load", "--json", "-i", archive.path));
        for (const [reference, id] of loaded) expected.set(reference, id);
        const extra = `${archive.tag}-extra`;
        await succeed("tag", archive.tag, extra);
        expected.set(extra, loaded.get(archive.tag)!);
        done();
      });
      const taggers = Array.from({ length: TAGGERS }, async (_, lane) => {
        for (let index = 0; index < TAGS_PER_TAGGER; index++) {
          const tag = `conc/tag${lane}:r${round}-${index}`;
          await succeed("tag", "lading-testdata/app:1.0", tag);
          // Every other tag is removed again right away.
          if (index % 2 === 1) expect(await succeed("rmi", tag)).toBe(`Untagged: ${tag}\n`);
          else expected.set(tag, SEED_ID);
        }
        done();
      });
      const untagger = (async () => {
        for (const tag of doomed) expect(await succeed("rmi", tag)).toBe(`Untagged: ${tag}\n`);
        done();
      })();
      const pruner = (async () => {
        do {
          expect(await succeed("prune")).toMatch(/Total reclaimed space: /);
          prunes++;
        } while (working > 0);
      })();
      await Promise.all([...loaders, ...taggers, untagger, pruner]);

      expect(Object.fromEntries([...(await repositoriesJson())].sort())).toEqual(Object.fromEntries([...expected].sort()));
      console.log(`concurrency round ${round}: ${operations} commands so far, ${prunes} prunes, ${Math.round(performance.now() - started)} ms`);
    }

    for (const id of new Set(expected.values())) await expectImageComplete(id);
    const fsck = JSON.parse(await succeed("fsck", "--json")) as { problems: unknown[]; imagesChecked: number };
    expect(fsck.problems).toEqual([]);
    expect(fsck.imagesChecked).toBe(1 + ROUNDS * LOADERS);
    expect(await succeed("prune")).toBe("Total reclaimed space: 0B\n");
    expect(await readFile(join(root, "images", `${SEED_ID.replace(":", "-")}.json`))).toEqual(seedRecord);
    const blobsNow = await snapshotTree(join(root, "blobs"));
    for (const [path, entry] of Object.entries(seedBlobs)) expect(blobsNow[path]).toEqual(entry);
  }, 180_000);
});
