/**
 * How the Engine API answers: JSON bodies, Docker's error body `{"message": ...}` with the status
 * Docker uses for the error's class, and the headers every Docker daemon response carries.
 */
import type { ServerResponse } from "node:http";
import { HTTP_STATUS, toLadingError } from "../core/errors.js";
import { ReferencesFileError } from "../store/references-file-error.js";

export const API_VERSION = "1.41";
export const MIN_API_VERSION = "1.12";
export const LADING_VERSION = "0.1.0";

export function commonHeaders(res: ServerResponse): void {
  res.setHeader("Api-Version", API_VERSION);
  res.setHeader("Docker-Experimental", "false");
  res.setHeader("Ostype", "linux");
  res.setHeader("Server", `lading/${LADING_VERSION} (linux)`);
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendJsonText(res, status, `${JSON.stringify(value)}\n`);
}

/** A JSON body serialised already (with its trailing newline, as Docker's encoder writes it). */
export function sendJsonText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { "Content-Length": 0 });
  res.end();
}

/** An HTTP status and a message, for answers that are not a LadingError (501, version checks). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The status and message Docker would send for `error`: 500 for a repositories.json at fault, a problem of the daemon's own. */
export function describeError(error: unknown): { status: number; message: string } {
  if (error instanceof HttpError) return { status: error.status, message: error.message };
  const failure = toLadingError(error);
  return { status: failure instanceof ReferencesFileError ? 500 : HTTP_STATUS[failure.kind], message: failure.message };
}

/** Sends Docker's error body when the headers are still unsent; otherwise cuts the response short. */
export function sendError(res: ServerResponse, error: unknown): { status: number; message: string } {
  const described = describeError(error);
  if (res.headersSent) res.destroy();
  else sendJson(res, described.status, { message: described.message });
  return described;
}

/** One message of Docker's JSON progress stream (`docker load`), as the daemon frames it. */
export function jsonMessage(value: Record<string, unknown>): string {
  return `${JSON.stringify(value)}\r\n`;
}
