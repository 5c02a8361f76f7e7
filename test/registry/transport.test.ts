import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { discard, readBody, Transport, type BodyWriter } from "../../src/registry/transport.js";
import { close, listen } from "./proxy.js";

/** Writes `pieces` pieces of `size` bytes of `fill`, waiting for each write, until stopped. */
function pieceWriter(pieces: number, size: number): BodyWriter & { stopped: boolean } {
  const writer = {
    stopped: false,
    async writeTo(out: Writable): Promise<void> {
      for (let i = 0; i < pieces && !writer.stopped; i++) {
        const error = await new Promise<Error | null | undefined>((resolve) => out.write(Buffer.alloc(size, i % 256), resolve));
        if (error) throw error;
      }
    },
    stop(): void {
      writer.stopped = true;
    },
  };
  return writer;
}

describe("Transport with a body writer", () => {
  let server: Server | undefined;
  const transport = new Transport();
  afterEach(async () => {
    if (server) await close(server);
    server = undefined;
  });

  it("sends the written body with the given Content-Length and ends the request", async () => {
    server = createServer((req, res) => {
      const hash = createHash("sha256");
      let length = 0;
      req.on("data", (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      req.on("end", () => res.end(`${req.headers["content-length"]} ${length} ${hash.digest("hex")}`));
    });
    const host = await listen(server);
    const res = await transport.send({ method: "PUT", url: new URL(`http://${host}/x`), headers: { "Content-Length": String(3 * 1000) }, body: pieceWriter(3, 1000) });
    const expected = createHash("sha256").update(Buffer.concat([Buffer.alloc(1000, 0), Buffer.alloc(1000, 1), Buffer.alloc(1000, 2)])).digest("hex");
    expect(res.statusCode).toBe(200);
    expect((await readBody(res, 1000)).toString()).toBe(`3000 3000 ${expected}`);
  });

  it("stops the writer and drops the connection when the answer comes before the body's end", async () => {
    const sockets: Socket[] = [];
    server = createServer((_req, res) => {
      // Answers at once, without reading the body.
      res.writeHead(413, { "Content-Length": "0" }).end();
    });
    server.keepAliveTimeout = 60_000; // the server would not drop the connection itself for a minute
    server.on("connection", (socket: Socket) => sockets.push(socket));
    const host = await listen(server);
    const writer = pieceWriter(4096, 64 << 10);
    const res = await transport.send({ method: "PUT", url: new URL(`http://${host}/x`), headers: { "Content-Length": String(4096 * (64 << 10)) }, body: writer });
    expect(res.statusCode).toBe(413);
    expect(writer.stopped).toBe(true);
    await discard(res);
    // The request never ended: its socket goes (a reused one would carry the rest of the body).
    const socket = sockets[0] as Socket;
    const closed = await new Promise<boolean>((resolve) => {
      if (socket.destroyed) resolve(true);
      socket.once("close", () => resolve(true));
      setTimeout(() => resolve(false), 2000);
    });
    expect(closed).toBe(true);
    expect(sockets.length).toBe(1);
  });
});
