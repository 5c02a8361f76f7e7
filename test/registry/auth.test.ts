import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { digestOf } from "../../src/core/digest.js";
import { MediaType } from "../../src/core/media-types.js";
import { RegistryClient } from "../../src/registry/client.js";
import { dockerConfigCredentials } from "../../src/registry/credentials.js";
import { requirePeers, startRegistry, TEST_REGISTRY_USER, type Registry } from "../support/peers.js";
import { startTokenRegistry, TOKEN_SERVICE, type TokenRegistry } from "../support/token-registry.js";

const hasPeers = requirePeers("docker-registry", "openssl");
const user = { username: TEST_REGISTRY_USER.user, password: TEST_REGISTRY_USER.password };
const layer = Buffer.from("layer bytes for the auth tests\n");
const layerBlob = { digest: digestOf(layer), size: layer.length };
const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const configBlob = { digest: digestOf(config), size: config.length };
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, ...configBlob },
    layers: [{ mediaType: MediaType.ociLayer, ...layerBlob }],
  }),
);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Pushes layer, config and manifest as app:v1, then reads them back. */
async function pushAndPull(client: RegistryClient, repository: string): Promise<void> {
  await client.uploadBlob(repository, layerBlob, () => Readable.from([layer]));
  await client.uploadBlob(repository, configBlob, () => Readable.from([config]));
  expect(await client.putManifest(repository, "v1", manifest, MediaType.ociManifest)).toBe(digestOf(manifest));
  expect(await client.getManifest(repository, "v1")).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest: digestOf(manifest) });
  expect(await collect(await client.openBlob(repository, layerBlob))).toEqual(layer);
}

describe.skipIf(!hasPeers)("basic auth (htpasswd docker-registry)", () => {
  let registry: Registry;
  let configDir: string;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: TEST_REGISTRY_USER.htpasswd });
    configDir = mkdtempSync(join(tmpdir(), "lading-docker-config-"));
  });
  afterAll(async () => {
    await registry?.stop();
    rmSync(configDir, { recursive: true, force: true });
  });

  it("pushes and pulls with credentials from a DOCKER_CONFIG config.json (base64 auth)", async () => {
    const auth = Buffer.from(`${user.username}:${user.password}`).toString("base64");
    writeFileSync(join(configDir, "config.json"), JSON.stringify({ auths: { [`http://${registry.url}`]: { auth } } }));
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = configDir;
    try {
      const client = new RegistryClient(registry.url);
      await client.ping();
      await pushAndPull(client, "basic/app");
      client.close();
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });

  it("fails in one line with a wrong password", async () => {
    const client = new RegistryClient(registry.url, { credentials: async () => ({ username: user.username, password: "wrong" }) });
    await expect(client.getManifest("basic/app", "v1")).rejects.toMatchObject({ name: "LadingError", message: `registry ${registry.url}: authentication failed (401) for basic/app: UNAUTHORIZED: authentication required` });
    await expect(client.ping()).rejects.toMatchObject({ name: "LadingError", message: `registry ${registry.url}: authentication failed (401): UNAUTHORIZED: authentication required` });
    client.close();
  });

  it("fails in one line without credentials", async () => {
    const client = new RegistryClient(registry.url, { credentials: dockerConfigCredentials(join(configDir, "absent.json")) });
    const error = await client.hasBlob("basic/app", layerBlob.digest).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "LadingError", kind: "invalid", message: `registry ${registry.url}: authentication failed (401) for basic/app` }); // a HEAD answer has no body to quote
    client.close();
  });
});

describe.skipIf(!hasPeers)("a token answer cut short", () => {
  it("is asked for again, as a connection lost before the answer is; cut every time, it fails in one line naming the token server", async () => {
    const once = await startTokenRegistry({ cutAnswers: 1 });
    try {
      const client = new RegistryClient(once.host, { credentials: async () => user, retryDelayMs: 1 });
      expect((await client.getManifest("bearer/none", "v1").catch((error: unknown) => error)) as Error).toMatchObject({ kind: "not-found" });
      expect(once.tokenRequests).toBe(2);
      client.close();
    } finally {
      await once.stop();
    }
    const always = await startTokenRegistry({ cutAnswers: 1000 });
    try {
      const client = new RegistryClient(always.host, { credentials: async () => user, retryDelayMs: 1 });
      const error = (await client.getManifest("bearer/none", "v1").catch((e: unknown) => e)) as Error;
      expect([error.name, error.message]).toEqual(["LadingError", `registry ${always.host}: token server ${new URL(always.realm).host}: reading the answer: aborted (after 4 attempts)`]);
      expect(always.tokenRequests).toBe(4);
      client.close();
    } finally {
      await always.stop();
    }
  });
});

describe.skipIf(!hasPeers)("bearer tokens (docker-registry with auth: token)", () => {
  let registry: TokenRegistry;
  beforeAll(async () => {
    registry = await startTokenRegistry();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it("fetches one token per scope set with Basic credentials and caches it", async () => {
    const client = new RegistryClient(registry.host, { credentials: async () => user });
    await client.ping();
    const before = registry.tokenRequests;
    await pushAndPull(client, "bearer/app");
    // push scope (uploads, manifest PUT) then pull scope (GETs): one token each
    expect(registry.tokenLog.slice(before)).toEqual([
      { account: user.username, service: TOKEN_SERVICE, scopes: ["repository:bearer/app:pull,push"] },
      { account: user.username, service: TOKEN_SERVICE, scopes: ["repository:bearer/app:pull"] },
    ]);
    expect(await client.hasBlob("bearer/app", configBlob.digest)).toBe(true);
    expect(registry.tokenRequests).toBe(before + 2);
    client.close();
  });

  it("mounts a blob across repositories with a token for both scopes", async () => {
    const client = new RegistryClient(registry.host, { credentials: async () => user });
    const before = registry.tokenRequests;
    expect(await client.mountBlob("bearer/other", layerBlob.digest, "bearer/app")).toBe(true);
    // One token request, or two when a loaded machine makes the registry drop a kept-alive
    // connection and the retry meets a fresh challenge; either way, both scopes in one token.
    const requests = registry.tokenLog.slice(before);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    for (const request of requests) {
      expect(request).toEqual({ account: user.username, service: TOKEN_SERVICE, scopes: ["repository:bearer/other:pull,push", "repository:bearer/app:pull"] });
    }
    expect(await client.hasBlob("bearer/other", layerBlob.digest)).toBe(true);
    client.close();
  });

  it("pulls anonymously, and an anonymous push fails in one line", async () => {
    const client = new RegistryClient(registry.host, { credentials: async () => undefined });
    expect(await client.getManifest("bearer/app", "v1")).toEqual({ bytes: manifest, mediaType: MediaType.ociManifest, digest: digestOf(manifest) });
    await expect(client.putManifest("bearer/app", "v2", manifest, MediaType.ociManifest)).rejects.toMatchObject({ name: "LadingError", message: `registry ${registry.host}: authentication failed (401) for bearer/app: UNAUTHORIZED: authentication required` });
    client.close();
  });

  it("fails in one line when the token server refuses the password", async () => {
    const client = new RegistryClient(registry.host, { credentials: async () => ({ username: user.username, password: "wrong" }) });
    await expect(client.getManifest("bearer/app", "v1")).rejects.toMatchObject({ name: "LadingError", message: `registry ${registry.host}: authentication failed (401) for bearer/app: bad credentials` });
    await expect(client.ping()).rejects.toMatchObject({ name: "LadingError", message: `registry ${registry.host}: authentication failed (401): bad credentials` });
    client.close();
  });
});
