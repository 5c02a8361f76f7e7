/**
 * Go's fmt.Sprint, Sprintln and Sprintf over GoValues, as text/template's `print`, `println` and
 * `printf` call them: the verbs templates use (%v %s %q %d %x %X %o %b %c %t %e %f %g %T %%),
 * with flags, width and precision, and fmt's words for a wrong verb (`%!d(string=abc)`), a
 * missing operand (`%!s(MISSING)`) and extra ones (`%!(EXTRA int=2)`).
 */
import { formatFloat, formatGoValue, GoFloat, GoInt, GoMap, GoSlice, GoStruct, goTypeName, sortedKeys, type GoValue } from "./go-values.js";

/** fmt.Sprint: operands in their %v form, a space between two operands when neither is a string. */
export function goSprint(args: readonly GoValue[]): string {
  let text = "";
  args.forEach((arg, index) => {
    if (index > 0 && typeof arg !== "string" && typeof args[index - 1] !== "string") text += " ";
    text += formatGoValue(arg);
  });
  return text;
}

/** fmt.Sprintln: operands in their %v form, spaces between all, and a newline. */
export function goSprintln(args: readonly GoValue[]): string {
  return `${args.map(formatGoValue).join(" ")}\n`;
}

interface Spec {
  minus: boolean;
  plus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  width: number | undefined;
  precision: number | undefined;
}

/** strconv.Quote: printable runes kept, the rest escaped as Go escapes them. */
function goQuote(text: string): string {
  let quoted = '"';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '"' || char === "\\") quoted += `\\${char}`;
    else if (code >= 0x20 && code < 0x7f) quoted += char;
    else if (code < 0x20 || code === 0x7f) {
      const short: Record<number, string> = { 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v" };
      quoted += short[code] ?? `\\x${code.toString(16).padStart(2, "0")}`;
    } else if (code >= 0xd800 && code <= 0xdfff) quoted += "\\ufffd";
    else if (/\p{L}|\p{M}|\p{N}|\p{P}|\p{S}|\u0020/u.test(char)) quoted += char;
    else quoted += code > 0xffff ? `\\U${code.toString(16).padStart(8, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  }
  return `${quoted}"`;
}

function pad(text: string, spec: Spec, zeroAllowed = false): string {
  const width = spec.width ?? 0;
  const length = [...text].length;
  if (length >= width) return text;
  const fill = width - length;
  if (spec.minus) return text + " ".repeat(fill);
  if (spec.zero && zeroAllowed) {
    const sign = /^[+\- ]/.test(text) ? text.charAt(0) : "";
    return sign + "0".repeat(fill) + text.slice(sign.length);
  }
  return " ".repeat(fill) + text;
}

function formatInteger(value: number, verb: string, spec: Spec): string {
  const negative = value < 0;
  const magnitude = BigInt(Math.abs(value));
  let digits: string;
  switch (verb) {
    case "x":
      digits = magnitude.toString(16);
      break;
    case "X":
      digits = magnitude.toString(16).toUpperCase();
      break;
    case "o":
      digits = magnitude.toString(8);
      break;
    case "b":
      digits = magnitude.toString(2);
      break;
    default:
      digits = magnitude.toString(10);
  }
  if (spec.precision !== undefined) digits = spec.precision === 0 && magnitude === 0n ? "" : digits.padStart(spec.precision, "0");
  if (spec.sharp && (verb === "x" || verb === "X")) digits = `0${verb}${digits}`;
  if (spec.sharp && verb === "o" && !digits.startsWith("0")) digits = `0${digits}`;
  const sign = negative ? "-" : spec.plus ? "+" : spec.space ? " " : "";
  return pad(sign + digits, spec, spec.precision === undefined);
}

function formatFloatVerb(value: number, verb: string, spec: Spec): string {
  const kind = verb === "v" ? "g" : verb === "F" ? "f" : (verb as "e" | "E" | "f" | "g" | "G");
  const precision = spec.precision ?? (kind === "g" || kind === "G" ? -1 : 6);
  let text = formatFloat(value, kind, precision);
  if (spec.plus && !text.startsWith("-")) text = `+${text}`;
  else if (spec.space && !text.startsWith("-")) text = ` ${text}`;
  return pad(text, spec, Number.isFinite(value));
}

function hexOfString(text: string, upper: boolean, spec: Spec): string {
  const bytes = Buffer.from(text, "utf8");
  const parts = [...bytes].map((byte) => byte.toString(16).padStart(2, "0"));
  let hex = spec.space ? parts.map((part) => (spec.sharp ? `0x${part}` : part)).join(" ") : (spec.sharp ? "0x" : "") + parts.join("");
  if (upper) hex = hex.toUpperCase();
  return pad(hex, spec);
}

/** A value under a verb it does not take: `%!d(string=abc)`, the value as %v with the same width. */
function badVerb(verb: string, value: GoValue, spec: Spec): string {
  if (value === null || value === undefined) return `%!${verb}(<nil>)`;
  return `%!${verb}(${goTypeName(value)}=${formatVerb("v", value, { ...spec, zero: false })})`;
}

