// The vitest configuration `npm run reliability` uses: the project's, plus a setup file that
// counts the cases every fast-check property runs.
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.config.js";

export default mergeConfig(base, defineConfig({ test: { setupFiles: ["test/reliability/count-property-runs.ts"] } }));
