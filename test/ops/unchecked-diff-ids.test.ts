// Layers whose diff ID no load checked (`load --skip-diff-id-check`): save says so once per image,
// in its result and on standard error; fsck checks them in one read and records the diff IDs that
// match, so that neither a later fsck nor save has anything left to do for them.
import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { main } from "../../src/cli/main.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { loadArchive } from "../../src/ops/load.js";
import { saveImages } from "../../src/ops/save.js";
import { Store } from "../../src/store/store.js";
import { readOnlyView } from "../support/read-only-view.js";
import { snapshotTree } from "../support/store-tree.js";
import { blobPath, buildTar, capturingTerminal, withoutFile, dockerArchiveItems, hexOf, layerTar, makeImage, OCI_LAYER_GZIP, ociLayoutItems, sha256, type TestImage } from "../support/archive-builder.js";

const roots: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-unchecked-"));
  roots.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

const LAYERS = [layerTar({ "etc/one.txt": "one\n" }), layerTar({ "etc/two.txt": "two\n" })];
const SKIP = { checkCompressedLayers: false } as const;

/** An OCI archive of the images, each tagged docker.io/library/NAME. */
async function ociArchive(images: { image: TestImage; name: string }[]): Promise<string> {
  const indexEntries = images.map(({ image, name }) => ({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { "io.containerd.image.name": `docker.io/library/${name}` } }));
  const file = join(await tempDir(), "archive.tar");
  await writeFile(file, buildTar(ociLayoutItems(images.map(({ image }) => image), { indexEntries })));
  return file;
}

async function lading(root: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { terminal, stdout, stderr } = capturingTerminal();
  const code = await main(["node", "lading", "--root", root, ...args], terminal);
  return { code, stdout: stdout(), stderr: stderr() };
}

/** A store holding, loaded with --skip-diff-id-check, an image whose gzip layer a load refuses (its entry "../evil" escapes the root). */
async function storeWithEvilLayer(): Promise<{ evilTar: Buffer; layer: TestImage["layers"][number]; root: string; store: Store; imageId: string }> {
  const evilTar = layerTar({ "../evil": "x\n" });
  const image = makeImage({ layers: [evilTar], gzip: true, seed: "evil" });
  const root = await tempDir();
  const store = await Store.open(root);
  const { images } = await loadArchive(store, await openArchivePath(await ociArchive([{ image, name: "evil:1" }])), SKIP);
  return { evilTar, layer: image.layers[0]!, root, store, imageId: images[0]!.id };
}

const discard = (): Writable => new Writable({ write: (_chunk, _encoding, callback) => callback() });

