/**
 * A command that waits over a second for a lock another one holds (or a killed one left) says so
 * on stderr, in this one line per lock. Tests that run commands side by side, or after a kill,
 * take it out before asserting that nothing else was said.
 */
export function withoutLockWaits(stderr: string): string {
  return stderr.replace(/^lading: waiting for \S+\.lock: another lading command holds it \(one that died is taken over once it is 10 s old\)\n/gm, "");
}
