// Setup file for `npm run reliability`: every fast-check assertion appends how many cases it ran
// to $LADING_FIGURES_FILE, and still fails as fast-check's own reporter would.
import { appendFileSync } from "node:fs";
import fc from "fast-check";

const file = process.env.LADING_FIGURES_FILE;
if (file) {
  const report = (details: fc.RunDetails<unknown>): void => {
    appendFileSync(file, `${JSON.stringify({ property: { runs: details.numRuns, failed: details.failed } })}\n`);
    if (details.failed) throw new Error(fc.defaultReportMessage(details));
  };
  fc.configureGlobal({ ...fc.readConfigureGlobal(), reporter: report });
}
