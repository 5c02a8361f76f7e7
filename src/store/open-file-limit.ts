/**
 * Running out of file descriptors (EMFILE: this process's limit; ENFILE: the system's) said in
 * words that name what was being opened and what to raise, instead of Node's bare
 * `EMFILE: too many open files, open '<ingest file>'`.
 */
import { readFileSync } from "node:fs";
import { LadingError } from "../core/errors.js";

export function isOpenFileLimit(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "EMFILE" || code === "ENFILE";
}

/** The process's soft limit on open files, as /proc says it (Linux); undefined elsewhere. */
function softOpenFileLimit(): string | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((text) => text.startsWith("Max open files"));
    return line?.split(/\s{2,}/)[1];
  } catch {
    return undefined;
  }
}

// Reading /proc needs a descriptor too, so the number is often unknown just when it is wanted.
const limitNow = (limit: string | undefined): string => (limit === undefined ? "" : `; ulimit -n is ${limit}`);

/** An "io" error naming `what` (`entry "NAME"`), at fault as `subject`, with the open-file limit as the cause. */
export function openFileLimitError(what: string, subject: string, error: unknown): LadingError {
  const code = (error as NodeJS.ErrnoException).code;
  const cause =
    code === "ENFILE"
      ? "the system's limit on open files is reached (ENFILE; see fs.file-max)"
      : `this process's open-file limit is reached (EMFILE${limitNow(softOpenFileLimit())}): raise it with ulimit -n`;
  return new LadingError("io", `${what}: cannot open a file to store it: ${cause}`, { subject, cause: error });
}

/** Runs `open` for `what` (`entry "NAME"`, `blob DIGEST`), turning an open-file-limit failure into one that names it. */
export async function namingOpenFileLimit<T>(what: string, subject: string, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    throw isOpenFileLimit(error) ? openFileLimitError(what, subject, error) : error;
  }
}
