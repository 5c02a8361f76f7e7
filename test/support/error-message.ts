import { expect } from "vitest";
import { LadingError } from "../../src/core/errors.js";

/** The message of the LadingError `fn` throws; fails the test if it throws none. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    return (error as LadingError).message;
  }
  throw new Error("expected an error");
}
