// `lading images --filter` with dockerd 20.10's keys, rules and words (checked against dockerd
// 20.10.24 and both docker clients; test/interop/images-docker-cli.test.ts compares them live).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, descriptorOf, ensureBuilt, makeImage, ociLayoutItems, runLading, type CliResult } from "../support/archive-builder.js";
import { filterImagesArchive } from "../support/parity-images.js";

let scratch: string;
let root: string;
/** An image named only by its own digest (as `docker pull repo@digest` leaves one): not dangling. */
const pinned = makeImage({ seed: "pinned", editConfig: (config) => ({ ...config, created: "2021-01-01T00:00:00Z", config: { Labels: { team: "e" } } }) });
const PINNED = `f/e@${pinned.manifest.digest}`;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-filters-"));
  root = join(scratch, "store");
  await writeFile(join(scratch, "filters.tar"), filterImagesArchive());
  const entries = [descriptorOf(pinned.manifest, { annotations: { "io.containerd.image.name": `docker.io/${PINNED}` } })];
  await writeFile(join(scratch, "pinned.tar"), buildTar(ociLayoutItems([pinned], { indexEntries: entries })));
  for (const archive of ["filters.tar", "pinned.tar"]) expect((await lading("load", "-q", "-i", join(scratch, archive))).code).toBe(0);
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const lading = (...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);

/** The names each listed image shows (`<none>` for none), newest first, as `images --json` lists them. */
async function listed(...args: string[]): Promise<string[]> {
  const result = await lading("images", "--json", ...args);
  expect([args, result.code, result.stderr]).toEqual([args, 0, ""]);
  return (JSON.parse(result.stdout) as { repoTags: string[]; repoDigests: string[] }[]).map(({ repoTags, repoDigests }) => [...repoTags, ...repoDigests].join(",") || "<none>");
}

const filtered = (...filters: string[]): Promise<string[]> => listed(...filters.flatMap((filter) => ["--filter", filter]));

describe("lading images --filter", () => {
  it("lists everything without a filter, newest first", async () => {
    expect(await listed()).toEqual(["f/d:1,f/d:2,other/d:latest", "f/a:1", PINNED, "f/b:1", "<none>", "f/c:1"]);
  });

  it("dangling: an image without a tag (a digest reference is no tag); false leaves out only images without any reference", async () => {
    expect(await filtered("dangling=true")).toEqual([PINNED, "<none>"]);
    expect(await filtered("dangling=false")).toEqual(["f/d:1,f/d:2,other/d:latest", "f/a:1", PINNED, "f/b:1", "f/c:1"]);
    // As dockerd: true among the values wins.
    expect(await filtered("dangling=false", "dangling=true")).toEqual([PINNED, "<none>"]);
    // With a reference filter, only the references it keeps count.
    expect(await filtered("dangling=true", "reference=f/*")).toEqual([PINNED]);
  });

  it("label: KEY or KEY=VALUE, every one must hold", async () => {
    expect(await filtered("label=team")).toEqual(["f/a:1", PINNED, "f/b:1", "f/c:1"]);
    expect(await filtered("label=team=a")).toEqual(["f/a:1"]);
    expect(await filtered("label=team=")).toEqual(["f/b:1"]);
    expect(await filtered("label=team=a", "label=tier")).toEqual(["f/a:1"]);
    expect(await filtered("label=team", "label=nope")).toEqual([]);
    expect(await filtered("label=")).toEqual([]);
  });

  it("before and since: older than every before, newer than every since (Go's zero time is the oldest)", async () => {
    expect(await filtered("before=f/a:1")).toEqual([PINNED, "f/b:1", "<none>", "f/c:1"]);
    expect(await filtered("since=f/b:1")).toEqual(["f/d:1,f/d:2,other/d:latest", "f/a:1", PINNED]);
    expect(await filtered("before=f/d:1", "before=f/b:1")).toEqual(["<none>", "f/c:1"]);
    expect(await filtered("since=f/c:1", "since=f/b:1", "before=f/d:2")).toEqual(["f/a:1", PINNED]);
    expect(await filtered("since=f/c:1")).toEqual(["f/d:1,f/d:2,other/d:latest", "f/a:1", PINNED, "f/b:1", "<none>"]);
  });

  it("reference: any of the patterns, PATTERN being one more; different keys must all hold", async () => {
    expect(await filtered("reference=f/a", "reference=f/b:*")).toEqual(["f/a:1", "f/b:1"]);
    expect(await listed("f/a", "--filter", "reference=other/*")).toEqual(["other/d:latest", "f/a:1"]);
    expect(await listed("f/*", "--filter", "label=team", "-f", "since=f/b:1")).toEqual(["f/a:1", PINNED]);
  });

  it("reads the flag as the docker CLI does: key trimmed and lower-cased, value trimmed, an empty one ignored", async () => {
    expect(await filtered(" Label = team=a ", "")).toEqual(["f/a:1"]);
    expect(await filtered("DANGLING=true")).toEqual([PINNED, "<none>"]);
  });

  it("the table, -q and --digests take the filters as well", async () => {
    const quiet = await lading("images", "-q", "--no-trunc", "-f", "reference=*/d");
    const id = quiet.stdout.split("\n")[0] as string;
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, `${id}\n${id}\n${id}\n`, ""]);
    const table = await lading("images", "--digests", "-f", "dangling=true", "-f", "reference=f/*");
    expect([table.code, table.stderr]).toEqual([0, ""]);
    expect(table.stdout.split("\n").map((line) => line.split(/ {3,}/).slice(0, 3))).toEqual([
      ["REPOSITORY", "TAG", "DIGEST"],
      ["f/e", "<none>", pinned.manifest.digest],
      [""],
    ]);
  });

  it("a bad filter fails in docker's words, before the store is read; an image before or since names must exist", async () => {
    const before = await readFile(join(root, "repositories.json"), "utf8");
    const usage = (message: string): [number, string, string] => [2, "", `lading: usage error: ${message}\n`];
    const run = async (...args: string[]): Promise<[number, string, string]> => {
      const result = await lading("images", ...args);
      return [result.code, result.stdout, result.stderr];
    };
    expect(await run("-f", "foo=1")).toEqual(usage("Invalid filter 'foo'"));
    expect(await run("-f", "=x")).toEqual(usage("Invalid filter ''"));
    expect(await run("-f", "dangling=maybe", "-f", "dangling=x")).toEqual(usage("Invalid filter 'dangling=[maybe x]'"));
    expect(await run("-f", "dangling=1")).toEqual(usage("Invalid filter 'dangling=[1]'"));
    expect(await run("-f", "dangling=")).toEqual(usage("Invalid filter 'dangling=[]'"));
    expect(await run("-f", "dangling")).toEqual(usage('invalid argument "dangling" for "-f, --filter" flag: bad format of filter (expected name=value)'));
    expect(await run("-f", "reference=f/[")).toEqual(usage('invalid reference pattern "f/[": syntax error in pattern'));
    expect(await run("-q", "-f", "before=nosuch")).toEqual([1, "", "lading: error: No such image: nosuch:latest\n"]);
    expect(await run("-f", "since=docker.io/library/nosuch:2")).toEqual([1, "", "lading: error: No such image: nosuch:2\n"]);
    expect(await readFile(join(root, "repositories.json"), "utf8")).toBe(before);
  });
});
