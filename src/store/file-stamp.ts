/**
 * Stamps of repositories.json: what tells one version of the file from another without reading
 * it. A failure other than a missing file is the file's problem (see references-file-error.ts).
 */
import { open, stat } from "node:fs/promises";
import { referencesFileError } from "./references-file-error.js";

/** What identifies one version of a file without reading it; null when there is no file. */
export type FileStamp = { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint } | null;

export async function statStamp(filePath: string): Promise<FileStamp> {
  try {
    return stampOf(await stat(filePath, { bigint: true }));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw referencesFileError(filePath, error);
  }
}

/** The bytes of `filePath` and the stamp of the same version of it: both from one open descriptor. */
export async function readWithStamp(filePath: string): Promise<{ stamp: FileStamp; bytes: Buffer | null }> {
  let handle;
  try {
    handle = await open(filePath, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { stamp: null, bytes: null };
    throw referencesFileError(filePath, error);
  }
  try {
    const stamp = stampOf(await handle.stat({ bigint: true }));
    const bytes = await handle.readFile().catch((error: unknown) => {
      throw referencesFileError(filePath, error);
    });
    return { stamp, bytes };
  } finally {
    await handle.close();
  }
}

function stampOf(info: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): FileStamp {
  return { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  if (a === null || b === null) return a === b;
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}
