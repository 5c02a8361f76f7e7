import type { Command } from "commander";
import type { ReadOptions } from "../archive/read.js";
import { refuseTerminalInput, type OpenedSource } from "../archive/source.js";
import { isSystemError, LadingError, toLadingError, usage } from "../core/errors.js";
import type { Writable } from "node:stream";
import { convertArchive, type ConvertResult } from "../ops/convert.js";
import { failedRoundtrip, isArtifact, tryRoundtrip, type RoundtripImage, type RoundtripOutcome } from "../ops/roundtrip.js";
import { mtimeFromEnvironment, saveToFile, type SaveOptions } from "../ops/save.js";
import { LIMIT_OPTIONS, limitsFromOptions, type LimitOptions } from "./limits.js";
import { familiarNameOf } from "./names.js";
import { printJson, printLine, type Terminal } from "./output.js";
import { refuseEmptyInputPath, refuseEmptyOutputPath, refuseOutputOverInput } from "./path-arguments.js";
import { parseFormat, reportSave, TERMINAL_REFUSAL } from "./save-command.js";
import { openArchiveArgument } from "./standard-input.js";

interface ConvertFlags extends LimitOptions {
  format: string;
  compress?: string;
  quiet?: boolean;
  json?: boolean;
  name?: string;
}

export function registerConvert(program: Command, terminal: Terminal): void {
  program
    .command("convert")
    .description("rewrite an archive (any docker-save shape or OCI) as a lading archive, verified, without touching the store")
    .argument("<in>", "archive file, OCI layout directory, or - for standard input")
    .argument("<out>", "archive file to write, or - for standard output")
    .option("--format <format>", "docker (OCI layout plus manifest.json) or oci (pure OCI layout)", "docker")
    .option("--compress <algorithm>", "compress the whole archive: gzip (docker load reads it) or zstd (skopeo and podman read it); ctr reads neither")
    .option("--name <repository>", "repository for images the input names only by a bare tag")
    .option("-q, --quiet", "suppress notes")
    .option("--json", "print one JSON document of what was converted")
    .option(...LIMIT_OPTIONS[0]!)
    .option(...LIMIT_OPTIONS[1]!)
    .option(...LIMIT_OPTIONS[2]!)
    .action(async (input: string, output: string, flags: ConvertFlags) => {
      refuseEmptyInputPath(input, "IN");
      refuseEmptyOutputPath(output, "OUT");
      refuseOutputOverInput(input, output);
      if (flags.compress !== undefined && flags.compress !== "gzip" && flags.compress !== "zstd") {
        throw usage(`--compress must be gzip or zstd, got ${JSON.stringify(flags.compress)}`);
      }
      const options: SaveOptions = {
        format: parseFormat(flags.format),
        mtime: mtimeFromEnvironment(),
        ...(flags.compress === undefined ? {} : { compress: flags.compress }),
      };
      const toStdout = output === "-";
      if (toStdout && terminal.stdout.isTTY) throw usage(TERMINAL_REFUSAL);
      if (input === "-") refuseTerminalInput(process.stdin);
      const limits = limitsFromOptions(flags);
      const source = await openArchiveArgument(input, limits);
      const load = { ...limits, ...(flags.name ? { name: flags.name } : {}) };
      const convert = (sink: Writable): Promise<ConvertResult> => convertArchive(source, sink, { ...options, load, ...(input === "-" ? {} : { inputFile: input }) });
      let result: ConvertResult | undefined;
      try {
        if (toStdout) result = await convert(terminal.stdout);
        else await saveToFile(output, async (sink) => (result = await convert(sink)).saved);
      } finally {
        source.close(); // an output file that could not be made stops the command before the read
      }
      const { inputFormat, saved, warnings } = result as ConvertResult;
      reportSave(terminal, { ...saved, warnings }, { quiet: Boolean(flags.quiet), json: Boolean(flags.json), toStdout });
      if (!flags.quiet && !flags.json) for (const warning of warnings) printLine(terminal.stderr, `note: ${warning}`);
      if (!flags.quiet && !flags.json && !toStdout) {
        const artifacts = saved.images.filter((image) => image.platforms.length === 0).length;
        printLine(terminal.stdout, `Converted ${inputFormat} to ${saved.format}: ${rootCount(saved.images.length - artifacts, artifacts)}`);
      }
    });
}

