import { createServer, type IncomingHttpHeaders } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "../../src/core/digest.js";
import { MediaType } from "../../src/core/media-types.js";
import { RegistryClient } from "../../src/registry/client.js";
import { requirePeers, startRegistry, TEST_REGISTRY_USER, type Registry } from "../support/peers.js";
import { close, flipFirstByte, listen, startProxy } from "./proxy.js";

const hasRegistry = requirePeers("docker-registry");
const anonymous = async (): Promise<undefined> => undefined;
const user = { username: TEST_REGISTRY_USER.user, password: TEST_REGISTRY_USER.password };
const layer = Buffer.from("the layer the registry holds\n");
const layerBlob = { digest: digestOf(layer), size: layer.length };
const config = Buffer.from("{}");
const manifest = Buffer.from(
  JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, digest: digestOf(config), size: 2 }, layers: [{ mediaType: MediaType.ociLayer, ...layerBlob }] }),
);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function seed(client: RegistryClient): Promise<void> {
  await client.uploadBlob("app", layerBlob, () => Readable.from([layer]));
  await client.uploadBlob("app", { digest: digestOf(config), size: 2 }, () => Readable.from([config]));
  await client.putManifest("app", "v1", manifest, MediaType.ociManifest);
}

describe.skipIf(!hasRegistry)("faults between lading and docker-registry", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    const client = new RegistryClient(registry.url, { credentials: anonymous });
    await seed(client);
    client.close();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("errors the blob stream with the digest mismatch when served bytes are altered", async () => {
    const proxy = await startProxy(registry.url, { rewriteBody: (req) => (req.method === "GET" && req.path.includes("/blobs/") ? flipFirstByte() : undefined) });
    const client = new RegistryClient(proxy.host, { credentials: anonymous });
    try {
      const flipped = Buffer.from(layer);
      flipped[0] = (flipped[0] ?? 0) ^ 1;
      await expect(collect(await client.openBlob("app", layerBlob))).rejects.toMatchObject({
        name: "LadingError",
        kind: "invalid",
        message: `registry ${proxy.host}: blob ${layerBlob.digest} of app: digest mismatch (got ${digestOf(flipped)})`,
      });
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("downloadBlob refuses altered bytes with the digest mismatch, writing nothing of a blob that fits one batch", async () => {
    const proxy = await startProxy(registry.url, { rewriteBody: (req) => (req.method === "GET" && req.path.includes("/blobs/") ? flipFirstByte() : undefined) });
    const client = new RegistryClient(proxy.host, { credentials: anonymous });
    const written: Buffer[] = [];
    try {
      const flipped = Buffer.from(layer);
      flipped[0] = (flipped[0] ?? 0) ^ 1;
      await expect(client.downloadBlob("app", layerBlob, async (batch) => void written.push(batch))).rejects.toMatchObject({
        name: "LadingError",
        kind: "invalid",
        message: `registry ${proxy.host}: blob ${layerBlob.digest} of app: digest mismatch (got ${digestOf(flipped)})`,
      });
      expect(written).toEqual([]);
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("refuses a manifest fetched by digest whose bytes differ", async () => {
    const digest = digestOf(manifest);
    const proxy = await startProxy(registry.url, { rewriteBody: (req) => (req.path.includes("/manifests/") ? flipFirstByte() : undefined) });
    const client = new RegistryClient(proxy.host, { credentials: anonymous });
    try {
      const flipped = Buffer.from(manifest);
      flipped[0] = (flipped[0] ?? 0) ^ 1;
      await expect(client.getManifest("app", digest)).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${proxy.host}: manifest app@${digest}: digest mismatch (got ${digestOf(flipped)})`,
      });
      await expect(client.getManifest("app", "v1")).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${proxy.host}: manifest app:v1: Docker-Content-Digest ${digest} does not match the served bytes (${digestOf(flipped)})`,
      });
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("takes the media type from the body when the Content-Type served is generic", async () => {
    const proxy = await startProxy(registry.url, {
      rewriteBody: (req, upstream) => {
        if (req.path.includes("/manifests/")) upstream.headers["content-type"] = "text/plain; charset=utf-8";
        return undefined;
      },
    });
    const client = new RegistryClient(proxy.host, { credentials: anonymous });
    try {
      expect(await client.getManifest("app", "v1")).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest: digestOf(manifest) });
      expect(await client.headManifest("app", "v1")).toEqual({ digest: digestOf(manifest), mediaType: MediaType.ociManifest, size: manifest.length });
      expect(proxy.log.map((r) => r.method)).toEqual(["GET", "HEAD", "GET"]);
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("retries after 503 and after a dropped connection, with back-off", async () => {
    const proxy = await startProxy(registry.url, {
      intercept: (_req, res, count) => {
        if (count <= 2) {
          res.writeHead(503, { "Content-Type": "text/plain" }).end("busy");
          return true;
        }
        if (count === 3) {
          res.socket?.destroy();
          return true;
        }
        return false;
      },
    });
    const client = new RegistryClient(proxy.host, { credentials: anonymous, attempts: 4 });
    try {
      const started = Date.now();
      expect(await client.getManifest("app", "v1")).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest: digestOf(manifest) });
      // back-off 200 + 400 + 800 ms before the 4th attempt
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      expect(proxy.log.map((r) => `${r.method} ${r.path}`)).toEqual(Array(4).fill("GET /v2/app/manifests/v1"));
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("fetches a manifest again when the connection is lost while reading its body; after `attempts` the read's own error", async () => {
    let cuts = 1;
    const proxy = await startProxy(registry.url, {
      // No digest on HEAD: headManifest has to read the manifest itself.
      rewriteBody: (req, upstream) => {
        if (req.method === "HEAD") delete upstream.headers["docker-content-digest"];
        return undefined;
      },
      cutBody: (req) => (req.method === "GET" && req.path.includes("/manifests/") && cuts-- > 0 ? 10 : undefined),
    });
    const client = new RegistryClient(proxy.host, { credentials: anonymous, attempts: 3, retryDelayMs: 10 });
    const digest = digestOf(manifest);
    try {
      expect(await client.getManifest("app", "v1")).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest });
      cuts = 1;
      expect(await client.headManifest("app", "v1")).toEqual({ digest, mediaType: MediaType.ociManifest, size: manifest.length });
      expect(proxy.log.map((r) => `${r.method} ${r.path}`)).toEqual([...Array(2).fill("GET /v2/app/manifests/v1"), "HEAD /v2/app/manifests/v1", ...Array(2).fill("GET /v2/app/manifests/v1")]);

      proxy.log.length = 0;
      cuts = 100;
      await expect(client.getManifest("app", digest)).rejects.toMatchObject({ kind: "io", message: `registry ${proxy.host}: manifest app@${digest}: reading the body: aborted` });
      expect(proxy.log.map((r) => `${r.method} ${r.path}`)).toEqual(Array(3).fill(`GET /v2/app/manifests/${digest}`));
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("gives up after `attempts` 5xx answers, and never retries a 4xx", async () => {
    const proxy = await startProxy(registry.url, {
      intercept: (req, res) => {
        const status = req.url?.includes("/manifests/") ? 503 : 400;
        res.writeHead(status, { "Content-Type": "application/json" }).end(status === 400 ? '{"errors":[{"code":"DENIED","message":"no"}]}' : "");
        return true;
      },
    });
    const client = new RegistryClient(proxy.host, { credentials: anonymous, attempts: 2, retryDelayMs: 10 });
    try {
      await expect(client.getManifest("app", "v1")).rejects.toMatchObject({
        kind: "io",
        message: `registry ${proxy.host}: manifest app:v1: 503 Service Unavailable (after 2 attempts)`,
      });
      expect(proxy.log.length).toBe(2);
      await expect(client.openBlob("app", layerBlob)).rejects.toMatchObject({
        kind: "invalid",
        message: `registry ${proxy.host}: blob ${layerBlob.digest} of app: 400 DENIED: no`,
      });
      expect(proxy.log.length).toBe(3);
    } finally {
      client.close();
      await proxy.stop();
    }
  });

  it("retries a whole upload when the registry fails mid-session", async () => {
    const bytes = Buffer.from("uploaded after one failure\n");
    const blob = { digest: digestOf(bytes), size: bytes.length };
    let failedPut = false;
    const proxy = await startProxy(registry.url, {
      intercept: (req, res) => {
        if (req.method === "PUT" && !failedPut) {
          failedPut = true;
          req.resume();
          res.writeHead(502).end();
          return true;
        }
        return false;
      },
    });
    const client = new RegistryClient(proxy.host, { credentials: anonymous, retryDelayMs: 10 });
    let opened = 0;
    try {
      await client.uploadBlob("app", blob, () => {
        opened++;
        return Readable.from([bytes]);
      });
      expect(opened).toBe(2);
      expect(proxy.log.map((r) => r.method)).toEqual(["POST", "PUT", "DELETE", "POST", "PUT"]);
      expect(await collect(await client.openBlob("app", blob))).toEqual(bytes);
    } finally {
      client.close();
      await proxy.stop();
    }
  });
});

describe.skipIf(!hasRegistry)("redirects to blob storage", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: TEST_REGISTRY_USER.htpasswd });
    const client = new RegistryClient(registry.url, { credentials: async () => user });
    await seed(client);
    client.close();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("follows a 307 to another port for blob GETs, without the registry's Authorization", async () => {
    const storageSeen: IncomingHttpHeaders[] = [];
    const storage = createServer((req, res) => {
      storageSeen.push(req.headers);
      if (req.url === `/storage/${layerBlob.digest}?sig=abc`) res.writeHead(200, { "Content-Length": String(layer.length) }).end(layer);
      else res.writeHead(404).end();
    });
    const storageHost = await listen(storage);
    const proxy = await startProxy(registry.url, {
      intercept: (req, res) => {
        if (req.method === "GET" && req.url === `/v2/app/blobs/${layerBlob.digest}` && req.headers.authorization !== undefined) {
          res.writeHead(307, { Location: `http://${storageHost}/storage/${layerBlob.digest}?sig=abc` }).end();
          return true;
        }
        return false;
      },
    });
    const client = new RegistryClient(proxy.host, { credentials: async () => user });
    try {
      expect(await collect(await client.openBlob("app", layerBlob))).toEqual(layer);
      expect(storageSeen.length).toBe(1);
      expect(storageSeen[0]?.authorization).toBeUndefined();
      const basic = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`;
      expect(proxy.log.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([
        ["GET", `/v2/app/blobs/${layerBlob.digest}`, undefined],
        ["GET", `/v2/app/blobs/${layerBlob.digest}`, basic],
      ]);
    } finally {
      client.close();
      await proxy.stop();
      await close(storage);
    }
  });
});
