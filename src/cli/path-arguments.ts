import { statSync } from "node:fs";
import { usage } from "../core/errors.js";

/**
 * Checked before the store or any file is touched: an empty output name would otherwise be found
 * out only at the rename, after the whole archive was written; an empty input name is no file.
 */
export function refuseEmptyOutputPath(value: string, argument: string): void {
  if (value === "") throw usage(`${argument}: the output file name must not be empty (- is standard output)`);
}

export function refuseEmptyInputPath(value: string, argument: string): void {
  if (value === "") throw usage(`${argument}: the input file name must not be empty (- is standard input)`);
}

/**
 * An output that is the input file itself (the same name, or a link to it): the new archive would
 * be renamed over the one it was made from, the only copy of it perhaps. Refused before either is opened.
 */
export function refuseOutputOverInput(input: string, output: string): void {
  if (input === "-" || output === "-") return;
  const [read, written] = [statSync(input, { throwIfNoEntry: false }), statSync(output, { throwIfNoEntry: false })];
  if (read === undefined || written === undefined || !read.isFile()) return;
  if (read.dev === written.dev && read.ino === written.ino) {
    throw usage(`OUT: ${output} is the input archive ${input}: write to another file (the new archive would replace its input)`);
  }
}
