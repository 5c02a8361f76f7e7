import { invalid } from "./errors.js";

const MAX_DEPTH = 64;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a JSON document from an archive. Refuses what JSON.parse would silently accept but which
 * makes a document mean two things (duplicate keys: tools disagree on which wins) and nesting
 * deep enough to exhaust the stack. `what` names the document in error messages.
 */
export function parseJsonStrict(bytes: Uint8Array | string, what: string): unknown {
  let text: string;
  try {
    text = typeof bytes === "string" ? bytes : utf8.decode(bytes);
  } catch {
    throw invalid(`${what}: not valid UTF-8`, what);
  }
  checkStructure(text, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw invalid(`${what}: invalid JSON: ${(error as Error).message}`, what);
  }
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