describe("save of layers whose diff ID was never checked", () => {
  it("warns once per image, on standard error and even with -q, naming the image, the number of layers and fsck; the result lists the layers", async () => {
    const two = makeImage({ layers: LAYERS, gzip: true });
    const one = makeImage({ gzip: true, seed: "one" });
    const root = await tempDir();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: two, name: "two:1" }, { image: one, name: "one:1" }])), SKIP);

    const saved = await lading(root, ["save", "-q", "-o", join(await tempDir(), "out.tar"), "two:1", "one:1"]);
    const warnings = [
      "warning: one:1 has 1 layer whose diff ID was never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check it\n",
      "warning: two:1 has 2 layers whose diff IDs were never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check them\n",
    ];
    const byId = [one, two].sort((a, b) => (a.manifest.digest < b.manifest.digest ? -1 : 1));
    expect(saved).toEqual({ code: 0, stdout: "", stderr: byId.map((image) => warnings[image === one ? 0 : 1]).join("") });

    const result = await saveImages(store, ["two:1", "one:1"], discard());
    expect(Object.fromEntries(result.images.map((image) => [image.tags[0], image.uncheckedLayers]))).toEqual({
      "one:1": [one.layers[0]!.digest],
      "two:1": two.layers.map((layer) => layer.digest).sort(),
    });
    const json = await lading(root, ["save", "--json", "-o", join(await tempDir(), "out.tar"), "one:1"]);
    expect([json.code, json.stderr, JSON.parse(json.stdout).images[0].uncheckedLayers]).toEqual([0, "", [one.layers[0]!.digest]]);
  });

  it("says nothing of an image loaded with its diff IDs checked, of an uncompressed one loaded with --skip-diff-id-check, nor once fsck has checked them", async () => {
    const root = await tempDir();
    const store = await Store.open(root);
    const checked = makeImage({ layers: LAYERS, gzip: true, seed: "checked" });
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: checked, name: "checked:1" }])));
    // An uncompressed layer's diff ID is its digest, which every load checks: no record needed.
    const plain = makeImage({ layers: [layerTar({ "etc/plain.txt": "plain\n" })] });
    const plainArchive = join(await tempDir(), "plain.tar");
    await writeFile(plainArchive, buildTar(dockerArchiveItems([{ image: plain, repoTags: ["plain:1"] }])));
    await loadArchive(store, await openArchivePath(plainArchive), SKIP);
    expect((await readdir(join(root, "diffids", "sha256"))).sort()).toEqual(checked.layers.map((layer) => hexOf(layer.digest)).sort());

    for (const name of ["checked:1", "plain:1"]) {
      expect(await lading(root, ["save", "-o", join(await tempDir(), "out.tar"), name])).toEqual({ code: 0, stdout: "", stderr: name === "plain:1" ? expect.stringMatching(/^note: plain:1 has a manifest synthesized by lading \(sha256:[0-9a-f]{64}\), not a registry digest\n$/) : "" });
    }
    expect((await saveImages(store, ["checked:1", "plain:1"], discard())).images.map((image) => image.uncheckedLayers)).toEqual([[], []]);

    const skipped = makeImage({ gzip: true, seed: "skipped" });
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: skipped, name: "skipped:1" }])), SKIP);
    expect((await lading(root, ["save", "-o", join(await tempDir(), "out.tar"), "skipped:1"])).stderr).toContain("warning: skipped:1 has 1 layer");
    expect(await lading(root, ["fsck"])).toEqual({ code: 0, stdout: "decompressed 1 layer the store did not vouch for: 1 recorded as checked\nchecked 10 blobs, 3 images, 5 references: 0 problem(s)\n", stderr: "" });
    expect(await lading(root, ["save", "-o", join(await tempDir(), "out.tar"), "skipped:1"])).toEqual({ code: 0, stdout: "", stderr: "" });
  });
});

