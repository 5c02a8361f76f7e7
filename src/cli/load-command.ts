import type { Command } from "commander";
import { refuseTerminalInput } from "../archive/source.js";
import { platformsFromOption } from "./platform-option.js";
import { loadArchive, loadLinesByImage, type LoadedImage } from "../ops/load.js";
import { LIMIT_OPTIONS, limitsFromOptions, type LimitOptions } from "./limits.js";
import { printJson, printLine, type Terminal } from "./output.js";
import { refuseEmptyInputPath } from "./path-arguments.js";
import { withProgress } from "./progress.js";
import { openStore } from "./store-option.js";
import { openArchiveArgument } from "./standard-input.js";

interface LoadFlags extends LimitOptions {
  input?: string;
  platform: string[];
  quiet?: boolean;
  json?: boolean;
  name?: string;
  skipDiffIdCheck?: boolean;
}

export function registerLoad(program: Command, terminal: Terminal): void {
  program
    .command("load")
    .description("load images from an archive (file or standard input) into the store, verified, all or nothing")
    .option("-i, --input <file>", "read from an archive file or OCI layout directory instead of standard input")
    .option("--platform <os/arch[/variant]>", "load only this platform (repeatable)", (value: string, all: string[]) => [...all, value], [])
    .option("-q, --quiet", "suppress the progress output")
    .option("--json", "print one JSON document of what was loaded")
    .option("--name <repository>", "repository for images the archive names only by a bare tag")
    .option(...LIMIT_OPTIONS[0]!)
    .option(...LIMIT_OPTIONS[1]!)
    .option(...LIMIT_OPTIONS[2]!)
    .option(
      "--skip-diff-id-check",
      "do not decompress compressed layers to check them against the config's diff IDs (blob digests are still checked, as skopeo does)",
    )
    .action(async (flags: LoadFlags, command: Command) => {
      if (flags.input !== undefined) refuseEmptyInputPath(flags.input, "-i");
      const platforms = platformsFromOption(flags.platform);
      if (flags.input === undefined || flags.input === "-") refuseTerminalInput(process.stdin);
      const store = await openStore(command);
      // Before the input is opened, which reads standard input's first bytes.
      await store.refuseLostReferences();
      const limits = limitsFromOptions(flags);
      const source = await openArchiveArgument(flags.input ?? "-", limits);
      const result = await withProgress(
        terminal,
        Boolean(flags.quiet || flags.json),
        "Loading",
        () => ({ done: source.bytesRead(), total: source.totalBytes }),
        () =>
          loadArchive(store, source, {
            ...limits,
            platforms,
            ...(flags.name ? { name: flags.name } : {}),
            ...(flags.skipDiffIdCheck ? { checkCompressedLayers: false } : {}),
          }),
      );
      if (flags.json) {
        printJson(terminal.stdout, result);
        return;
      }
      for (const { image, lines } of loadLinesByImage(result)) {
        for (const line of lines) printLine(terminal.stdout, line);
        if (image === undefined) continue;
        const name = image.tags[0] ?? image.digests[0] ?? image.id;
        if (image.origin === "synthesized" && !flags.quiet) printLine(terminal.stderr, synthesizedNote(name, image));
        if (image.absent.length > 0) printLine(terminal.stderr, `note: ${name} is sparse: ${image.absent.join(", ")} not loaded`);
      }
      if (!flags.quiet) for (const warning of result.warnings) printLine(terminal.stderr, `note: ${warning}`);
    });
}

/**
 * Where a loaded image's synthesised manifest came from. One index.json marks may since have been
 * pushed (its pinned name a registry's), so that note does not call its digest no registry's.
 */
function synthesizedNote(name: string, image: LoadedImage): string {
  return image.listedIn === "index.json"
    ? `note: ${name} has a manifest synthesized by lading${name.endsWith(image.id) ? "" : ` (${image.id})`}, as index.json marks it`
    : `note: ${name} is listed only in manifest.json, which keeps no manifest: its manifest ${image.id} was synthesized, not a registry digest`;
}
