/**
 * OCI distribution (registry v2) client: manifests, blobs, uploads and mounts over HTTP(S), with
 * authentication, redirects, digest verification and retries. Every failure is a one-line
 * LadingError naming the registry, the repository and the tag or digest.
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { digestOf, parseDigest } from "../core/digest.js";
import { LadingError, notFound } from "../core/errors.js";
import { MediaType, isIndexType, isManifestType } from "../core/media-types.js";
import { authenticationFailed, repositoryScope, RegistryAuth, type CredentialsProvider } from "./auth.js";
import { dockerConfigCredentials } from "./credentials.js";
import { describeConnectionError, isConnectionError, Retryable, withRetries } from "./retry.js";
import { BodyTooLargeError, discard, header, headerValues, readBody, Transport, type BodyWriter } from "./transport.js";
import { receiveBlob, type BatchWriter } from "./blob-receiver.js";
import { refusalText } from "./error-body.js";
import { UploadBody } from "./upload-body.js";
import { verifyingStream, type BlobDescriptor } from "./verify-stream.js";

export type { BlobDescriptor } from "./verify-stream.js";
export type { BatchWriter } from "./blob-receiver.js";
export type { PositionalReadable } from "./upload-body.js";
export type { Credentials, CredentialsProvider } from "./auth.js";

export interface RegistryClientOptions {
  /** Plain HTTP allowed (also implied for loopback hosts: localhost, 127.0.0.0/8, [::1]). */
  insecure?: boolean;
  /** Where credentials come from; default: dockerConfigCredentials() (~/.docker/config.json, $DOCKER_CONFIG). */
  credentials?: CredentialsProvider;
  /** Attempts for connection errors and 5xx (default 4), with exponential back-off starting at 200 ms. */
  attempts?: number;
  /** Extra CA certificates (PEM) for TLS; default system CAs. */
  ca?: string | Buffer;
  /** First back-off delay in ms (default 200). */
  retryDelayMs?: number;
  /** Socket inactivity limit in ms (default 120 s). */
  idleTimeoutMs?: number;
}

export interface FetchedManifest {
  /** Exact bytes as served. */
  bytes: Buffer;
  /** Content-Type as served (falls back to the body's mediaType field). */
  mediaType: string;
  /** sha256 of bytes, computed locally. */
  digest: string;
}

export interface UploadOptions {
  /** Bytes per PATCH of a chunked upload (default 64 MiB; each chunk streams, nothing is buffered). */
  chunkSize?: number;
  /** Largest blob sent in one monolithic PUT (default 64 MiB, or chunkSize when that is given). */
  chunkThreshold?: number;
}

export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(", ");

const DEFAULT_ATTEMPTS = 4;
const DEFAULT_RETRY_DELAY_MS = 200;
const DEFAULT_CHUNK_THRESHOLD = 64 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
const MANIFEST_LIMIT = 4 * 1024 * 1024;
const MAX_REDIRECTS = 10;
const GENERIC_CONTENT_TYPES = new Set(["", "application/json", "text/plain", "application/octet-stream"]);

/** localhost, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(registryHost: string): boolean {
  const host = registryHost.startsWith("[") ? registryHost.slice(0, registryHost.indexOf("]") + 1) : registryHost.replace(/:\d+$/, "");
  return host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** The host requests go to: Docker Hub's API lives at registry-1.docker.io. */
export function apiHost(registryHost: string): string {
  return registryHost === "docker.io" || registryHost === "index.docker.io" ? "registry-1.docker.io" : registryHost;
}

/** A body factory is called once per attempt (again after a 401 challenge). */
type Body = Buffer | (() => BodyWriter);

interface Exchange {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** A path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  target: string | URL;
  headers?: Record<string, string>;
  body?: Body;
  scopes: string[];
  /** What the request is about, for messages: "manifest app:v1", "blob sha256:… of app". */
  subject: string;
  followRedirects?: boolean;
}

interface Response {
  res: IncomingMessage;
  url: URL;
}