/**
 * `verify --roundtrip`: prints every digest the trip proved (roots, manifests, configs, layers and
 * their diff IDs), what it left out, and how it differs; returns the exit code (0 same, 1 not).
 */
export async function runRoundtrip(terminal: Terminal, source: OpenedSource, options: ReadOptions & { json: boolean; format: string }): Promise<number> {
  const { json, format: formatName, ...limits } = options;
  const format = parseFormat(formatName);
  let outcome: RoundtripOutcome;
  try {
    outcome = await tryRoundtrip(source, { ...limits, format });
  } catch (error) {
    // A script reading --json gets a document whatever went wrong, as a plain verify gives one:
    // also for a failure of the file system (a full TMPDIR).
    if (!json || !(error instanceof LadingError || isSystemError(error))) throw error;
    return printFailedRoundtrip(terminal, toLadingError(error), formatName);
  }
  if ("refusal" in outcome) {
    if (!json) throw outcome.refusal;
    return printFailedRoundtrip(terminal, outcome.refusal, formatName);
  }
  const { report } = outcome;
  if (json) {
    printJson(terminal.stdout, report);
    return report.valid ? 0 : 1;
  }
  // First, as a warning may say why a difference below is one (a tag the input gives two images).
  for (const warning of report.warnings) printLine(terminal.stderr, `warning: ${warning}`);
  for (const image of report.images) printRoundtripImage(terminal, image);
  for (const problem of report.problems) printLine(terminal.stderr, `error: ${problem}`);
  const artifacts = report.images.filter(isArtifact).length;
  const count = rootCount(report.images.length - artifacts, artifacts);
  const leftOut = report.images.reduce((sum, image) => sum + image.notes.length, 0);
  if (!report.valid) printLine(terminal.stdout, "round trip FAILED: the saved archive differs from the input");
  else if (leftOut > 0) {
    printLine(terminal.stdout, `round trip kept every digest: ${count} came back with the same digests, but ${leftOut} name${leftOut === 1 ? "" : "s"} the ${report.format} layout cannot carry ${leftOut === 1 ? "was" : "were"} left out`);
  } else printLine(terminal.stdout, `round trip is exact: ${count} came back with the same digests`);
  return report.valid ? 0 : 1;
}

/** `2 images`, `1 artifact`, `2 images and 1 artifact`: the roots of a trip or a conversion, images and artifacts apart. */
function rootCount(images: number, artifacts: number): string {
  const counted = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? "" : "s"}`;
  if (artifacts === 0) return counted(images, "image");
  return images === 0 ? counted(artifacts, "artifact") : `${counted(images, "image")} and ${counted(artifacts, "artifact")}`;
}

/** `verify --roundtrip --json` of a trip that failed before it had a report (the archive did not open, or did not load): its one problem. */
export function printFailedRoundtrip(terminal: Terminal, error: LadingError, formatName: string): number {
  printJson(terminal.stdout, failedRoundtrip(error, parseFormat(formatName)));
  return error.exitCode;
}

function printRoundtripImage(terminal: Terminal, image: RoundtripImage): void {
  const names = [...image.names.map(familiarNameOf), ...image.bareTags.map((tag) => `${tag} (bare tag)`)];
  printLine(terminal.stdout, names.length > 0 ? names.join(", ") : "<untagged>");
  const kind = image.mediaType.includes("index") || image.mediaType.includes("list") ? "index" : "manifest";
  const pinned = image.names.some((name) => name.endsWith(`@${image.id}`));
  const origin = image.origin === "archive" ? "original" : `synthesized by lading: stable across trips, ${pinned ? "pinned by a name by digest" : "not a registry digest"}`;
  printLine(terminal.stdout, `  ${kind} ${image.id} (${origin})`);
  for (const platform of image.platforms) {
    printLine(terminal.stdout, `  ${platform.platform}  manifest ${platform.manifest}  config ${platform.config}`);
    for (const layer of platform.layers) printLine(terminal.stdout, `    layer ${layer.digest}${layer.diffId === null ? "" : `  diff ID ${layer.diffId}`}`);
  }
  for (const child of image.absent) printLine(terminal.stdout, `  ${child.platform ?? "child"}  manifest ${child.digest}  absent (the index lists it, the archive does not carry it)`);
  const label = familiarNameOf(image.names[0] ?? image.id);
  for (const note of image.notes) printLine(terminal.stderr, `note: ${label}: ${note}`);
  for (const difference of image.differences) printLine(terminal.stderr, `error: ${label}: ${difference}`);
}
