/**
 * Go's path.Match (Go 1.16 and later), which docker's reference filter uses: `*` any run of
 * characters but `/`, `?` one character but `/`, `[...]` a class (`^` negates it; ranges `a-z`;
 * it may match `/`), `\` escapes the next character. A port rather than a RegExp: Go commits to
 * the first place each chunk after a `*` matches and never backtracks, so `*[/e]*d` does not
 * match `fixture/imported` in Go (nor in docker) though the equivalent RegExp would.
 */

/** Go's path.ErrBadPattern: the pattern is malformed, whatever name it is matched against. */
export class GlobSyntaxError extends Error {
  constructor() {
    super("syntax error in pattern");
    this.name = "GlobSyntaxError";
  }
}

/** Whether `name` matches `pattern`; throws GlobSyntaxError for a malformed pattern. */
export function globMatch(pattern: string, name: string): boolean {
  let rest = [...pattern];
  let text = [...name];
  outer: while (rest.length > 0) {
    const { star, chunk, after } = scanChunk(rest);
    rest = after;
    // A trailing * matches the rest of the name unless it holds a /.
    if (star && chunk.length === 0) return !text.includes("/");
    const here = matchChunk(chunk, text);
    if (here !== undefined && (here.length === 0 || rest.length > 0)) {
      text = here;
      continue;
    }
    if (star) {
      for (let i = 0; i < text.length && text[i] !== "/"; i++) {
        const skipped = matchChunk(chunk, text.slice(i + 1));
        if (skipped === undefined || (rest.length === 0 && skipped.length > 0)) continue;
        text = skipped;
        continue outer;
      }
    }
    // Go checks the rest of the pattern before it answers no.
    while (rest.length > 0) {
      const next = scanChunk(rest);
      rest = next.after;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return text.length === 0;
}

/** Whether the pattern is well formed (Go's Match returns no error for it). */
export function isValidGlob(pattern: string): boolean {
  try {
    globMatch(pattern, "");
    return true;
  } catch (error) {
    if (error instanceof GlobSyntaxError) return false;
    throw error;
  }
}

/** Leading stars, then everything up to the next * outside a class. */
function scanChunk(pattern: string[]): { star: boolean; chunk: string[]; after: string[] } {
  let start = 0;
  while (start < pattern.length && pattern[start] === "*") start++;
  let inClass = false;
  let i = start;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      if (i + 1 < pattern.length) i++;
    } else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "*" && !inClass) break;
  }
  return { star: start > 0, chunk: pattern.slice(start, i), after: pattern.slice(i) };
}

/**
 * Matches a chunk (no `*`) at the start of `text`: what is left of the text, or undefined when it
 * does not match. Reads the whole chunk even after a mismatch, to find a malformed one.
 */
function matchChunk(chunk: string[], text: string[]): string[] | undefined {
  let failed = false;
  let at = 0;
  let i = 0;
  while (i < chunk.length) {
    if (!failed && at >= text.length) failed = true;
    const c = chunk[i] as string;
    if (c === "[") {
      const subject = failed ? undefined : text[at++];
      i++;
      const negated = chunk[i] === "^";
      if (negated) i++;
      let inClass = false;
      let ranges = 0;
      for (;;) {
        if (chunk[i] === "]" && ranges > 0) {
          i++;
          break;
        }
        const low = classCharacter(chunk, i);
        let high = low;
        i = low.next;
        if (chunk[i] === "-") {
          high = classCharacter(chunk, i + 1);
          i = high.next;
        }
        if (subject !== undefined && low.character <= codePoint(subject) && codePoint(subject) <= high.character) inClass = true;
        ranges++;
      }
      if (inClass === negated) failed = true;
    } else if (c === "?") {
      if (!failed && text[at++] === "/") failed = true;
      i++;
    } else {
      let literal = c;
      if (c === "\\") {
        i++;
        if (i >= chunk.length) throw new GlobSyntaxError();
        literal = chunk[i] as string;
      }
      if (!failed && text[at++] !== literal) failed = true;
      i++;
    }
  }
  return failed ? undefined : text.slice(at);
}

/** Go's getEsc: one (possibly escaped) character of a class, which must be followed by more of the chunk. */
function classCharacter(chunk: string[], at: number): { character: number; next: number } {
  let i = at;
  const first = chunk[i];
  if (first === undefined || first === "-" || first === "]") throw new GlobSyntaxError();
  if (first === "\\") {
    i++;
    if (i >= chunk.length) throw new GlobSyntaxError();
  }
  const character = codePoint(chunk[i] as string);
  if (i + 1 >= chunk.length) throw new GlobSyntaxError();
  return { character, next: i + 1 };
}

function codePoint(character: string): number {
  return character.codePointAt(0) ?? 0;
}
