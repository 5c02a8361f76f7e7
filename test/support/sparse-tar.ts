// Sparse archive entries as GNU tar writes them (`tar --sparse`), made at test time from files
// with real holes: lading refuses them, and these tests need the real thing, not a hand-made guess.
import { execFileSync } from "node:child_process";
import { closeSync, ftruncateSync, mkdirSync, openSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";

const HOLE_BLOCK = 4096;

/** GNU tar's ways of writing a sparse file, each with the words lading's refusal describes it by. */
export const SPARSE_FORMATS = [
  { tarOptions: ["--format=gnu"], described: "GNU tar's type 'S'" },
  { tarOptions: ["--format=pax", "--sparse-version=0.0"], described: "GNU tar's PAX sparse format 0.0" },
  { tarOptions: ["--format=pax", "--sparse-version=0.1"], described: "GNU tar's PAX sparse format 0.1" },
  { tarOptions: ["--format=pax", "--sparse-version=1.0"], described: "GNU tar's PAX sparse format 1.0" },
] as const;

/** Writes content with its all-zero 4 KiB blocks left as holes; throws when the filesystem fills them. */
export function writeWithHoles(path: string, content: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, "w");
  try {
    for (let offset = 0; offset < content.length; offset += HOLE_BLOCK) {
      const block = content.subarray(offset, offset + HOLE_BLOCK);
      if (block.some((byte) => byte !== 0)) writeSync(fd, block, 0, block.length, offset);
    }
    ftruncateSync(fd, content.length);
  } finally {
    closeSync(fd);
  }
  if (statSync(path).blocks * 512 >= content.length) throw new Error(`${path}: this filesystem keeps no holes, so tar --sparse would write a plain entry`);
}

/** `tar --sparse` of these entries of dir, in this order, owned by root at time 0. */
export function sparseTar(dir: string, names: readonly string[], tarOptions: readonly string[]): Buffer {
  return execFileSync("tar", ["--sparse", ...tarOptions, "--owner=0", "--group=0", "--mtime=@0", "-C", dir, "-cf", "-", ...names], { maxBuffer: 1 << 26 });
}
