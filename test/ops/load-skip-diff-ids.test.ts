// `lading load --skip-diff-id-check` (checkCompressedLayers: false): compressed layers are not
// decompressed, so the config's diff IDs are taken on trust, as skopeo takes them; every blob's
// digest is still checked, and uncompressed layers are still checked whole.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { buildTar, ensureBuilt, failureOf, layerTar, makeImage, ociLayoutItems, runLading, sha256, type TarItem } from "../support/archive-builder.js";

beforeAll(() => ensureBuilt(), 120_000);

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-skip-diff-"));
  roots.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

const LAYER = layerTar({ "etc/hello.txt": "hello\n" });
const WRONG_DIFF_ID = sha256("not the layer");

/** An OCI archive of one gzip layer whose config lists a diff ID that is not the layer's. */
function mislabelled(gzip: boolean): { items: TarItem[]; layerDigest: string } {
  const image = makeImage({ layers: [LAYER], gzip, editConfig: (config) => ({ ...config, rootfs: { type: "layers", diff_ids: [WRONG_DIFF_ID] } }) });
  return { items: ociLayoutItems([image], { indexEntries: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: image.manifest.digest, size: image.manifest.size, annotations: { "io.containerd.image.name": "docker.io/library/skip:1" } }] }), layerDigest: image.layers[0]!.digest };
}

async function archiveFile(items: TarItem[]): Promise<string> {
  const path = join(await tempDir(), "archive.tar");
  await writeFile(path, buildTar(items));
  return path;
}

describe("loading without the diff-ID check of compressed layers", () => {
  it("takes a gzip layer's diff ID from the config, which a checked load refuses", async () => {
    const { items, layerDigest } = mislabelled(true);
    const path = await archiveFile(items);
    const store = await Store.open(await tempDir());
    const checked = await failureOf(loadArchive(store, await openArchivePath(path)));
    expect(checked).toContain(`has diff ID ${sha256(LAYER)}, but`);
    expect(checked).toContain(`rootfs.diff_ids[0] is ${WRONG_DIFF_ID}`);

    const result = await loadArchive(store, await openArchivePath(path), { checkCompressedLayers: false });
    expect(result.images[0]?.tags).toEqual(["skip:1"]);
    const record = await store.records.get(result.images[0]!.id);
    expect(record?.images[0]?.layers).toEqual([{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest, size: expect.any(Number), diffId: WRONG_DIFF_ID }]);
  });

  it("still checks an uncompressed layer against its diff ID", async () => {
    const { items } = mislabelled(false);
    const store = await Store.open(await tempDir());
    const message = await failureOf(loadArchive(store, await openArchivePath(await archiveFile(items)), { checkCompressedLayers: false }));
    expect(message).toContain(`has diff ID ${sha256(LAYER)}, but`);
  });

  it("still checks every blob's digest", async () => {
    const { items, layerDigest } = mislabelled(true);
    const blobName = `blobs/sha256/${layerDigest.slice(7)}`;
    let changed = Buffer.alloc(0);
    const tampered = items.map((item) => {
      if (item.type !== "file" || item.name !== blobName) return item;
      changed = Buffer.concat([item.content as Buffer, Buffer.from("x")]);
      return { ...item, content: changed };
    });
    const root = await tempDir();
    const store = await Store.open(root);
    const message = await failureOf(loadArchive(store, await openArchivePath(await archiveFile(tampered)), { checkCompressedLayers: false }));
    expect(message).toBe(`${blobName}: content does not match its name (content is ${sha256(changed)})`);
    expect(await readdir(join(root, "blobs", "sha256"))).toEqual([]);
  });

  it("is the CLI's --skip-diff-id-check", async () => {
    const { items } = mislabelled(true);
    const path = await archiveFile(items);
    const root = await tempDir();
    const refused = await runLading(["--root", root, "load", "-q", "-i", path]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`rootfs.diff_ids[0] is ${WRONG_DIFF_ID}`);
    const loaded = await runLading(["--root", root, "load", "-q", "--skip-diff-id-check", "-i", path]);
    expect(loaded).toEqual({ code: 0, stdout: "Loaded image: skip:1\n", stderr: "" });
  });

  it("leaves fsck to check the diff IDs it took on trust: a wrong one is reported, a right one is not", async () => {
    const { items, layerDigest } = mislabelled(true);
    const store = await Store.open(await tempDir());
    const result = await loadArchive(store, await openArchivePath(await archiveFile(items)), { checkCompressedLayers: false });
    const report = await fsckStore(store);
    expect(report.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([
      ["diff-id-mismatch", `image ${result.images[0]!.id}: layer ${layerDigest} decompresses to ${sha256(LAYER)}, but its config gives the diff ID ${WRONG_DIFF_ID}`, false],
    ]);
    const right = makeImage({ layers: [layerTar({ "etc/other.txt": "other\n" })], gzip: true, seed: "right" });
    const clean = await Store.open(await tempDir());
    await loadArchive(clean, await openArchivePath(await archiveFile(ociLayoutItems([right]))), { checkCompressedLayers: false });
    expect((await fsckStore(clean)).problems).toEqual([]);
  });
});
