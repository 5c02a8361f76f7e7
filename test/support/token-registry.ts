// docker-registry (distribution 2.8) with `auth: token`, and the token server it sends clients to.
//
// What distribution 2.8 checks in a token (registry/auth/token/token.go): iss equals the configured
// issuer, aud equals the service, exp/nbf within 60 s of leeway, and the signing key comes from the
// header's `x5c` chain (verified against `rootcertbundle`), a `jwk`, or a `kid` that is a libtrust
// fingerprint of a key in that bundle. Here the header carries `x5c` with the self-signed
// certificate that is also the whole bundle; the signature is ES256 in JOSE's raw r||s form.
import { spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomUUID, sign, type KeyObject } from "node:crypto";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, get as httpGet, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { get as httpsGet } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { TEST_REGISTRY_USER, freeLoopbackPort, makeTempDir, removeTree, run } from "./peers.js";

export const TOKEN_SERVICE = "lading-registry";
export const TOKEN_ISSUER = "lading-token-server";

export interface TokenRequest {
  /** The Basic user, when the client sent credentials that matched. */
  account: string | undefined;
  service: string | undefined;
  scopes: string[];
}

export interface TokenRegistry {
  /** `127.0.0.1:PORT` of the registry. */
  host: string;
  /** The token server's realm URL. */
  realm: string;
  /** Token requests answered so far (granted or refused). */
  readonly tokenRequests: number;
  /** Every token request, in order. */
  readonly tokenLog: readonly TokenRequest[];
  stop(): Promise<void>;
}

export interface TokenRegistryOptions {
  /** Users who get every action they ask for; default TEST_REGISTRY_USER. */
  users?: Record<string, string>;
  /** What a client without credentials gets on any repository; default ["pull"]. */
  anonymousActions?: string[];
  /** Token lifetime in seconds; default 300. */
  expiresIn?: number;
  /** How many token answers, from the first, are cut off halfway (the connection closed mid-body). */
  cutAnswers?: number;
}

interface SigningKey {
  key: KeyObject;
  certDerBase64: string;
  certPath: string;
}

async function makeSigningKey(dir: string): Promise<SigningKey> {
  const keyPath = join(dir, "token.key");
  const certPath = join(dir, "token.crt");
  const r = await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=lading-token-signer",
  ]);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const pem = readFileSync(certPath, "utf8");
  const certDerBase64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  return { key: createPrivateKey(readFileSync(keyPath)), certDerBase64, certPath };
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString("base64url");

function issueToken(signer: SigningKey, subject: string, access: Array<{ type: string; name: string; actions: string[] }>, expiresIn: number): string {
  const now = Math.floor(Date.now() / 1000);
  const headerPart = base64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [signer.certDerBase64] }));
  const claims = { iss: TOKEN_ISSUER, sub: subject, aud: TOKEN_SERVICE, exp: now + expiresIn, nbf: now - 1, iat: now, jti: randomUUID(), access };
  const signingInput = `${headerPart}.${base64url(JSON.stringify(claims))}`;
  const signature = sign("sha256", Buffer.from(signingInput), { key: signer.key, dsaEncoding: "ieee-p1363" });
  return `${signingInput}.${base64url(signature)}`;
}

