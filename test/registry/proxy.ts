// A small HTTP proxy in front of a registry for fault injection: it forwards everything, keeping
// the Host header so the registry's Location URLs point back at the proxy, and lets a test answer a
// request itself, rewrite a response body or cut the connection part way through one.
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Transform } from "node:stream";

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface ProxyHooks {
  /** Answers the request itself (return true) instead of forwarding it. */
  intercept?: (req: IncomingMessage, res: ServerResponse, count: number) => boolean;
  /** A transform for the upstream response body, or undefined to pass it as is. */
  rewriteBody?: (req: ProxiedRequest, upstream: IncomingMessage) => Transform | undefined;
  /**
   * Bytes of the upstream response body to pass before the connection is cut (the headers, with
   * the full Content-Length, go first), or undefined to pass the body whole.
   */
  cutBody?: (req: ProxiedRequest, upstream: IncomingMessage) => number | undefined;
}

export interface TestProxy {
  host: string;
  /** Every request received, in order. */
  log: ProxiedRequest[];
  stop(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

export async function startProxy(target: string, hooks: ProxyHooks = {}): Promise<TestProxy> {
  const log: ProxiedRequest[] = [];
  const [targetHost, targetPort] = target.split(":");
  const server = createServer((req, res) => {
    const entry: ProxiedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers };
    log.push(entry);
    if (hooks.intercept?.(req, res, log.length) === true) return;
    const upstream = request(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        const rewrite = hooks.rewriteBody?.(entry, up);
        const cutAt = hooks.cutBody?.(entry, up);
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (cutAt !== undefined) cutAfter(up, res, cutAt);
        else if (rewrite === undefined) up.pipe(res);
        else up.pipe(rewrite).pipe(res);
      },
    );
    upstream.once("error", () => res.destroy());
    req.pipe(upstream);
  });
  const host = await listen(server);
  return { host, log, stop: () => close(server) };
}

/** Passes the first `bytes` of `up` to `res`, then destroys the socket (as a lost connection would). */
function cutAfter(up: IncomingMessage, res: ServerResponse, bytes: number): void {
  res.flushHeaders();
  let passed = 0;
  const cut = (): void => {
    up.destroy();
    // A moment for the bytes already written to reach the client first.
    setTimeout(() => res.socket?.destroy(), 20);
  };
  if (bytes === 0) return cut();
  up.once("end", () => {
    if (passed < bytes) cut();
  });
  up.on("data", (chunk: Buffer) => {
    if (passed >= bytes) return;
    const room = bytes - passed;
    res.write(chunk.subarray(0, room));
    passed += Math.min(room, chunk.length);
    if (passed >= bytes) cut();
  });
}

/** Flips the lowest bit of the body's first byte; the length stays the same. */
export function flipFirstByte(): Transform {
  let first = true;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (first && chunk.length > 0) {
        first = false;
        const copy = Buffer.from(chunk);
        copy[0] = (copy[0] ?? 0) ^ 1;
        callback(null, copy);
        return;
      }
      callback(null, chunk);
    },
  });
}
