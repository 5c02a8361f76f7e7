/**
 * Go's text/template, executed over GoValues, with the functions docker adds to every format
 * template (docker/cli templates.basicFunctions: json, split, join, title, lower, upper, pad,
 * truncate). Output and errors are Go's, as the docker CLI prints them: `<no value>` for a missing
 * map key, `template: :1:2: executing "" at <.Nope>: ...` for an execution error.
 */
import { goSprint, goSprintf, goSprintln } from "./go-printf.js";
import { nodeString, parseTemplate, positionOf, TemplateParseError, type ArgNode, type CommandNode, type ControlNode, type ListNode, type Node, type PipeNode } from "./go-template-parse.js";
import { formatGoValue, goJson, goTruth, GoFloat, GoInt, GoMap, GoSlice, GoStruct, goTypeName, sortedKeys, type GoValue } from "./go-values.js";

export { TemplateParseError };

/** An execution error, in Go's words, with what the template wrote before it (Go writes as it goes). */
export class TemplateExecError extends Error {
  constructor(
    message: string,
    readonly partial: string,
  ) {
    super(message);
  }
}

export interface ExecuteOptions {
  /** Go's `missingkey=error`: a missing map key fails instead of giving `<no value>`. */
  missingKeyError?: boolean;
  /** docker's HeaderFunctions, for a table's header row: json, split, join, title, lower, upper and truncate give their string back. */
  headerFunctions?: boolean;
}

export class GoTemplate {
  private constructor(
    readonly text: string,
    private readonly root: ListNode,
  ) {}

  /** Parses `text`; throws a TemplateParseError (`template: :1: unclosed action`). */
  static parse(text: string): GoTemplate {
    return new GoTemplate(text, parseTemplate(text));
  }

  /** Runs the template on `data`; throws a TemplateExecError. */
  execute(data: GoValue, options: ExecuteOptions = {}): string {
    const state = new State(this.text, options);
    try {
      state.walk(data, this.root, [{ name: "$", value: data }]);
    } catch (error) {
      if (error instanceof ExecFailure) throw new TemplateExecError(error.message, state.out);
      throw error;
    }
    return state.out;
  }
}

class ExecFailure extends Error {}
/** An error a function returns, which the executor reports as `error calling NAME: ...`. */
class FuncError extends Error {}
const BREAK = Symbol("break");
const CONTINUE = Symbol("continue");
/** The absence of a value piped in from the previous command (Go's missingVal). */
const MISSING = Symbol("missing");
type Final = GoValue | typeof MISSING;

/** A function's parameter: interface{} (`any`: an invalid value arrives as nil), reflect.Value (`value`: as is), or a concrete type. */
type Param = "any" | "value" | "string" | "int" | "[]string";

interface GoFunction {
  params: Param[];
  variadic?: Param;
  call: (args: GoValue[]) => GoValue;
}

interface Variable {
  name: string;
  value: GoValue;
}

interface Located {
  pos: number;
  context: string;
}

const STRINGS = "[]string";

class State {
  out = "";
  private node: Located = { pos: 0, context: "" };
  private readonly functions: Record<string, GoFunction>;

  constructor(
    private readonly text: string,
    private readonly options: ExecuteOptions,
  ) {
    this.functions = options.headerFunctions ? { ...FUNCTIONS, ...HEADER_FUNCTIONS } : FUNCTIONS;
  }

  private at(node: ArgNode | CommandNode | PipeNode | Located): void {
    this.node = "context" in node ? node : { pos: node.pos, context: nodeString(node) };
  }

  private errorf(message: string): never {
    throw new ExecFailure(`template: :${positionOf(this.text, this.node.pos)}: executing "" at <${this.node.context}>: ${message}`);
  }

