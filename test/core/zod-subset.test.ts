import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { dockerManifestJsonSchema, parseDocument } from "../../src/core/schemas.js";
import { ensureBuilt } from "../support/archive-builder.js";

describe("zod from the build's bundle", () => {
  it("validates with English messages and never loads all of zod", () => {
    ensureBuilt();
    const manifestJson = JSON.stringify([{ Config: 7, RepoTags: null, Layers: ["a/layer.tar"] }]);
    expect(() => parseDocument(dockerManifestJsonSchema, manifestJson, "manifest.json")).toThrow(
      "manifest.json: [0].Config: Invalid input: expected string, received number",
    );
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    expect(loaded.filter((path) => path.endsWith("/dist/core/zod-subset.cjs"))).toHaveLength(1);
    expect(loaded.filter((path) => path.includes("/node_modules/zod/"))).toEqual([]);
  });
});
