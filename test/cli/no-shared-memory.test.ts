// A process refused shared memory (V8 reserves gigabytes of address space for each WebAssembly
// memory, which a limit such as `ulimit -v 16000000` refuses): a layer that arrives as a stream
// then goes through this thread, as it did before streamed layers went to their worker through a
// ring of shared memory. The refusal is made by a preloaded module here, so that it does not hang
// on how much address space this machine's V8 reserves; the limit itself was checked by hand.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage, runLading } from "../support/archive-builder.js";
import { scratchDirectory } from "../support/in-process-cli.js";

const REFUSING_SHARED_MEMORY = `
const Memory = WebAssembly.Memory;
WebAssembly.Memory = function (descriptor) {
  if (descriptor && descriptor.shared) throw new RangeError("WebAssembly.Memory(): could not allocate memory");
  return new Memory(descriptor);
};
`;

const { newPath } = scratchDirectory("lading-no-shared-memory-");

describe("lading load from standard input, in a process that may have no shared memory", () => {
  let preload: string;
  beforeAll(() => {
    ensureBuilt();
    preload = newPath("refuse-shared-memory.mjs");
    writeFileSync(preload, REFUSING_SHARED_MEMORY);
  });

  it("loads a layer too large for this thread's own probe, and leaves no ingest file behind", async () => {
    const layer = buildTar([{ type: "file", name: "data/big.bin", content: randomBytes(12 * 1024 * 1024) }]);
    const archive = buildTar(dockerArchiveItems([{ image: makeImage({ layers: [layer] }), repoTags: ["ring/none:1"] }]));
    const env = { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` };
    const probe = spawnSync(process.execPath, ["-e", "new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true })"], { env, encoding: "utf8" });
    expect([probe.status, probe.stderr.includes("RangeError: WebAssembly.Memory(): could not allocate memory")]).toEqual([1, true]);
    const root = newPath("root");
    const result = await runLading(["--root", root, "load"], { input: archive, env });
    expect([result.code, result.stdout, result.stderr]).toEqual([0, "Loaded image: ring/none:1\n", expect.stringMatching(/^note: ring\/none:1 is listed only in manifest.json/)]);
    expect(readdirSync(join(root, "ingest"))).toEqual([]);
  });
});
