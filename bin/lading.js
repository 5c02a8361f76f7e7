#!/usr/bin/env node
import { writeSync } from "node:fs";
import { jobNameOf, startWorkersFor } from "../dist/cli/early-start.js";

// Before the bundle loads: a command that reads an archive gets its probe workers booting meanwhile.
const command = jobNameOf(process.argv);
startWorkersFor(command);
const { main, outputFailureLine } = await import("../dist/cli/lading.js");

// A closed pipe (`lading images | head`) ends a listing; it is not an error worth a stack trace.
// An archive cut short on standard output is a failure (`lading save x | ssh host docker load`
// with the far end gone), whatever stage of its pipeline was writing. A failure of the save's
// own that its pipeline passed on to standard output is reported by the command, in one line.
const writesArchive = command === "save" || command === "convert";
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (stream === process.stdout && error.name === "LadingError") return;
    if (error.code === "EPIPE" && stream === process.stdout && writesArchive) {
      process.stderr.write("lading: error: the output closed before the archive was complete\n");
      process.exit(1);
    }
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    // Any other failure to write (a full disk, EIO) ends the command at once, in one line: on
    // standard error, written directly, as that stream may be the one that failed.
    try {
      writeSync(2, outputFailureLine(stream === process.stdout ? "stdout" : "stderr", error));
    } catch {
      // Standard error cannot take it either: the exit code still says it.
    }
    process.exit(1);
  });
}

// The event loop emptying while the command is unfinished means a stream that will never end;
// that must not pass for success.
let settled = false;
process.on("beforeExit", () => {
  if (settled || command === "serve") return;
  process.stderr.write("lading: internal error: the command stopped before finishing (a stream never ended); nothing was completed\n");
  process.exit(70);
});

main(process.argv).then((code) => {
  settled = true;
  process.exitCode = code;
});
