// What lading quotes from a refusal's body, for each shape registries and token servers send.
import { createServer, get, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { refusalText } from "../../src/registry/error-body.js";

let server: Server;
let body = "";

beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(401, { "Content-Type": "application/json" }).end(body));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function refusalOf(sent: string): Promise<string | undefined> {
  body = sent;
  const res = await new Promise<IncomingMessage>((resolve, reject) => get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, resolve).on("error", reject));
  return refusalText(res);
}

describe("refusalText", () => {
  it.each([
    ['{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', "DENIED: requested access to the resource is denied"],
    ['{"errors":[{"code":"UNAUTHORIZED","message":""}]}', "UNAUTHORIZED"],
    ['{"details":"incorrect username or password"}', "incorrect username or password"],
    ['{"error":"invalid_grant","error_description":"bad refresh token"}', "invalid_grant: bad refresh token"],
    ['{"error":"unauthorized_client"}', "unauthorized_client"],
    ["<html>401 Unauthorized</html>", undefined],
    ['{"details":"line one\\n\\u001b[31mred\\u001b[0m\\ttab"}', "line one [31mred [0m tab"],
    [JSON.stringify({ details: "x".repeat(300) }), `${"x".repeat(200)}…`],
    ['{"details":"\\n\\t"}', undefined],
    ['{"errors":[]}', undefined],
    ["null", undefined],
    ["", undefined],
  ])("%s gives %s", async (sent, text) => {
    expect(await refusalOf(sent)).toBe(text);
  });
});
