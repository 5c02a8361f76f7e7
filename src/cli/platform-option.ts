import { usage } from "../core/errors.js";
import { parsePlatform, type Platform } from "../core/platform.js";

/** The values of a repeatable --platform option; a malformed one is a usage error, as any bad option is. */
export function platformsFromOption(values: readonly string[]): Platform[] {
  return values.map((value) => {
    try {
      return parsePlatform(value);
    } catch (error) {
      throw usage(`--platform: ${(error as Error).message}`);
    }
  });
}
