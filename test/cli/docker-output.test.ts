// The bytes `lading images` and `lading inspect` print, as the docker CLI prints them for the same
// images from dockerd 20.10.24 (test/interop/images-docker-cli.test.ts compares them live), and
// docker's `image` management command.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading, type CliResult } from "../support/archive-builder.js";
import { filterImagesArchive, inspectImagesArchive } from "../support/parity-images.js";

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-docker-output-"));
  await writeFile(join(scratch, "filters.tar"), filterImagesArchive());
  await writeFile(join(scratch, "inspect.tar"), inspectImagesArchive());
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

describe("lading inspect prints docker's JSON", () => {
  it("indented by 4 spaces, Created as Go writes a time, maps with their keys sorted, strings escaped as Go escapes them", async () => {
    const root = await storeWith("inspect.tar");
    const result = await runLading(["--root", root, "inspect", "i/rich:1"]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(result.stdout.startsWith('[\n    {\n        "Id": "sha256:')).toBe(true);
    expect(result.stdout.endsWith('\n        "AbsentPlatforms": []\n    }\n]\n')).toBe(true);
    const lines = result.stdout.split("\n");
    expect(lines.filter((line) => /^ {8}"(Created|Author)"/.test(line))).toEqual(['        "Created": "2024-01-02T04:04:05.5+01:00",', '        "Author": "a <b@c> & d",']);
    // dockerd 20.10.24's bytes for this config (its `docker image inspect`, between "Config" and "Architecture").
    const config = lines.slice(lines.indexOf('        "Config": {'), lines.indexOf('        "Architecture": "amd64",')).join("\n");
    expect(config).toBe(
      [
        '        "Config": {',
        '            "Hostname": "",',
        '            "Domainname": "",',
        '            "User": "",',
        '            "AttachStdin": false,',
        '            "AttachStdout": false,',
        '            "AttachStderr": false,',
        '            "ExposedPorts": {',
        '                "443/tcp": {},',
        '                "80/udp": {},',
        '                "8080/tcp": {}',
        "            },",
        '            "Tty": false,',
        '            "OpenStdin": false,',
        '            "StdinOnce": false,',
        '            "Env": [',
        '                "A=<&>",',
        '                "B=\\u0001\\u0008\\u000c\\u2028\u007f"',
        "            ],",
        '            "Cmd": [',
        '                "/bin/sh"',
        "            ],",
        '            "Image": "",',
        '            "Volumes": {',
        '                "/B": {},',
        '                "/a": {},',
        '                "/z": {}',
        "            },",
        '            "WorkingDir": "",',
        '            "Entrypoint": null,',
        '            "OnBuild": null,',
        '            "Labels": {',
        '                "10": "ten",',
        '                "9": "nine",',
        '                "Beta": "3",',
        '                "b": "<&>",',
        '                "zeta": "1",',
        '                "é": "accent",',
        '                "\uFFFD": "replacement",',
        '                "\u{1F600}": "smile"',
        "            }",
        "        },",
      ].join("\n"),
    );
  });

  it("Created: trailing zeros of the fraction dropped, nine digits at most, a zero offset as Z, Go's zero time without one", async () => {
    const root = await storeWith("inspect.tar");
    const created = async (name: string): Promise<string[]> => {
      const result = await runLading(["--root", root, "inspect", name]);
      return result.stdout.split("\n").filter((line) => line.startsWith('        "Created": '));
    };
    expect(await created("i/zero-fraction:1")).toEqual(['        "Created": "2024-01-02T03:04:05Z",']);
    expect(await created("i/utc-offset:1")).toEqual(['        "Created": "2024-01-02T03:04:05.123456789Z",']);
    expect(await created("i/no-created:1")).toEqual(['        "Created": "0001-01-01T00:00:00Z",']);
  });

  it("an image it cannot find is named as dockerd names it; nothing found prints []", async () => {
    const root = await storeWith("inspect.tar");
    expect(output(await runLading(["--root", root, "inspect", "i/byid", "docker.io/library/x:2"]))).toEqual([1, "[]\n", "Error: No such image: i/byid:latest\nError: No such image: x:2\n"]);
    expect(output(await runLading(["--root", root, "tag", "i/byid", "i/x"]))).toEqual([1, "", "lading: error: No such image: i/byid:latest\n"]);
  });
});

describe("lading image: docker's image management command", () => {
  it("ls, list, inspect, tag, rm and remove are the top-level commands under docker's names", async () => {
    const root = await storeWith("filters.tar");
    const lading = (...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);
    const images = output(await lading("images", "-f", "label=team"));
    expect(output(await lading("image", "ls", "-f", "label=team"))).toEqual(images);
    expect(output(await lading("image", "list", "-f", "label=team"))).toEqual(images);
    expect(output(await lading("image", "inspect", "f/a:1"))).toEqual(output(await lading("inspect", "f/a:1")));
    expect(output(await lading("image", "tag", "f/a:1", "f/a:2"))).toEqual([0, "", ""]);
    expect(output(await lading("image", "rm", "f/a:2"))).toEqual([0, "Untagged: f/a:2\n", ""]);
    expect(output(await lading("image", "remove", "f/a:1"))).toEqual([0, `Untagged: f/a:1\nDeleted: sha256:61809da976f3550412229f4ba4697f32ed5ad9ffc2c99c8385bac5f6b82151c6\n`, ""]);
    expect(output(await lading("image", "rm", "f/a:1"))).toEqual([1, "", "Error: No such image: f/a:1\n"]);
  });

  it("help lists it and its subcommands", async () => {
    const help = await runLading(["--help"]);
    expect(help.stdout).toMatch(/\n {2}image {28}manage images, as docker image does: inspect,\n {35}load, ls \(images\), prune, pull, push, rm\n {35}\(rmi\), save, tag\n/);
    const group = await runLading(["image", "--help"]);
    expect(group.code).toBe(0);
    const commands = group.stdout.split("\n").filter((line) => /^ {2}\S/.test(line)).map((line) => line.trim().split(" ")[0]);
    expect(commands).toEqual(["-h,", "inspect", "load", "ls|list", "prune", "pull", "push", "rm|remove", "save", "tag", "help"]);
    expect((await runLading(["image", "ls", "--help"])).stdout).toMatch(/^Usage: lading image ls\|list \[options\] \[pattern\]\n/);
  });
});
