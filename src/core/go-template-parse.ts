/**
 * The lexer and parser of Go's text/template (Go 1.24), for lading's `--format`: text and
 * actions, `{{- -}}` trim markers, comments, pipelines, fields, variables, literals, parentheses
 * and `if`/`else if`/`range`/`with`/`else with`/`break`/`continue`/`end`. Positions and parse
 * errors are Go's (`template: :1: unclosed action`), as docker prints them. Named templates
 * (`define`, `template`, `block`) are refused, as no docker format uses them.
 */

export class TemplateParseError extends Error {}

type ItemType =
  | "error"
  | "bool"
  | "char"
  | "charConstant"
  | "assign"
  | "declare"
  | "eof"
  | "field"
  | "identifier"
  | "leftDelim"
  | "leftParen"
  | "number"
  | "pipe"
  | "rawString"
  | "rightDelim"
  | "rightParen"
  | "space"
  | "string"
  | "text"
  | "variable"
  | "keyword";

interface Item {
  type: ItemType;
  pos: number;
  value: string;
  line: number;
}

const KEYWORDS = new Set([".", "block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template", "with"]);
const SPACE_CHARS = " \t\r\n";

const isSpace = (c: string): boolean => c !== "" && SPACE_CHARS.includes(c);
const isAlphaNumeric = (c: string): boolean => c === "_" || /^[\p{L}\p{Nd}]$/u.test(c);

/** fmt's %#U: `U+0021 '!'`. */
function unicodeForm(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  const hex = code.toString(16).toUpperCase().padStart(4, "0");
  return /\p{C}/u.test(char) ? `U+${hex}` : `U+${hex} '${char}'`;
}