  walk(dot: GoValue, node: Node, vars: Variable[]): void {
    switch (node.type) {
      case "text":
        this.out += node.text;
        return;
      case "list":
        for (const child of node.nodes) this.walk(dot, child, vars);
        return;
      case "action": {
        this.at({ pos: node.pos, context: `{{${nodeString(node.pipe)}}}` });
        const value = this.evalPipeline(dot, node.pipe, vars);
        if (node.pipe.decl.length === 0) this.out += value === undefined ? "<no value>" : formatGoValue(value);
        return;
      }
      case "if":
      case "with": {
        const mark = vars.length;
        const value = this.evalPipeline(dot, node.pipe, vars);
        if (goTruth(value)) this.walk(node.type === "with" ? value : dot, node.list, vars);
        else if (node.elseList) this.walk(dot, node.elseList, vars);
        vars.length = mark;
        return;
      }
      case "range":
        this.walkRange(dot, node, vars);
        return;
      case "break":
        throw BREAK;
      case "continue":
        throw CONTINUE;
    }
  }

  private walkRange(dot: GoValue, node: ControlNode, vars: Variable[]): void {
    const outer = vars.length;
    try {
      const value = this.evalPipeline(dot, node.pipe, vars);
      const mark = vars.length;
      const { decl, isAssign } = node.pipe;
      const oneIteration = (index: GoValue, element: GoValue): void => {
        if (decl.length > 0) {
          if (isAssign) this.setVar(vars, decl[0]!, decl.length > 1 ? index : element);
          else vars[vars.length - 1]!.value = element;
        }
        if (decl.length > 1) {
          if (isAssign) this.setVar(vars, decl[1]!, element);
          else vars[vars.length - 2]!.value = index;
        }
        try {
          this.walk(element, node.list, vars);
        } catch (signal) {
          if (signal !== CONTINUE) throw signal;
        } finally {
          vars.length = mark;
        }
      };
      let iterated = false;
      if (value instanceof GoSlice) {
        value.items.forEach((item, i) => oneIteration(new GoInt(i), item));
        iterated = value.items.length > 0;
      } else if (value instanceof GoMap) {
        for (const key of sortedKeys(value)) oneIteration(key, value.entries.get(key));
        iterated = value.entries.size > 0;
      } else if (value instanceof GoInt) {
        if (decl.length > 1) this.errorf(`can't use ${value.value} to iterate over more than one variable`);
        for (let i = 0; i < value.value; i++) oneIteration(undefined, new GoInt(i, value.type));
        iterated = value.value > 0;
      } else if (value !== undefined) this.errorf(`range can't iterate over ${formatGoValue(value)}`);
      if (!iterated && node.elseList) this.walk(dot, node.elseList, vars);
    } catch (signal) {
      if (signal !== BREAK) throw signal;
    } finally {
      vars.length = outer;
    }
  }

  private setVar(vars: Variable[], name: string, value: GoValue): void {
    for (let i = vars.length - 1; i >= 0; i--) {
      if (vars[i]!.name === name) {
        vars[i]!.value = value;
        return;
      }
    }
    this.errorf(`undefined variable: ${name}`);
  }

  private varValue(vars: Variable[], name: string): GoValue {
    for (let i = vars.length - 1; i >= 0; i--) if (vars[i]!.name === name) return vars[i]!.value;
    this.errorf(`undefined variable: ${name}`);
  }

