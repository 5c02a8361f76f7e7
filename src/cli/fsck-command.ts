import type { Command } from "commander";
import { fsckStore, isLeftover, removedByRepair, type FsckReport } from "../ops/fsck.js";
import { printJson, printLine, type Terminal } from "./output.js";
import { openStore } from "./store-option.js";

export function registerFsck(program: Command, terminal: Terminal, setExit: (code: number) => void): void {
  program
    .command("fsck")
    .description("check every blob, image and reference in the store (exit 1 when something is broken)")
    .option("--repair", "remove corrupt blobs, invalid image records (one this user may not read is kept), dangling references, references by a digest not their image's and leftovers of interrupted loads, and write an empty repositories.json where it went missing from a store with images")
    .option("--json", "print one JSON document")
    .action(async (flags: { repair?: boolean; json?: boolean }, command: Command) => {
      const store = await openStore(command);
      const report = await fsckStore(store, Boolean(flags.repair));
      if (flags.json) printJson(terminal.stdout, report);
      else {
        for (const problem of report.problems) printLine(terminal.stdout, `${problem.repaired ? "repaired" : isLeftover(problem) ? "leftover" : "broken"}: ${problem.message}${problem.repaired || flags.repair || !isLeftover(problem) || !removedByRepair(problem) ? "" : " (--repair or prune removes them)"}`);
        if (report.layersDecompressed > 0 || report.diffIdsRecorded > 0) printLine(terminal.stdout, decompressedLine(report));
        printLine(terminal.stdout, `checked ${report.blobsChecked} blobs, ${report.imagesChecked} images, ${report.referencesChecked} references: ${report.problems.length} problem(s)`);
      }
      const unrepaired = report.problems.filter((problem) => !problem.repaired && !isLeftover(problem)).length;
      setExit(unrepaired > 0 ? 1 : 0);
    });
}

/** What fsck did for the layers the store did not vouch for: their records are what makes save stop warning of them. */
function decompressedLine(report: FsckReport): string {
  if (report.layersDecompressed === 0) {
    // Uncompressed layers nothing vouched for (addressed by sha512, or stored as foreign or an artifact's): read, not decompressed.
    const n = report.diffIdsRecorded;
    return `recorded the diff ID${n === 1 ? "" : "s"} of ${n} uncompressed layer${n === 1 ? "" : "s"} the store did not vouch for`;
  }
  const layers = `${report.layersDecompressed} layer${report.layersDecompressed === 1 ? "" : "s"}`;
  return `decompressed ${layers} the store did not vouch for: ${report.diffIdsRecorded} recorded as checked`;
}
