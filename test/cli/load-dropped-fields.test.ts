// `lading load` says on standard error, as a note, each index.json field the store does not keep;
// -q leaves the notes out, --json lists them in `warnings`.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, descriptorOf, ensureBuilt, makeImage, ociLayoutItems, runLading } from "../support/archive-builder.js";

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-dropped-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("lading load of an index.json entry with fields the store does not keep", () => {
  const image = makeImage({ seed: "cli-dropped" });
  const archive = buildTar(
    ociLayoutItems([image], {
      indexEntries: [
        descriptorOf(image.manifest, {
          platform: { architecture: "amd64", os: "linux", "os.features": ["sse4"] },
          annotations: { "io.containerd.image.name": "docker.io/example/fields:1", "org.opencontainers.image.ref.name": "1", "org.example.note": "keep-me" },
        }),
      ],
    }),
  );
  const WARNINGS = [
    'index.json manifests[0]: annotations["org.example.note"] "keep-me" is not kept by the store (saving writes the entry without it)',
    'index.json manifests[0]: platform {"architecture":"amd64","os":"linux","os.features":["sse4"]} is not kept by the store (saving writes the entry without it)',
  ];
  const load = (...flags: string[]) => runLading(["--root", join(scratch, `store-${counter++}`), "load", ...flags], archive);

  it("prints one note line per field on standard error", async () => {
    expect(await load()).toEqual({ code: 0, stdout: "Loaded image: example/fields:1\n", stderr: WARNINGS.map((warning) => `note: ${warning}\n`).join("") });
  });

  it("-q leaves the notes out, as it does every load note", async () => {
    expect(await load("-q")).toEqual({ code: 0, stdout: "Loaded image: example/fields:1\n", stderr: "" });
  });

  it("--json lists them in warnings", async () => {
    const result = await load("--json");
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect((JSON.parse(result.stdout) as { warnings: string[] }).warnings).toEqual(WARNINGS);
  });
});
