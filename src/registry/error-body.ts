/**
 * What a registry or token server says in the body of a refusal. The distribution spec's
 * `{"errors":[{"code","message"}]}`; Docker Hub's token server's `{"details"}`; OAuth 2's
 * `{"error","error_description"}` (RFC 6749 §5.2).
 */
import type { IncomingMessage } from "node:http";
import { readBody } from "./transport.js";

const ERROR_BODY_LIMIT = 64 * 1024;
/** A registry's words go into a one-line error: no control characters, and not a page of them. */
const QUOTED_LIMIT = 200;

function quotable(text: string): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return line.length > QUOTED_LIMIT ? `${line.slice(0, QUOTED_LIMIT)}…` : line;
}

/** Reads (and so drains) the body; its error text, or undefined when it has none to give. */
export async function refusalText(res: IncomingMessage): Promise<string | undefined> {
  const text = await rawRefusalText(res);
  const quoted = text === undefined ? "" : quotable(text);
  return quoted === "" ? undefined : quoted;
}

async function rawRefusalText(res: IncomingMessage): Promise<string | undefined> {
  let body: unknown;
  try {
    body = JSON.parse((await readBody(res, ERROR_BODY_LIMIT)).toString("utf8"));
  } catch {
    return undefined;
  }
  if (typeof body !== "object" || body === null) return undefined;
  const { errors, details, error, error_description: description } = body as Record<string, unknown>;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first === "object" && first !== null) {
    const { code, message } = first as Record<string, unknown>;
    if (typeof code === "string" && code !== "") return typeof message === "string" && message !== "" ? `${code}: ${message}` : code;
  }
  if (typeof details === "string" && details !== "") return details;
  if (typeof error === "string" && error !== "") return typeof description === "string" && description !== "" ? `${error}: ${description}` : error;
  return undefined;
}
