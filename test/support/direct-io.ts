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