  private evalPipeline(dot: GoValue, pipe: PipeNode, vars: Variable[]): GoValue {
    this.at(pipe);
    let value: Final = MISSING;
    for (const cmd of pipe.cmds) value = this.evalCommand(dot, cmd, value, vars);
    const result = value === MISSING ? undefined : value;
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(vars, name, result);
      else vars.push({ name, value: result });
    }
    return result;
  }

  private notAFunction(args: ArgNode[], final: Final): void {
    if (args.length > 1 || final !== MISSING) this.errorf(`can't give argument to non-function ${nodeString(args[0]!)}`);
  }

  private evalCommand(dot: GoValue, cmd: CommandNode, final: Final, vars: Variable[]): GoValue {
    const first = cmd.args[0]!;
    switch (first.type) {
      case "field":
        this.at(first);
        return this.evalFieldChain(dot, first.idents, cmd.args, final);
      case "chain":
        return this.evalChain(dot, first, cmd.args, final, vars);
      case "identifier":
        this.at(first);
        return this.evalCall(dot, first.name, cmd, cmd.args, final, vars);
      case "pipe":
        this.notAFunction(cmd.args, final);
        return this.evalPipeline(dot, first, vars);
      case "variable":
        return this.evalVariable(dot, first, cmd.args, final, vars);
    }
    this.at(first);
    this.notAFunction(cmd.args, final);
    switch (first.type) {
      case "bool":
        return first.value;
      case "dot":
        return dot;
      case "nil":
        this.errorf("nil is not a command");
      // falls through: errorf never returns
      case "number":
        return this.idealConstant(first);
      case "string":
        return first.text;
    }
  }

  private idealConstant(node: Extract<ArgNode, { type: "number" }>): GoValue {
    this.at(node);
    const hex = /^[+-]?0[xX]/.test(node.text) && !/[pP]/.test(node.text);
    if (node.isFloat && !hex && !node.text.startsWith("'") && /[.eEpP]/.test(node.text)) return new GoFloat(node.float);
    if (node.isInt) return new GoInt(node.int);
    this.errorf(`${node.text} overflows int`);
  }

  private evalVariable(dot: GoValue, node: Extract<ArgNode, { type: "variable" }>, args: ArgNode[], final: Final, vars: Variable[]): GoValue {
    this.at(node);
    const value = this.varValue(vars, node.idents[0]!);
    if (node.idents.length === 1) {
      this.notAFunction(args, final);
      return value;
    }
    return this.evalFieldChain(value, node.idents.slice(1), args, final);
  }

  private evalChain(dot: GoValue, node: Extract<ArgNode, { type: "chain" }>, args: ArgNode[], final: Final, vars: Variable[]): GoValue {
    this.at(node);
    if (node.node.type === "nil") this.errorf(`indirection through explicit nil in ${nodeString(node)}`);
    const receiver = this.evalArg(dot, "value", node.node, vars);
    return this.evalFieldChain(receiver, node.fields, args, final);
  }

  private evalFieldChain(receiver: GoValue, idents: string[], args: ArgNode[], final: Final): GoValue {
    let value = receiver;
    for (let i = 0; i < idents.length - 1; i++) {
      const holder = value;
      value = this.evalField(idents[i]!, [], MISSING, value);
      // A nil pointer field the document leaves out: docker's reading of the raw document, its
      // fallback once the typed one fails, says the key is missing.
      if (value === null && holder instanceof GoStruct && !holder.fields.has(idents[i]!) && holder.options.missingField) this.errorf(holder.options.missingField(idents[i]!));
    }
    return this.evalField(idents[idents.length - 1]!, args, final, value);
  }

  private evalField(name: string, args: ArgNode[], final: Final, receiver: GoValue): GoValue {
    if (receiver === undefined) {
      if (this.options.missingKeyError) this.errorf(`nil data; no entry for key ${JSON.stringify(name)}`);
      return undefined;
    }
    if (receiver === null) this.errorf(`nil pointer evaluating interface {}.${name}`);
    const hasArgs = args.length > 1 || final !== MISSING;
    if (receiver instanceof GoStruct) {
      if (!receiver.fields.has(name) && receiver.options.zeroFields?.has(name)) return receiver.options.zeroFields.get(name);
      if (!receiver.fields.has(name)) this.errorf(receiver.options.missingField?.(name) ?? `can't evaluate field ${name} in type ${receiver.type}`);
      if (receiver.options.methods) {
        const given = Math.max(args.length - 1, 0) + (final === MISSING ? 0 : 1);
        if (given !== 0) this.errorf(`wrong number of args for ${name}: want 0 got ${given}`);
      } else if (hasArgs) this.errorf(`${name} has arguments but cannot be invoked as function`);
      return receiver.fields.get(name);
    }
    if (receiver instanceof GoMap) {
      if (hasArgs) this.errorf(`${name} is not a method but has arguments`);
      if (receiver.entries.has(name)) return receiver.entries.get(name);
      if (this.options.missingKeyError) this.errorf(`map has no entry for key ${JSON.stringify(name)}`);
      return undefined;
    }
    this.errorf(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
  }

  private evalCall(dot: GoValue, name: string, cmd: CommandNode | ArgNode, args: ArgNode[], final: Final, vars: Variable[]): GoValue {
    const fn = this.functions[name];
    if (!fn) this.errorf(`${JSON.stringify(name)} is not a defined function`);
    const argNodes = args.slice(1);
    const given = argNodes.length + (final === MISSING ? 0 : 1);
    const fixed = fn.params.length;
    if (fn.variadic !== undefined) {
      if (given < fixed) this.errorf(`wrong number of args for ${name}: want at least ${fixed} got ${argNodes.length}`);
    } else if (given !== fixed) this.errorf(`wrong number of args for ${name}: want ${fixed} got ${given}`);
    if (name === "and" || name === "or") {
      let value: GoValue;
      for (const arg of argNodes) {
        value = this.evalArg(dot, "value", arg, vars);
        if (goTruth(value) === (name === "or")) return value;
      }
      if (final !== MISSING) value = final;
      return value;
    }
    if (name === "call") {
      const callee = argNodes[0];
      const target = callee === undefined ? (final === MISSING ? undefined : final) : this.evalArg(dot, "value", callee, vars);
      this.at(cmd);
      this.errorf(`error calling call: ${target === undefined || target === null ? "call of nil" : `non-function ${callee ? nodeString(callee) : "final"} of type ${goTypeName(target)}`}`);
    }
    const argv: GoValue[] = [];
    argNodes.forEach((arg, i) => argv.push(this.evalArg(dot, i < fixed ? fn.params[i]! : fn.variadic!, arg, vars)));
    if (final !== MISSING) {
      const type = fn.variadic !== undefined && given - 1 >= fixed ? fn.variadic : fn.params[given - 1]!;
      argv.push(this.validateType(final, type));
    }
    try {
      return fn.call(argv);
    } catch (error) {
      if (!(error instanceof FuncError)) throw error;
      this.at(cmd);
      this.errorf(`error calling ${name}: ${error.message}`);
    }
  }

  private validateType(value: GoValue, type: Param): GoValue {
    if (value === undefined) {
      if (type === "any") return null;
      if (type === "value") return undefined;
      if (type === STRINGS) return new GoSlice([], STRINGS, true);
      this.errorf(`invalid value; expected ${type}`);
    }
    const fits = type === "any" || type === "value" || (type === "string" && typeof value === "string") || (type === "int" && value instanceof GoInt && value.type === "int") || (type === STRINGS && value instanceof GoSlice && value.type === STRINGS);
    if (!fits) this.errorf(`wrong type for value; expected ${type}; got ${goTypeName(value)}`);
    return value;
  }

  private evalArg(dot: GoValue, type: Param, node: ArgNode, vars: Variable[]): GoValue {
    this.at(node);
    switch (node.type) {
      case "dot":
        return this.validateType(dot, type);
      case "nil":
        if (type === "any") return null;
        if (type === "value") return undefined;
        if (type === STRINGS) return new GoSlice([], STRINGS, true);
        this.errorf(`cannot assign nil to ${type}`);
      // falls through: errorf never returns
      case "field":
        return this.validateType(this.evalFieldChain(dot, node.idents, [node], MISSING), type);
      case "variable":
        return this.validateType(this.evalVariable(dot, node, [], MISSING, vars), type);
      case "pipe":
        return this.validateType(this.evalPipeline(dot, node, vars), type);
      case "identifier":
        return this.validateType(this.evalCall(dot, node.name, node, [node], MISSING, vars), type);
      case "chain":
        return this.validateType(this.evalChain(dot, node, [], MISSING, vars), type);
    }
    switch (type) {
      case "string":
        if (node.type === "string") return node.text;
        this.errorf(`expected string; found ${nodeString(node)}`);
      // falls through: errorf never returns
      case "int":
        if (node.type === "number" && node.isInt) return new GoInt(node.int);
        this.errorf(`expected integer; found ${nodeString(node)}`);
      // falls through: errorf never returns
      case STRINGS:
        this.errorf(`can't handle ${nodeString(node)} for arg of type ${STRINGS}`);
      // falls through: errorf never returns
      default:
        if (node.type === "bool") return node.value;
        if (node.type === "string") return node.text;
        return this.idealConstant(node);
    }
  }
}