describe("fsck of layers whose diff ID was never checked", () => {
  it("records a diff ID that matches, as a checked load records it, and a second fsck decompresses nothing", async () => {
    const image = makeImage({ layers: LAYERS, gzip: true });
    const archive = await ociArchive([{ image, name: "app:1" }]);
    const root = await tempDir();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(archive), SKIP);
    const records = join(root, "diffids", "sha256");
    expect(await readdir(records).catch(() => [])).toEqual([]);

    const first = await fsckStore(store);
    expect([first.layersDecompressed, first.diffIdsRecorded, first.problems]).toEqual([2, 2, []]);
    const names = image.layers.map((layer) => hexOf(layer.digest)).sort();
    expect((await readdir(records)).sort()).toEqual(names);
    // The same files a load that checked the layers writes.
    const loadedRoot = await tempDir();
    await loadArchive(await Store.open(loadedRoot), await openArchivePath(archive));
    for (const name of names) expect(await readFile(join(records, name), "utf8")).toBe(await readFile(join(loadedRoot, "diffids", "sha256", name), "utf8"));
    expect(await readFile(join(records, hexOf(image.layers[0]!.digest)), "utf8")).toBe(`${sha256(LAYERS[0]!)} ${LAYERS[0]!.length} layer-checked\n`);

    const written = await Promise.all(names.map((name) => stat(join(records, name))));
    const second = await fsckStore(store);
    expect([second.layersDecompressed, second.diffIdsRecorded, second.problems]).toEqual([0, 0, []]);
    const after = await Promise.all(names.map((name) => stat(join(records, name))));
    expect(after.map((info) => [info.ino, info.mtimeMs])).toEqual(written.map((info) => [info.ino, info.mtimeMs]));
  });

  it("counts a gzip layer whose config claims the compressed blob's own digest as its diff ID as unchecked", async () => {
    const image = makeImage({ gzip: true, seed: "self-claim" });
    const claimsItself = makeImage({ gzip: true, seed: "self-claim", editConfig: (config) => ({ ...config, rootfs: { type: "layers", diff_ids: [image.layers[0]!.digest] } }) });
    const store = await Store.open(await tempDir());
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: claimsItself, name: "self:1" }])), SKIP);
    const result = await saveImages(store, ["self:1"], discard());
    expect(result.images.map((saved) => saved.uncheckedLayers)).toEqual([[image.layers[0]!.digest]]);
  });

  it("counts an uncompressed foreign layer a load carried and checked as checked, by its record: an image that lists a layer as foreign does not vouch for it", async () => {
    const tar = layerTar({ "Files/base.txt": "base\n" });
    const image = makeImage({
      storedLayers: [{ bytes: tar, diffId: sha256(tar), mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar" }],
      editManifest: (manifest) => ({ ...manifest, layers: [{ ...(manifest.layers as Record<string, unknown>[])[0], urls: ["https://example.invalid/base.tar"] }] }),
    });
    const root = await tempDir();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(await ociArchive([{ image, name: "win:1" }])));
    expect((await saveImages(store, ["win:1"], discard())).images.map((saved) => saved.uncheckedLayers)).toEqual([[]]);
    expect(await readFile(join(root, "diffids", "sha256", hexOf(sha256(tar))), "utf8")).toBe(`${sha256(tar)} ${tar.length} layer-checked\n`);
  });

  it("counts an uncompressed layer addressed by sha512 as checked after a load that checked it", async () => {
    const plain = makeImage({ seed: "sha512" });
    const layer = plain.layers[0]!;
    const layer512 = `sha512:${createHash("sha512").update(layer.bytes).digest("hex")}`;
    const image = makeImage({ seed: "sha512", editManifest: (m) => ({ ...m, layers: [{ ...(m.layers as Record<string, unknown>[])[0], digest: layer512 }] }) });
    const items = ociLayoutItems([image], { indexEntries: [{ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, annotations: { "io.containerd.image.name": "docker.io/library/s512:1" } }] });
    const file = join(await tempDir(), "sha512.tar");
    await writeFile(file, buildTar([...withoutFile(items, blobPath(layer.digest)), { type: "file", name: blobPath(layer512), content: layer.bytes }]));
    const root = await tempDir();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(file));
    expect((await saveImages(store, ["s512:1"], discard())).images.map((saved) => saved.uncheckedLayers)).toEqual([[]]);
    expect(await readFile(join(root, "diffids", "sha512", hexOf(layer512)), "utf8")).toBe(`${layer.digest} ${layer.bytes.length} layer-checked\n`);
  });

  it("records nothing for a diff ID that does not match, and reports it on every run", async () => {
    const wrong = sha256("not the layer");
    const image = makeImage({ gzip: true, editConfig: (config) => ({ ...config, rootfs: { type: "layers", diff_ids: [wrong] } }) });
    const root = await tempDir();
    const store = await Store.open(root);
    const { images } = await loadArchive(store, await openArchivePath(await ociArchive([{ image, name: "wrong:1" }])), SKIP);
    const problem = ["diff-id-mismatch", `image ${images[0]!.id}: layer ${image.layers[0]!.digest} decompresses to ${image.layers[0]!.diffId}, but its config gives the diff ID ${wrong}`];
    for (let run = 0; run < 2; run++) {
      const report = await fsckStore(store);
      expect([report.layersDecompressed, report.diffIdsRecorded, report.problems.map((found) => [found.kind, found.message])]).toEqual([1, 0, [problem]]);
    }
    expect(await readdir(join(root, "diffids", "sha256")).catch(() => [])).toEqual([]);
  });

  it("a wrong claim on a blob another image's checked load recorded: fsck reads the layer again to tell the record and the claim apart, reports the claim, and keeps the record", async () => {
    const wrong = sha256("not the layer");
    const right = makeImage({ layers: [LAYERS[0]!], gzip: true });
    const mislabelled = makeImage({ layers: [LAYERS[0]!], gzip: true, editConfig: (config) => ({ ...config, os: "linux", rootfs: { type: "layers", diff_ids: [wrong] }, author: "someone else" }) });
    expect(mislabelled.layers[0]!.digest).toBe(right.layers[0]!.digest);
    const store = await Store.open(await tempDir());
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: right, name: "right:1" }])));
    const { images } = await loadArchive(store, await openArchivePath(await ociArchive([{ image: mislabelled, name: "wrong:1" }])), SKIP);
    const report = await fsckStore(store);
    expect([report.layersDecompressed, report.diffIdsRecorded, report.problems.map((found) => found.message)]).toEqual([
      1,
      0,
      [`image ${images[0]!.id}: layer ${right.layers[0]!.digest} decompresses to ${right.layers[0]!.diffId}, but its config gives the diff ID ${wrong}`],
    ]);
    expect(await store.diffIds.get(right.layers[0]!.digest)).toEqual({ diffId: right.layers[0]!.diffId, size: LAYERS[0]!.length, layerChecked: true });
    expect((await saveImages(store, ["wrong:1"], discard())).images[0]!.uncheckedLayers).toEqual([right.layers[0]!.digest]);
  });

  it("reports an uncompressed layer whose record claims another diff ID (as a pull records the config's)", async () => {
    const image = makeImage();
    const store = await Store.open(await tempDir());
    const { images } = await loadArchive(store, await openArchivePath(await ociArchive([{ image, name: "plain:1" }])));
    const record = (await store.records.get(images[0]!.id))!;
    const wrong = sha256("not the layer");
    await store.records.put({ ...record, images: record.images.map((one) => ({ ...one, layers: one.layers.map((layer) => ({ ...layer, diffId: wrong })) })) });
    const report = await fsckStore(store);
    expect([report.layersDecompressed, report.problems.map((found) => found.message)]).toEqual([
      0,
      [`image ${images[0]!.id}: layer ${image.layers[0]!.digest} is not compressed, so its diff ID is ${image.layers[0]!.digest}, but its config gives the diff ID ${wrong}`],
    ]);
  });

  it("on a store that cannot be written, checks the layers and writes nothing", async () => {
    const image = makeImage({ layers: LAYERS, gzip: true });
    const root = await tempDir();
    await loadArchive(await Store.open(root), await openArchivePath(await ociArchive([{ image, name: "app:1" }])), SKIP);
    const view = readOnlyView(root, await tempDir());
    try {
      const before = await snapshotTree(view.path);
      expect(await lading(view.path, ["fsck"])).toEqual({ code: 0, stdout: "decompressed 2 layers the store did not vouch for: 0 recorded as checked\nchecked 4 blobs, 1 images, 2 references: 0 problem(s)\n", stderr: "" });
      expect(await snapshotTree(view.path)).toEqual(before);
    } finally {
      view.release();
    }
    expect(await lading(root, ["fsck"])).toEqual({ code: 0, stdout: "decompressed 2 layers the store did not vouch for: 2 recorded as checked\nchecked 4 blobs, 1 images, 2 references: 0 problem(s)\n", stderr: "" });
  });

  it("a layer that does not decompress is a diff-ID problem; a layer blob damaged in the store is a corrupt blob, and only that", async () => {
    const truncated = gzipSync(LAYERS[0]!).subarray(0, 30);
    const broken = makeImage({ storedLayers: [{ bytes: truncated, diffId: sha256(LAYERS[0]!), mediaType: OCI_LAYER_GZIP }] });
    const damaged = makeImage({ gzip: true, seed: "damaged" });
    const root = await tempDir();
    const store = await Store.open(root);
    const { images } = await loadArchive(store, await openArchivePath(await ociArchive([{ image: broken, name: "broken:1" }, { image: damaged, name: "damaged:1" }])), SKIP);
    const brokenId = images.find((loaded) => loaded.tags.includes("broken:1"))!.id;
    const blob = join(root, "blobs", "sha256", hexOf(damaged.layers[0]!.digest));
    const bytes = await readFile(blob);
    bytes[bytes.length - 5]! ^= 0xff;
    await chmod(blob, 0o644);
    await writeFile(blob, bytes);
    const report = await fsckStore(store);
    expect(report.problems.map((found) => [found.kind, found.message])).toEqual([
      ["corrupt-blob", `blob ${damaged.layers[0]!.digest}: content does not match its digest`],
      ["missing-blob", `image ${images.find((loaded) => loaded.tags.includes("damaged:1"))!.id}: blob ${damaged.layers[0]!.digest} is corrupt`],
      ["diff-id-mismatch", `image ${brokenId}: layer ${broken.layers[0]!.digest} does not decompress: corrupt gzip stream: unexpected end of file`],
    ]);
    expect([report.diffIdsRecorded, await readdir(join(root, "diffids", "sha256")).catch(() => [])]).toEqual([0, []]);
  });

  it("a layer whose tar a load refuses is reported in load's words and not recorded: a later checking load of the same blob still refuses it", async () => {
    const { evilTar, layer, store, imageId } = await storeWithEvilLayer();
    const problem = `layer tar entry "../evil" escapes the root`;
    for (let run = 0; run < 2; run++) {
      const report = await fsckStore(store);
      expect([report.layersDecompressed, report.diffIdsRecorded, report.problems.map((found) => [found.kind, found.message])]).toEqual([
        1,
        0,
        [["bad-layer", `image ${imageId}: layer ${layer.digest}: ${problem}`]],
      ]);
    }
    expect(await store.diffIds.get(layer.digest)).toBeUndefined();
    expect((await saveImages(store, ["evil:1"], discard())).images[0]!.uncheckedLayers).toEqual([layer.digest]);

    // Before, fsck recorded this layer's diff ID, and a checking load of the same blob trusted the record and took it.
    const again = makeImage({ layers: [evilTar], gzip: true, seed: "evil", editConfig: (config) => ({ ...config, author: "again" }) });
    expect(again.layers[0]!.digest).toBe(layer.digest);
    const failure = await loadArchive(store, await openArchivePath(await ociArchive([{ image: again, name: "again:1" }]))).catch((error: unknown) => error);
    expect((failure as Error).message).toBe(`${blobPath(again.manifest.digest)} layers[0]: layer ${blobPath(layer.digest)}: ${problem}`);
  });

  it("an earlier lading's record (no layer-checked mark), which its fsck wrote without checking the tar, does not let a checking load or fsck take the layer, and fsck drops it; a layer that passes gets its record rewritten", async () => {
    const { evilTar, layer, root, store, imageId } = await storeWithEvilLayer();
    const record = join(root, "diffids", "sha256", hexOf(layer.digest));
    await mkdir(join(root, "diffids", "sha256"), { recursive: true });
    await writeFile(record, `${sha256(evilTar)} ${evilTar.length}\n`);
    const problem = `layer tar entry "../evil" escapes the root`;
    const again = makeImage({ layers: [evilTar], gzip: true, seed: "evil", editConfig: (config) => ({ ...config, author: "again" }) });
    const failure = await loadArchive(store, await openArchivePath(await ociArchive([{ image: again, name: "again:1" }]))).catch((error: unknown) => error);
    expect((failure as Error).message).toBe(`${blobPath(again.manifest.digest)} layers[0]: layer ${blobPath(layer.digest)}: ${problem}`);
    // save takes the old record's diff ID as checked until fsck finds the layer bad and drops it.
    expect((await saveImages(store, ["evil:1"], discard())).images[0]!.uncheckedLayers).toEqual([]);
    const report = await fsckStore(store);
    expect(report.problems.map((found) => [found.kind, found.message])).toEqual([["bad-layer", `image ${imageId}: layer ${layer.digest}: ${problem}`]]);
    await expect(readFile(record, "utf8")).rejects.toMatchObject({ code: "ENOENT" });
    expect((await saveImages(store, ["evil:1"], discard())).images[0]!.uncheckedLayers).toEqual([layer.digest]);

    const good = makeImage({ gzip: true, seed: "good" });
    await loadArchive(store, await openArchivePath(await ociArchive([{ image: good, name: "good:1" }])), SKIP);
    const goodRecord = join(root, "diffids", "sha256", hexOf(good.layers[0]!.digest));
    await writeFile(goodRecord, `${good.layers[0]!.diffId} 1024\n`);
    const second = await fsckStore(store);
    expect([second.layersDecompressed, second.diffIdsRecorded]).toEqual([2, 1]);
    expect(await readFile(goodRecord, "utf8")).toMatch(new RegExp(`^${good.layers[0]!.diffId} [0-9]+ layer-checked\n$`));
  });
});