/** Splits a template into items, ending with "eof" or "error" (the lexer stops at its first error). */
function lex(input: string): Item[] {
  const items: Item[] = [];
  let pos = 0;
  let start = 0;
  let parenDepth = 0;
  const lineAt = (at: number): number => 1 + (input.slice(0, at).match(/\n/g)?.length ?? 0);
  const emit = (type: ItemType, value = input.slice(start, pos)): void => {
    items.push({ type, pos: start, value, line: lineAt(start) });
    start = pos;
  };
  const fail = (message: string): Item[] => {
    items.push({ type: "error", pos: start, value: message, line: lineAt(start) });
    return items;
  };
  const peekChar = (): string => String.fromCodePoint(input.codePointAt(pos) ?? 0).replace("\0", pos >= input.length ? "" : "\0");
  const nextChar = (): string => {
    const char = peekChar();
    pos += char.length;
    return char;
  };
  const accept = (valid: string): boolean => {
    const char = peekChar();
    if (char !== "" && valid.includes(char)) {
      pos += char.length;
      return true;
    }
    return false;
  };
  const acceptRun = (valid: string): void => {
    while (accept(valid));
  };
  /** Moves past letters, digits and underscores; returns the character that stopped it ("" at the end). */
  const skipAlphaNumeric = (): string => {
    while (isAlphaNumeric(peekChar())) nextChar();
    return peekChar();
  };
  const atTerminator = (): boolean => {
    const char = peekChar();
    return char === "" || isSpace(char) || ".,|:)(".includes(char) || input.startsWith("}}", pos);
  };
  const hasLeftTrim = (at: number): boolean => input.charAt(at) === "-" && isSpace(input.charAt(at + 1));
  const atRightDelim = (): { delim: boolean; trim: boolean } => {
    if (isSpace(input.charAt(pos)) && input.charAt(pos + 1) === "-" && input.startsWith("}}", pos + 2)) return { delim: true, trim: true };
    return { delim: input.startsWith("}}", pos), trim: false };
  };
  const trimmedRight = (text: string): number => text.length - text.replace(/[ \t\r\n]+$/, "").length;
  const trimmedLeft = (text: string): number => text.length - text.replace(/^[ \t\r\n]+/, "").length;

  const scanNumber = (): boolean => {
    accept("+-");
    let digits = "0123456789_";
    if (accept("0")) {
      if (accept("xX")) digits = "0123456789abcdefABCDEF_";
      else if (accept("oO")) digits = "01234567_";
      else if (accept("bB")) digits = "01_";
    }
    acceptRun(digits);
    if (accept(".")) acceptRun(digits);
    if (digits.length === 11 && accept("eE")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    if (digits.length === 23 && accept("pP")) {
      accept("+-");
      acceptRun("0123456789_");
    }
    accept("i");
    if (isAlphaNumeric(peekChar())) {
      nextChar();
      return false;
    }
    return true;
  };

  // lexText and the states inside an action, as a loop over Go's state functions.
  for (;;) {
    // Text up to the next action.
    const open = input.indexOf("{{", pos);
    if (open === -1) {
      pos = input.length;
      if (pos > start) emit("text");
      emit("eof", "");
      return items;
    }
    if (open > start) {
      pos = open;
      const trim = hasLeftTrim(open + 2) ? trimmedRight(input.slice(start, pos)) : 0;
      const text = input.slice(start, pos - trim);
      if (text.length > 0) items.push({ type: "text", pos: start, value: text, line: lineAt(start) });
    }
    pos = open + 2;
    start = open;
    const trimLeft = hasLeftTrim(pos);
    const afterMarker = trimLeft ? 2 : 0;
    if (input.startsWith("/*", pos + afterMarker)) {
      pos += afterMarker + 2;
      const close = input.indexOf("*/", pos);
      if (close === -1) return fail("unclosed comment");
      pos = close + 2;
      const { delim, trim } = atRightDelim();
      if (!delim) return fail("comment ends before closing delimiter");
      pos += (trim ? 2 : 0) + 2;
      if (trim) pos += trimmedLeft(input.slice(pos));
      start = pos;
      continue;
    }
    items.push({ type: "leftDelim", pos: open, value: "{{", line: lineAt(open) });
    pos += afterMarker;
    start = pos;
    parenDepth = 0;
    // Inside the action.
    for (;;) {
      const { delim, trim } = atRightDelim();
      if (delim) {
        if (parenDepth !== 0) return fail("unclosed left paren");
        if (trim) pos += 2;
        start = pos;
        pos += 2;
        emit("rightDelim");
        if (trim) pos += trimmedLeft(input.slice(pos));
        start = pos;
        break;
      }
      const char = nextChar();
      if (char === "") return fail("unclosed action");
      if (isSpace(char)) {
        pos -= char.length;
        let spaces = 0;
        while (isSpace(peekChar())) {
          nextChar();
          spaces++;
        }
        // A trim-marked closing delimiter: the space before the '-' belongs to it.
        if (input.startsWith("-}}", pos) && isSpace(input.charAt(pos - 1))) {
          pos -= 1;
          if (spaces === 1) continue;
        }
        emit("space");
      } else if (char === "=") emit("assign");
      else if (char === ":") {
        if (nextChar() !== "=") return fail("expected :=");
        emit("declare");
      } else if (char === "|") emit("pipe");
      else if (char === '"' || char === "`") {
        for (;;) {
          const next = nextChar();
          if (char === '"' && next === "\\") {
            const escaped = nextChar();
            if (escaped !== "" && escaped !== "\n") continue;
            return fail("unterminated quoted string");
          }
          if (next === "" || (char === '"' && next === "\n")) return fail(char === '"' ? "unterminated quoted string" : "unterminated raw quoted string");
          if (next === char) break;
        }
        emit(char === '"' ? "string" : "rawString");
      } else if (char === "'") {
        for (;;) {
          const next = nextChar();
          if (next === "\\") {
            const escaped = nextChar();
            if (escaped !== "" && escaped !== "\n") continue;
            return fail("unterminated character constant");
          }
          if (next === "" || next === "\n") return fail("unterminated character constant");
          if (next === "'") break;
        }
        emit("charConstant");
      } else if (char === "$" || (char === "." && !(input.charAt(pos) >= "0" && input.charAt(pos) <= "9"))) {
        // A variable or a field; "." or "$" alone when nothing follows.
        if (atTerminator()) {
          emit(char === "$" ? "variable" : "keyword");
          continue;
        }
        const last = skipAlphaNumeric();
        if (!atTerminator()) return fail(`bad character ${unicodeForm(last)}`);
        emit(char === "$" ? "variable" : "field");
      } else if (char === "." || char === "+" || char === "-" || (char >= "0" && char <= "9")) {
        pos -= 1;
        if (!scanNumber()) return fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
        if (peekChar() === "+" || peekChar() === "-") {
          if (!scanNumber() || input.charAt(pos - 1) !== "i") return fail(`bad number syntax: ${JSON.stringify(input.slice(start, pos))}`);
        }
        emit("number");
      } else if (isAlphaNumeric(char)) {
        const last = skipAlphaNumeric();
        if (!atTerminator()) return fail(`bad character ${unicodeForm(last)}`);
        const word = input.slice(start, pos);
        emit(KEYWORDS.has(word) ? "keyword" : word === "true" || word === "false" ? "bool" : "identifier");
      } else if (char === "(") {
        emit("leftParen");
        parenDepth++;
      } else if (char === ")") {
        emit("rightParen");
        parenDepth--;
        if (parenDepth < 0) return fail("unexpected right paren");
      } else if (char.codePointAt(0)! <= 0x7f && /^[\x20-\x7e]$/.test(char)) emit("char");
      else return fail(`unrecognized character in action: ${unicodeForm(char)}`);
    }
  }
}

export type ArgNode =
  | { type: "field"; pos: number; idents: string[] }
  | { type: "variable"; pos: number; idents: string[] }
  | { type: "chain"; pos: number; node: ArgNode; fields: string[] }
  | { type: "identifier"; pos: number; name: string }
  | { type: "dot"; pos: number }
  | { type: "nil"; pos: number }
  | { type: "bool"; pos: number; value: boolean }
  | { type: "number"; pos: number; text: string; isInt: boolean; isFloat: boolean; int: number; float: number }
  | { type: "string"; pos: number; quoted: string; text: string }
  | PipeNode;

export interface CommandNode {
  type: "command";
  pos: number;
  args: ArgNode[];
}

export interface PipeNode {
  type: "pipe";
  pos: number;
  isAssign: boolean;
  decl: string[];
  cmds: CommandNode[];
}

export interface ControlNode {
  type: "if" | "with" | "range";
  pos: number;
  pipe: PipeNode;
  list: ListNode;
  elseList: ListNode | undefined;
}

export type Node = { type: "text"; pos: number; text: string } | { type: "action"; pos: number; pipe: PipeNode } | ControlNode | { type: "break" | "continue"; pos: number } | ListNode;

/** What ends a list: `{{end}}`, or `{{else}}` (`{{else if ...}}` and `{{else with ...}}` leave their keyword pending). */
type Terminator = { type: "end"; pos: number } | { type: "else"; pos: number; chained?: "if" | "with" };

export interface ListNode {
  type: "list";
  pos: number;
  nodes: Node[];
}

/** How Go's parse nodes print themselves, for execution errors' `<...>` context. */
export function nodeString(node: ArgNode | CommandNode): string {
  switch (node.type) {
    case "field":
      return node.idents.map((ident) => `.${ident}`).join("");
    case "variable":
      return node.idents.join(".");
    case "chain":
      return (node.node.type === "pipe" ? `(${nodeString(node.node)})` : nodeString(node.node)) + node.fields.map((field) => `.${field}`).join("");
    case "identifier":
      return node.name;
    case "dot":
      return ".";
    case "nil":
      return "nil";
    case "bool":
      return String(node.value);
    case "number":
      return node.text;
    case "string":
      return node.quoted;
    case "command":
      return node.args.map((arg) => (arg.type === "pipe" ? `(${nodeString(arg)})` : nodeString(arg))).join(" ");
    case "pipe": {
      const decl = node.decl.length > 0 ? `${node.decl.join(", ")} ${node.isAssign ? "=" : ":="} ` : "";
      return decl + node.cmds.map(nodeString).join(" | ");
    }
  }
}

/** strconv.Unquote of a Go string literal; undefined when it is not one. */
function unquote(quoted: string): string | undefined {
  if (quoted.startsWith("`")) return quoted.slice(1, -1).replace(/\r/g, "");
  const body = quoted.slice(1, -1);
  let text = "";
  for (let i = 0; i < body.length; i++) {
    const char = body.charAt(i);
    if (char !== "\\") {
      text += char;
      continue;
    }
    const escape = body.charAt(++i);
    const simple: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"' };
    if (simple[escape] !== undefined) text += simple[escape];
    else if (escape === "x" || escape === "u" || escape === "U") {
      const length = escape === "x" ? 2 : escape === "u" ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + length);
      if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length) return undefined;
      const code = parseInt(hex, 16);
      // A byte \x80 and above is no character on its own; JavaScript strings cannot hold it.
      if (escape === "x") text += code < 0x80 ? String.fromCharCode(code) : "\ufffd";
      else if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
      else text += String.fromCodePoint(code);
      i += length;
    } else if (escape >= "0" && escape <= "7") {
      const octal = body.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(octal) || parseInt(octal, 8) > 255) return undefined;
      const code = parseInt(octal, 8);
      text += code < 0x80 ? String.fromCharCode(code) : "\ufffd";
      i += 2;
    } else return undefined;
  }
  return text;
}