// Comparisons, as text/template's eq, ne, lt, le, gt, ge.

type BasicKind = "bool" | "int" | "uint" | "float" | "string" | undefined;

function basicKind(value: GoValue): BasicKind {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "string") return "string";
  if (value instanceof GoInt) return value.type.startsWith("uint") ? "uint" : "int";
  if (value instanceof GoFloat) return "float";
  return undefined;
}

/** A value as reflect sees it valid: a nil from the data counts as no value, as an interface holding nil does. */
const isValid = (value: GoValue): boolean => value !== undefined && value !== null;
const numberOf = (value: GoValue): number => (value instanceof GoInt || value instanceof GoFloat ? value.value : 0);

function kindOf(value: GoValue): string {
  if (value instanceof GoSlice) return "slice";
  if (value instanceof GoMap) return "map";
  if (value instanceof GoStruct) return "struct";
  return isValid(value) ? goTypeName(value) : "invalid";
}

function eq(args: GoValue[]): boolean {
  const [first, ...rest] = args;
  if (rest.length === 0) throw new FuncError("missing argument for comparison");
  const k1 = basicKind(first);
  for (const arg of rest) {
    const k2 = basicKind(arg);
    let truth = false;
    if (k1 !== k2) {
      if ((k1 === "int" && k2 === "uint") || (k1 === "uint" && k2 === "int")) truth = numberOf(first) === numberOf(arg);
      else if (isValid(first) && isValid(arg)) throw new FuncError("incompatible types for comparison");
    } else if (k1 !== undefined) {
      truth = k1 === "string" || k1 === "bool" ? first === arg : numberOf(first) === numberOf(arg);
    } else {
      const nil1 = !isValid(first) || (first instanceof GoSlice && first.nil) || (first instanceof GoMap && first.nil);
      const nil2 = !isValid(arg) || (arg instanceof GoSlice && arg.nil) || (arg instanceof GoMap && arg.nil);
      if (isValid(first) && isValid(arg) && kindOf(first) !== kindOf(arg)) {
        throw new FuncError(`non-comparable types ${formatGoValue(first)}: ${goTypeName(first)}, ${goTypeName(arg)}: ${formatGoValue(arg)}`);
      }
      if (nil1 || nil2) truth = nil1 === nil2;
      else if (arg instanceof GoSlice || arg instanceof GoMap) throw new FuncError(`non-comparable type ${formatGoValue(arg)}: ${goTypeName(arg)}`);
      else truth = goJson(first, false) === goJson(arg, false);
    }
    if (truth) return true;
  }
  return false;
}

