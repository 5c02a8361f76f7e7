import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "../../src/core/digest.js";
import { MediaType } from "../../src/core/media-types.js";
import { isLoopbackHost, RegistryClient } from "../../src/registry/client.js";
import { requirePeers, startRegistry, type Registry } from "../support/peers.js";
import { startProxy, type TestProxy } from "./proxy.js";

const hasRegistry = requirePeers("docker-registry");

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

const blobOf = (bytes: Buffer): { digest: string; size: number } => ({ digest: digestOf(bytes), size: bytes.length });
/** Request lines as the registry saw them, upload session ids elided. */
const requestLines = (proxy: TestProxy, from: number): string[] =>
  proxy.log.slice(from).map((r) => `${r.method} ${r.path.replace(/uploads\/[0-9a-f-]{36}\?_state=[^&]+/, "uploads/<id>?<state>")}${r.headers["content-range"] !== undefined ? ` [${r.headers["content-range"]}]` : ""}`);

/** A proxy to the registry that drops Content-Length from answers, so bodies come chunked. */
const withoutContentLength = (upstreamUrl: string): Promise<TestProxy> =>
  startProxy(upstreamUrl, {
    rewriteBody: (_req, upstream) => {
      delete upstream.headers["content-length"];
      return new PassThrough();
    },
  });