/** strconv.ParseInt(text, 0, 64) within JavaScript's safe integers; undefined when it is no integer. */
function parseGoInt(text: string): number | undefined {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (!match) return undefined;
  const [, sign = "", body = ""] = match;
  if (/__|_$/.test(body)) return undefined;
  const clean = body.replace(/_/g, "");
  let value: number;
  if (/^0[xX]/.test(clean)) value = parseInt(clean.slice(2), 16);
  else if (/^0[oO]/.test(clean)) value = parseInt(clean.slice(2), 8);
  else if (/^0[bB]/.test(clean)) value = parseInt(clean.slice(2), 2);
  else if (clean.length > 1 && clean.startsWith("0")) value = parseInt(clean, 8);
  else value = parseInt(clean, 10);
  if (!Number.isSafeInteger(value)) return undefined;
  return sign === "-" ? -value : value;
}

interface ParsedNumber {
  isInt: boolean;
  isFloat: boolean;
  int: number;
  float: number;
}

function parseNumber(item: Item): ParsedNumber | string {
  if (item.type === "charConstant") {
    const text = unquote(`"${item.value.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`);
    const chars = text === undefined ? [] : [...text];
    if (chars.length !== 1) return "malformed character constant: " + item.value;
    const code = chars[0]!.codePointAt(0) ?? 0;
    return { isInt: true, isFloat: true, int: code, float: code };
  }
  if (/i$/.test(item.value)) return `lading does not support complex numbers: ${JSON.stringify(item.value)}`;
  const int = parseGoInt(item.value);
  if (int !== undefined) return { isInt: true, isFloat: true, int, float: int };
  const text = item.value.replace(/_/g, "");
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) && !/^[+-]?0[xX]/.test(text)) return `illegal number syntax: ${JSON.stringify(item.value)}`;
  const float = Number(text);
  if (Number.isNaN(float)) return `illegal number syntax: ${JSON.stringify(item.value)}`;
  if (!/[.eEpP]/.test(item.value)) return `integer overflow: ${JSON.stringify(item.value)}`;
  const isInt = Number.isSafeInteger(float);
  return { isInt, isFloat: true, int: isInt ? float : 0, float };
}