function lt([a, b]: GoValue[]): boolean {
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === undefined || k2 === undefined) throw new FuncError("invalid type for comparison");
  if (k1 !== k2) {
    if ((k1 === "int" && k2 === "uint") || (k1 === "uint" && k2 === "int")) return numberOf(a) < numberOf(b);
    throw new FuncError("incompatible types for comparison");
  }
  if (k1 === "bool") throw new FuncError("invalid type for comparison");
  if (k1 === "string") return Buffer.compare(Buffer.from(a as string), Buffer.from(b as string)) < 0;
  return numberOf(a) < numberOf(b);
}

const le = (args: GoValue[]): boolean => lt(args) || eq(args);

// Indexing and slicing.

function indexArg(index: GoValue, cap: number): number {
  if (index === undefined || index === null) throw new FuncError("cannot index slice/array with nil");
  if (!(index instanceof GoInt)) throw new FuncError(`cannot index slice/array with type ${goTypeName(index)}`);
  if (index.value < 0 || index.value > cap) throw new FuncError(`index out of range: ${index.value}`);
  return index.value;
}

function index([item, ...indexes]: GoValue[]): GoValue {
  if (item === undefined || item === null) throw new FuncError("index of untyped nil");
  let current: GoValue = item;
  for (const key of indexes) {
    if (current === null || current === undefined) throw new FuncError("index of nil pointer");
    if (typeof current === "string") {
      const bytes: Buffer = Buffer.from(current, "utf8");
      const at = indexArg(key, bytes.length);
      if (at === bytes.length) throw new FuncError("reflect: string index out of range");
      current = new GoInt(bytes[at]!, "uint8");
    } else if (current instanceof GoSlice) {
      const at = indexArg(key, current.items.length);
      if (at === current.items.length) throw new FuncError("reflect: slice index out of range");
      current = current.items[at];
    } else if (current instanceof GoMap) {
      const name = key === undefined || key === null ? "" : key;
      if (typeof name !== "string") throw new FuncError(`value has type ${goTypeName(name)}; should be string`);
      current = current.entries.has(name) ? current.entries.get(name) : current.zero;
    } else throw new FuncError(`can't index item of type ${goTypeName(current)}`);
  }
  return current;
}

