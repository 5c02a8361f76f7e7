// A store as a process that may not write it sees it: for root (whom permissions do not stop) a
// read-only bind mount, for anyone else the same tree with write permission removed.
import { execFileSync } from "node:child_process";

export interface ReadOnlyView {
  path: string;
  /** What a write there fails with, as fsck words it. */
  refusal: string;
  release: () => void;
}

export function readOnlyView(root: string, mountPoint: string): ReadOnlyView {
  if (process.getuid?.() !== 0) {
    execFileSync("chmod", ["-R", "a-w", root]);
    return { path: root, refusal: "permission denied", release: () => execFileSync("chmod", ["-R", "u+w", root]) };
  }
  execFileSync("mount", ["--bind", root, mountPoint]);
  execFileSync("mount", ["-o", "remount,bind,ro", mountPoint]);
  return { path: mountPoint, refusal: "read-only file system", release: () => execFileSync("umount", [mountPoint]) };
}
