import { fstatSync, realpathSync, statSync } from "node:fs";
import { dirname } from "node:path";
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
 * An output that is the input itself (the same name, a link to it, or standard input redirected
 * from it), or a file inside an input directory: the new archive would be renamed over what it is
 * made from, the only copy of it perhaps. Refused before either is opened. A path that cannot be
 * looked at is left to the open, which says why in lading's words.
 */
export function refuseOutputOverInput(input: string, output: string): void {
  if (output === "-") return;
  const written = quietly(() => statSync(output));
  const read = quietly(() => (input === "-" ? fstatSync(0) : statSync(input)));
  if (read === undefined) return;
  const inputName = input === "-" ? "standard input" : input;
  if (written !== undefined && read.isFile() && read.dev === written.dev && read.ino === written.ino) {
    throw usage(`OUT: ${output} is the input archive ${inputName}: write to another file (the new archive would replace its input)`);
  }
  if (input === "-" || !read.isDirectory()) return;
  const layout = quietly(() => realpathSync(input));
  const parent = quietly(() => realpathSync(dirname(output)));
  if (layout !== undefined && parent !== undefined && `${parent}/`.startsWith(`${layout}/`)) {
    throw usage(`OUT: ${output} is inside the input directory ${input}: write outside it (the new archive would replace or add to its files)`);
  }
}

function quietly<T>(look: () => T): T | undefined {
  try {
    return look();
  } catch {
    return undefined;
  }
}
