import { readlink } from "node:fs/promises";
import { toLadingError, LadingError } from "../core/errors.js";

/**
 * repositories.json at fault, not what a command or a request asked: it cannot be read, or it
 * is no valid document. `lading serve` answers it with 500, as dockerd answers a problem of its
 * own; its kind stays the cause's (fsck repairs an invalid file, the CLI exits 1 either way).
 */
export class ReferencesFileError extends LadingError {}

/** `error` (a parse's, a read's) as the file's problem. */
export function asReferencesFileError(error: unknown): ReferencesFileError {
  if (error instanceof ReferencesFileError) return error;
  const failure = toLadingError(error);
  return new ReferencesFileError(failure.kind, failure.message, { subject: failure.subject, cause: error });
}

/** A failure to open or read `filePath`, as one line that names it. */
export function referencesFileError(filePath: string, error: unknown): ReferencesFileError {
  const { code, path: named } = error as NodeJS.ErrnoException;
  // An error of the read itself (a directory, EIO) names no file, unlike one of the open.
  if (code === "EISDIR") return new ReferencesFileError("io", `${filePath}: is a directory`, { subject: filePath, cause: error });
  if (named === undefined) return new ReferencesFileError("io", `${filePath}: ${toLadingError(error).message}`, { subject: filePath, cause: error });
  return asReferencesFileError(error);
}

/**
 * `filePath` is not there, where a file was read before (a long-running reader's rule: see
 * WatchedReferences): a symbolic link to a file that is gone is named as one. The remedy says
 * how to go on without it: `reloadHint` is what makes the reader take its absence as an empty store.
 */
export async function missingReferencesFile(filePath: string, reloadHint: string): Promise<ReferencesFileError> {
  const what = await missingFileWords(filePath);
  const remedy = `put it back, or, to start with no references, write {"Repositories":{}} to it or ${reloadHint}`;
  return new ReferencesFileError("io", `${filePath}: ${what}: ${remedy}`, { subject: filePath });
}

/** How a missing repositories.json is missing: gone, or a symbolic link whose target is gone. */
export async function missingFileWords(filePath: string): Promise<string> {
  const target = await readlink(filePath).catch(() => undefined);
  return target === undefined ? "no such file (moved or deleted?)" : `a symbolic link to ${target}, which does not exist`;
}
