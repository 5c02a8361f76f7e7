import type { GoType } from "./go-structs.js";
import { isJsonObject, numberSpelling } from "./json.js";

/** Where in a document Go reads it otherwise than lading does, and how. */
export interface GoReadingProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The first place where Go's encoding/json would read `value`, as the type `type`, otherwise than
 * a case-sensitive reader (lading's schemas, jq, Python) does:
 * - a struct object with two keys that fold to one field (`"Config"` and `"config"`): Go reads
 *   both into that field (the later one overrides), other readers see two keys;
 * - a struct object with a key that is a field only once folded (`"config"` alone): Go reads it
 *   as that field, other readers do not. It is refused rather than read as Go reads it, since
 *   then every other reader would see a document without that field;
 * - an integer field spelt with a fraction or an exponent (`398.0`, `398e0`), which Go refuses.
 * Whether an object is a struct or a map is known from its position, `type`: the keys of a map
 * (labels, annotations, ExposedPorts, Volumes) are data, where `"foo"` and `"FOO"` are two keys.
 */
export function findGoReadingProblem(value: unknown, type: GoType, path: (string | number)[] = []): GoReadingProblem | undefined {
  if (type.kind === "slice" && Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findGoReadingProblem(value[i], type.items, [...path, i]);
      if (found) return found;
    }
  } else if (type.kind === "map" && isJsonObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      const found = findGoReadingProblem(item, type.values, [...path, key]);
      if (found) return found;
    }
  } else if (type.kind === "struct" && isJsonObject(value)) {
    return findStructProblem(value, type.fields, path);
  }
  return undefined;
}

function findStructProblem(value: Record<string, unknown>, fields: Readonly<Record<string, GoType>>, path: (string | number)[]): GoReadingProblem | undefined {
  const byFold = foldedFieldNames(fields);
  const keysByField = new Map<string, string[]>();
  for (const key of Object.keys(value)) {
    const field = byFold.get(goFold(key));
    if (field !== undefined) keysByField.set(field, [...(keysByField.get(field) ?? []), key]);
  }
  for (const [field, keys] of keysByField) {
    if (keys.length > 1) {
      const listed = keys.map((key) => JSON.stringify(key)).join(" and ");
      return { path: [...path, keys[keys.length - 1]!], message: `keys ${listed} are one field, ${field}, to Go, which matches field names case-insensitively and reads both into it` };
    }
  }
  for (const [field, [key]] of keysByField) {
    if (key !== undefined && key !== field) {
      return { path: [...path, key], message: `key ${JSON.stringify(key)} is field ${field} only to Go, which matches field names case-insensitively; spell it ${JSON.stringify(field)}` };
    }
  }
  for (const [field, [key]] of keysByField) {
    if (key === undefined) continue;
    const fieldType = fields[field]!;
    const spelling = fieldType.kind === "int" ? numberSpelling(value, key) : undefined;
    if (spelling !== undefined) {
      return { path: [...path, key], message: `${spelling} has a fraction or an exponent, which Go refuses for an integer field` };
    }
    const found = findGoReadingProblem(value[key], fieldType, [...path, key]);
    if (found) return found;
  }
  return undefined;
}

const foldedNames = new WeakMap<Readonly<Record<string, GoType>>, Map<string, string>>();

function foldedFieldNames(fields: Readonly<Record<string, GoType>>): Map<string, string> {
  let byFold = foldedNames.get(fields);
  if (byFold === undefined) {
    byFold = new Map(Object.keys(fields).map((name) => [goFold(name), name]));
    foldedNames.set(fields, byFold);
  }
  return byFold;
}

/**
 * A key as encoding/json folds it to match field names: ASCII letters upper-cased, and the two
 * non-ASCII letters whose case-folding orbit holds an ASCII one (U+017F long s, U+212A Kelvin
 * sign) mapped to it. Other characters are kept: Go folds them to characters outside ASCII, which
 * never match a field name here, all of which are ASCII.
 */
export function goFold(key: string): string {
  let folded = "";
  for (const char of key) {
    if (char === "\u017f") folded += "S";
    else if (char === "\u212a") folded += "K";
    else folded += char >= "a" && char <= "z" ? char.toUpperCase() : char;
  }
  return folded;
}
