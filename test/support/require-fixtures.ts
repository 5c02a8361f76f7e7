// In CI a missing input is a failure, never a skip: the tests that read the shared fixtures
// (../shared/fixtures beside the repository) skip when they are absent, which is right on a
// developer's clone without them and wrong in CI.
import { existsSync } from "node:fs";
import { join } from "node:path";

export const SHARED_FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");

export default function requireFixturesInCi(): void {
  if (process.env.CI === "true" && !existsSync(join(SHARED_FIXTURES, "expected.json"))) {
    throw new Error(`CI=true but the shared fixtures are missing (${SHARED_FIXTURES}/expected.json): the tests that read them would be skipped`);
  }
}
