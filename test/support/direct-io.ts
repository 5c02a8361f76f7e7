import { closeSync, constants, openSync } from "node:fs";

/** Whether the file system of this existing file takes O_DIRECT (ext4 and xfs do; tmpfs before Linux 6.6 does not). */
export function takesDirect(path: string): boolean {
  if (constants.O_DIRECT === undefined) return false;
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}

/** `length` bytes that differ by `seed` and repeat only every 256 bytes, for checking what a writer put where. */
export function patternBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return bytes;
}
