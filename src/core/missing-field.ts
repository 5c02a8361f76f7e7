import { quoteName } from "./quoted-name.js";

/** Shorter names are left without a near key: one character off, "os" is "id" or "on", another word. */
const NEAR_KEY_MIN_LENGTH = 4;

/**
 * How a message describes the field at `path` of `document` when the field is absent from its
 * object: `missing`, naming the key beside it that differs only in case or by one character, if
 * exactly one does. Undefined when the field is there (its value is what is wrong).
 */
export function missingFieldWords(document: unknown, path: readonly PropertyKey[]): string | undefined {
  const field = path[path.length - 1];
  if (typeof field !== "string") return undefined;
  let parent = document;
  for (const part of path.slice(0, -1)) {
    if (typeof parent !== "object" || parent === null) return undefined;
    parent = (parent as Record<PropertyKey, unknown>)[part];
  }
  if (typeof parent !== "object" || parent === null || Array.isArray(parent) || Object.hasOwn(parent, field)) return undefined;
  const near = field.length >= NEAR_KEY_MIN_LENGTH ? Object.keys(parent).filter((key) => key.toLowerCase() === field.toLowerCase() || isOneCharacterOff(key, field)) : [];
  if (near.length !== 1) return "missing";
  const key = near[0]!;
  return `missing (there is a key ${quoteName(key)}, ${key.toLowerCase() === field.toLowerCase() ? "differing only in case" : "one character off"})`;
}

/** True when `a` becomes `b` by one character replaced, added or removed. */
function isOneCharacterOff(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  return endA - start <= 1 && endB - start <= 1;
}
