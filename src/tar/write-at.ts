/** Positioned writes of a file descriptor, for writers that keep no file position of their own. */
import { write as fsWrite, writev as fsWritev } from "node:fs";

/** Writes every byte of `buffers` from `position`, going on after short writes. */
export function writeAllAt(fd: number, buffers: readonly Uint8Array[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let rest: readonly Uint8Array[] = buffers;
    let at = position;
    const next = (): void => {
      if (rest.length === 0) return resolve();
      const done = (error: NodeJS.ErrnoException | null, written: number): void => {
        if (error) return reject(error);
        at += written;
        rest = after(rest, written);
        next();
      };
      if (rest.length === 1) fsWrite(fd, rest[0] as Uint8Array, 0, (rest[0] as Uint8Array).length, at, done);
      else fsWritev(fd, rest, at, done);
    };
    next();
  });
}

/** What is left of `buffers` once their first `count` bytes are written. */
function after(buffers: readonly Uint8Array[], count: number): Uint8Array[] {
  let skip = count;
  const left: Uint8Array[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    left.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return left;
}
