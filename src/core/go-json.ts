/**
 * JSON as dockerd's encoder writes it (Go's encoding/json with SetEscapeHTML(false)), and indented
 * as the docker CLI indents it (json.Indent), for documents that must match docker's bytes:
 * `docker image inspect`'s.
 *
 * Go writes a struct's fields in their order and a map's keys sorted by their bytes. A JS object
 * cannot say which it is, and cannot keep every key order either (keys such as "10" and "9" come
 * first, in numeric order), so an object that stands for a Go map is marked by goMap() and its
 * keys are sorted when it is written; every other object is written in its own key order.
 */

const goMaps = new WeakSet<object>();

/** A copy of `entries` that goJson writes as Go writes a map: keys sorted by their UTF-8 bytes. */
export function goMap<T>(entries: Record<string, T>): Record<string, T> {
  const map: Record<string, T> = {};
  for (const key of goKeyOrder(Object.keys(entries))) map[key] = entries[key] as T;
  goMaps.add(map);
  return map;
}

/** Whether `value` was made by goMap(): a Go map, whose keys Go sorts. */
export function isGoMap(value: unknown): boolean {
  return typeof value === "object" && value !== null && goMaps.has(value);
}

/** `value` as Go encodes it; with `indent`, as json.Indent(out, encoded, "", indent) lays it out. */
export function goJson(value: unknown, indent = ""): string {
  return write(value, indent, "");
}

function write(value: unknown, indent: string, current: string): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return goJsonString(value);
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  const inner = current + indent;
  const layout = (open: string, items: string[], close: string): string => {
    if (items.length === 0) return `${open}${close}`;
    if (indent === "") return `${open}${items.join(",")}${close}`;
    return `${open}\n${items.map((item) => inner + item).join(",\n")}\n${current}${close}`;
  };
  if (Array.isArray(value)) return layout("[", value.map((item: unknown) => write(item, indent, inner)), "]");
  const record = value as Record<string, unknown>;
  const keys = goMaps.has(record) ? goKeyOrder(Object.keys(record)) : Object.keys(record);
  const separator = indent === "" ? ":" : ": ";
  const members = keys.filter((key) => record[key] !== undefined).map((key) => `${goJsonString(key)}${separator}${write(record[key], indent, inner)}`);
  return layout("{", members, "}");
}

/** Go's order of map keys (encoding/json's and fmt's): by their UTF-8 bytes, not UTF-16 code units. */
export function goKeyOrder(keys: readonly string[]): string[] {
  return keys
    .map((key) => ({ key, bytes: Buffer.from(key, "utf8") }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({ key }) => key);
}

/**
 * A string as Go's encoder writes it: `\n`, `\r` and `\t` by name, other control characters as
 * `\u00XX` (Go before 1.22, which dockerd and the docker client 20.10 are built with, has no `\b`
 * or `\f`; later Go writes those two by name), U+2028 and U+2029 escaped, and a lone surrogate (which Go's
 * decoder reads as U+FFFD) as U+FFFD; with `escapeHTML` (json.Marshal's default, not dockerd's
 * encoder's), `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026`.
 */
export function goJsonString(text: string, escapeHTML = false): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0) as number;
    if (char === '"') out += '\\"';
    else if (char === "\\") out += "\\\\";
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (code < 0x20 || code === 0x2028 || code === 0x2029 || (escapeHTML && (char === "<" || char === ">" || char === "&"))) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += "\ufffd";
    else out += char;
  }
  return `${out}"`;
}
