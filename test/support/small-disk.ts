// A small tmpfs filled up to a given free space, and read-only bind mounts: what a full disk and
// read-only media do to a command, for real. Mounting needs root: without it these tests are
// skipped locally and fail in CI, where they run as root (as peers.ts treats a missing peer).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Whether this process may mount; in CI it must (a test that cannot run there fails instead). */
export function requireMounts(): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.env.CI === "true") throw new Error("the full-disk and read-only tests mount file systems, which needs root: run them as root in CI");
  return false;
}

export interface SmallDisk {
  readonly path: string;
  /** Leaves `bytes` free (a multiple of the page size; 0 fills the disk) with a filler file, `.filler`. */
  fillTo(bytes: number): void;
  /** Removes the filler. */
  empty(): void;
}

/**
 * Mounts a tmpfs of `size` (mount's syntax: `4m`) at a new directory under `parent`. Every mount
 * this file makes is listed for unmountAll, which afterAll calls whatever happened.
 */
export function mountSmallDisk(parent: string, name: string, size = "4m"): SmallDisk {
  const path = join(parent, name);
  mkdirSync(path, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", path]);
  mounted.push(path);
  const filler = join(path, ".filler");
  const empty = (): void => rmSync(filler, { force: true });
  return {
    path,
    fillTo(bytes) {
      empty();
      const { bavail, bsize } = statfsSync(path);
      const take = bavail * bsize - bytes;
      if (take > 0) writeFileSync(filler, Buffer.alloc(take));
    },
    empty,
  };
}

/** Makes `dir` read-only where it is (a read-only bind mount of itself); unmountAll undoes it. */
export function bindReadOnly(dir: string, at = dir): void {
  execFileSync("mount", ["--bind", dir, at]);
  mounted.push(at);
  execFileSync("mount", ["-o", "remount,bind,ro", at]);
}

const mounted: string[] = [];

/** Unmounts what this file mounted, the last first; one that is busy is detached (lazily unmounted). */
export function unmountAll(): void {
  for (const path of mounted.splice(0).reverse()) {
    try {
      execFileSync("umount", [path], { stdio: "pipe" });
    } catch {
      execFileSync("umount", ["-l", path], { stdio: "pipe" });
    }
  }
}