export class RegistryClient {
  readonly registryHost: string;
  private readonly base: URL;
  private readonly transport: Transport;
  private readonly auth: RegistryAuth;
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(registryHost: string, options: RegistryClientOptions = {}) {
    this.registryHost = registryHost;
    const plain = options.insecure === true || isLoopbackHost(registryHost);
    this.base = new URL(`${plain ? "http" : "https"}://${apiHost(registryHost)}`);
    this.transport = new Transport({ ca: options.ca, idleTimeoutMs: options.idleTimeoutMs });
    this.attempts = Math.max(1, options.attempts ?? DEFAULT_ATTEMPTS);
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.auth = new RegistryAuth({
      registryHost,
      credentials: options.credentials ?? dockerConfigCredentials(),
      transport: this.transport,
      attempts: this.attempts,
      baseDelayMs: this.retryDelayMs,
    });
  }

  /** GET /v2/: checks the registry speaks v2 and, when it asks, that the credentials are accepted. */
  async ping(): Promise<void> {
    const { res } = await this.exchange({ method: "GET", target: "/v2/", scopes: [], subject: "/v2/" });
    if (res.statusCode === 200) {
      await discard(res);
      return;
    }
    throw await this.failure(res, "/v2/");
  }

  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const subject = manifestSubject(repository, reference);
    const request: Exchange = {
      method: "GET",
      target: manifestPath(repository, reference),
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: [repositoryScope(repository)],
      subject,
    };
    // A body cut short is asked for again, within the same attempts as a connection lost before the answer.
    const { res, bytes } = await withRetries(
      this.attempts,
      this.retryDelayMs,
      async () => {
        const { res } = await this.once(request);
        if (res.statusCode === 404) {
          await discard(res);
          throw notFound(`registry ${this.registryHost}: ${subject} not found`, subject);
        }
        if (res.statusCode !== 200) throw await this.failure(res, subject, repository);
        try {
          return { res, bytes: await readBody(res, MANIFEST_LIMIT) };
        } catch (error) {
          if (error instanceof BodyTooLargeError) throw this.error("invalid", subject, `larger than ${MANIFEST_LIMIT} bytes`);
          const detail = `reading the body: ${errorText(error)}`;
          throw new Retryable(detail, this.error("io", subject, detail));
        }
      },
      (last, n) => this.error("io", subject, `${last.reason} (after ${n} attempts)`),
    );
    const digest = digestOf(bytes);
    if (isDigestReference(reference)) {
      const { algorithm } = parseDigest(reference);
      const actual = digestOf(bytes, algorithm);
      if (actual !== reference) throw this.error("invalid", subject, `digest mismatch (got ${actual})`);
    } else {
      this.checkReportedDigest(res, bytes, subject);
    }
    return { bytes, mediaType: servedMediaType(header(res, "content-type"), bytes), digest };
  }

  async headManifest(repository: string, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const subject = manifestSubject(repository, reference);
    const { res } = await this.exchange({
      method: "HEAD",
      target: manifestPath(repository, reference),
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: [repositoryScope(repository)],
      subject,
    });
    await discard(res);
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw await this.failure(res, subject, repository);
    const digest = header(res, "docker-content-digest");
    const size = Number(header(res, "content-length"));
    const mediaType = contentType(header(res, "content-type"));
    if (digest === undefined || !Number.isSafeInteger(size) || GENERIC_CONTENT_TYPES.has(mediaType)) {
      // Not every registry reports these on HEAD: the manifest itself answers.
      const fetched = await this.getManifest(repository, reference);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.length };
    }
    return { digest, mediaType, size };
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const subject = blobSubject(repository, digest);
    const { res } = await this.exchange({
      method: "HEAD",
      target: `/v2/${repository}/blobs/${digest}`,
      scopes: [repositoryScope(repository)],
      subject,
      followRedirects: true,
    });
    await discard(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.failure(res, subject, repository);
  }

  async openBlob(repository: string, blob: BlobDescriptor): Promise<Readable> {
    const subject = blobSubject(repository, blob.digest);
    const res = await this.blobResponse(repository, blob, subject);
    const out = verifyingStream(blob, (detail) => this.error("invalid", subject, detail));
    let received = 0;
    res.on("data", (chunk: Buffer) => (received += chunk.length));
    res.once("error", (error) => out.destroy(this.connectionLost(subject, received, error)));
    res.once("aborted", () => out.destroy(this.connectionLost(subject, received, undefined)));
    out.once("close", () => {
      if (!res.readableEnded) res.destroy();
    });
    res.pipe(out);
    return out;
  }

  /**
   * Downloads a blob into `write` in large batches (see blob-receiver.ts): cheaper than reading
   * openBlob's stream. Resolves once every batch is written and the size and digest were checked;
   * on a mismatch (LadingError invalid) or a lost connection (LadingError io) nothing more is written.
   */
  async downloadBlob(repository: string, blob: BlobDescriptor, write: BatchWriter, options: { batchBytes?: number } = {}): Promise<void> {
    const subject = blobSubject(repository, blob.digest);
    const res = await this.blobResponse(repository, blob, subject);
    await receiveBlob(
      res,
      blob,
      write,
      {
        invalid: (detail) => this.error("invalid", subject, detail),
        lost: (received, cause) => this.connectionLost(subject, received, cause),
      },
      options.batchBytes,
    );
  }

  /** GET of a blob answered 200 with the expected Content-Length (when announced). */
  private async blobResponse(repository: string, blob: BlobDescriptor, subject: string): Promise<IncomingMessage> {
    parseDigest(blob.digest);
    const { res } = await this.exchange({
      method: "GET",
      target: `/v2/${repository}/blobs/${blob.digest}`,
      scopes: [repositoryScope(repository)],
      subject,
      followRedirects: true,
    });
    if (res.statusCode === 404) {
      await discard(res);
      throw notFound(`registry ${this.registryHost}: ${subject} not found`, subject);
    }
    if (res.statusCode !== 200) throw await this.failure(res, subject, repository);
    const announced = header(res, "content-length");
    if (announced !== undefined && Number(announced) !== blob.size) {
      res.destroy();
      throw this.error("invalid", subject, `size mismatch (registry announces ${announced} bytes, expected ${blob.size})`);
    }
    return res;
  }

  private connectionLost(subject: string, received: number, cause: unknown): LadingError {
    if (cause instanceof LadingError) return cause;
    return this.error("io", subject, `connection lost after ${received} bytes${cause === undefined ? "" : `: ${errorText(cause)}`}`);
  }

  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const subject = `mount of blob ${digest} from ${fromRepository} into ${repository}`;
    const target = `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`;
    let response: Response;
    try {
      response = await this.exchange({
        method: "POST",
        target,
        scopes: [repositoryScope(repository, true), repositoryScope(fromRepository)],
        subject,
      });
    } catch (error) {
      // No pull right on the source repository: a plain upload is the way left.
      if (error instanceof LadingError && /authentication failed \(40[13]\)/.test(error.message)) return false;
      throw error;
    }
    const { res, url } = response;
    if (res.statusCode === 201) {
      await discard(res);
      return true;
    }
    if (res.statusCode === 202) {
      await discard(res);
      const location = header(res, "location");
      if (location !== undefined) await this.cancelUpload(new URL(location, url), repository, subject);
      return false;
    }
    if (res.statusCode === 403) {
      await discard(res);
      return false;
    }
    throw await this.failure(res, subject, repository);
  }

  /**
   * `open` gives the blob's bytes, once per attempt. A PositionalReadable (see upload-body.ts) is
   * read at offsets into the upload's own reused buffers; any other Readable is consumed as a stream.
   */
  async uploadBlob(repository: string, blob: BlobDescriptor, open: () => Readable, options: UploadOptions = {}): Promise<void> {
    const subject = `upload of blob ${blob.digest} to ${repository}`;
    parseDigest(blob.digest);
    const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
    const threshold = options.chunkThreshold ?? options.chunkSize ?? DEFAULT_CHUNK_THRESHOLD;
    const scopes = [repositoryScope(repository, true)];
    const opened: UploadBody[] = [];
    const body = (): UploadBody => {
      const made = new UploadBody(open(), blob, (detail) => this.error("invalid", subject, `local blob ${detail}`));
      opened.push(made);
      return made;
    };
    await withRetries(
      this.attempts,
      this.retryDelayMs,
      async () => {
        const location = await this.startUpload(repository, scopes, subject);
        try {
          const final =
            blob.size <= threshold
              ? await this.putMonolithic(repository, location, blob, body, scopes, subject)
              : await this.putChunked(repository, location, blob, body(), chunkSize, scopes, subject);
          const reported = header(final.res, "docker-content-digest");
          await discard(final.res);
          if (reported !== undefined && reported !== blob.digest) {
            throw this.error("invalid", subject, `registry reports digest ${reported}`);
          }
        } catch (error) {
          await this.cancelUpload(location, repository, subject);
          throw error;
        } finally {
          for (const made of opened.splice(0)) made.close();
        }
      },
      (last, n) => this.error("io", subject, `${last.reason} (after ${n} attempts)`),
    );
  }

  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const subject = manifestSubject(repository, reference);
    const { res } = await this.exchange({
      method: "PUT",
      target: manifestPath(repository, reference),
      headers: { "Content-Type": mediaType },
      body: bytes,
      scopes: [repositoryScope(repository, true)],
      subject,
    });
    if (res.statusCode !== 201 && res.statusCode !== 200) throw await this.failure(res, subject, repository);
    await discard(res);
    return header(res, "docker-content-digest") ?? digestOf(bytes);
  }

  /** Frees keep-alive sockets; the client must not be used afterwards. */
  close(): void {
    this.transport.close();
  }

  private async startUpload(repository: string, scopes: string[], subject: string): Promise<URL> {
    const { res, url } = await this.once({ method: "POST", target: `/v2/${repository}/blobs/uploads/`, scopes, subject });
    if (res.statusCode !== 202) throw await this.failure(res, subject, repository);
    await discard(res);
    const location = header(res, "location");
    if (location === undefined) throw this.error("invalid", subject, "upload session without a Location header");
    return new URL(location, url);
  }

  private async putMonolithic(repository: string, location: URL, blob: BlobDescriptor, open: () => UploadBody, scopes: string[], subject: string): Promise<Response> {
    const url = new URL(location);
    url.searchParams.set("digest", blob.digest);
    const response = await this.once({
      method: "PUT",
      target: url,
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(blob.size) },
      body: () => open().range(blob.size),
      scopes,
      subject,
    });
    if (response.res.statusCode !== 201) throw await this.failure(response.res, subject, repository);
    return response;
  }

  private async putChunked(repository: string, location: URL, blob: BlobDescriptor, body: UploadBody, chunkSize: number, scopes: string[], subject: string): Promise<Response> {
    let current = location;
    for (let offset = 0; offset < blob.size; offset += chunkSize) {
      const length = Math.min(chunkSize, blob.size - offset);
      let taken = false;
      // A chunk is read once; a re-challenge after its bytes were sent restarts the whole upload.
      const chunk = (): BodyWriter => {
        if (taken) throw new Retryable(`authentication renewed during the upload at byte ${offset}`);
        taken = true;
        return body.range(length);
      };
      const { res, url } = await this.once({
        method: "PATCH",
        target: current,
        headers: { "Content-Type": "application/octet-stream", "Content-Range": `${offset}-${offset + length - 1}`, "Content-Length": String(length) },
        body: chunk,
        scopes,
        subject,
      });
      if (res.statusCode !== 202 && res.statusCode !== 204) throw await this.failure(res, subject, repository);
      await discard(res);
      const next = header(res, "location");
      if (next !== undefined) current = new URL(next, url);
    }
    await body.finish();
    const url = new URL(current);
    url.searchParams.set("digest", blob.digest);
    const response = await this.once({ method: "PUT", target: url, scopes, subject });
    if (response.res.statusCode !== 201) throw await this.failure(response.res, subject, repository);
    return response;
  }

  private async cancelUpload(location: URL, repository: string, subject: string): Promise<void> {
    try {
      const { res } = await this.once({ method: "DELETE", target: location, scopes: [repositoryScope(repository, true)], subject });
      await discard(res);
    } catch {
      // Best effort: the registry expires abandoned sessions itself.
    }
  }

  /** One exchange, retried while the failure is a lost connection or a 5xx. */
  private exchange(x: Exchange): Promise<Response> {
    return withRetries(this.attempts, this.retryDelayMs, () => this.once(x), (last, n) => this.error("io", x.subject, `${last.reason} (after ${n} attempts)`));
  }

  /**
   * One attempt: sends with the current authorization, and once more after learning from a 401
   * challenge. Throws Retryable for connection errors and 5xx.
   */
  private async once(x: Exchange): Promise<Response> {
    let scopes = x.scopes;
    for (let challenged = false; ; challenged = true) {
      const authorization = await this.auth.authorization(scopes);
      const response = await this.send(x, authorization);
      const { res, url } = response;
      const status = res.statusCode ?? 0;
      if (status === 401) {
        const refusal = await refusalText(res);
        const retryScopes = challenged || url.host !== this.base.host ? undefined : await this.auth.learn(headerValues(res, "www-authenticate"), scopes);
        if (retryScopes === undefined) throw authenticationFailed(this.registryHost, 401, x.scopes, refusal);
        scopes = retryScopes;
        continue;
      }
      if (status >= 500) {
        const detail = await describeFailure(res);
        throw new Retryable(detail);
      }
      return response;
    }
  }

  /** Sends one request, following redirects for GET and HEAD; Authorization goes only to the registry's own host. */
  private async send(x: Exchange, authorization: string | undefined): Promise<Response> {
    let url = typeof x.target === "string" ? new URL(x.target, this.base) : x.target;
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { ...x.headers };
      if (authorization !== undefined && url.host === this.base.host) headers.Authorization = authorization;
      const body = x.body === undefined || Buffer.isBuffer(x.body) ? x.body : x.body();
      let res: IncomingMessage;
      try {
        res = await this.transport.send({ method: x.method, url, headers, body });
      } catch (error) {
        if (error instanceof LadingError) throw error;
        if (isConnectionError(error)) throw new Retryable(describeConnectionError(error));
        throw this.error("io", x.subject, error instanceof Error ? describeConnectionError(error) : String(error));
      }
      const status = res.statusCode ?? 0;
      const location = header(res, "location");
      if (x.followRedirects === true && [301, 302, 303, 307, 308].includes(status) && location !== undefined) {
        await discard(res);
        if (hops >= MAX_REDIRECTS) throw this.error("io", x.subject, `more than ${MAX_REDIRECTS} redirects`);
        url = new URL(location, url);
        continue;
      }
      return { res, url };
    }
  }

  /** The error for an unexpected status, with the registry's own error code and message when it sent JSON. */
  private async failure(res: IncomingMessage, subject: string, repository?: string): Promise<LadingError> {
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      const refusal = await refusalText(res);
      return authenticationFailed(this.registryHost, status, repository === undefined ? [] : [repositoryScope(repository)], refusal);
    }
    return this.error(status === 404 ? "not-found" : "invalid", subject, await describeFailure(res));
  }

  private error(kind: LadingError["kind"], subject: string, detail: string): LadingError {
    return new LadingError(kind, `registry ${this.registryHost}: ${subject}: ${detail}`, { subject });
  }

  private checkReportedDigest(res: IncomingMessage, bytes: Buffer, subject: string): void {
    const reported = header(res, "docker-content-digest");
    if (reported === undefined) return;
    let algorithm;
    try {
      algorithm = parseDigest(reported).algorithm;
    } catch {
      return;
    }
    const actual = digestOf(bytes, algorithm);
    if (actual !== reported) throw this.error("invalid", subject, `Docker-Content-Digest ${reported} does not match the served bytes (${actual})`);
  }
}

function isDigestReference(reference: string): boolean {
  return /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/.test(reference);
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${repository}/manifests/${reference}`;
}

function manifestSubject(repository: string, reference: string): string {
  return `manifest ${repository}${isDigestReference(reference) ? "@" : ":"}${reference}`;
}

function blobSubject(repository: string, digest: string): string {
  return `blob ${digest} of ${repository}`;
}

function contentType(value: string | undefined): string {
  return (value ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Content-Type as served; the body's own mediaType only when the header says nothing specific. */
function servedMediaType(value: string | undefined, bytes: Buffer): string {
  const served = contentType(value);
  if (!GENERIC_CONTENT_TYPES.has(served)) return served;
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown };
    if (typeof parsed.mediaType === "string" && (isManifestType(parsed.mediaType) || isIndexType(parsed.mediaType))) return parsed.mediaType;
  } catch {
    // not JSON: keep what was served
  }
  return served;
}

/** "<status> <CODE>: <message>" from distribution's JSON error body, else "<status> <reason>". */
async function describeFailure(res: IncomingMessage): Promise<string> {
  const status = `${res.statusCode ?? 0}`;
  const text = await refusalText(res);
  return text === undefined ? `${status} ${res.statusMessage ?? ""}`.trim() : `${status} ${text}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
