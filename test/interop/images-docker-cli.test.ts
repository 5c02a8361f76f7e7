// `lading images`, `inspect`, `tag` and `rmi` beside the real docker CLI (the Debian 20.10 client
// and the newer one) against dockerd 20.10, on the same images: the same table bytes (but the IDs,
// which are the config digests there and the manifest digests here, and SIZE, which dockerd
// counts unpacked), the same rows for every filter, the same inspect bytes for every key lading
// derives from the config, and the same error messages.
import path from "node:path";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading, type CliResult } from "../support/archive-builder.js";
import { DERIVED_KEYS, filterImagesArchive, inspectBlock, inspectImagesArchive, INSPECT_IMAGES } from "../support/parity-images.js";
import { DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT, requirePeers, run, startDockerd, type Dockerd } from "../support/peers.js";

/** IDs masked (they differ by design), and SIZE, the last column, dropped. */
function maskedTable(stdout: string): string[] {
  const lines = stdout
    .replace(/sha256:[0-9a-f]{64}|\b[0-9a-f]{12}\b/g, (id) => "x".repeat(id.length))
    .split("\n")
    .map((line) => line.replace(/\S+$/, ""));
  const [header = "", ...rows] = lines;
  // docker lists an image's repositories in Go's map order, which varies from run to run.
  return [header, ...rows.sort()];
}

/** The message of an error, without the words each tool puts before it. */
const messageOf = (stderr: string): string => (stderr.split("\n")[0] ?? "").replace(/^(Error response from daemon|lading: usage error|lading: error|Error): /, "");

describe.skipIf(!requirePeers("dockerd", DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT))("lading images, inspect, tag and rmi print what the docker CLI prints from dockerd 20.10", () => {
  let dockerd: Dockerd;
  let scratch: string;
  let root: string;
  beforeAll(async () => {
    ensureBuilt();
    scratch = await mkdtemp(path.join(tmpdir(), "lading-images-docker-"));
    root = path.join(scratch, "store");
    dockerd = await startDockerd();
    for (const [name, archive] of [
      ["filters.tar", filterImagesArchive()],
      ["inspect.tar", inspectImagesArchive()],
    ] as const) {
      await writeFile(path.join(scratch, name), archive);
      expect((await dockerd.docker(["load", "-i", path.join(scratch, name)])).code).toBe(0);
      expect((await runLading(["--root", root, "load", "-q", "-i", path.join(scratch, name)])).code).toBe(0);
    }
  }, 60_000);
  afterAll(async () => {
    await dockerd?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  const docker = (client: string, args: string[]): Promise<CliResult> => run(client, args, { env: dockerd.env });
  const lading = (args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);

  it("images: the table and -q, with and without --digests and filters, as both docker clients print them", async () => {
    const filterSets = [
      [],
      ["dangling=true"],
      ["dangling=false"],
      ["dangling=false", "dangling=true"],
      ["label=team"],
      ["label=team=a"],
      ["label=team="],
      ["label=team=a", "label=tier"],
      ["label=team", "label=nope"],
      ["label="],
      ["before=f/a:1"],
      ["since=f/b:1"],
      // One before or since each: given several, dockerd 20.10 uses the one Go's map order walks
      // last (moby later took all of them, as lading does).
      ["since=f/b:1", "before=f/d:2"],
      ["since=f/c:1"],
      ["reference=f/a", "reference=f/b:*"],
      ["reference=*/d"],
      [" Label = team=a ", ""],
      ["DANGLING=true"],
    ];
    const extras = [["--digests"], ["--no-trunc"], ["-q"], ["-q", "--digests"], ["f/*"], ["f/a", "-f", "reference=other/*"]];
    const runs = [...filterSets.map((filters) => ({ extra: [] as string[], filters })), ...extras.flatMap((extra) => [[], ["label=team"]].map((filters) => ({ extra, filters })))];
    for (const { extra, filters } of runs) {
      const args = ["images", ...extra, ...filters.flatMap((filter) => ["--filter", filter])];
      const ours = await lading(args);
      for (const client of [DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT]) {
        const theirs = await docker(client, args);
        expect([client, args, theirs.code, theirs.stderr]).toEqual([client, args, 0, ""]);
        expect([client, args, ours.code, maskedTable(ours.stdout), ours.stderr]).toEqual([client, args, 0, maskedTable(theirs.stdout), ""]);
      }
    }
  }, 300_000);

  it("images: a bad filter, and an image before or since names that does not exist, in dockerd's words", async () => {
    for (const filters of [["foo=1"], ["=x"], ["dangling=maybe"], ["dangling=1"], ["dangling="], ["dangling"], ["before=nosuch"], ["since=docker.io/library/nosuch:2"], ["since=localhost:5000/a/b"]]) {
      const args = ["images", ...filters.flatMap((filter) => ["--filter", filter])];
      const [theirs, ours] = [await docker(LOCAL_DOCKER_CLIENT, args), await lading(args)];
      expect(theirs.code).not.toBe(0);
      expect([args, ours.code === 0, messageOf(ours.stderr)]).toEqual([args, false, messageOf(theirs.stderr)]);
    }
  });

  it("inspect: every key derived from the config, byte for byte, as both docker clients print it", async () => {
    for (const name of [...INSPECT_IMAGES.flatMap((image) => image.repoTags ?? []), "f/a:1", "f/c:1"]) {
      const ours = await lading(["inspect", name]);
      for (const client of [DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT]) {
        const theirs = await docker(client, ["image", "inspect", name]);
        expect([client, name, theirs.code, ours.code, ours.stderr]).toEqual([client, name, 0, 0, ""]);
        expect(ours.stdout.slice(0, 8)).toBe(theirs.stdout.slice(0, 8));
        expect([client, name, DERIVED_KEYS.map((key) => inspectBlock(ours.stdout, key))]).toEqual([client, name, DERIVED_KEYS.map((key) => inspectBlock(theirs.stdout, key))]);
      }
    }
  });

  it("tag and rmi name an image they cannot find as dockerd does", async () => {
    const missing = ["i/byid", "i/byid:2", "docker.io/library/foo", "localhost:5000/a/b", "abcdef", "sha256:abcdef", "a".repeat(64), `i/x@sha256:${"a".repeat(64)}`];
    for (const name of missing) {
      for (const args of [["tag", name, "i/x"], ["rmi", name]]) {
        const [theirs, ours] = [await docker(LOCAL_DOCKER_CLIENT, args), await lading(args)];
        expect([args, theirs.code]).toEqual([args, 1]);
        expect([args, ours.code, messageOf(ours.stderr)]).toEqual([args, 1, messageOf(theirs.stderr)]);
      }
    }
  });
});