/** `repository:<name>:<a,b>` → its parts; other resource types are ignored. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first === -1 || last === first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(",").filter((a) => a !== "") };
}

function basicUser(req: IncomingMessage): { user: string; password: string } | undefined {
  const value = req.headers.authorization;
  if (value === undefined || !value.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(value.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

async function startTokenServer(signer: SigningKey, opts: TokenRegistryOptions, log: TokenRequest[]): Promise<Server> {
  const users = opts.users ?? { [TEST_REGISTRY_USER.user]: TEST_REGISTRY_USER.password };
  const anonymousActions = opts.anonymousActions ?? ["pull"];
  const expiresIn = opts.expiresIn ?? 300;
  let cutsLeft = opts.cutAnswers ?? 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://token.invalid");
    const scopes = url.searchParams.getAll("scope");
    const service = url.searchParams.get("service") ?? undefined;
    const given = basicUser(req);
    const account = given !== undefined && users[given.user] === given.password ? given.user : undefined;
    log.push({ account, service, scopes });
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    if (given !== undefined && account === undefined) {
      res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "bad credentials" }));
      return;
    }
    const access = scopes
      .flatMap((s) => s.split(" "))
      .map(parseScope)
      .filter((s): s is NonNullable<typeof s> => s !== undefined && s.type === "repository")
      .map((s) => ({ ...s, actions: account !== undefined ? s.actions : s.actions.filter((a) => anonymousActions.includes(a)) }));
    const token = issueToken(signer, account ?? "", access, expiresIn);
    const answer = Buffer.from(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() }));
    if (cutsLeft > 0) {
      cutsLeft--;
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": answer.length });
      res.write(answer.subarray(0, answer.length >> 1), () => res.socket?.destroy());
      return;
    }
    res.writeHead(200, { "Content-Type": "application/json" }).end(answer);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return server;
}

function spawnRegistry(configPath: string, logPath: string): ChildProcess {
  const fd = openSync(logPath, "a");
  try {
    const child = spawn("docker-registry", ["serve", configPath], { stdio: ["ignore", fd, fd] });
    const onExit = (): void => {
      child.kill("SIGTERM");
    };
    process.once("exit", onExit);
    child.once("exit", () => process.removeListener("exit", onExit));
    return child;
  } finally {
    closeSync(fd);
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await gone;
  clearTimeout(timer);
}

/** Writes a config (storage in `dir`, listening on `host`, plus `extra` lines) and starts docker-registry on it. */
async function launchRegistry(dir: string, host: string, extra: string[], scheme = "http"): Promise<ChildProcess> {
  const configPath = join(dir, "config.yml");
  const logPath = join(dir, "registry.log");
  writeFileSync(
    configPath,
    [
      "version: 0.1",
      "log: {level: warn}",
      "storage:",
      `  filesystem: {rootdirectory: ${JSON.stringify(join(dir, "data"))}}`,
      "  delete: {enabled: true}",
      `http:`,
      `  addr: "${host}"`,
      "  secret: lading-test-secret",
      ...extra,
      "",
    ].join("\n"),
  );
  const child = spawnRegistry(configPath, logPath);
  try {
    await waitListening(`${scheme}://${host}`, child, logPath);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return child;
}

async function waitListening(base: string, child: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited during startup; log:\n${readFileSync(logPath, "utf8")}`);
    try {
      if ((await probe(`${base}/v2/`)) !== 0) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry not ready after 30 s; log:\n${readFileSync(logPath, "utf8")}`);
}

/** Status of a GET (any answer means the registry listens), 0 when nothing answered. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    // Readiness only: the certificate names a host, the probe dials the IP.
    const req = (url.startsWith("https:") ? httpsGet : httpGet)(url, { timeout: 2_000, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(0));
  });
}

/** Starts the token server and a docker-registry that trusts it, both on 127.0.0.1. */
export async function startTokenRegistry(opts: TokenRegistryOptions = {}): Promise<TokenRegistry> {
  const dir = makeTempDir("lading-token-registry-");
  const log: TokenRequest[] = [];
  let server: Server | undefined;
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child);
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((r) => server?.close(() => r()));
    }
    await removeTree(dir);
  };
  try {
    const signer = await makeSigningKey(dir);
    server = await startTokenServer(signer, opts, log);
    const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    const host = `127.0.0.1:${await freeLoopbackPort()}`;
    child = await launchRegistry(dir, host, [
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(realm)}`,
      `    service: ${TOKEN_SERVICE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${JSON.stringify(signer.certPath)}`,
    ]);
    return {
      host,
      realm,
      get tokenRequests() {
        return log.length;
      },
      tokenLog: log,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface TlsRegistry {
  /** `vm-name:PORT`: a host name (not an IP) that resolves to 127.0.0.1 and matches the certificate. */
  host: string;
  /** The self-signed certificate (PEM) the registry serves, to pass as `ca`. */
  ca: string;
  stop(): Promise<void>;
}

/**
 * docker-registry serving TLS on 127.0.0.1 under `hostName` (which must resolve to 127.0.0.1,
 * e.g. through /etc/hosts), with a self-signed certificate for that name.
 */
export async function startTlsRegistry(hostName: string): Promise<TlsRegistry> {
  const dir = makeTempDir("lading-tls-registry-");
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (child !== undefined) await stopChild(child);
    await removeTree(dir);
  };
  try {
    const keyPath = join(dir, "tls.key");
    const certPath = join(dir, "tls.crt");
    const r = await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", `/CN=${hostName}`,
      "-addext", `subjectAltName=DNS:${hostName}`,
    ]);
    if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
    const ca = readFileSync(certPath, "utf8");
    const port = await freeLoopbackPort();
    child = await launchRegistry(dir, `127.0.0.1:${port}`, [`  tls: {certificate: ${JSON.stringify(certPath)}, key: ${JSON.stringify(keyPath)}}`], "https");
    return { host: `${hostName}:${port}`, ca, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
