/**
 * A separate process for test/store/lock.test.ts. The test transpiles this file and the sources
 * it imports to plain JavaScript and runs it with node (no TypeScript loader is installed).
 *
 *   tags <repositories.json> <worker name> <count>   addTag "contended:<name>-<i>" for i < count
 *   hold <lock target> <stale ms>                     take the lock, print "locked", wait forever
 */
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withFileLock } from "../../src/store/lock.js";
import { ReferenceStore } from "../../src/store/reference-store.js";

export function workerImageId(name: string, index: number): string {
  return `sha256:${createHash("sha256").update(`${name}-${index}`).digest("hex")}`;
}

async function addTags(file: string, name: string, count: number): Promise<void> {
  const store = new ReferenceStore(file);
  for (let i = 0; i < count; i++) {
    await store.addTag(`contended:${name}-${i}`, workerImageId(name, i));
  }
  process.stdout.write(`done ${name}\n`);
}

async function holdForever(target: string, staleMs: number): Promise<void> {
  await withFileLock(
    target,
    async () => {
      process.stdout.write("locked\n");
      await new Promise(() => setInterval(() => undefined, 1000));
    },
    { staleMs },
  );
}

async function main(argv: string[]): Promise<void> {
  const [mode, target = "", arg1 = "", arg2 = ""] = argv;
  if (mode === "tags") await addTags(target, arg1, Number(arg2));
  else if (mode === "hold") await holdForever(target, Number(arg1));
  else throw new Error(`unknown mode ${String(mode)}`);
}

// Only when run as a script, not when the test imports workerImageId. The module's URL is its real
// path; the script's path as given may go through a symbolic link (a temporary directory's).
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
