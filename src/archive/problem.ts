import { isLadingError } from "../core/errors.js";
import type { Problem } from "./model.js";

/** A typed error as a report's problem (anything else is a bug and is thrown on). */
export function problemOf(error: unknown, fallbackEntry: string): Problem {
  if (!isLadingError(error)) throw error;
  return { entry: error.subject ?? fallbackEntry, message: error.message, ...error.detail };
}
