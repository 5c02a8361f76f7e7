import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "../../src/core/digest.js";
import { MediaType } from "../../src/core/media-types.js";
import { RegistryClient } from "../../src/registry/client.js";
import { requirePeers, startRegistry, type Registry } from "../support/peers.js";

const hasRegistry = requirePeers("docker-registry");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe.skipIf(!hasRegistry)("RegistryClient against docker-registry (anonymous)", () => {
  let registry: Registry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startRegistry();
    client = new RegistryClient(registry.url, { credentials: async () => undefined });
  });
  afterAll(async () => {
    client?.close();
    await registry?.stop();
  });

  it("smoke", async () => {
    await client.ping();
    const bytes = Buffer.from("hello world\n");
    const blob = { digest: digestOf(bytes), size: bytes.length };
    expect(await client.hasBlob("app", blob.digest)).toBe(false);
    await client.uploadBlob("app", blob, () => Readable.from([bytes]));
    expect(await client.hasBlob("app", blob.digest)).toBe(true);
    expect(await collect(await client.openBlob("app", blob))).toEqual(bytes);
    const big = Buffer.alloc(10000, 7);
    const bigBlob = { digest: digestOf(big), size: big.length };
    await client.uploadBlob("app", bigBlob, () => Readable.from([big]), { chunkSize: 3000 });
    expect(await collect(await client.openBlob("app", bigBlob))).toEqual(big);
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: blob.digest, size: blob.size }, layers: [{ mediaType: MediaType.ociLayer, digest: bigBlob.digest, size: bigBlob.size }] }));
    expect(await client.putManifest("app", "v1", manifest, MediaType.ociManifest)).toBe(digestOf(manifest));
    const got = await client.getManifest("app", "v1");
    expect(got).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest: digestOf(manifest) });
    expect(await client.headManifest("app", "v1")).toEqual({ digest: digestOf(manifest), mediaType: MediaType.ociManifest, size: manifest.length });
    expect(await client.mountBlob("other", bigBlob.digest, "app")).toBe(true);
    expect(await client.hasBlob("other", bigBlob.digest)).toBe(true);
    await expect(client.getManifest("app", "v2")).rejects.toThrow(`registry ${registry.url}: manifest app:v2 not found`);
  });
});
