import type { Writable } from "node:stream";
import { goJson } from "../core/go-json.js";

export interface Terminal {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

export function printLine(stream: Writable, line = ""): void {
  stream.write(`${line}\n`);
}

/**
 * commander's own error (a missing argument, an unknown option, too many arguments), as lading
 * says every usage error: `error: unknown option '--inptu'` and its suggestion line become
 * `lading: usage error: unknown option '--inptu' (did you mean --input?)`, one line.
 */
export function commanderErrorLine(text: string): string {
  const message = text
    .trimEnd()
    .replace(/^error: /, "")
    .replace(/\n\(Did you mean /g, " (did you mean ")
    .replace(/\n/g, " ");
  return `lading: usage error: ${message}\n`;
}

export function printJson(stream: Writable, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** A document as the docker CLI prints `docker image inspect`'s: Go's JSON, indented by 4 spaces. */
export function printDockerJson(stream: Writable, value: unknown): void {
  stream.write(`${goJson(value, "    ")}\n`);
}

/** Docker's short form of an ID: the first 12 hex digits. */
export function shortId(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
}

/** How long ago, in the words docker uses for its CREATED column (go-units HumanDuration). */
export function humanDuration(milliseconds: number): string {
  const seconds = Math.floor(milliseconds / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(milliseconds / 3_600_000 + 0.5);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(milliseconds / 3_600_000 / 24 / 365)} years`;
}

/** Human-readable size as docker prints it (decimal units, 3 significant digits). */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(3))}${units[unit]}`;
}