function slice([item, ...indexes]: GoValue[]): GoValue {
  if (item === undefined || item === null) throw new FuncError("slice of untyped nil");
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`);
  let length: number;
  if (typeof item === "string") {
    if (indexes.length === 3) throw new FuncError("cannot 3-index slice a string");
    length = Buffer.byteLength(item);
  } else if (item instanceof GoSlice) length = item.items.length;
  else throw new FuncError(`can't slice item of type ${goTypeName(item)}`);
  const bounds = [0, length, length];
  indexes.forEach((key, i) => (bounds[i] = indexArg(key, length)));
  const [from = 0, to = length, max = length] = bounds;
  if (from > to) throw new FuncError(`invalid slice index: ${from} > ${to}`);
  if (indexes.length === 3 && to > max) throw new FuncError(`invalid slice index: ${to} > ${max}`);
  if (typeof item === "string") return Buffer.from(item, "utf8").subarray(from, to).toString("utf8");
  return new GoSlice(item.items.slice(from, to), item.type);
}

function length([item]: GoValue[]): GoValue {
  if (item === null) throw new FuncError("len of nil pointer");
  if (typeof item === "string") return new GoInt(Buffer.byteLength(item));
  if (item instanceof GoSlice) return new GoInt(item.items.length);
  if (item instanceof GoMap) return new GoInt(item.entries.size);
  if (item === undefined) throw new FuncError("reflect: call of reflect.Value.Type on zero Value");
  throw new FuncError(`len of type ${goTypeName(item)}`);
}

// html, js and urlquery: one string argument as it is, otherwise fmt.Sprint of all.

const escapeArgs = (args: GoValue[]): string => (args.length === 1 && typeof args[0] === "string" ? args[0] : goSprint(args));

