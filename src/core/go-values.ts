/**
 * Go values as Go's text/template and fmt see them, for lading's `--format` templates: what a
 * template reads from (docker's format contexts, an inspect document), how fmt prints a value
 * (`%v`: `[a b]`, `map[a:b]`, `<nil>`) and how encoding/json writes one (docker's `json`).
 *
 * A JavaScript string and boolean stand for Go's; `undefined` is text/template's invalid value
 * (a missing map key: printed `<no value>`) and `null` a nil pointer or interface (`<nil>`).
 */

import { goJsonString, goKeyOrder } from "./go-json.js";

/** An integer, with the Go type it has (`int` for a template constant, `int64` for docker's fields). */
export class GoInt {
  constructor(
    readonly value: number,
    readonly type = "int",
  ) {}
}

export class GoFloat {
  constructor(
    readonly value: number,
    readonly type = "float64",
  ) {}
}

/** A slice; a nil one prints `[]` as an empty one does, but encodes as JSON `null`. */
export class GoSlice {
  constructor(
    readonly items: readonly GoValue[],
    readonly type = "[]interface {}",
    readonly nil = false,
  ) {}
}

/** A map with string keys; `zero` is what `index` gives for a key it lacks (its element type's zero value). */
export class GoMap {
  constructor(
    readonly entries: ReadonlyMap<string, GoValue>,
    readonly type = "map[string]interface {}",
    readonly nil = false,
    readonly zero: GoValue = null,
  ) {}
}

/**
 * A struct (or a pointer to one): its fields in order. `methods` marks a struct whose fields are
 * methods without arguments (docker's format contexts), which changes what a call with arguments
 * is told; `missingField` words the error for a field it lacks; `zeroFields` are fields the Go
 * struct has that `fields` leaves out (an `omitempty` field at its zero value): a template reads
 * them, printing and JSON do not show them; `json` replaces the encoding of the fields (a
 * MarshalJSON method).
 */
export class GoStruct {
  constructor(
    readonly type: string,
    readonly fields: ReadonlyMap<string, GoValue>,
    readonly options: { methods?: boolean; missingField?: (name: string) => string; zeroFields?: ReadonlyMap<string, GoValue>; json?: () => string } = {},
  ) {}
}

export type GoValue = undefined | null | string | boolean | GoInt | GoFloat | GoSlice | GoMap | GoStruct;

/** The Go type name fmt's `%T` and text/template's errors give. */
export function goTypeName(value: GoValue): string {
  if (value === undefined || value === null) return "<nil>";
  if (typeof value === "string") return "string";
  if (typeof value === "boolean") return "bool";
  return value.type;
}

/** text/template's truth: not the zero value of its type (a struct is always true). */
export function goTruth(value: GoValue): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === "string") return value !== "";
  if (typeof value === "boolean") return value;
  if (value instanceof GoInt || value instanceof GoFloat) return value.value !== 0;
  if (value instanceof GoSlice) return value.items.length > 0;
  if (value instanceof GoMap) return value.entries.size > 0;
  return true;
}

/** Map keys in the order fmt and encoding/json give them (fmtsort: strings by bytes). */
export function sortedKeys(map: GoMap): string[] {
  return goKeyOrder([...map.entries.keys()]);
}

/** fmt's `%v` of a value (what Sprint and a template action print). */
export function formatGoValue(value: GoValue): string {
  if (value === undefined || value === null) return "<nil>";
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (value instanceof GoInt) return String(value.value);
  if (value instanceof GoFloat) return formatFloat(value.value, "g", -1);
  if (value instanceof GoSlice) return `[${value.items.map(formatGoValue).join(" ")}]`;
  if (value instanceof GoMap) return `map[${sortedKeys(value).map((key) => `${key}:${formatGoValue(value.entries.get(key))}`).join(" ")}]`;
  return `{${[...value.fields.values()].map(formatGoValue).join(" ")}}`;
}

/**
 * The decimal digits of a positive finite number, exactly (`digits` without leading or trailing
 * zeros, the point `point` digits from their start), as Go's strconv rounds from.
 */
function exactDigits(x: number): { digits: string; point: number } {
  let text: string;
  let point: number;
  if (x >= 1e21) {
    text = BigInt(x).toString();
    point = text.length;
  } else {
    const [whole = "", fraction = ""] = x.toFixed(100).split(".");
    text = whole === "0" ? fraction : whole + fraction;
    point = whole === "0" ? 0 : whole.length;
  }
  const leading = text.length - text.replace(/^0+/, "").length;
  return { digits: text.slice(leading).replace(/0+$/, ""), point: point - leading };
}

/** The shortest digits that read back as x (Go's and JavaScript's shortest forms agree). */
function shortestDigits(x: number): { digits: string; point: number } {
  const [mantissa = "", exponent = "0"] = x.toExponential().split("e");
  return { digits: mantissa.replace(".", "").replace(/0+$/, ""), point: Number(exponent) + 1 };
}

