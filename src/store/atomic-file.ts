/**
 * Replaces a file so that readers and crashes only ever see the old or the new content:
 * temp file in the same directory, write, fsync, rename over the target, fsync the directory.
 * With `durable: false` the two fsyncs are left out: readers still see the old or the new
 * content whole, but after a crash the file may be empty or missing (for data that can be
 * worked out again).
 *
 * The new file keeps the mode of the one it replaces, and its group (written by root, its owner
 * too), so that a store its owner opened to other readers (`chmod -R a+rX`, a group) stays
 * readable to them after each write; `mode` is for a file written for the first time. Only a
 * member of the group may give a file to it: for anyone else the new file has their own group
 * and the old mode.
 */
import { randomBytes } from "node:crypto";
import { open, rename, stat, unlink } from "node:fs/promises";
import path from "node:path";
import { cannotWrite } from "../core/errors.js";
import { removeOnExit } from "./exit-cleanup.js";
import { eachFile, fsyncPath } from "./file-batches.js";
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
  const tempPath = temporaryPathFor(filePath);
  const forget = removeOnExit(tempPath);
  try {
    await writeTemporary(tempPath, data, await permissionsFor(filePath, mode), durable);
    await beforeRename?.();
    await rename(tempPath, filePath);
  } catch (error) {
    await unlink(tempPath).catch(() => undefined);
    // Named by the file it would have replaced: the temp file is gone.
    throw cannotWrite(filePath, error);
  } finally {
    forget();
  }
  if (durable) await syncDirectory(dir);
}

/**
 * writeFileAtomic for many files at once, durably: every temp file is written, then each is
 * fsynced (a few at once, see file-batches.ts), then `beforeRename` runs once and each
 * is renamed over its target, then each directory is fsynced once. A failure before the renames
 * leaves every target as it was; one during them leaves the files renamed so far, each whole.
 */
export async function writeFilesAtomic(files: readonly { path: string; data: string | Buffer }[], mode: number, { beforeRename }: Pick<AtomicWriteOptions, "beforeRename"> = {}): Promise<void> {
  const temps = files.map((file) => {
    const tempPath = temporaryPathFor(file.path);
    return { ...file, tempPath, forget: removeOnExit(tempPath) };
  });
  const renamed = new Set<string>();
  const writing = (target: string, step: () => Promise<void>): Promise<void> => step().catch((error: unknown) => Promise.reject(cannotWrite(target, error)));
  try {
    await eachFile(temps, ({ tempPath, path: target, data }) => writing(target, async () => writeTemporary(tempPath, data, await permissionsFor(target, mode), false)));
    await eachFile(temps, (temp) => writing(temp.path, () => fsyncPath(temp.tempPath)));
    await beforeRename?.();
    for (const { tempPath, path: target } of temps) {
      await writing(target, () => rename(tempPath, target));
      renamed.add(tempPath);
    }
  } catch (error) {
    await Promise.all(temps.filter(({ tempPath }) => !renamed.has(tempPath)).map(({ tempPath }) => unlink(tempPath).catch(() => undefined)));
    throw error;
  } finally {
    for (const { forget } of temps) forget();
  }
  await Promise.all([...new Set(files.map((file) => path.dirname(file.path)))].map(syncDirectory));
}

function temporaryPathFor(filePath: string): string {
  return path.join(path.dirname(filePath), `.${path.basename(filePath)}.tmp-${ownerTag()}-${randomBytes(6).toString("hex")}`);
}

interface Permissions {
  mode: number;
  /** The owner and group to give the new file (a process running as root, replacing another user's file). */
  owner?: { uid: number; gid: number };
  /** The group to give the new file, if it gets another (a process not root, replacing a file of a group it may be in). */
  group?: number;
}

/** What a file written over `target` gets: the target's own permissions, or `mode` where there is no target yet. */
async function permissionsFor(target: string, mode: number): Promise<Permissions> {
  let existing;
  try {
    existing = await stat(target);
  } catch {
    // No file yet (or none that can be looked at: then the write fails on its own terms).
    return { mode };
  }
  const permissions = { mode: existing.mode & 0o777 };
  if (process.geteuid?.() !== 0) return { ...permissions, group: existing.gid };
  const othersFile = existing.uid !== process.geteuid() || existing.gid !== process.getegid?.();
  return othersFile ? { ...permissions, owner: { uid: existing.uid, gid: existing.gid } } : permissions;
}

async function writeTemporary(tempPath: string, data: string | Buffer, { mode, owner, group }: Permissions, durable: boolean): Promise<void> {
  const file = await open(tempPath, "wx", mode);
  try {
    await file.writeFile(data);
    // Where root may not give files away (NFS with root_squash), the file stays root's, as before.
    if (owner !== undefined) await file.chown(owner.uid, owner.gid).catch(() => undefined);
    if (group !== undefined && (await file.stat()).gid !== group) {
      // EPERM: not a member of that group, so the new file stays in the writer's own.
      await file.chown(-1, group).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
      });
    }
    // The creation mode is filtered by the umask; set it exactly.
    await file.chmod(mode);
    if (durable) await file.sync();
  } finally {
    await file.close();
  }
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