function htmlEscape(text: string): string {
  const entities: Record<string, string> = { "\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;" };
  return text.replace(/[\0"'&<>]/g, (c) => entities[c]!);
}

function jsEscape(text: string): string {
  let escaped = "";
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (char === "\\") escaped += "\\\\";
    else if (char === "'") escaped += "\\'";
    else if (char === '"') escaped += '\\"';
    else if (char === "<" || char === ">" || char === "&" || char === "=") escaped += `\\u00${code.toString(16).toUpperCase()}`;
    else if (code < 0x20 || (code >= 0x7f && !/[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]/u.test(char))) escaped += code > 0xffff ? char : `\\u${code.toString(16).toUpperCase().padStart(4, "0")}`;
    else escaped += char;
  }
  return escaped;
}

function queryEscape(text: string): string {
  return [...Buffer.from(text, "utf8")]
    .map((byte) => {
      const char = String.fromCharCode(byte);
      if (/[A-Za-z0-9\-_.~]/.test(char)) return char;
      if (char === " ") return "+";
      return `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

// docker's functions (docker/cli templates/templates.go).

/** strings.Title: the first letter of each word in upper case; a word starts after a separator. */
function title(text: string): string {
  let previous = " ";
  let result = "";
  for (const char of text) {
    const separator = previous.charCodeAt(0) <= 0x7f ? !/[0-9A-Za-z_]/.test(previous) : !/[\p{L}\p{Nd}]/u.test(previous) && /\s/u.test(previous);
    result += separator ? mapRune(char, "upper") : char;
    previous = char;
  }
  return result;
}

/** unicode.ToUpper or ToLower of one rune: one rune back, the rune itself where the mapping is longer (ß). */
function mapRune(char: string, to: "upper" | "lower"): string {
  const mapped = to === "upper" ? char.toUpperCase() : char.toLowerCase();
  return [...mapped].length === 1 ? mapped : char;
}

const mapString = (text: string, to: "upper" | "lower"): string => [...text].map((char) => mapRune(char, to)).join("");

/** strings.Split. */
function split(text: string, separator: string): GoSlice {
  const parts = separator === "" ? [...text] : text.split(separator);
  return new GoSlice(parts, STRINGS);
}

function repeat(count: number): string {
  if (count < 0) throw new FuncError("strings: negative Repeat count");
  return " ".repeat(count);
}

const stringArg = (value: GoValue): string => value as string;
const intArg = (value: GoValue): number => (value as GoInt).value;

const FUNCTIONS: Record<string, GoFunction> = {
  and: { params: ["value"], variadic: "value", call: () => undefined },
  or: { params: ["value"], variadic: "value", call: () => undefined },
  call: { params: ["value"], variadic: "value", call: () => undefined },
  not: { params: ["value"], call: ([value]) => !goTruth(value) },
  len: { params: ["value"], call: length },
  index: { params: ["value"], variadic: "value", call: index },
  slice: { params: ["value"], variadic: "value", call: slice },
  print: { params: [], variadic: "any", call: goSprint },
  println: { params: [], variadic: "any", call: goSprintln },
  printf: { params: ["string"], variadic: "any", call: ([format, ...args]) => goSprintf(stringArg(format), args) },
  html: { params: [], variadic: "any", call: (args) => htmlEscape(escapeArgs(args)) },
  js: { params: [], variadic: "any", call: (args) => jsEscape(escapeArgs(args)) },
  urlquery: { params: [], variadic: "any", call: (args) => queryEscape(escapeArgs(args)) },
  eq: { params: ["value"], variadic: "value", call: eq },
  ne: { params: ["value", "value"], call: (args) => !eq(args) },
  lt: { params: ["value", "value"], call: lt },
  le: { params: ["value", "value"], call: le },
  gt: { params: ["value", "value"], call: (args) => !le(args) },
  ge: { params: ["value", "value"], call: (args) => !lt(args) },
  json: {
    params: ["any"],
    call: ([value]) => {
      try {
        return goJson(value, false);
      } catch {
        return ""; // docker ignores the encoder's error and prints what it wrote: nothing
      }
    },
  },
  split: { params: ["string", "string"], call: ([text, separator]) => split(stringArg(text), stringArg(separator)) },
  join: { params: [STRINGS, "string"], call: ([items, separator]) => (items as GoSlice).items.join(stringArg(separator)) },
  title: { params: ["string"], call: ([text]) => title(stringArg(text)) },
  lower: { params: ["string"], call: ([text]) => mapString(stringArg(text), "lower") },
  upper: { params: ["string"], call: ([text]) => mapString(stringArg(text), "upper") },
  pad: {
    params: ["string", "int", "int"],
    call: ([text, prefix, suffix]) => (stringArg(text) === "" ? "" : repeat(intArg(prefix)) + stringArg(text) + repeat(intArg(suffix))),
  },
  truncate: {
    params: ["string", "int"],
    call: ([text, count]) => {
      const bytes = Buffer.from(stringArg(text), "utf8");
      const limit = intArg(count);
      if (bytes.length < limit) return stringArg(text);
      if (limit < 0) throw new FuncError(`runtime error: slice bounds out of range [:${limit}]`);
      return bytes.subarray(0, limit).toString("utf8");
    },
  },
};

/** docker's HeaderFunctions: the table header keeps its column names as they are. */
const HEADER_FUNCTIONS: Record<string, GoFunction> = {
  json: { params: ["string"], call: ([text]) => text },
  split: { params: ["string", "string"], call: ([text]) => text },
  join: { params: ["string", "string"], call: ([text]) => text },
  title: { params: ["string"], call: ([text]) => text },
  lower: { params: ["string"], call: ([text]) => text },
  upper: { params: ["string"], call: ([text]) => text },
  truncate: { params: ["string", "int"], call: ([text]) => text },
};