/** `digits` rounded to `count` digits as Go's strconv rounds: half to even, exactly. */
function roundDigits(decimal: { digits: string; point: number }, count: number): { digits: string; point: number } {
  const { digits, point } = decimal;
  if (count < 0) return { digits: "", point };
  if (count >= digits.length) return decimal;
  const next = digits.charCodeAt(count) - 48;
  const up = next > 5 || (next === 5 && (count + 1 < digits.length || (count > 0 && (digits.charCodeAt(count - 1) - 48) % 2 === 1)));
  if (!up) return { digits: digits.slice(0, count).replace(/0+$/, ""), point };
  const kept = digits.slice(0, count).split("").map(Number);
  let index = kept.length - 1;
  while (index >= 0 && kept[index] === 9) kept[index--] = 0;
  if (index < 0) return { digits: "1", point: point + 1 };
  kept[index] = (kept[index] ?? 0) + 1;
  return { digits: kept.join("").replace(/0+$/, ""), point };
}

const digitAt = (decimal: { digits: string }, index: number): string => (index >= 0 && index < decimal.digits.length ? decimal.digits.charAt(index) : "0");

function formatE(decimal: { digits: string; point: number }, precision: number, letter: string): string {
  let text = digitAt(decimal, 0);
  if (precision > 0) {
    text += ".";
    for (let i = 1; i <= precision; i++) text += digitAt(decimal, i);
  }
  const exponent = decimal.digits === "" ? 0 : decimal.point - 1;
  const magnitude = String(Math.abs(exponent)).padStart(2, "0");
  return `${text}${letter}${exponent < 0 ? "-" : "+"}${magnitude}`;
}

function formatF(decimal: { digits: string; point: number }, precision: number): string {
  let text = "";
  if (decimal.point > 0) for (let i = 0; i < decimal.point; i++) text += digitAt(decimal, i);
  else text = "0";
  if (precision > 0) {
    text += ".";
    for (let i = 0; i < precision; i++) text += digitAt(decimal, decimal.point + i);
  }
  return text;
}

/** strconv.FormatFloat(x, verb, precision, 64) for verbs e, E, f, g, G (precision -1: the shortest). */
export function formatFloat(x: number, verb: "e" | "E" | "f" | "g" | "G", precision: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "+Inf" : "-Inf";
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const magnitude = Math.abs(x);
  const shortest = precision < 0;
  let decimal: { digits: string; point: number };
  if (magnitude === 0) decimal = { digits: "", point: 1 };
  else if (shortest) decimal = shortestDigits(magnitude);
  else if (verb === "f") decimal = roundDigits(exactDigits(magnitude), exactDigits(magnitude).point + precision);
  else if (verb === "e" || verb === "E") decimal = roundDigits(exactDigits(magnitude), precision + 1);
  else decimal = roundDigits(exactDigits(magnitude), precision === 0 ? 1 : precision);
  if (decimal.digits === "") decimal = { digits: "", point: 1 };
  const count = decimal.digits.length;
  switch (verb) {
    case "e":
    case "E":
      return sign + formatE(decimal, shortest ? Math.max(count - 1, 0) : precision, verb);
    case "f":
      return sign + formatF(decimal, shortest ? Math.max(count - decimal.point, 0) : precision);
    default: {
      let digitsWanted = shortest ? count : precision === 0 ? 1 : precision;
      let limit = digitsWanted;
      if (limit > count && count >= decimal.point) limit = count;
      if (shortest) limit = 6;
      const exponent = decimal.point - 1;
      if (exponent < -4 || exponent >= limit) {
        if (digitsWanted > count) digitsWanted = count;
        return sign + formatE(decimal, Math.max(digitsWanted - 1, 0), verb === "g" ? "e" : "E");
      }
      if (digitsWanted > decimal.point) digitsWanted = count;
      return sign + formatF(decimal, Math.max(digitsWanted - decimal.point, 0));
    }
  }
}

/** encoding/json's float: shortest digits, with an exponent below 1e-6 and from 1e21 (as JavaScript's). */
function goJsonFloat(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`json: unsupported value: ${formatFloat(x, "g", -1)}`);
  return JSON.stringify(x);
}

/** A value as encoding/json writes it: struct fields in order, map keys sorted, nil slices and maps `null`. */
export function goJson(value: GoValue, escapeHTML: boolean): string {
  if (value === undefined || value === null) return "null";
  if (typeof value === "string") return goJsonString(value, escapeHTML);
  if (typeof value === "boolean") return String(value);
  if (value instanceof GoInt) return String(value.value);
  if (value instanceof GoFloat) return goJsonFloat(value.value);
  if (value instanceof GoSlice) return value.nil ? "null" : `[${value.items.map((item) => goJson(item, escapeHTML)).join(",")}]`;
  if (value instanceof GoMap) {
    if (value.nil) return "null";
    return `{${sortedKeys(value)
      .map((key) => `${goJsonString(key, escapeHTML)}:${goJson(value.entries.get(key), escapeHTML)}`)
      .join(",")}}`;
  }
  if (value.options.json) return value.options.json();
  return `{${[...value.fields]
    .map(([key, field]) => `${goJsonString(key, escapeHTML)}:${goJson(field, escapeHTML)}`)
    .join(",")}}`;
}
