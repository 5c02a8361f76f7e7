// The CLI run in this process, and a scratch directory for its files: for tests that run many
// short commands, where a process per command would cost more than the command.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { main } from "../../src/cli/main.js";
import { capturingTerminal, type CliResult } from "./archive-builder.js";

export async function ladingInProcess(...args: string[]): Promise<CliResult> {
  const captured = capturingTerminal();
  const code = await main(["node", "lading", ...args], captured.terminal);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

/** A scratch directory made before the file's tests and removed after them; `newPath` names a new file in it. */
export function scratchDirectory(prefix: string): { newPath: (name: string) => string } {
  let dir = "";
  let counter = 0;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return { newPath: (name) => join(dir, `${counter++}-${name}`) };
}
