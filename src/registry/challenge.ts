/**
 * WWW-Authenticate parsing (RFC 7235): one header value may carry several challenges, each a
 * scheme followed by comma-separated `name=value` parameters whose values may be quoted strings
 * containing commas and backslash escapes. Pure: no I/O.
 */
export interface Challenge {
  /** Lowercased scheme: "basic", "bearer", ... */
  scheme: string;
  /** Parameter names lowercased; values unquoted. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

class Scanner {
  position = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.position >= this.text.length;
  }

  peek(): string {
    return this.text[this.position] ?? "";
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") this.position++;
  }

  skipSeparators(): void {
    while (this.peek() === " " || this.peek() === "\t" || this.peek() === ",") this.position++;
  }

  token(): string {
    const start = this.position;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.position++;
    return this.text.slice(start, this.position);
  }

  quoted(): string {
    this.position++; // opening quote
    let value = "";
    while (!this.done) {
      const c = this.peek();
      this.position++;
      if (c === '"') return value;
      if (c === "\\" && !this.done) {
        value += this.peek();
        this.position++;
      } else {
        value += c;
      }
    }
    return value;
  }

  /** Value of a parameter: a quoted string or a token (token68 padding `=` allowed). */
  value(): string {
    if (this.peek() === '"') return this.quoted();
    const start = this.position;
    while (!this.done && this.peek() !== "," && this.peek() !== " " && this.peek() !== "\t") this.position++;
    return this.text.slice(start, this.position);
  }
}

/** Parses every challenge of one or more WWW-Authenticate header values. Unparsable tails are ignored. */
export function parseChallenges(headers: string | readonly string[]): Challenge[] {
  const values = typeof headers === "string" ? [headers] : headers;
  const challenges: Challenge[] = [];
  for (const value of values) challenges.push(...parseOne(value));
  return challenges;
}

function parseOne(header: string): Challenge[] {
  const s = new Scanner(header);
  const challenges: Challenge[] = [];
  let current: Challenge | undefined;
  while (true) {
    s.skipSeparators();
    if (s.done) break;
    const start = s.position;
    const name = s.token();
    if (name === "") break;
    s.skipSpaces();
    if (s.peek() === "=" && current !== undefined) {
      s.position++;
      s.skipSpaces();
      current.params[name.toLowerCase()] = s.value();
      continue;
    }
    if (s.peek() === "=" && current === undefined) break;
    // A token not followed by "=" starts a new challenge.
    s.position = start + name.length;
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
  }
  return challenges;
}