/** One operand under one verb, as fmt's printArg and printValue do. */
function formatVerb(verb: string, value: GoValue, spec: Spec): string {
  if (verb === "T") return pad(value === undefined || value === null ? "<nil>" : goTypeName(value), spec);
  if (value === undefined || value === null) return verb === "v" ? pad("<nil>", spec) : badVerb(verb, value, spec);
  if (typeof value === "boolean") return verb === "v" || verb === "t" ? pad(String(value), spec) : badVerb(verb, value, spec);
  if (typeof value === "string") {
    switch (verb) {
      case "v":
      case "s":
        return pad(spec.precision === undefined ? value : [...value].slice(0, spec.precision).join(""), spec);
      case "q":
        return pad(goQuote(value), spec);
      case "x":
      case "X":
        return hexOfString(value, verb === "X", spec);
      default:
        return badVerb(verb, value, spec);
    }
  }
  if (value instanceof GoInt) {
    switch (verb) {
      case "v":
      case "d":
      case "x":
      case "X":
      case "o":
      case "b":
        return formatInteger(value.value, verb === "v" ? "d" : verb, spec);
      case "c":
        return pad(runeText(value.value), spec);
      case "q":
        return pad(`'${runeText(value.value)}'`, spec);
      case "U":
        // Go prints the value as an unsigned 64-bit integer: -1 is U+FFFFFFFFFFFFFFFF.
        return pad(`U+${BigInt.asUintN(64, BigInt(value.value)).toString(16).toUpperCase().padStart(4, "0")}`, spec);
      default:
        return badVerb(verb, value, spec);
    }
  }
  if (value instanceof GoFloat) return "vefgEFG".includes(verb) ? formatFloatVerb(value.value, verb, spec) : badVerb(verb, value, spec);
  if (value instanceof GoSlice) return `[${value.items.map((item) => formatVerb(verb, item, spec)).join(" ")}]`;
  if (value instanceof GoMap) return `map[${sortedKeys(value).map((key) => `${formatVerb(verb, key, spec)}:${formatVerb(verb, value.entries.get(key), spec)}`).join(" ")}]`;
  return formatStruct(verb, value, spec);
}

/** A rune as Go's fmt writes it: a value that is no Unicode scalar (negative, a surrogate, past U+10FFFF) is U+FFFD. */
function runeText(rune: number): string {
  const valid = Number.isInteger(rune) && rune >= 0 && rune <= 0x10ffff && !(rune >= 0xd800 && rune <= 0xdfff);
  return String.fromCodePoint(valid ? rune : 0xfffd);
}

function formatStruct(verb: string, value: GoStruct, spec: Spec): string {
  const fields = [...value.fields].map(([name, field]) => (spec.plus && verb === "v" ? `${name}:` : "") + formatVerb(verb, field, spec));
  return `{${fields.join(" ")}}`;
}

/** fmt.Sprintf. */
export function goSprintf(format: string, args: readonly GoValue[]): string {
  let text = "";
  let argIndex = 0;
  let i = 0;
  const nextNumber = (): number | undefined => {
    if (format.charAt(i) === "*") {
      i++;
      const arg = args[argIndex++];
      return arg instanceof GoInt ? arg.value : undefined;
    }
    const start = i;
    while (i < format.length && format.charAt(i) >= "0" && format.charAt(i) <= "9") i++;
    return i > start ? Number(format.slice(start, i)) : undefined;
  };
  while (i < format.length) {
    const percent = format.indexOf("%", i);
    if (percent === -1) {
      text += format.slice(i);
      break;
    }
    text += format.slice(i, percent);
    i = percent + 1;
    const spec: Spec = { minus: false, plus: false, sharp: false, space: false, zero: false, width: undefined, precision: undefined };
    for (; i < format.length; i++) {
      const flag = format.charAt(i);
      if (flag === "-") spec.minus = true;
      else if (flag === "+") spec.plus = true;
      else if (flag === "#") spec.sharp = true;
      else if (flag === " ") spec.space = true;
      else if (flag === "0") spec.zero = true;
      else break;
    }
    spec.width = nextNumber();
    if (format.charAt(i) === ".") {
      i++;
      spec.precision = nextNumber() ?? 0;
    }
    if (i >= format.length) {
      text += "%!(NOVERB)";
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i) ?? 0);
    i += verb.length;
    if (verb === "%") {
      text += "%";
      continue;
    }
    if (argIndex >= args.length) {
      text += `%!${verb}(MISSING)`;
      continue;
    }
    text += formatVerb(verb, args[argIndex++], spec);
  }
  if (argIndex < args.length) {
    const extra = args.slice(argIndex).map((arg) => (arg === undefined || arg === null ? "<nil>" : `${goTypeName(arg)}=${formatGoValue(arg)}`));
    text += `%!(EXTRA ${extra.join(", ")})`;
  }
  return text;
}
