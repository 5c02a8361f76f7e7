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
