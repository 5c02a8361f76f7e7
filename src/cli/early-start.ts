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

/**
 * docker's `image` management command: lading's own commands under the names `docker image` gives
 * them (`image ls` is `images`, `image rm` is `rmi`), in the order of `docker image --help`.
 */
export const IMAGE_SUBCOMMANDS: readonly { command: string; name?: string; aliases?: string[] }[] = [
  { command: "inspect" },
  { command: "load" },
  { command: "images", name: "ls", aliases: ["list"] },
  { command: "prune" },
  { command: "pull" },
  { command: "push" },
  { command: "rmi", name: "rm", aliases: ["remove"] },
  { command: "save" },
  { command: "tag" },
];

/** The index in argv (as process.argv) of the first word from `from` on that is not an option. */
function commandIndexOf(argv: readonly string[], from: number): number | undefined {
  for (let i = from; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--") return i + 1 < argv.length ? i + 1 : undefined;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(word)) {
      i++;
      continue;
    }
    if (word.startsWith("-")) continue;
    return i;
  }
  return undefined;
}

/** The command named on the command line (argv as process.argv), or undefined (help, version, none). */
export function commandNameOf(argv: readonly string[]): string | undefined {
  const index = commandIndexOf(argv, 2);
  return index === undefined ? undefined : argv[index];
}

/**
 * The words `lading help WORD...` asks about (argv as process.argv): `["image", "ls"]` for
 * `lading help image ls`, none for a bare `lading help`, undefined for another command line.
 */
export function helpTopicsOf(argv: readonly string[]): string[] | undefined {
  const index = commandIndexOf(argv, 2);
  if (index === undefined || argv[index] !== "help") return undefined;
  const topics: string[] = [];
  for (let next = commandIndexOf(argv, index + 1); next !== undefined; next = commandIndexOf(argv, next + 1)) topics.push(argv[next] as string);
  return topics;
}

/**
 * The lading command the command line runs: the command named, or for `image SUB` the command SUB
 * stands for (`image save` is `save`, `image ls` is `images`); undefined when there is none.
 */
export function jobNameOf(argv: readonly string[]): string | undefined {
  const index = commandIndexOf(argv, 2);
  if (index === undefined || argv[index] !== "image") return index === undefined ? undefined : argv[index];
  const subIndex = commandIndexOf(argv, index + 1);
  if (subIndex === undefined) return undefined;
  const word = argv[subIndex] as string;
  return IMAGE_SUBCOMMANDS.find(({ command, name, aliases }) => word === (name ?? command) || aliases?.includes(word))?.command;
}

/** Starts the probe workers if the command named will read an archive from disk. */
export function startWorkersFor(commandName: string | undefined): void {
  if (commandName !== undefined && ARCHIVE_READERS.has(commandName)) prestartProbeWorkers();
}
