import { Command, CommanderError } from "commander";
import { toLadingError } from "../core/errors.js";
import { registerVerify } from "./verify-command.js";
import { registerServe } from "./serve-command.js";
import { registerLoad } from "./load-command.js";
import { registerFsck } from "./fsck-command.js";
import { registerArchiveWriters } from "./save-command.js";
import { registerImageCommands } from "./image-commands.js";
import { printLine, type Terminal } from "./output.js";

export function buildProgram(terminal: Terminal, setExit: (code: number) => void): Command {
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
    });
  registerLoad(program, terminal);
  registerArchiveWriters(program, terminal);
  registerImageCommands(program, terminal, setExit);
  registerVerify(program, terminal, setExit);
  registerServe(program, terminal);
  registerFsck(program, terminal, setExit);
  return program;
}

/** Runs the CLI; resolves to the exit code. Errors become one line on stderr, never a stack. */
export async function main(argv: string[], terminal: Terminal = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(terminal, (code) => (exitCode = code));
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const failure = toLadingError(error);
    printLine(terminal.stderr, `lading: ${failure.kind === "usage" ? "usage error" : "error"}: ${failure.message}`);
    if (process.env.LADING_DEBUG && error instanceof Error) printLine(terminal.stderr, error.stack);
    return failure.exitCode;
  }
}
