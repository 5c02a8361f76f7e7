// The bytes `lading images` prints, as the docker CLI prints them for the same images from
// dockerd 20.10.24.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading, type CliResult } from "../support/archive-builder.js";
import { filterImagesArchive } from "../support/parity-images.js";

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-docker-output-"));
  await writeFile(join(scratch, "filters.tar"), filterImagesArchive());
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function storeWith(...archives: string[]): Promise<string> {
  const root = join(scratch, `store-${counter++}`);
  for (const archive of archives) expect((await runLading(["--root", root, "load", "-q", "-i", join(scratch, archive)])).code).toBe(0);
  return root;
}

const output = (result: CliResult): [number, string, string] => [result.code, result.stdout, result.stderr];

// The IDs are those of the manifests lading synthesises for the docker archive's images.
const F_C = "sha256:7e6f0d29eaabe6e1f5a53b0bc40bb4347880b30059e503b4124dafe88e249312";
const F_D = "f5a5a6a7e195";

describe("lading images prints docker's table", () => {
  it("columns as docker's tabwriter lays them out (each at least 10 wide); CREATED N/A for Go's zero time", async () => {
    const root = await storeWith("filters.tar");
    const lading = (...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);
    expect(output(await lading("images", "f/c"))).toEqual([0, "REPOSITORY   TAG       IMAGE ID       CREATED   SIZE\nf/c          1         7e6f0d29eaab   N/A       2.72kB\n", ""]);
    expect(output(await lading("images", "--digests", "f/c"))).toEqual([
      0,
      "REPOSITORY   TAG       DIGEST    IMAGE ID       CREATED   SIZE\nf/c          1         <none>    7e6f0d29eaab   N/A       2.72kB\n",
      "",
    ]);
    expect(output(await lading("images", "--no-trunc", "f/c"))).toEqual([
      0,
      `REPOSITORY   TAG       IMAGE ID${" ".repeat(66)}CREATED   SIZE\nf/c          1         ${F_C}   N/A       2.72kB\n`,
      "",
    ]);
    expect(output(await lading("tag", "f/c:1", "a-rather-long/repository-name:a-long-tag-name"))).toEqual([0, "", ""]);
    expect(output(await lading("images", "a-rather-long/*"))).toEqual([
      0,
      "REPOSITORY                      TAG               IMAGE ID       CREATED   SIZE\na-rather-long/repository-name   a-long-tag-name   7e6f0d29eaab   N/A       2.72kB\n",
      "",
    ]);
    expect(output(await lading("images", "nothing/*"))).toEqual([0, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n", ""]);
    expect(output(await lading("images", "--digests", "nothing/*"))).toEqual([0, "REPOSITORY   TAG       DIGEST    IMAGE ID   CREATED   SIZE\n", ""]);
  });

  it("-q prints the ID of every row: an image with several tags as often as it has rows", async () => {
    const root = await storeWith("filters.tar");
    expect(output(await runLading(["--root", root, "images", "-q", "*/d"]))).toEqual([0, `${F_D}\n${F_D}\n${F_D}\n`, ""]);
    expect(output(await runLading(["--root", root, "images", "-q", "f/*"]))).toEqual([0, `${F_D}\n${F_D}\n61809da976f3\ncd8a1cee090d\n7e6f0d29eaab\n`, ""]);
  });
});
