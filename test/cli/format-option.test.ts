// `--format` through the CLI, without a docker client: exit codes, errors and their order, the
// shorthands, and the table writer (the interop test compares the outputs with docker's).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tabulate } from "../../src/cli/tab-writer.js";
import { ensureBuilt, runLading, type CliResult } from "../support/archive-builder.js";
import { HAVE_FIXTURES } from "../ops/load-expectations.js";

const IMPORTED = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
let root: string;

beforeAll(async () => {
  ensureBuilt();
  root = await mkdtemp(join(tmpdir(), "lading-cli-format-"));
  if (HAVE_FIXTURES) expect((await runLading(["--root", root, "load", "-q", "-i", "../shared/fixtures/archives/docker-save-single.tar"])).code).toBe(0);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const lading = (...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args], { env: { ...process.env, TZ: "UTC" } });
const output = (result: CliResult): [number, string, string] => [result.code, result.stdout, result.stderr];

it("tabulate aligns tab-terminated cells as docker's tabwriter (minwidth 10, padding 3)", () => {
  expect(tabulate("REPOSITORY\tTAG\tSIZE\nfixture/imported\t1.0\t32.1kB\nx\tlatest-and-longer\t1B\n")).toBe(
    "REPOSITORY         TAG                 SIZE\nfixture/imported   1.0                 32.1kB\nx                  latest-and-longer   1B\n",
  );
  // A line without a tab ends the column block: the lines after it are aligned afresh.
  expect(tabulate("a\tb\nno tabs\nlonger-cell-here\tc\n")).toBe("a         b\nno tabs\nlonger-cell-here   c\n");
  expect(tabulate("日本\tx\n")).toBe("日本      x\n");
});

describe.skipIf(!HAVE_FIXTURES)("--format", () => {
  it("images: a template, docker's table, and a template that fails prints nothing, exit 1", async () => {
    expect(output(await lading("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", "fixture/imported"))).toEqual([0, "fixture/imported:1.0 32.1kB\nfixture/imported:latest 32.1kB\n", ""]);
    expect(output(await lading("images", "--format", "table {{.Tag}}\\t{{.ID}}", "fixture/imported"))).toEqual([0, "TAG       IMAGE ID\n1.0       2846d53959af\nlatest    2846d53959af\n", ""]);
    expect(output(await lading("images", "--format", "{{.Tag}}{{.Nope}}"))).toEqual([1, "", `lading: error: template parsing error: template: :1:10: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext\n`]);
  });

  it("a template that does not parse is a usage error, before the store is read", async () => {
    const empty = await mkdtemp(join(tmpdir(), "lading-cli-format-empty-"));
    const result = await runLading(["--root", join(empty, "never-made"), "images", "--format", "{{if}}"]);
    expect(output(result)).toEqual([2, "", "lading: usage error: template parsing error: template: :1: missing value for if\n"]);
    await expect(readFile(join(empty, "never-made", "repositories.json"))).rejects.toThrow();
    expect(output(await lading("inspect", "-f", "{{.Id", "nosuch"))).toEqual([2, "", "lading: usage error: template parsing error: template: :1: unclosed action\n"]);
    await rm(empty, { recursive: true, force: true });
  });

  it("inspect: one line per image; an image the template fails on, and one not found, are errors, exit 1", async () => {
    expect(output(await lading("inspect", "-f", "{{.Id}} {{.ManifestOrigin}} {{index .Platforms 0}}", "fixture/imported:1.0", "imported-plain"))).toEqual([0, `${IMPORTED} synthesized linux/amd64\n${IMPORTED} synthesized linux/amd64\n`, ""]);
    expect(output(await lading("inspect", "--format", "{{.Config.Labels.missing}} {{.Nope}}", "fixture/imported:1.0"))).toEqual([1, "\n", `Error: template parsing error: template: :1:29: executing "" at <.Nope>: map has no entry for key "Nope"\n`]);
    const mixed = await lading("inspect", "-f", "{{.Os}}", "nosuch", "fixture/imported:1.0");
    expect(mixed.code).toBe(1);
    expect(mixed.stdout).toBe("linux\n");
    expect(mixed.stderr).toMatch(/^Error: .*nosuch.*\n$/);
  });

  it("inspect --format json: the documents as one compact JSON array", async () => {
    const result = await lading("inspect", "--format", "json", "fixture/imported:1.0");
    const full = await lading("inspect", "fixture/imported:1.0");
    expect(result.stdout).toBe(`${JSON.stringify(JSON.parse(full.stdout))}\n`);
  });
});
