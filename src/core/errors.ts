/**
 * Typed errors. Every error lading reports to a user is a LadingError: one line, naming the
 * entry or field at fault, with a class that maps to an exit code (and, in the server, to the
 * HTTP status Docker uses for the same class).
 */
export type ErrorKind =
  | "invalid" // bad input: archive, JSON document, reference, argument value
  | "not-found" // a reference, image, entry or blob that does not exist
  | "conflict" // a tag that would move without force, a reference still in use
  | "unsupported" // a format or feature lading refuses on purpose (schema 1, xz without a library)
  | "usage" // wrong command-line usage
  | "io"; // the filesystem or a stream failed

export const EXIT_CODES: Record<ErrorKind, number> = {
  invalid: 1,
  "not-found": 1,
  conflict: 1,
  unsupported: 1,
  io: 1,
  usage: 2,
};

export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  "not-found": 404,
  conflict: 409,
  unsupported: 400,
  usage: 400,
  io: 500,
};

/** What a report can say of an error beyond its message: the digest in question, and for a mismatch what was claimed against what the content is. */
export interface ErrorDetail {
  digest?: string;
  /** What expected and actual are: the blob's digest, its size, or its diff ID (a layer's uncompressed digest). */
  compared?: "digest" | "size" | "diffId";
  expected?: string | number;
  actual?: string | number;
}

export class LadingError extends Error {
  readonly kind: ErrorKind;
  /** The archive entry, file or JSON field at fault, when there is one. */
  readonly subject: string | undefined;
  readonly detail: ErrorDetail | undefined;

  constructor(kind: ErrorKind, message: string, options?: { subject?: string; cause?: unknown; detail?: ErrorDetail }) {
    super(message.replace(/\s*\n\s*/g, " "), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LadingError";
    this.kind = kind;
    this.subject = options?.subject;
    this.detail = options?.detail;
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

export const invalid = (message: string, subject?: string, detail?: ErrorDetail): LadingError =>
  new LadingError("invalid", message, { subject, ...(detail ? { detail } : {}) });
export const notFound = (message: string, subject?: string, detail?: ErrorDetail): LadingError =>
  new LadingError("not-found", message, { subject, ...(detail ? { detail } : {}) });
export const conflict = (message: string, subject?: string): LadingError =>
  new LadingError("conflict", message, { subject });
export const unsupported = (message: string, subject?: string): LadingError =>
  new LadingError("unsupported", message, { subject });
export const usage = (message: string): LadingError => new LadingError("usage", message);

export function isLadingError(error: unknown): error is LadingError {
  return error instanceof LadingError;
}

/**
 * What a system error says, without Node's code and call: "no space left on device" for
 * "ENOSPC: no space left on device, write" (or "…, open '/path'"). Anything else: its message.
 */
export function systemReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (typeof (error as NodeJS.ErrnoException | undefined)?.code !== "string") return message;
  return message.replace(/^[A-Z0-9_]+: /, "").replace(/, [a-z0-9_]+(?: '.*')?$/s, "");
}

/** Whether `error` is one the file system or a stream gave (it has a code), not one of lading's. */
export function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && !(error instanceof LadingError) && typeof (error as NodeJS.ErrnoException).code === "string";
}

/**
 * A write of `file` that failed (creating, writing, syncing or renaming it: a full disk, EIO), in
 * one line naming it (`cannot write FILE: no space left on device`), as dockerd names the file it
 * failed to write. A LadingError passes as it is: it already says what failed.
 */
export function cannotWrite(file: string, error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  return new LadingError("io", `cannot write ${file}: ${systemReason(error)}`, { subject: file, cause: error });
}

/** A file that could not be removed (a directory this user may not write, read-only media), in one line naming it. */
export function cannotRemove(file: string, error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  return new LadingError("io", `cannot remove ${file}: ${systemReason(error)}`, { subject: file, cause: error });
}

/** The failures that say a file system takes no writes here, or no more: read-only, not this user's, full. */
const WRITE_REFUSALS = new Set(["EROFS", "EACCES", "EPERM", "ENOSPC", "EDQUOT"]);

/** Whether `error` (or the system error a LadingError wraps) says the file system refuses writes (see WRITE_REFUSALS). */
export function isWriteRefusal(error: unknown): boolean {
  const cause = error instanceof LadingError ? error.cause : error;
  return WRITE_REFUSALS.has((cause as NodeJS.ErrnoException | undefined)?.code ?? "");
}

/** A directory that could not be made (a full disk, read-only media), in one line naming it. */
export function cannotCreateDirectory(dir: string, error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  return new LadingError("io", `cannot create the directory ${dir}: ${systemReason(error)}`, { subject: dir, cause: error });
}

/** `error` with `words` after its message, its kind, subject, detail and cause kept. */
export function withWordsAfter(error: LadingError, words: string): LadingError {
  return new LadingError(error.kind, `${error.message}${words}`, {
    ...(error.subject === undefined ? {} : { subject: error.subject }),
    ...(error.detail === undefined ? {} : { detail: error.detail }),
    cause: error.cause ?? error,
  });
}

/** Turns anything thrown into a LadingError, keeping one line and no stack. */
export function toLadingError(error: unknown): LadingError {
  if (error instanceof LadingError) return error;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return new LadingError("not-found", error.message, { cause: error });
    return new LadingError("io", error.message, { cause: error });
  }
  return new LadingError("io", String(error));
}
