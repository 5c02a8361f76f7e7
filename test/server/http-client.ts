import { request } from "node:http";

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** One plain HTTP request over a unix socket (or a TCP address), body collected. */
export function http(target: { socketPath: string } | { host: string; port: number }, method: string, path: string, body?: Buffer | string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, headers: body === undefined ? {} : { "Content-Type": "application/x-tar", "Content-Length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, text: bytes.toString("utf8") });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

export function json(result: HttpResult): unknown {
  return JSON.parse(result.text);
}
