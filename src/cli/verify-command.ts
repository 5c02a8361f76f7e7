import type { Command } from "commander";
import { isSystemError, LadingError, toLadingError, usage } from "../core/errors.js";
import { refuseTerminalInput } from "../archive/source.js";
import { familiarNameOf } from "./names.js";
import { unreadableReport, verifyArchive, type ImageStatus, type VerifiedImage, type VerifiedRoot, type VerifyReport } from "../ops/verify.js";
import { printJson, printLine, shortId, type Terminal } from "./output.js";
import { LIMIT_OPTIONS, limitsFromOptions, type LimitOptions } from "./limits.js";
import { refuseEmptyInputPath } from "./path-arguments.js";
import { openArchiveArgument } from "./standard-input.js";

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
    .option("--format <format>", "with --roundtrip, the layout to save in: docker (default; OCI layout plus manifest.json) or oci (pure OCI layout, which also carries artifacts and bare tags)")
    .action(async (archive: string, options: { json?: boolean; roundtrip?: boolean; format?: string } & LimitOptions) => {
      if (options.format !== undefined && !options.roundtrip) throw usage("--format goes with --roundtrip: a plain verify saves nothing");
      refuseEmptyInputPath(archive, "ARCHIVE");
      if (archive === "-") refuseTerminalInput(process.stdin);
      const limits = limitsFromOptions(options);
      // A script reading --json gets a document whatever went wrong, as for an invalid archive:
      // the round trip's own document with --roundtrip, as an archive that opens gets. That is
      // also so for a file the system will not read (EIO, EACCES), when opening or scanning it.
      const unreadable = async (error: unknown): Promise<void> => {
        if (!options.json || !(error instanceof LadingError || isSystemError(error))) throw error;
        const failure = toLadingError(error);
        if (options.roundtrip) {
          const { printFailedRoundtrip } = await import("./convert-command.js");
          return setExit(printFailedRoundtrip(terminal, failure, options.format ?? "docker"));
        }
        printJson(terminal.stdout, unreadableReport(failure, archive, null));
        setExit(failure.exitCode);
      };
      let source;
      try {
        source = await openArchiveArgument(archive, { ...limits, readOnPastManifestProblems: true });
      } catch (error) {
        return unreadable(error);
      }
      if (options.roundtrip) {
        // The round trip needs the store and the writers: load them only for it.
        const { runRoundtrip } = await import("./convert-command.js");
        return setExit(await runRoundtrip(terminal, source, { ...limits, json: Boolean(options.json), format: options.format ?? "docker" }));
      }
      let report: VerifyReport;
      try {
        report = await verifyArchive(source, limits);
      } catch (error) {
        return unreadable(error);
      }
      if (options.json) printJson(terminal.stdout, report);
      else printSummary(terminal, report);
      setExit(report.valid ? 0 : 1);
    });
}

/** The text form of a report: each root in turn, a sound one as its images (those that name it), then artifacts and problems. */
export function printSummary(terminal: Terminal, report: VerifyReport): void {
  const out = terminal.stdout;
  if (report.format) printLine(out, `format: ${report.format}${report.compression && report.compression !== "none" ? ` (${report.compression} compressed)` : ""}`);
  for (const root of report.roots) {
    if (root.status === "invalid") {
      printInvalidRoot(out, root);
      continue;
    }
    for (const image of report.images) if (image.listedAt === root.listedAt) printImage(out, image);
  }
  for (const artifact of report.artifacts) {
    const blobs = `${artifact.blobs.length} blob${artifact.blobs.length === 1 ? "" : "s"}`;
    const subject = artifact.subject ? `  for ${artifact.subject}` : "";
    printLine(out, `artifact ${artifact.digest}  ${artifact.artifactType ?? artifact.mediaType}  ${blobs}${subject}${artifact.status === "ok" ? "" : "  INVALID"}`);
  }
  for (const child of report.absent) {
    printLine(out, `sparse: index ${shortId(child.rootDigest)} lists ${child.platform ?? "a manifest"} (${child.digest}), not in the archive`);
  }
  for (const warning of report.warnings) printLine(terminal.stderr, `warning: ${warning}`);
  const concerns = problemOwners(report);
  for (const problem of report.problems) printLine(terminal.stderr, `error: ${problem.message}${concerns.next(problem)}`);
  printLine(out, report.valid ? "archive is valid" : `archive is INVALID: ${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}`);
}

