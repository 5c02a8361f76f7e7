/**
 * What bin/lading.js runs before it loads the CLI's bundle: it reads the command's name off the
 * command line and, for a command that reads an archive from disk, starts the probe workers, so
 * that their boot (~100 ms) overlaps the loading of the bundle (~50 ms) and of the store.
 */
import { prestartProbeWorkers } from "../archive/probe-pool.js";

/** Commands that read an archive from disk, and so hand its large files to probe workers. */
const ARCHIVE_READERS = new Set(["load", "verify"]);

/** Global options that take a value, so the word after them is not the command. */
const GLOBAL_OPTIONS_WITH_VALUE = new Set(["--root"]);

/** The command named on the command line (argv as process.argv), or undefined (help, version, none). */
export function commandNameOf(argv: readonly string[]): string | undefined {
  for (let i = 2; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--") return argv[i + 1];
    if (GLOBAL_OPTIONS_WITH_VALUE.has(word)) {
      i++;
      continue;
    }
    if (word.startsWith("-")) continue;
    return word;
  }
  return undefined;
}

/** Starts the probe workers if the command named will read an archive from disk. */
export function startWorkersFor(commandName: string | undefined): void {
  if (commandName !== undefined && ARCHIVE_READERS.has(commandName)) prestartProbeWorkers();
}