/** Go's item.String(), as "unexpected X" errors quote a token. */
function itemString(item: Item): string {
  if (item.type === "eof") return "EOF";
  if (item.type === "error") return item.value;
  if (item.type === "keyword") return `<${item.value}>`;
  if ([...item.value].length > 10) return `${JSON.stringify([...item.value].slice(0, 10).join(""))}...`;
  return JSON.stringify(item.value);
}

class Parser {
  private index = 0;
  private vars: string[] = ["$"];
  private rangeDepth = 0;
  private line = 1;

  constructor(private readonly items: Item[]) {}

  private next(): Item {
    const item = this.items[Math.min(this.index, this.items.length - 1)]!;
    this.index++;
    this.line = item.line;
    return item;
  }

  private backup(): void {
    this.index--;
  }

  private peek(): Item {
    return this.items[Math.min(this.index, this.items.length - 1)]!;
  }

  private nextNonSpace(): Item {
    let item: Item;
    do item = this.next();
    while (item.type === "space");
    return item;
  }

  private peekNonSpace(): Item {
    const mark = this.index;
    const item = this.nextNonSpace();
    this.index = mark;
    return item;
  }

  private errorf(message: string): never {
    throw new TemplateParseError(`template: :${this.line}: ${message}`);
  }

  private unexpected(item: Item, context: string): never {
    if (item.type === "error") this.errorf(item.value);
    this.errorf(`unexpected ${itemString(item)} in ${context}`);
  }

  private expect(type: ItemType, context: string): Item {
    const item = this.nextNonSpace();
    if (item.type !== type) this.unexpected(item, context);
    return item;
  }

  parse(): ListNode {
    const root: ListNode = { type: "list", pos: this.peek().pos, nodes: [] };
    while (this.peek().type !== "eof") {
      const node = this.textOrAction();
      if (node.type === "end" || node.type === "else") this.errorf(`unexpected {{${node.type}}}`);
      root.nodes.push(node);
    }
    return root;
  }

