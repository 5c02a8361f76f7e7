import type { Command } from "commander";
import { LadingError } from "../core/errors.js";
import { openArchivePath, openTarStream, refuseTerminalInput } from "../archive/source.js";
import { familiarNameOf } from "./names.js";
import { unreadableReport, verifyArchive, type VerifyReport } from "../ops/verify.js";
import { printJson, printLine, shortId, type Terminal } from "./output.js";
import { LIMIT_OPTIONS, limitsFromOptions, type LimitOptions } from "./limits.js";
import { refuseEmptyInputPath } from "./path-arguments.js";

export function registerVerify(program: Command, terminal: Terminal, setExit: (code: number) => void): void {
  program
    .command("verify")
    .description("check every digest, size, diff ID and reference an archive claims, without storing anything")
    .argument("<archive>", "archive file, OCI layout directory, or - for standard input")
    .option("--json", "print one machine-readable document")
    .option(...LIMIT_OPTIONS[0]!)
    .option(...LIMIT_OPTIONS[1]!)
    .option(...LIMIT_OPTIONS[2]!)
    .option("--roundtrip", "load into a temporary store, save again, and prove the same images and digests come back")
    .action(async (archive: string, options: { json?: boolean; roundtrip?: boolean } & LimitOptions) => {
      refuseEmptyInputPath(archive, "ARCHIVE");
      if (archive === "-") refuseTerminalInput(process.stdin);
      let source;
      try {
        source = archive === "-" ? await openTarStream(process.stdin) : await openArchivePath(archive);
      } catch (error) {
        // A script reading --json gets a document whatever went wrong, as for an invalid archive.
        if (!options.json || !(error instanceof LadingError)) throw error;
        printJson(terminal.stdout, unreadableReport(error, archive, null));
        return setExit(error.exitCode);
      }
      if (options.roundtrip) {
        // The round trip needs the store and the writers: load them only for it.
        const { runRoundtrip } = await import("./convert-command.js");
        return setExit(await runRoundtrip(terminal, source, { ...limitsFromOptions(options), json: Boolean(options.json) }));
      }
      const report = await verifyArchive(source, limitsFromOptions(options));
      if (options.json) printJson(terminal.stdout, report);
      else printSummary(terminal, report);
      setExit(report.valid ? 0 : 1);
    });
}

function printSummary(terminal: Terminal, report: VerifyReport): void {
  const out = terminal.stdout;
  if (report.format) printLine(out, `format: ${report.format}${report.compression && report.compression !== "none" ? ` (${report.compression} compressed)` : ""}`);
  for (const image of report.images) {
    const names = image.names.length > 0 ? image.names.map(familiarNameOf).join(", ") : "<untagged>";
    printLine(out, `${names}`);
    const absent = image.layers.filter((layer) => layer.absent).length;
    const layers = `${image.layers.length} layer${image.layers.length === 1 ? "" : "s"}${absent > 0 ? ` (${absent} foreign, not in the archive)` : ""}`;
    printLine(out, `  ID ${image.rootDigest}  config ${shortId(image.configDigest)}  ${image.platform}  ${layers}`);
    printLine(
      out,
      image.manifestOrigin === "archive"
        ? `  manifest ${image.manifestDigest} (original, from the archive)`
        : `  manifest ${image.manifestDigest} (synthesized from a manifest.json-only archive: not a registry digest)`,
    );
    for (const layer of image.layers) {
      printLine(out, `    layer ${layer.digest}  diff ID ${layer.diffId ?? "(not checked)"}${layer.absent ? "  (foreign, not in the archive: diff ID from the config)" : ""}`);
    }
  }
  for (const child of report.absent) {
    printLine(out, `sparse: index ${shortId(child.rootDigest)} lists ${child.platform ?? "a manifest"} (${child.digest}), not in the archive`);
  }
  for (const warning of report.warnings) printLine(terminal.stderr, `warning: ${warning}`);
  for (const problem of report.problems) printLine(terminal.stderr, `error: ${problem.message}`);
  printLine(out, report.valid ? "archive is valid" : `archive is INVALID: ${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}`);
}
