import { lookup } from "node:dns/promises";
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../src/registry/client.js";
import { requirePeers, startRegistry, type Registry } from "../support/peers.js";
import { startTlsRegistry, type TlsRegistry } from "../support/token-registry.js";

// A name other than localhost that resolves to 127.0.0.1 (the machine's own name in /etc/hosts),
// so the client treats the registry as remote: TLS by default.
const machine = hostname();
const resolvesToLoopback = await lookup(machine, { family: 4 }).then((a) => a.address === "127.0.0.1", () => false);
const hasPeers = requirePeers("docker-registry", "openssl");
const anonymous = async (): Promise<undefined> => undefined;

describe.skipIf(!hasPeers || !resolvesToLoopback)(`TLS to a non-loopback name (${machine})`, () => {
  let tls: TlsRegistry;
  let plain: Registry;
  beforeAll(async () => {
    tls = await startTlsRegistry(machine);
    plain = await startRegistry();
  });
  afterAll(async () => {
    await tls?.stop();
    await plain?.stop();
  });

  it("speaks TLS by default and trusts an extra CA", async () => {
    const client = new RegistryClient(tls.host, { ca: tls.ca, credentials: anonymous });
    await client.ping();
    expect(await client.headManifest("app", "v1")).toBeUndefined();
    client.close();
  });

  it("refuses a certificate it cannot verify, in one line and without retrying", async () => {
    const client = new RegistryClient(tls.host, { credentials: anonymous });
    await expect(client.getManifest("app", "v1")).rejects.toMatchObject({
      name: "LadingError",
      kind: "io",
      message: `registry ${tls.host}: manifest app:v1: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`,
    });
    client.close();
  });

  it("does not fall back to plain HTTP unless insecure", async () => {
    const port = plain.url.split(":")[1];
    const secure = new RegistryClient(`${machine}:${port}`, { credentials: anonymous, attempts: 1 });
    const error = await secure.ping().catch((e: unknown) => e);
    expect(error).toMatchObject({
      kind: "io",
      message: `registry ${machine}:${port}: /v2/: TLS handshake failed: wrong version number (the registry may speak plain HTTP)`,
    });
    secure.close();
    const insecure = new RegistryClient(`${machine}:${port}`, { credentials: anonymous, insecure: true });
    await insecure.ping();
    await expect(insecure.getManifest("app", "v1")).rejects.toMatchObject({ kind: "not-found", message: `registry ${machine}:${port}: manifest app:v1 not found` });
    insecure.close();
  });
});
