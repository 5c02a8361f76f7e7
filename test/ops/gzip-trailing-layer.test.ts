// A gzip layer followed by bytes after its last member (zero padding included: Go's multistream
// gzip reader in dockerd and containerd reads them as the next header and fails with "gzip:
// invalid header") is refused by load, convert, fsck and pull alike, in the words verify uses
// for other trailing data, with the store left as it was.
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/registry/client.js";
import { requirePeers, startRegistry, type Registry } from "../support/peers.js";
import { snapshotTree } from "../support/store-tree.js";
import { blobPath, buildTar, descriptorOf, layerTar, makeImage, OCI_LAYER_GZIP, ociLayoutItems, sha256, type TestImage } from "../support/archive-builder.js";
import { ladingInProcess, scratchDirectory } from "../support/in-process-cli.js";

const TAR = layerTar({ "etc/hello.txt": "hello world\n".repeat(50) });
const PADDED = makeImage({ storedLayers: [{ bytes: Buffer.concat([gzipSync(TAR), Buffer.alloc(512)]), diffId: sha256(TAR), mediaType: OCI_LAYER_GZIP }], seed: "padded" });
const PADDED_LAYER = PADDED.layers[0]!;
const REASON = "corrupt gzip stream: incorrect header check";
const LOAD_MESSAGE = `${blobPath(PADDED.manifest.digest)} layers[0]: layer ${blobPath(PADDED_LAYER.digest)}: ${REASON}`;

const { newPath } = scratchDirectory("lading-gzip-trailing-");
const lading = ladingInProcess;

async function archiveFile(image: TestImage, name: string): Promise<string> {
  const file = newPath("archive.tar");
  await writeFile(file, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": name } })] })));
  return file;
}

/** A store that already holds one good image, so that "unchanged" means something. */
async function storeWithOneImage(): Promise<string> {
  const root = newPath("root");
  const loaded = await lading("--root", root, "load", "-q", "-i", await archiveFile(makeImage({ gzip: true, seed: "good" }), "docker.io/library/good:1"));
  expect(loaded).toEqual({ code: 0, stdout: "Loaded image: good:1\n", stderr: "" });
  return root;
}

describe("a gzip layer with zero padding after its last member", () => {
  it("load refuses it in one line naming the layer, and leaves the store byte for byte as it was", async () => {
    const root = await storeWithOneImage();
    const before = await snapshotTree(root);
    const archive = await archiveFile(PADDED, "docker.io/library/padded:1");
    expect(await lading("--root", root, "load", "-i", archive)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${LOAD_MESSAGE}\n` });
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("convert refuses it and writes no output", async () => {
    const out = newPath("converted.tar");
    expect(await lading("convert", "-q", await archiveFile(PADDED, "docker.io/library/padded:1"), out)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${LOAD_MESSAGE}\n` });
    expect(existsSync(out)).toBe(false);
  });

  it("fsck reports it after a --skip-diff-id-check load and records no diff ID, so a checking load of the same blob still refuses it", async () => {
    const root = newPath("root");
    const archive = await archiveFile(PADDED, "docker.io/library/padded:1");
    expect(await lading("--root", root, "load", "-q", "--skip-diff-id-check", "-i", archive)).toEqual({ code: 0, stdout: "Loaded image: padded:1\n", stderr: "" });
    expect(await lading("--root", root, "fsck")).toEqual({
      code: 1,
      stdout: `broken: image ${PADDED.manifest.digest}: layer ${PADDED_LAYER.digest} does not decompress: ${REASON}\ndecompressed 1 layer the store did not vouch for: 0 recorded as checked\nchecked 3 blobs, 1 images, 2 references: 1 problem(s)\n`,
      stderr: "",
    });
    expect(existsSync(join(root, "diffids", "sha256", PADDED_LAYER.digest.slice(7)))).toBe(false);
    expect(await lading("--root", root, "load", "-i", archive)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${LOAD_MESSAGE}\n` });
  });
});

describe.skipIf(!requirePeers("docker-registry"))("pull of a gzip layer with zero padding (docker-registry 2.8)", () => {
  let registry: Registry;
  const pullMessage = (reference: string): string => `manifest ${PADDED.manifest.digest} of ${reference} layers[0]: layer ${PADDED_LAYER.digest}: ${REASON}`;

  beforeAll(async () => {
    registry = await startRegistry();
    const client = new RegistryClient(registry.url, { retryDelayMs: 10, credentials: async () => undefined });
    for (const blob of [PADDED.config, ...PADDED.layers]) await client.uploadBlob("padded/app", blob, () => Readable.from([blob.bytes]));
    await client.putManifest("padded/app", "1", PADDED.manifest.bytes, PADDED.manifest.mediaType);
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
  });

  it("refuses it as it downloads, and as it reads it from the store when a --skip-diff-id-check load put it there, leaving the store as it was", async () => {
    const reference = `${registry.url}/padded/app:1`;
    const empty = await storeWithOneImage();
    const before = await snapshotTree(empty);
    expect(await lading("--root", empty, "pull", "-q", reference)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${pullMessage(reference)}\n` });
    expect(await snapshotTree(empty)).toEqual(before);

    const holding = newPath("root");
    expect((await lading("--root", holding, "load", "-q", "--skip-diff-id-check", "-i", await archiveFile(PADDED, "docker.io/library/padded:1"))).code).toBe(0);
    const held = await snapshotTree(holding);
    expect(await lading("--root", holding, "pull", "-q", reference)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${pullMessage(reference)}\n` });
    expect(await snapshotTree(holding)).toEqual(held);
  });
});
