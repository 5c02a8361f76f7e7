#!/usr/bin/env node
import { commandNameOf, startWorkersFor } from "../dist/cli/early-start.js";

// Before the bundle loads: a command that reads an archive gets its probe workers booting meanwhile.
startWorkersFor(commandNameOf(process.argv));
const { main } = await import("../dist/cli/lading.js");

// A closed pipe (`lading images | head`) ends the output; it is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