  private itemList(): { list: ListNode; next: Terminator } {
    const list: ListNode = { type: "list", pos: this.peekNonSpace().pos, nodes: [] };
    while (this.peekNonSpace().type !== "eof") {
      const node = this.textOrAction();
      if (node.type === "end" || node.type === "else") return { list, next: node };
      list.nodes.push(node);
    }
    this.errorf("unexpected EOF");
  }

  private textOrAction(): Node | Terminator {
    const item = this.nextNonSpace();
    if (item.type === "text") return { type: "text", pos: item.pos, text: item.value };
    if (item.type === "leftDelim") return this.action();
    this.unexpected(item, "input");
  }

  private action(): Node | Terminator {
    const item = this.nextNonSpace();
    if (item.type === "keyword") {
      switch (item.value) {
        case "else":
          return this.elseControl();
        case "end":
          return { type: "end", pos: this.expect("rightDelim", "end").pos };
        case "if":
        case "range":
        case "with":
          return this.control(item.value);
        case "break":
        case "continue": {
          const token = this.nextNonSpace();
          if (token.type !== "rightDelim") this.unexpected(token, `{{${item.value}}}`);
          if (this.rangeDepth === 0) this.errorf(`{{${item.value}}} outside {{range}}`);
          return { type: item.value, pos: item.pos };
        }
        case "block":
        case "define":
        case "template":
          this.errorf(`{{${item.value}}} is not supported by lading's templates`);
      }
    }
    this.backup();
    const token = this.peek();
    return { type: "action", pos: token.pos, pipe: this.pipeline("command") };
  }

  private elseControl(): Terminator {
    const peek = this.peekNonSpace();
    if (peek.type === "keyword" && (peek.value === "if" || peek.value === "with")) return { type: "else", pos: peek.pos, chained: peek.value };
    return { type: "else", pos: this.expect("rightDelim", "else").pos };
  }

  private control(context: "if" | "range" | "with"): Node {
    const mark = this.vars.length;
    if (context === "range") this.rangeDepth++;
    const pipe = this.pipeline(context);
    const { list, next } = this.itemList();
    if (context === "range") this.rangeDepth--;
    let elseList: ListNode | undefined;
    if (next.type === "else") {
      const chained = next.chained;
      if ((context === "if" && chained === "if") || (context === "with" && chained === "with")) {
        // {{else if ...}} is {{else}}{{if ...}}...{{end}}{{end}}, sharing the one {{end}}.
        this.nextNonSpace();
        elseList = { type: "list", pos: next.pos, nodes: [this.control(context)] };
      } else {
        const rest = this.itemList();
        elseList = rest.list;
        if (rest.next.type !== "end") this.errorf("expected end; found {{else}}");
      }
    }
    this.vars.length = mark;
    return { type: context, pos: pipe.pos, pipe, list, elseList };
  }

  private pipeline(context: string): PipeNode {
    const token = this.peekNonSpace();
    const pipe: PipeNode = { type: "pipe", pos: token.pos, isAssign: false, decl: [], cmds: [] };
    // Declarations or assignments: $x := ..., $x = ..., $i, $v := ... in a range.
    for (;;) {
      const variable = this.peekNonSpace();
      if (variable.type !== "variable") break;
      const mark = this.index;
      this.nextNonSpace();
      const following = this.peekNonSpace();
      if (following.type === "assign" || following.type === "declare") {
        pipe.isAssign = following.type === "assign";
        this.nextNonSpace();
        pipe.decl.push(variable.value);
        this.vars.push(variable.value);
        break;
      }
      if (following.type === "char" && following.value === ",") {
        this.nextNonSpace();
        pipe.decl.push(variable.value);
        this.vars.push(variable.value);
        if (context === "range" && pipe.decl.length < 2) {
          const after = this.peekNonSpace();
          if (after.type === "variable" || after.type === "rightDelim" || after.type === "rightParen") continue;
          this.errorf("range can only initialize variables");
        }
        this.errorf(`too many declarations in ${context}`);
      }
      this.index = mark;
      break;
    }
    for (;;) {
      const item = this.nextNonSpace();
      if (item.type === "rightDelim" || item.type === "rightParen") {
        this.checkPipeline(pipe, context);
        if (item.type === "rightParen") this.backup();
        return pipe;
      }
      if (["bool", "charConstant", "field", "identifier", "number", "rawString", "string", "variable", "leftParen"].includes(item.type) || (item.type === "keyword" && (item.value === "." || item.value === "nil"))) {
        this.backup();
        pipe.cmds.push(this.command());
      } else this.unexpected(item, context);
    }
  }

