// The broken archives in ../shared/fixtures/bad (made from a good skopeo docker-archive, and
// tried against docker, skopeo, podman and ctr): each is refused with its own one-line message.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { verifyArchive } from "../../src/ops/verify.js";

const BAD = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "bad");

const LAYER = "bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0.tar";
const CONFIG = "586facf73c9d9498321becd053d948fc4fd082c80e1469a1148faba2d744cd11.json";

const refusals: Record<string, { entry: string; message: string }> = {
  "diffid-mismatch.tar": {
    entry: LAYER,
    message:
      `manifest.json[0].Layers[0]: layer ${LAYER} has diff ID sha256:554d7e7509a1a339e1ead60d7b9edcfc6b8e0751e420322f30b8e9a53d9ad97a, ` +
      `but ${CONFIG} rootfs.diff_ids[0] is sha256:bdaec84c2e31e2ebbe8f8f7a957417c6f6f15a7f0ebe7cc909a59458608995a0`,
  },
  "layer-dotdot-entry.tar": {
    entry: "e3fe5c71e1748beecff57115ddc34fc4df0d27f9399e4b764cdbb783f4e05e9b.tar",
    message: 'manifest.json[0].Layers[1]: layer e3fe5c71e1748beecff57115ddc34fc4df0d27f9399e4b764cdbb783f4e05e9b.tar: layer tar entry "../evil" escapes the root',
  },
  "manifest-layer-path-traversal.tar": {
    entry: "manifest.json[0].Layers[0]",
    message: 'manifest.json[0].Layers[0]: unsafe path "../../../../../../etc/hostname": unsafe entry name "../../../../../../etc/hostname": ".." component',
  },
  "missing-config.tar": {
    entry: "manifest.json[0].Config",
    message: 'manifest.json[0].Config: "0000000000000000000000000000000000000000000000000000000000000000.json" is not in the archive',
  },
  "no-manifest.tar": {
    entry: "(archive)",
    message: `${join(BAD, "no-manifest.tar")}: not an image archive: it has neither manifest.json nor oci-layout and index.json`,
  },
  "truncated.tar": {
    entry: LAYER,
    message: `unexpected end of archive in entry "${LAYER}" (got 21604 of 30208 bytes)`,
  },
};

describe("../shared/fixtures/bad", () => {
  it("covers every bad fixture", () => {
    const files = readdirSync(BAD).filter((name) => name !== "GOOD-baseline.tar").sort();
    expect(files).toEqual(Object.keys(refusals).sort());
  });

  for (const [name, refusal] of Object.entries(refusals)) {
    it(`${name} is refused: ${refusal.message.slice(0, 60)}...`, async () => {
      const report = await verifyArchive(await openArchivePath(join(BAD, name)));
      expect(report.valid).toBe(false);
      expect(report.images).toEqual([]);
      expect(report.problems).toEqual([refusal]);
      for (const problem of report.problems) expect(problem.message).not.toMatch(/[\r\n]/);
    });
  }

  it("no-manifest.tar has no archive format: it is no image archive", async () => {
    const report = await verifyArchive(await openArchivePath(join(BAD, "no-manifest.tar")));
    expect(report.format).toBe(null);
  });

  it("the baseline they are derived from is valid", async () => {
    const report = await verifyArchive(await openArchivePath(join(BAD, "GOOD-baseline.tar")));
    expect(report.valid).toBe(true);
    expect(report.problems).toEqual([]);
  });
});