describe("isLoopbackHost", () => {
  it("knows localhost, 127.0.0.0/8 and ::1, with or without port", () => {
    expect(["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "[::1]"].map(isLoopbackHost)).toEqual([true, true, true, true, true, true]);
    expect(["registry.example.com", "10.0.0.1:5000", "127.0.0.1.example.com", "[::2]:5000"].map(isLoopbackHost)).toEqual([false, false, false, false]);
  });
});

describe.skipIf(!hasRegistry)("RegistryClient against docker-registry (anonymous)", () => {
  let registry: Registry;
  let proxy: TestProxy;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url);
    client = new RegistryClient(proxy.host, { credentials: async () => undefined });
  });
  afterAll(async () => {
    client?.close();
    await proxy?.stop();
    await registry?.stop();
  });

  it("pings /v2/", async () => {
    await expect(client.ping()).resolves.toBeUndefined();
  });

  it("uploads a small blob monolithically (POST, PUT ?digest=), then HEAD and GET give its bytes", async () => {
    const bytes = Buffer.from("a small blob\n");
    const blob = blobOf(bytes);
    expect(await client.hasBlob("mono/app", blob.digest)).toBe(false);
    const from = proxy.log.length;
    await client.uploadBlob("mono/app", blob, () => Readable.from([bytes]));
    expect(requestLines(proxy, from)).toEqual(["POST /v2/mono/app/blobs/uploads/", `PUT /v2/mono/app/blobs/uploads/<id>?<state>&digest=${encodeURIComponent(blob.digest)}`]);
    expect(await client.hasBlob("mono/app", blob.digest)).toBe(true);
    const got = await collect(await client.openBlob("mono/app", blob));
    expect(got).toEqual(bytes);
    expect(digestOf(got)).toBe("sha256:02b8bea77a914e9f9f51d3b7d5cbbc105694f36c3d964c70805dacd4d8f99b6f");
  });

  it("uploads in chunks of chunkSize with Content-Range, then GET gives the same bytes", async () => {
    const bytes = Buffer.alloc(10_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 251;
    const blob = blobOf(bytes);
    const from = proxy.log.length;
    await client.uploadBlob("chunked/app", blob, () => Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), { chunkSize: 4096 });
    expect(requestLines(proxy, from)).toEqual([
      "POST /v2/chunked/app/blobs/uploads/",
      "PATCH /v2/chunked/app/blobs/uploads/<id>?<state> [0-4095]",
      "PATCH /v2/chunked/app/blobs/uploads/<id>?<state> [4096-8191]",
      "PATCH /v2/chunked/app/blobs/uploads/<id>?<state> [8192-9999]",
      `PUT /v2/chunked/app/blobs/uploads/<id>?<state>&digest=${encodeURIComponent(blob.digest)}`,
    ]);
    expect(await client.hasBlob("chunked/app", blob.digest)).toBe(true);
    expect(await collect(await client.openBlob("chunked/app", blob))).toEqual(bytes);
  });

  it("reads a positional source (a stored file) at offsets, monolithic and chunked, and never streams it", async () => {
    const bytes = Buffer.alloc(700_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 249;
    const blob = blobOf(bytes);
    const positions: number[] = [];
    const open = (): Readable =>
      Object.assign(
        new Readable({
          read() {
            this.destroy(new Error("streamed instead of read at offsets"));
          },
        }),
        {
          readAt(into: Buffer, position: number): Promise<number> {
            positions.push(position);
            return Promise.resolve(bytes.copy(into, 0, position, Math.min(bytes.length, position + into.length)));
          },
        },
      );
    const from = proxy.log.length;
    await client.uploadBlob("positional/mono", blob, open);
    expect(positions).toEqual([0, 262144, 524288, 700_000]);
    positions.length = 0;
    await client.uploadBlob("positional/chunked", blob, open, { chunkSize: 300_000 });
    expect(positions).toEqual([0, 262144, 300_000, 562144, 600_000, 700_000]);
    expect(requestLines(proxy, from)).toEqual([
      "POST /v2/positional/mono/blobs/uploads/",
      `PUT /v2/positional/mono/blobs/uploads/<id>?<state>&digest=${encodeURIComponent(blob.digest)}`,
      "POST /v2/positional/chunked/blobs/uploads/",
      "PATCH /v2/positional/chunked/blobs/uploads/<id>?<state> [0-299999]",
      "PATCH /v2/positional/chunked/blobs/uploads/<id>?<state> [300000-599999]",
      "PATCH /v2/positional/chunked/blobs/uploads/<id>?<state> [600000-699999]",
      `PUT /v2/positional/chunked/blobs/uploads/<id>?<state>&digest=${encodeURIComponent(blob.digest)}`,
    ]);
    expect(await collect(await client.openBlob("positional/mono", blob))).toEqual(bytes);
    expect(await collect(await client.openBlob("positional/chunked", blob))).toEqual(bytes);
  });

  it("refuses to finish an upload whose local bytes do not match the descriptor", async () => {
    const bytes = Buffer.from("what the descriptor says\n");
    const blob = blobOf(bytes);
    const wrong = Buffer.from("what the source gives!!!\n");
    expect(wrong.length).toBe(bytes.length);
    await expect(client.uploadBlob("bad/app", blob, () => Readable.from([wrong]))).rejects.toMatchObject({
      name: "LadingError",
      kind: "invalid",
      message: `registry ${proxy.host}: upload of blob ${blob.digest} to bad/app: local blob digest mismatch (got ${digestOf(wrong)})`,
    });
    expect(await client.hasBlob("bad/app", blob.digest)).toBe(false);
  });

  it("puts and gets manifests byte for byte, by tag and by digest, with their media types", async () => {
    const config = Buffer.from("{}");
    await client.uploadBlob("man/app", blobOf(config), () => Readable.from([config]));
    // Odd spacing and key order: any re-serialisation would change the digest.
    const manifest = Buffer.from(
      `{"schemaVersion":2,  "mediaType": "${MediaType.dockerManifest}",\n "config":{"mediaType":"${MediaType.dockerConfig}","size":2,"digest":"${digestOf(config)}"},"layers":[]}\n`,
    );
    const digest = digestOf(manifest);
    expect(await client.putManifest("man/app", "v1", manifest, MediaType.dockerManifest)).toBe(digest);
    expect(await client.getManifest("man/app", "v1")).toEqual({ bytes: manifest, mediaType: MediaType.dockerManifest, digest });
    expect(await client.getManifest("man/app", digest)).toEqual({ bytes: manifest, mediaType: MediaType.dockerManifest, digest });
    expect(await client.headManifest("man/app", "v1")).toEqual({ digest, mediaType: MediaType.dockerManifest, size: manifest.length });
    const accept = proxy.log.filter((r) => r.path === "/v2/man/app/manifests/v1" && r.method === "GET").map((r) => r.headers.accept);
    expect(accept).toEqual([`${MediaType.ociIndex}, ${MediaType.ociManifest}, ${MediaType.dockerManifestList}, ${MediaType.dockerManifest}`]);

    const index = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ mediaType: MediaType.dockerManifest, digest, size: manifest.length, platform: { architecture: "amd64", os: "linux" } }] }),
    );
    expect(await client.putManifest("man/app", "multi", index, MediaType.ociIndex)).toBe(digestOf(index));
    expect(await client.getManifest("man/app", "multi")).toEqual({ bytes: index, mediaType: MediaType.ociIndex, digest: digestOf(index) });
  });

  it("reports missing manifests and blobs as not-found, naming registry, repository and tag or digest", async () => {
    await expect(client.getManifest("man/app", "nope")).rejects.toMatchObject({ name: "LadingError", kind: "not-found", message: `registry ${proxy.host}: manifest man/app:nope not found` });
    const missing = digestOf("missing");
    await expect(client.getManifest("man/app", missing)).rejects.toMatchObject({ kind: "not-found", message: `registry ${proxy.host}: manifest man/app@${missing} not found` });
    expect(await client.headManifest("man/app", "nope")).toBeUndefined();
    await expect(client.openBlob("man/app", { digest: missing, size: 7 })).rejects.toMatchObject({ kind: "not-found", message: `registry ${proxy.host}: blob ${missing} of man/app not found` });
  });

  it("rejects a manifest PUT the registry refuses, with its error code", async () => {
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: digestOf("absent"), size: 6 }, layers: [] }));
    await expect(client.putManifest("man/app", "broken", manifest, MediaType.ociManifest)).rejects.toMatchObject({
      kind: "invalid",
      message: `registry ${proxy.host}: manifest man/app:broken: 400 MANIFEST_BLOB_UNKNOWN: blob unknown to registry`,
    });
  });

  it("refuses a blob whose announced Content-Length differs from the descriptor", async () => {
    const bytes = Buffer.from("twelve bytes");
    const blob = blobOf(bytes);
    await client.uploadBlob("size/app", blob, () => Readable.from([bytes]));
    await expect(client.openBlob("size/app", { digest: blob.digest, size: 13 })).rejects.toMatchObject({
      kind: "invalid",
      message: `registry ${proxy.host}: blob ${blob.digest} of size/app: size mismatch (registry announces 12 bytes, expected 13)`,
    });
  });

  it("errors the stream on size when no Content-Length is announced (chunked transfer)", async () => {
    const bytes = Buffer.from("twelve bytes");
    const blob = blobOf(bytes);
    await client.uploadBlob("size/app", blob, () => Readable.from([bytes]));
    const unannounced = await withoutContentLength(registry.url);
    const viaChunked = new RegistryClient(unannounced.host, { credentials: async () => undefined });
    try {
      await expect(collect(await viaChunked.openBlob("size/app", { digest: blob.digest, size: 13 }))).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${unannounced.host}: blob ${blob.digest} of size/app: size mismatch (got 12 bytes, expected 13)`,
      });
      await expect(collect(await viaChunked.openBlob("size/app", { digest: blob.digest, size: 5 }))).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${unannounced.host}: blob ${blob.digest} of size/app: size mismatch (more than 5 bytes)`,
      });
      expect(await collect(await viaChunked.openBlob("size/app", blob))).toEqual(bytes);
    } finally {
      viaChunked.close();
      await unannounced.stop();
    }
  });

  it("downloads a blob into the writer in batches no larger than asked, each byte once and in order", async () => {
    const bytes = Buffer.alloc(300 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    const blob = blobOf(bytes);
    await client.uploadBlob("batch/app", blob, () => Readable.from([bytes]));
    const batches: Buffer[] = [];
    // Copies: the receiver reuses a batch's memory once its write has settled.
    await client.downloadBlob("batch/app", blob, async (batch) => void batches.push(Buffer.from(batch)), { batchBytes: 64 * 1024 });
    expect(Buffer.concat(batches)).toEqual(bytes);
    expect(batches.every((batch) => batch.length > 0 && batch.length <= 64 * 1024)).toBe(true);
    expect(batches.length).toBeGreaterThanOrEqual(5);
  });

  it("downloadBlob writes nothing of a blob whose size differs, and passes on a failed write", async () => {
    const bytes = Buffer.from("twelve bytes");
    const blob = blobOf(bytes);
    await client.uploadBlob("size/app", blob, () => Readable.from([bytes]));
    const unannounced = await withoutContentLength(registry.url);
    const viaChunked = new RegistryClient(unannounced.host, { credentials: async () => undefined });
    const written: string[] = [];
    const write = async (batch: Buffer): Promise<void> => void written.push(batch.toString());
    try {
      await expect(viaChunked.downloadBlob("size/app", { digest: blob.digest, size: 13 }, write)).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${unannounced.host}: blob ${blob.digest} of size/app: size mismatch (got 12 bytes, expected 13)`,
      });
      await expect(viaChunked.downloadBlob("size/app", { digest: blob.digest, size: 5 }, write)).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${unannounced.host}: blob ${blob.digest} of size/app: size mismatch (more than 5 bytes)`,
      });
      expect(written).toEqual([]);
      await expect(viaChunked.downloadBlob("size/app", blob, () => Promise.reject(new Error("disk full")))).rejects.toThrow("disk full");
      await viaChunked.downloadBlob("size/app", blob, write);
      expect(written).toEqual(["twelve bytes"]);
    } finally {
      viaChunked.close();
      await unannounced.stop();
    }
  });

  it("refuses to finish a chunked upload whose source is short or differs, and sends no final PUT", async () => {
    const bytes = Buffer.alloc(5000, 1);
    const blob = blobOf(bytes);
    const altered = Buffer.from(bytes);
    altered[4999] = 2;
    const from = proxy.log.length;
    await expect(client.uploadBlob("bad/chunked", blob, () => Readable.from([altered]), { chunkSize: 2048 })).rejects.toMatchObject({
      kind: "invalid",
      message: `registry ${proxy.host}: upload of blob ${blob.digest} to bad/chunked: local blob digest mismatch (got ${digestOf(altered)})`,
    });
    await expect(client.uploadBlob("bad/chunked", blob, () => Readable.from([bytes.subarray(0, 4000)]), { chunkSize: 2048 })).rejects.toMatchObject({
      kind: "invalid",
      message: `registry ${proxy.host}: upload of blob ${blob.digest} to bad/chunked: local blob size mismatch (got 4000 bytes, expected 5000)`,
    });
    expect(proxy.log.slice(from).filter((r) => r.method === "PUT")).toEqual([]);
    expect(await client.hasBlob("bad/chunked", blob.digest)).toBe(false);
  });

  it("mounts a blob from another repository, and answers false when the source lacks it", async () => {
    const bytes = Buffer.from("mount me\n");
    const blob = blobOf(bytes);
    await client.uploadBlob("mount/src", blob, () => Readable.from([bytes]));
    const from = proxy.log.length;
    expect(await client.mountBlob("mount/dst", blob.digest, "mount/src")).toBe(true);
    expect(requestLines(proxy, from)).toEqual([`POST /v2/mount/dst/blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=mount%2Fsrc`]);
    expect(await collect(await client.openBlob("mount/dst", blob))).toEqual(bytes);

    const absent = digestOf("not uploaded");
    const before = proxy.log.length;
    expect(await client.mountBlob("mount/dst", absent, "mount/src")).toBe(false);
    // The upload session the registry opened instead is cancelled.
    expect(requestLines(proxy, before)).toEqual([`POST /v2/mount/dst/blobs/uploads/?mount=${encodeURIComponent(absent)}&from=mount%2Fsrc`, "DELETE /v2/mount/dst/blobs/uploads/<id>?<state>"]);
  });
});
