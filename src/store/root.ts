/**
 * Where the store lives on disk, and its directory layout.
 *
 * Layout under the root:
 *   blobs/sha256/<hex>, blobs/sha512/<hex>   committed blobs (see content-store.ts)
 *   ingest/<pid>-<random>                    blobs being written
 *   images/                                  per-image metadata
 *   leases/                                  one file per running load (see gc-lock.ts)
 *   repositories.json                        the reference store
 */
import { mkdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { cannotCreateDirectory, invalid, isWriteRefusal, LadingError, usage } from "../core/errors.js";

export interface StorePaths {
  root: string;
  blobs: string;
  ingest: string;
  repositoriesJson: string;
  images: string;
  /** Diff IDs verified by decompressing stored layer blobs (see DiffIdRecords); made on first use. */
  diffIds: string;
}

export interface StoreRootOptions {
  /** The `--root DIR` option; wins over every environment variable. */
  root?: string;
  /** Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * `--root DIR`, else `$LADING_ROOT`, else `$XDG_DATA_HOME/lading`, else `~/.local/share/lading`.
 * Always an absolute path. Empty variables count as unset, and so does a relative
 * `XDG_DATA_HOME` (the XDG base directory spec says to ignore it).
 */
export function resolveStoreRoot(opts: StoreRootOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.root !== undefined) {
    if (opts.root === "") throw usage("--root: the store directory must not be empty");
    return path.resolve(opts.root);
  }
  const fromEnv = env.LADING_ROOT;
  if (fromEnv) return path.resolve(fromEnv);
  const dataHome = env.XDG_DATA_HOME;
  if (dataHome && path.isAbsolute(dataHome)) return path.join(dataHome, "lading");
  const home = env.HOME || homedir();
  return path.resolve(home, ".local", "share", "lading");
}

export function storePaths(root: string): StorePaths {
  const absolute = path.resolve(root);
  return {
    root: absolute,
    blobs: path.join(absolute, "blobs"),
    ingest: path.join(absolute, "ingest"),
    repositoriesJson: path.join(absolute, "repositories.json"),
    images: path.join(absolute, "images"),
    diffIds: path.join(absolute, "diffids"),
  };
}

/**
 * Creates the layout if missing and returns its paths. A root that this call creates gets mode
 * 0700 (the store may hold private images); an existing root keeps the mode its owner gave it.
 *
 * With `forWriting: false` (opening a store, which every command does) a directory that cannot
 * be made because the store cannot be written (read-only media, a user who may only read it, a
 * full disk) is left out: reading needs none of them (an empty one, such as `leases/` or
 * `ingest/`, may be gone from a copy of the store), and a command that writes makes them first,
 * with `forWriting` (the default), failing in one line naming the one it cannot make.
 */
export async function ensureStoreLayout(root: string, { forWriting = true }: { forWriting?: boolean } = {}): Promise<StorePaths> {
  const paths = storePaths(root);
  await makeDirectories(paths.root).catch((error: unknown) => {
    throw rootNotADirectory(paths.root, error);
  });
  const dirs = [path.join(paths.blobs, "sha256"), path.join(paths.blobs, "sha512"), paths.ingest, paths.images, path.join(paths.root, "leases")];
  const made = await Promise.allSettled(dirs.map(makeDirectories));
  // The first failure in this order, not whichever came first: the same error every time.
  for (const [index, result] of made.entries()) {
    if (result.status === "fulfilled" || (!forWriting && isWriteRefusal(result.reason))) continue;
    throw cannotCreateDirectory(dirs[index] as string, result.reason);
  }
  return paths;
}

/**
 * `mkdir -p` with mode 0700, one level at a time. Not mkdir's `recursive`: on Node 20 it spins
 * forever where mkdir says ENOENT although the parent exists (under /proc), and it says ENOENT
 * for what mkdir refused otherwise (a read-only or full file system), so a parent is made here
 * at most once and a second ENOENT is final.
 */
export async function makeDirectories(dir: string): Promise<void> {
  try {
    await makeDirectory(dir);
  } catch (error) {
    const parent = path.dirname(dir);
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === dir) throw error;
    await makeDirectories(parent);
    await makeDirectory(dir).catch((again: unknown) => {
      if ((again as NodeJS.ErrnoException).code !== "ENOENT") throw again;
      throw new LadingError("io", `cannot create the directory ${dir}: ${parent} exists but takes no new directory (mkdir: no such file or directory)`, { subject: dir, cause: again });
    });
  }
}

/** One mkdir; a directory that is already there (made by a concurrent command, say) is fine. */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const existing = await stat(dir).catch(() => undefined);
    if (!existing?.isDirectory()) throw error;
  }
}

/** mkdir's EEXIST and ENOTDIR, said in the store's words; anything else as it came. */
function rootNotADirectory(root: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EEXIST") return invalid(`the store root ${root} is not a directory`, root);
  if (code === "ENOTDIR") return invalid(`the store root ${root} cannot be created: part of its path is not a directory`, root);
  return error;
}
