/**
 * Replaces a file so that readers and crashes only ever see the old or the new content:
 * temp file in the same directory, write, fsync, rename over the target, fsync the directory.
 * With `durable: false` the two fsyncs are left out: readers still see the old or the new
 * content whole, but after a crash the file may be empty or missing (for data that can be
 * worked out again).
 */
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import { removeOnExit } from "./exit-cleanup.js";
import { OWNER_TAG, ownerTag, parseOwnerTag, removeFilesOfDeadProcesses, type Leftovers } from "./process-alive.js";

const TEMPORARY = new RegExp(`^\\..+\\.tmp-(${OWNER_TAG})-[0-9a-f]{12}$`);

export interface AtomicWriteOptions {
  /** Leave out the fsyncs (see above). Default true. */
  durable?: boolean;
  /** Runs after the temp file is complete, just before the rename; throwing cancels the write. */
  beforeRename?: () => Promise<void>;
}

export async function writeFileAtomic(filePath: string, data: string | Buffer, mode = 0o600, { durable = true, beforeRename }: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(filePath);
  const tempPath = path.join(dir, `.${path.basename(filePath)}.tmp-${ownerTag()}-${randomBytes(6).toString("hex")}`);
  const forget = removeOnExit(tempPath);
  try {
    const file = await open(tempPath, "wx", mode);
    try {
      await file.writeFile(data);
      // The creation mode is filtered by the umask; set it exactly.
      await file.chmod(mode);
      if (durable) await file.sync();
    } finally {
      await file.close();
    }
    await beforeRename?.();
    await rename(tempPath, filePath);
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    throw error;
  } finally {
    forget();
  }
  if (durable) await syncDirectory(dir);
}

/** Makes a rename in `dir` durable. Some filesystems refuse to fsync a directory: that is not fatal. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, "r");
    await handle.sync();
  } catch {
    // EISDIR/EINVAL/EPERM on exotic filesystems: the rename itself already happened.
  } finally {
    await handle?.close();
  }
}

/** Removes (or only counts) the temp files writeFileAtomic left in `dir` when its process was killed. */
export function removeStaleTemporaries(dir: string, options: { remove?: boolean } = {}): Promise<Leftovers> {
  return removeFilesOfDeadProcesses(
    dir,
    (name) => {
      const owner = TEMPORARY.exec(name)?.[1];
      return owner === undefined ? undefined : parseOwnerTag(owner);
    },
    options,
  );
}

/** Removes a file; false when there was none. Any other failure throws. */
export async function removeIfPresent(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}