  private checkPipeline(pipe: PipeNode, context: string): void {
    if (pipe.cmds.length === 0) this.errorf(`missing value for ${context}`);
    pipe.cmds.slice(1).forEach((cmd, i) => {
      const first = cmd.args[0];
      if (first && ["bool", "dot", "nil", "number", "string"].includes(first.type)) this.errorf(`non executable command in pipeline stage ${i + 2}`);
    });
  }

  private command(): CommandNode {
    const cmd: CommandNode = { type: "command", pos: this.peekNonSpace().pos, args: [] };
    for (;;) {
      this.peekNonSpace();
      const operand = this.operand();
      if (operand) cmd.args.push(operand);
      const item = this.next();
      if (item.type === "space") continue;
      if (item.type === "error") this.errorf(item.value);
      if (item.type === "rightDelim" || item.type === "rightParen") this.backup();
      else if (item.type !== "pipe") this.errorf(`unexpected ${itemString(item)} in operand`);
      break;
    }
    if (cmd.args.length === 0) this.errorf("empty command");
    return cmd;
  }

  private operand(): ArgNode | undefined {
    const node = this.term();
    if (!node) return undefined;
    if (this.peek().type !== "field") return node;
    const pos = this.peek().pos;
    const fields: string[] = [];
    while (this.peek().type === "field") fields.push(this.next().value.slice(1));
    switch (node.type) {
      case "field":
        return { type: "field", pos, idents: [...node.idents, ...fields] };
      case "variable":
        return { type: "variable", pos, idents: [...node.idents, ...fields] };
      case "bool":
      case "string":
      case "number":
      case "nil":
      case "dot":
        this.errorf(`unexpected . after term ${JSON.stringify(nodeString(node))}`);
      // falls through: errorf never returns
      default:
        return { type: "chain", pos, node, fields };
    }
  }

  private term(): ArgNode | undefined {
    const item = this.nextNonSpace();
    switch (item.type) {
      case "error":
        this.errorf(item.value);
      // falls through: errorf never returns
      case "identifier":
        if (!FUNCTION_NAMES.has(item.value)) this.errorf(`function ${JSON.stringify(item.value)} not defined`);
        return { type: "identifier", pos: item.pos, name: item.value };
      case "keyword":
        if (item.value === ".") return { type: "dot", pos: item.pos };
        if (item.value === "nil") return { type: "nil", pos: item.pos };
        break;
      case "variable":
        if (!this.vars.includes(item.value)) this.errorf(`undefined variable ${JSON.stringify(item.value)}`);
        return { type: "variable", pos: item.pos, idents: [item.value] };
      case "field":
        return { type: "field", pos: item.pos, idents: [item.value.slice(1)] };
      case "bool":
        return { type: "bool", pos: item.pos, value: item.value === "true" };
      case "charConstant":
      case "number": {
        const number = parseNumber(item);
        if (typeof number === "string") this.errorf(number);
        return { type: "number", pos: item.pos, text: item.value, ...number };
      }
      case "leftParen": {
        const pipe = this.pipeline("parenthesized pipeline");
        const close = this.next();
        if (close.type !== "rightParen") this.errorf(`unclosed right paren: unexpected ${itemString(close)}`);
        return pipe;
      }
      case "string":
      case "rawString": {
        const text = unquote(item.value);
        if (text === undefined) this.errorf("invalid syntax");
        return { type: "string", pos: item.pos, quoted: item.value, text };
      }
    }
    this.backup();
    return undefined;
  }
}

/** The functions a template may name: Go's builtins and docker's (templates.basicFunctions). */
export const FUNCTION_NAMES: ReadonlySet<string> = new Set([
  "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery",
  "eq", "ge", "gt", "le", "lt", "ne",
  "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
]);

/** Parses a template, or throws a TemplateParseError in Go's words. */
export function parseTemplate(text: string): ListNode {
  return new Parser(lex(text)).parse();
}

/** The line and column Go's execution errors give for a node: `1:2`. */
export function positionOf(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const lineStart = before.lastIndexOf("\n");
  const line = 1 + (before.match(/\n/g)?.length ?? 0);
  const column = Buffer.byteLength(lineStart === -1 ? before : before.slice(lineStart + 1));
  return `${line}:${column}`;
}
