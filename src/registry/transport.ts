/**
 * One HTTP exchange over node:http/node:https, with keep-alive agents per client. No retries,
 * no auth, no redirects: those belong to the caller, which knows whether a body can be resent.
 */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { Writable } from "node:stream";

/** A body that writes itself into the request (an upload, through buffers of its own). */
export interface BodyWriter {
  /** Writes the whole body into `out` without ending it; a rejection fails the request. */
  writeTo(out: Writable): Promise<void>;
  /** The response came before the body was written: write no more. */
  stop(): void;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer is sent as is (with its Content-Length); a BodyWriter writes the rest, the caller setting Content-Length. */
  body?: Buffer | BodyWriter;
}

export interface TransportOptions {
  ca?: string | Buffer;
  /** Socket inactivity limit; default 120 s. */
  idleTimeoutMs?: number;
}

const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const USER_AGENT = "lading";

export class Transport {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly idleTimeoutMs: number;

  constructor(options: TransportOptions = {}) {
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...(options.ca !== undefined ? { ca: options.ca } : {}) });
    this.idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  }

  send(request: HttpRequest): Promise<IncomingMessage> {
    const { url, body } = request;
    const secure = url.protocol === "https:";
    const headers: Record<string, string> = { "User-Agent": USER_AGENT, ...request.headers };
    if (Buffer.isBuffer(body)) headers["Content-Length"] = String(body.length);
    else if (body === undefined && (request.method === "PUT" || request.method === "POST" || request.method === "PATCH")) {
      headers["Content-Length"] ??= "0";
    }
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, {
        method: request.method,
        headers,
        agent: secure ? this.httpsAgent : this.httpAgent,
      });
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(error);
      };
      req.setTimeout(this.idleTimeoutMs, () => {
        const error = Object.assign(new Error(`no data for ${this.idleTimeoutMs} ms`), { code: "ETIMEDOUT" });
        if (settled) req.destroy(error); // the response body stalled: its reader sees an error
        else fail(error);
      });
      const writer = body === undefined || Buffer.isBuffer(body) ? undefined : body;
      let writing = writer !== undefined;
      req.once("error", fail);
      req.once("response", (res) => {
        settled = true;
        if (writing) {
          // Answered mid-body: the request never ends, so its socket must not be reused (and a
          // request left open would keep the process alive).
          writer?.stop();
          res.once("end", () => req.destroy());
        }
        resolve(res);
      });
      if (writer !== undefined) {
        writer.writeTo(req).then(() => {
          writing = false;
          if (!settled) req.end();
        }, fail);
      } else if (body === undefined) req.end();
      else req.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/** Reads a whole (small) body; fails past `limit` bytes. */
export async function readBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.destroy();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`body larger than ${limit} bytes`);
  }
}

/** Discards a body so its keep-alive socket can be reused; never throws. */
export async function discard(res: IncomingMessage): Promise<void> {
  try {
    res.resume();
    if (!res.complete) await new Promise<void>((r) => {
      res.once("end", r);
      res.once("close", r);
      res.once("error", () => r());
    });
  } catch {
    // nothing to keep
  }
}

export function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function headerValues(res: IncomingMessage, name: string): string[] {
  return res.headersDistinct[name.toLowerCase()] ?? [];
}
