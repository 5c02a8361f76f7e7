#!/usr/bin/env node
import { main } from "../dist/cli/lading.js";

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
