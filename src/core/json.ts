import { invalid } from "./errors.js";

const MAX_DEPTH = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Numbers a document spells with a fraction or an exponent (`398.0`, `398e0`), by the object or
 * array holding them and their key there, as written. JSON.parse reads 398.0 as 398, but Go
 * refuses it for an integer field, so whoever checks a document as Go reads it needs the text.
 */
const fractionSpellings = new WeakMap<object, Map<string, string>>();

/** How a number that parseJsonStrict parsed was written, if with a fraction or an exponent. */
export function numberSpelling(holder: object, key: string | number): string | undefined {
  return fractionSpellings.get(holder)?.get(String(key));
}

/**
 * Parses a JSON document from an archive. Refuses what JSON.parse would silently accept but which
 * makes a document mean two things (duplicate keys: tools disagree on which wins) and nesting
 * deep enough to exhaust the stack. `what` names the document in error messages. Records the
 * numbers spelt with a fraction or an exponent (see numberSpelling).
 *
 * The common case, a valid document of integers, costs one quick scan and one JSON.parse: a
 * duplicate key is the only way the keys JSON.parse keeps can be fewer than the name separators
 * in the text. Anything else falls back to the slow pass, whose errors name the key at fault.
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
    if (parsed && !outline.fractions && countKeys(value) === outline.keys) return value;
  }
  const fractions = checkStructure(text, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw invalid(`${what}: invalid JSON: ${(error as Error).message}`, what);
  }
  for (const { path, spelling } of fractions) recordSpelling(value, path, spelling);
  return value;
}

function recordSpelling(document: unknown, path: readonly (string | number)[], spelling: string): void {
  let holder = document;
  for (const key of path.slice(0, -1)) holder = (holder as Record<string | number, unknown>)[key];
  if (typeof holder !== "object" || holder === null || path.length === 0) return;
  let spellings = fractionSpellings.get(holder);
  if (spellings === undefined) fractionSpellings.set(holder, (spellings = new Map()));
  spellings.set(String(path[path.length - 1]), spelling);
}

/**
 * Counts name separators (":" outside strings) and the deepest nesting, and tells whether a number
 * has a fraction or an exponent ("." outside strings, or "e" after a digit: not the e of true or
 * false), skipping string bodies with indexOf. Meaningful for valid JSON only, which is all the
 * fast path relies on.
 */
function scanOutline(text: string): { keys: number; deepest: number; fractions: boolean } {
  let keys = 0;
  let depth = 0;
  let deepest = 0;
  let fractions = false;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) i = endOfStringFast(text, i);
    else if (c === 0x3a /* : */) keys++;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
    else if (c === 0x2e /* . */ || ((c === 0x65 /* e */ || c === 0x45) /* E */ && isDigit(text.charCodeAt(i - 1)))) fractions = true;
  }
  return { keys, deepest, fractions };
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

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

/** Where a container's members are being read: its keys so far (objects) and the current key or index. */
interface Frame {
  keys: Set<string> | null;
  key: string | number;
}

/**
 * One pass over the text: nesting depth and duplicate object keys, and where the numbers spelt
 * with a fraction or an exponent are (by path). Syntax is left to JSON.parse.
 */
function checkStructure(text: string, what: string): { path: (string | number)[]; spelling: string }[] {
  const frames: Frame[] = [];
  const fractions: { path: (string | number)[]; spelling: string }[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = frames[frames.length - 1];
    if (c === 0x22 /* " */) {
      const end = endOfString(text, i);
      if (expectKey && top?.keys) {
        const key = decodeKey(text.slice(i, end + 1));
        if (top.keys.has(key)) throw invalid(`${what}: duplicate key ${JSON.stringify(key)}`, what);
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      frames.push({ keys: c === 0x7b ? new Set() : null, key: 0 });
      if (frames.length > MAX_DEPTH) throw invalid(`${what}: JSON nested deeper than ${MAX_DEPTH} levels`, what);
      expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      frames.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = top?.keys instanceof Set;
      if (top && top.keys === null) top.key = (top.key as number) + 1;
    } else if (c === 0x2d /* - */ || isDigit(c)) {
      let end = i + 1;
      while (end < text.length && /[0-9eE.+-]/.test(text[end]!)) end++;
      const spelling = text.slice(i, end);
      if (/[.eE]/.test(spelling)) fractions.push({ path: frames.map((frame) => frame.key), spelling });
      i = end - 1;
    }
  }
  return fractions;
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