function namesOf(root: { names: string[] }): string {
  return root.names.length > 0 ? root.names.map(familiarNameOf).join(", ") : "<untagged>";
}

function printImage(out: Terminal["stdout"], image: VerifiedImage): void {
  printLine(out, namesOf(image));
  const absent = image.layers.filter((layer) => layer.absent).length;
  const layers = `${image.layers.length} layer${image.layers.length === 1 ? "" : "s"}${absent > 0 ? ` (${absent} foreign, not in the archive)` : ""}`;
  printLine(out, `  ID ${image.rootDigest}  config ${image.configDigest}  ${image.platform}  ${layers}`);
  printLine(
    out,
    image.manifestOrigin === "archive"
      ? `  manifest ${image.manifestDigest} (original, from the archive)`
      : image.listedAt.startsWith("index.json")
        ? `  manifest ${image.manifestDigest} (synthesized by lading, as index.json marks it)`
        : `  manifest ${image.manifestDigest} (synthesized, as manifest.json alone lists the image and keeps no manifest: not a registry digest)`,
  );
  for (const layer of image.layers) {
    printLine(out, `    layer ${layer.digest}  diff ID ${layer.diffId ?? "(not checked)"}${layer.absent ? "  (foreign, not in the archive: diff ID from the config)" : ""}`);
  }
}

/** A root with problems: where it is listed, and each of its images fine or not (the problems are the error lines). */
function printInvalidRoot(out: Terminal["stdout"], root: VerifiedRoot): void {
  printLine(out, namesOf(root));
  const problems = `${root.problems.length} problem${root.problems.length === 1 ? "" : "s"}`;
  printLine(out, `  INVALID  ${root.digest ? `ID ${root.digest}  ` : ""}listed at ${root.listedAt}: ${problems}`);
  for (const image of root.images) {
    printLine(out, `    image ${imageLabel(image)}  ${image.status === "ok" ? "ok" : "INVALID"}`);
  }
}

/** An image of a root by its platform and manifest (or, for a manifest.json item that failed, its config). */
function imageLabel(image: ImageStatus): string {
  const platform = image.platform ? `${image.platform} ` : "";
  return `${platform}${image.manifestDigest ?? `config ${image.configDigest ?? "(unknown)"}`}`;
}

/**
 * Which root (and image or artifact) each problem of the report concerns, said after its error
 * line; a problem no root has concerns the whole archive and gets nothing.
 */
function problemOwners(report: VerifyReport): { next: (problem: { entry: string; message: string }) => string } {
  const owners: { key: string; label: string }[] = [];
  const keyOf = (problem: { entry: string; message: string }): string => `${problem.entry}\n${problem.message}`;
  for (const root of report.roots) {
    const rootLabel = `root ${root.listedAt}${root.names.length > 0 ? ` ${namesOf(root)}` : ""}`;
    const parts = [
      ...root.images.map((image) => ({ problems: image.problems, label: `image ${imageLabel(image)}` })),
      ...report.artifacts.filter((artifact) => artifact.rootDigest === root.digest).map((artifact) => ({ problems: artifact.problems, label: `artifact ${artifact.digest}` })),
    ];
    for (const problem of root.problems) {
      const part = parts.find((candidate) => candidate.problems.some((own) => keyOf(own) === keyOf(problem)));
      owners.push({ key: keyOf(problem), label: `  (${rootLabel}${part ? `, ${part.label}` : ""})` });
    }
  }
  return {
    next: (problem) => {
      const at = owners.findIndex((owner) => owner.key === keyOf(problem));
      return at < 0 ? "" : owners.splice(at, 1)[0]!.label;
    },
  };
}
