// A fingerprint of a directory tree, for "the store was left byte-for-byte as it was" assertions:
// every file's sha256 and mode, every directory's and symlink's mode (and a symlink's target).
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { join, relative } from "node:path";

export interface TreeEntry {
  type: "file" | "dir" | "symlink" | "other";
  /** Permission bits, e.g. 0o600. */
  mode: number;
  /** `sha256:<hex>` of a file's content. */
  sha256?: string;
  /** A symlink's target. */
  target?: string;
}

/** Every entry under `root` (root itself excluded), keyed by its path relative to root, sorted. */
export async function snapshotTree(root: string): Promise<Record<string, TreeEntry>> {
  const entries: [string, TreeEntry][] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const key = relative(root, path);
      const info = await lstat(path);
      const mode = info.mode & 0o7777;
      if (info.isDirectory()) {
        entries.push([key, { type: "dir", mode }]);
        await walk(path);
      } else if (info.isFile()) {
        entries.push([key, { type: "file", mode, sha256: `sha256:${createHash("sha256").update(await readFile(path)).digest("hex")}` }]);
      } else if (info.isSymbolicLink()) {
        entries.push([key, { type: "symlink", mode, target: await readlink(path) }]);
      } else {
        entries.push([key, { type: "other", mode }]);
      }
    }
  };
  await walk(root);
  return Object.fromEntries(entries);
}

/** The files under `dir` (relative paths), or [] when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  try {
    return Object.entries(await snapshotTree(dir))
      .filter(([, entry]) => entry.type !== "dir")
      .map(([path]) => path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

/** Paths of blobs under `<root>/blobs` whose content does not hash to their name. */
export async function mismatchedBlobs(root: string): Promise<string[]> {
  const bad: string[] = [];
  const tree = await snapshotTree(join(root, "blobs"));
  for (const [path, entry] of Object.entries(tree)) {
    if (entry.type !== "file") continue;
    const [algorithm, hex] = path.split("/");
    if (algorithm !== "sha256" || entry.sha256 !== `sha256:${hex}`) bad.push(path);
  }
  return bad;
}
