import { invalid } from "./errors.js";

const MAX_DEPTH = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a JSON document from an archive. Refuses what JSON.parse would silently accept but which
 * makes a document mean two things (duplicate keys: tools disagree on which wins) and nesting
 * deep enough to exhaust the stack. `what` names the document in error messages.
 *
 * The common case, a valid document, costs one quick scan and one JSON.parse: a duplicate key
 * is the only way the keys JSON.parse keeps can be fewer than the name separators in the text.
 * Anything else falls back to the slow pass, whose errors name the key at fault.
 */
export function parseJsonStrict(bytes: Uint8Array | string, what: string): unknown {
  let text: string;
  try {
    text = typeof bytes === "string" ? bytes : utf8.decode(bytes);
  } catch {
    throw invalid(`${what}: not valid UTF-8`, what);
  }
  const outline = scanOutline(text);
  if (outline.deepest <= MAX_DEPTH) {
    let value: unknown;
    let parsed = true;
    try {
      value = JSON.parse(text);
    } catch {
      parsed = false;
    }
    if (parsed && countKeys(value) === outline.keys) return value;
  }
  checkStructure(text, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid(`${what}: invalid JSON: ${(error as Error).message}`, what);
  }
}

/**
 * Counts name separators (":" outside strings) and the deepest nesting, skipping string bodies
 * with indexOf. Meaningful for valid JSON only, which is all the fast path relies on.
 */
function scanOutline(text: string): { keys: number; deepest: number } {
  let keys = 0;
  let depth = 0;
  let deepest = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) i = endOfStringFast(text, i);
    else if (c === 0x3a /* : */) keys++;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return { keys, deepest };
}

/** The index of the quote that closes the string opening at `start` (the last index if none does). */
function endOfStringFast(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote === -1) return text.length - 1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c /* \ */) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** Own keys of every object in a parsed document; its depth is already known to be bounded. */
function countKeys(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  let count = 0;
  if (Array.isArray(value)) {
    for (const item of value) count += countKeys(item);
    return count;
  }
  for (const key in value) {
    count += 1 + countKeys((value as Record<string, unknown>)[key]);
  }
  return count;
}

/** One pass over the text: nesting depth and duplicate object keys. Syntax is left to JSON.parse. */
function checkStructure(text: string, what: string): void {
  const keyStack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      const top = keyStack[keyStack.length - 1];
      if (expectKey && top) {
        const key = decodeKey(text.slice(i, end + 1));
        if (top.has(key)) throw invalid(`${what}: duplicate key ${JSON.stringify(key)}`, what);
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      keyStack.push(c === 0x7b ? new Set() : null);
      if (keyStack.length > MAX_DEPTH) throw invalid(`${what}: JSON nested deeper than ${MAX_DEPTH} levels`, what);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      keyStack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = keyStack[keyStack.length - 1] instanceof Set;
    }
  }
}

function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i++;
    else if (c === 0x22) return i;
  }
  return text.length - 1;
}

function decodeKey(quoted: string): string {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted; // a malformed key string is reported by JSON.parse of the whole document
  }
}

/** A JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
