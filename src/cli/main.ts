import { Command, CommanderError } from "commander";
import { systemReason, toLadingError, usage } from "../core/errors.js";
import { commandNameOf, helpTopicsOf, IMAGE_SUBCOMMANDS, jobNameOf, startWorkersFor } from "./early-start.js";
import { commanderErrorLine, printLine, type Terminal } from "./output.js";
import { drainStandardInput, releaseStandardInput } from "./standard-input.js";

type SetExit = (code: number) => void;
type Register = (program: Command, terminal: Terminal, setExit: SetExit) => void | Promise<void>;

/**
 * Each command module, the commands it registers, and how to load it. Only the module of the
 * command being run is imported: the others pull in the store, the server and every schema, which
 * costs start-up time and memory on every invocation. The order is the order of `lading help`.
 */
const COMMAND_MODULES: readonly { commands: readonly string[]; load: () => Promise<Register> }[] = [
  { commands: ["load"], load: async () => (await import("./load-command.js")).registerLoad },
  { commands: ["save", "convert"], load: async () => (await import("./save-command.js")).registerArchiveWriters },
  { commands: ["pull", "push"], load: async () => (await import("./registry-commands.js")).registerRegistryCommands },
  { commands: ["images", "inspect", "tag", "rmi", "prune"], load: async () => (await import("./image-commands.js")).registerImageCommands },
  { commands: ["verify"], load: async () => (await import("./verify-command.js")).registerVerify },
  { commands: ["serve"], load: async () => (await import("./serve-command.js")).registerServe },
  { commands: ["fsck"], load: async () => (await import("./fsck-command.js")).registerFsck },
  { commands: ["image"], load: async () => registerImageGroup },
];

async function registerImageGroup(program: Command, terminal: Terminal, setExit: SetExit): Promise<void> {
  const group = program.command("image").description(`manage images, as docker image does: ${IMAGE_SUBCOMMANDS.map(({ command, name }) => (name ? `${name} (${command})` : command)).join(", ")}`);
  // The top-level commands, registered on a program of their own and moved under `image`.
  const scratch = new Command().copyInheritedSettings(program);
  const wanted = new Set(IMAGE_SUBCOMMANDS.map(({ command }) => command));
  const modules = COMMAND_MODULES.filter((module) => module.commands.some((command) => wanted.has(command)));
  for (const register of await Promise.all(modules.map((module) => module.load()))) await register(scratch, terminal, setExit);
  for (const { command, name, aliases } of IMAGE_SUBCOMMANDS) {
    const subcommand = scratch.commands.find((candidate) => candidate.name() === command);
    if (subcommand === undefined) throw new Error(`image ${command}: no such command`);
    if (name !== undefined) subcommand.name(name);
    subcommand.aliases(aliases ?? []);
    group.addCommand(subcommand);
  }
}

/**
 * The program with the modules for `commandName` registered, or all of them when the name is
 * not one of lading's commands (help, an unknown or missing command: commander then lists or
 * suggests every command exactly as before).
 */
export async function buildProgram(terminal: Terminal, setExit: SetExit, commandName?: string): Promise<Command> {
  const program = new Command();
  program
    .name("lading")
    .description("docker save / docker load without a daemon: verified, streaming, digest-preserving image archives")
    .version("0.1.0")
    .option("--root <dir>", "store directory (default: $LADING_ROOT, else $XDG_DATA_HOME/lading or ~/.local/share/lading)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => terminal.stdout.write(text),
      writeErr: (text) => terminal.stderr.write(text),
      outputError: (text, write) => write(commanderErrorLine(text)),
    });
  const owner = COMMAND_MODULES.find((module) => commandName !== undefined && module.commands.includes(commandName));
  const modules = owner ? [owner] : COMMAND_MODULES;
  const registers = await Promise.all(modules.map((module) => module.load()));
  for (const register of registers) await register(program, terminal, setExit);
  return program;
}

/** Runs the CLI; resolves to the exit code. Errors become one line on stderr, never a stack. */
export async function main(argv: string[], terminal: Terminal = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let exitCode = 0;
  const commandName = commandNameOf(argv);
  startWorkersFor(jobNameOf(argv)); // done already when run by bin/lading.js; then this starts none
  try {
    const program = await buildProgram(terminal, (code) => (exitCode = code), commandName);
    const topics = helpTopicsOf(argv);
    if (topics !== undefined && topics.length > 0) {
      terminal.stdout.write(helpTopicCommand(program, topics).helpInformation());
      return 0;
    }
    await program.parseAsync(argv);
    if (exitCode === 0) await drainStandardInput();
    else releaseStandardInput();
    return exitCode;
  } catch (error) {
    releaseStandardInput();
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const failure = toLadingError(error);
    printLine(terminal.stderr, `lading: ${failure.kind === "usage" ? "usage error" : "error"}: ${failure.message}`);
    if (process.env.LADING_DEBUG && error instanceof Error) printLine(terminal.stderr, error.stack);
    return failure.exitCode;
  }
}

/**
 * The command `lading help WORD...` asks about, as docker finds it: `help image ls` is `image ls`,
 * and `help help` the program itself (commander would print the whole help as an error). Words
 * that name no command are refused in docker's words (`unknown help topic: nosuch`), where
 * commander would print the whole help as if they had not been given.
 */
function helpTopicCommand(program: Command, topics: string[]): Command {
  if (topics[0] === "help") {
    if (topics.length === 1) return program;
    throw usage(`unknown help topic: ${topics.slice(1).join(" ")}`);
  }
  let command = program;
  for (const [index, topic] of topics.entries()) {
    const sub = command.commands.find((candidate) => candidate.name() === topic || candidate.aliases().includes(topic));
    if (sub === undefined) throw usage(`unknown help topic: ${topics.slice(index).join(" ")}`);
    command = sub;
  }
  return command;
}

/**
 * The line for a standard stream that failed to take what was written to it (a full disk, EIO), in
 * docker's words: `lading: error: write /dev/stdout: no space left on device`. Only the write is
 * said: what the command changed in the store before it stays changed.
 */
export function outputFailureLine(stream: "stdout" | "stderr", error: unknown): string {
  return `lading: error: write /dev/${stream}: ${systemReason(error)}\n`;
}
