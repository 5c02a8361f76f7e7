// `lading tag|rmi|inspect|images` follow docker's rules, and repositories.json keeps Docker's shape,
// including a real one written by dockerd 20.10 (../shared/fixtures/expected.json dockerDataRoot).
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, descriptorOf, ensureBuilt, makeImage, ociLayoutItems, runLading, type CliResult } from "../support/archive-builder.js";
import { HAVE_FIXTURES, sharedExpected } from "../ops/load-expectations.js";

const IMPORTED = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
const IMPORTED_CONFIG = "sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b";
const DERIVED_A = "sha256:662400124e1af9323b39bb1b8c1760dcec107697fdc9695102e02efb0dfe175d";
const DERIVED_A_CONFIG = "sha256:65ba0f4cf299619b9270d0b31ffdcdaea5b006888832db4661ff0d4885cb4713";
const DERIVED_B = "sha256:0b6aaa7c48083bcdd854f648faa89a3753d09991541441a57f3b796fe90df875";
const TD_APP = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
const FX_APP_OCI = "sha256:54a548fd5910919b0b8d6d01d7877f744590b3d9a5238eba3db608565634fbdf";

let scratch: string;
let counter = 0;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-images-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const lading = (root: string, ...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);
const output = (result: CliResult): [number, string, string] => [result.code, result.stdout, result.stderr];

type Repositories = { Repositories: Record<string, Record<string, string>> };
const readRepositories = async (root: string): Promise<string> => readFile(join(root, "repositories.json"), "utf8");

/** Docker's serialisation: compact, keys sorted at both levels, no trailing newline. */
function dockerBytes(document: Repositories): string {
  const sortedEntries = <T>(record: Record<string, T>): [string, T][] => Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ Repositories: Object.fromEntries(sortedEntries(document.Repositories).map(([name, refs]) => [name, Object.fromEntries(sortedEntries(refs))])) });
}

async function loaded(...archives: string[]): Promise<string> {
  const root = join(scratch, `store-${counter++}`);
  for (const archive of archives) expect((await lading(root, "load", "-q", "-i", archive)).code).toBe(0);
  return root;
}

describe.skipIf(!HAVE_FIXTURES)("docker's rules through the CLI", () => {
  it("tag: a bare name means :latest, and a tag moves silently as with docker tag", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar");
    expect(output(await lading(root, "tag", "fixture/derived-a:1.0", "myrepo"))).toEqual([0, "", ""]);
    expect((JSON.parse(await readRepositories(root)) as Repositories).Repositories.myrepo).toEqual({ "myrepo:latest": DERIVED_A });
    expect(output(await lading(root, "tag", "fixture/derived-b:1.0", "myrepo:latest"))).toEqual([0, "", ""]);
    expect((JSON.parse(await readRepositories(root)) as Repositories).Repositories.myrepo).toEqual({ "myrepo:latest": DERIVED_B });
    expect(output(await lading(root, "tag", "docker.io/library/myrepo", "localhost:5000/x/y:v1"))).toEqual([0, "", ""]);
    expect((JSON.parse(await readRepositories(root)) as Repositories).Repositories["localhost:5000/x/y"]).toEqual({ "localhost:5000/x/y:v1": DERIVED_B });
  });

  it("tag: an unknown source and a digest target are refused", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar");
    const before = await readRepositories(root);
    expect(output(await lading(root, "tag", "nope", "x:1"))).toEqual([1, "", "lading: error: No such image: nope:latest\n"]);
    expect(output(await lading(root, "tag", "fixture/derived-a:1.0", `x@${DERIVED_B}`))).toEqual([
      1,
      "",
      `lading: error: refusing to create a tag with a digest reference: x@${DERIVED_B}\n`,
    ]);
    expect(await readRepositories(root)).toBe(before);
  });

  it("rmi: an unknown reference is a not-found error, exit 1, naming the image as dockerd names it", async () => {
    const root = await loaded("testdata/docker-archive.tar");
    const before = await readRepositories(root);
    expect(output(await lading(root, "rmi", "x"))).toEqual([1, "", "Error: No such image: x:latest\n"]);
    expect(output(await lading(root, "rmi", "docker.io/library/x:1", "localhost:5000/a/b", "abcdef", "sha256:abcdef"))).toEqual([
      1,
      "",
      "Error: No such image: x:1\nError: No such image: localhost:5000/a/b:latest\nError: No such image: abcdef:latest\nError: No such image: sha256:abcdef\n",
    ]);
    expect(output(await lading(root, "rmi", "a".repeat(64)))).toEqual([1, "", `Error: No such image: sha256:${"a".repeat(64)}\n`]);
    expect(await readRepositories(root)).toBe(before);
  });

  it("rmi -f: a missing image is said on stderr but exits 0, as docker's CLI has it, also beside names that exist; any other error still fails", async () => {
    // "f" starts both configs: fb5b2ad6... (testdata app) and f0488f7e... (the skopeo OCI image).
    const root = await loaded("testdata/docker-archive.tar", "../shared/fixtures/archives/skopeo-oci-archive.tar");
    const before = await readRepositories(root);
    expect(output(await lading(root, "rmi", "-f", "nosuch:1"))).toEqual([0, "", "Error: No such image: nosuch:1\n"]);
    expect(output(await lading(root, "rmi", "-f", "deadbeef"))).toEqual([0, "", "Error: No such image: deadbeef:latest\n"]);
    expect(await readRepositories(root)).toBe(before);
    expect(output(await lading(root, "rmi", "-f", "nosuch:1", "lading-testdata/app:1.0", "other:2"))).toEqual([
      0,
      "Untagged: lading-testdata/app:1.0\n",
      "Error: No such image: nosuch:1\nError: No such image: other:2\n",
    ]);
    const after = await readRepositories(root);
    expect(output(await lading(root, "rmi", "-f", "nosuch:1", "Bad:x:y"))).toEqual([
      1,
      "",
      "Error: No such image: nosuch:1\nError: invalid reference format: repository name (library/Bad) must be lowercase\n",
    ]);
    expect(output(await lading(root, "rmi", "-f", "f", "nosuch:1"))).toEqual([
      1,
      "",
      "Error: ambiguous image ID prefix f: it matches 2 images: 54a548fd5910 (by its config f0488f7ed7f8), c2c61f8eba5f (by its config fb5b2ad6a24a); name one of them\nError: No such image: nosuch:1\n",
    ]);
    expect(await readRepositories(root)).toBe(after);
  });

  it("rmi: removing the last tag deletes the image", async () => {
    const root = await loaded("testdata/docker-archive.tar");
    expect(output(await lading(root, "rmi", "lading-testdata/app:1.0"))).toEqual([0, "Untagged: lading-testdata/app:1.0\n", ""]);
    expect(output(await lading(root, "rmi", "lading-testdata/app"))).toEqual([0, `Untagged: lading-testdata/app:latest\nDeleted: ${TD_APP}\n`, ""]);
    expect(await readRepositories(root)).toBe('{"Repositories":{}}');
    expect(output(await lading(root, "inspect", TD_APP))).toEqual([1, "[]\n", `Error: No such image: ${TD_APP}\n`]);
  });

  it("rmi: the last tag of an image with a RepoDigest removes the digest reference too", async () => {
    const root = join(scratch, `store-${counter++}`);
    expect((await lading(root, "load", "-q", "--name", "solo/app", "-i", "../shared/fixtures/archives/skopeo-oci-archive.tar")).code).toBe(0);
    expect(await readRepositories(root)).toBe(`{"Repositories":{"solo/app":{"solo/app:1.0":"${FX_APP_OCI}","solo/app@${FX_APP_OCI}":"${FX_APP_OCI}"}}}`);
    expect(output(await lading(root, "rmi", "solo/app:1.0"))).toEqual([0, `Untagged: solo/app:1.0\nUntagged: solo/app@${FX_APP_OCI}\nDeleted: ${FX_APP_OCI}\n`, ""]);
    expect(await readRepositories(root)).toBe('{"Repositories":{}}');
  });

  it("rmi by ID of an image in several repositories needs -f", async () => {
    const root = await loaded("../shared/fixtures/archives/docker-save-single.tar");
    const before = await readRepositories(root);
    expect(output(await lading(root, "rmi", "2846d53959af"))).toEqual([
      1,
      "",
      "Error: conflict: unable to delete 2846d53959af (must be forced) - image is referenced in multiple repositories\n",
    ]);
    expect(await readRepositories(root)).toBe(before);
    expect(output(await lading(root, "rmi", "-f", "2846d53959af"))).toEqual([
      0,
      "Untagged: fixture/imported:1.0\nUntagged: fixture/imported:latest\nUntagged: imported-plain:latest\nUntagged: localhost:5000/team/imported:v1\n" +
        `Deleted: ${IMPORTED}\n`,
      "",
    ]);
    expect(await readRepositories(root)).toBe('{"Repositories":{}}');
  });

  it("rmi by ID: one tag and its repository's digest need no -f, two tags in one repository do (moby's isSingleReference)", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar");
    expect(output(await lading(root, "tag", "fixture/derived-a:1.0", "fixture/derived-a:2.0"))).toEqual([0, "", ""]);
    const before = await readRepositories(root);
    expect(output(await lading(root, "rmi", "662400124e1a"))).toEqual([
      1,
      "",
      "Error: conflict: unable to delete 662400124e1a (must be forced) - image is referenced in multiple repositories\n",
    ]);
    expect(await readRepositories(root)).toBe(before);
    expect(output(await lading(root, "rmi", "0b6aaa7c4808"))).toEqual([
      0,
      `Untagged: fixture/derived-b:1.0\nUntagged: fixture/derived-b@${DERIVED_B}\nDeleted: ${DERIVED_B}\n`,
      "",
    ]);
  });

  it("rmi of a repository's last tag removes its digest references there, though another repository still tags the image", async () => {
    const root = join(scratch, `store-${counter++}`);
    expect((await lading(root, "load", "-q", "--name", "app", "-i", "../shared/fixtures/archives/skopeo-oci-archive.tar")).code).toBe(0);
    expect(output(await lading(root, "tag", "app:1.0", "other:1"))).toEqual([0, "", ""]);
    expect(output(await lading(root, "rmi", "app:1.0"))).toEqual([0, `Untagged: app:1.0\nUntagged: app@${FX_APP_OCI}\n`, ""]);
    expect(await readRepositories(root)).toBe(`{"Repositories":{"other":{"other:1":"${FX_APP_OCI}"}}}`);
    expect(output(await lading(root, "rmi", "other:1"))).toEqual([0, `Untagged: other:1\nDeleted: ${FX_APP_OCI}\n`, ""]);
    expect(await readRepositories(root)).toBe('{"Repositories":{}}');
  });

  it("images: a repository naming the image only by digest gets a row with tag <none>; --digests shows a row per tag and digest", async () => {
    const root = join(scratch, `store-${counter++}`);
    expect((await lading(root, "load", "-q", "--name", "app", "-i", "../shared/fixtures/archives/skopeo-oci-archive.tar")).code).toBe(0);
    expect(output(await lading(root, "tag", "app:1.0", "app:2.0"))).toEqual([0, "", ""]);
    // A hand edit (or a pull by digest) leaves a repository with a digest reference only.
    const edited = JSON.parse(await readRepositories(root)) as Repositories;
    edited.Repositories["only/digest"] = { [`only/digest@${FX_APP_OCI}`]: FX_APP_OCI };
    await writeFile(join(root, "repositories.json"), dockerBytes(edited), { mode: 0o600 });
    const columns = (result: CliResult): string[][] => result.stdout.trimEnd().split("\n").map((line) => line.split(/ {3,}/).slice(0, -2));
    const plain = await lading(root, "images");
    expect([plain.code, plain.stderr, columns(plain)]).toEqual([
      0,
      "",
      [
        ["REPOSITORY", "TAG", "IMAGE ID"],
        ["app", "1.0", "54a548fd5910"],
        ["app", "2.0", "54a548fd5910"],
        ["only/digest", "<none>", "54a548fd5910"],
      ],
    ]);
    const digests = await lading(root, "images", "--digests");
    expect([digests.code, digests.stderr, columns(digests)]).toEqual([
      0,
      "",
      [
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID"],
        ["app", "1.0", FX_APP_OCI, "54a548fd5910"],
        ["app", "2.0", FX_APP_OCI, "54a548fd5910"],
        ["only/digest", "<none>", FX_APP_OCI, "54a548fd5910"],
      ],
    ]);
  });

  it("images REPOSITORY[:TAG] lists that repository's rows; -q prints the image ID of each row, as docker", async () => {
    const root = await loaded("../shared/fixtures/archives/docker-save-multi.tar", "../shared/fixtures/archives/docker-save-single.tar");
    expect(output(await lading(root, "tag", "fixture/derived-a:1.0", "fixture/derived-a:2.0"))).toEqual([0, "", ""]);
    const columns = (result: CliResult): string[][] => result.stdout.trimEnd().split("\n").map((line) => line.split(/ {3,}/).slice(0, -2));
    const repository = await lading(root, "images", "fixture/derived-a");
    expect([repository.code, repository.stderr, columns(repository)]).toEqual([
      0,
      "",
      [
        ["REPOSITORY", "TAG", "IMAGE ID"],
        ["fixture/derived-a", "1.0", "662400124e1a"],
        ["fixture/derived-a", "2.0", "662400124e1a"],
      ],
    ]);
    expect(columns(await lading(root, "images", "fixture/derived-a:2.0"))).toEqual([
      ["REPOSITORY", "TAG", "IMAGE ID"],
      ["fixture/derived-a", "2.0", "662400124e1a"],
    ]);
    expect(output(await lading(root, "images", "-q", "fixture/derived-a"))).toEqual([0, "662400124e1a\n662400124e1a\n", ""]);
    // imported (08:17:34.078) and derived-a (08:17:34.893) were created in the same second: docker's order
    // for them varies from run to run (dockerd 20.10 compares whole seconds), lading's goes by ID.
    expect(output(await lading(root, "images", "-q", "--no-trunc"))).toEqual([0, [DERIVED_B, IMPORTED, IMPORTED, IMPORTED, IMPORTED, DERIVED_A, DERIVED_A].join("\n") + "\n", ""]);
    expect(output(await lading(root, "images", "-q", "nothing/here"))).toEqual([0, "", ""]);
    const json = await lading(root, "images", "--json", "fixture/derived-a:2.0");
    expect([json.code, (JSON.parse(json.stdout) as { id: string }[]).map((image) => image.id)]).toEqual([0, [DERIVED_A]]);
    expect(output(await lading(root, "images", "--json", "nothing/here"))).toEqual([0, "[]\n", ""]);
  });

  it("images REPOSITORY@DIGEST lists only the images that repository names by that digest, as a digest row; REPOSITORY:TAG shows no digest (dockerd 20.10's reference filter)", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar", "../shared/fixtures/archives/docker-save-single.tar");
    expect(output(await lading(root, "tag", "fixture/derived-a:1.0", "fixture/derived-a:2.0"))).toEqual([0, "", ""]);
    const columns = (result: CliResult): string[][] => result.stdout.trimEnd().split("\n").map((line) => line.split(/ {3,}/).slice(0, -2));
    const rows = async (...args: string[]): Promise<[number, string, string[][]]> => {
      const result = await lading(root, "images", ...args);
      return [result.code, result.stderr, columns(result)];
    };
    expect(await rows(`fixture/derived-a@${DERIVED_A}`)).toEqual([0, "", [["REPOSITORY", "TAG", "IMAGE ID"], ["fixture/derived-a", "<none>", "662400124e1a"]]]);
    expect(await rows("--digests", `fixture/derived-a@${DERIVED_A}`)).toEqual([
      0,
      "",
      [["REPOSITORY", "TAG", "DIGEST", "IMAGE ID"], ["fixture/derived-a", "<none>", DERIVED_A, "662400124e1a"]],
    ]);
    // The digest of another image, of another repository, or with a tag as well: nothing.
    for (const filter of [`fixture/derived-a@${DERIVED_B}`, `fixture/imported@${IMPORTED}`, `fixture/derived-a:1.0@${DERIVED_A}`]) {
      expect(output(await lading(root, "images", filter))).toEqual([0, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n", ""]);
      expect(output(await lading(root, "images", "-q", filter))).toEqual([0, "", ""]);
      expect(output(await lading(root, "images", "--json", filter))).toEqual([0, "[]\n", ""]);
    }
    // A tag names no digest reference: the DIGEST column is <none>; the repository alone names both.
    expect(await rows("--digests", "fixture/derived-a:2.0")).toEqual([0, "", [["REPOSITORY", "TAG", "DIGEST", "IMAGE ID"], ["fixture/derived-a", "2.0", "<none>", "662400124e1a"]]]);
    expect(await rows("--digests", "fixture/derived-a")).toEqual([
      0,
      "",
      [
        ["REPOSITORY", "TAG", "DIGEST", "IMAGE ID"],
        ["fixture/derived-a", "1.0", DERIVED_A, "662400124e1a"],
        ["fixture/derived-a", "2.0", DERIVED_A, "662400124e1a"],
      ],
    ]);
    expect(output(await lading(root, "images", "-q", "--no-trunc", `fixture/derived-b@${DERIVED_B}`))).toEqual([0, `${DERIVED_B}\n`, ""]);
    const json = await lading(root, "images", "--json", `fixture/derived-a@${DERIVED_A}`);
    expect([json.code, (JSON.parse(json.stdout) as { id: string; repoTags: string[]; repoDigests: string[] }[]).map(({ id, repoTags, repoDigests }) => [id, repoTags, repoDigests])]).toEqual([
      0,
      [[DERIVED_A, [], [`fixture/derived-a@${DERIVED_A}`]]],
    ]);
  });

  it("images PATTERN lists the rows dockerd 20.10 lists: a path.Match glob on the familiar reference or its repository", async () => {
    // Expected rows: what `docker images PATTERN` printed on dockerd 20.10.24 after `docker load` of
    // the same three archives (in lading's order: docker's varies for images of the same second).
    const root = await loaded(
      "../shared/fixtures/archives/docker-save-multi.tar",
      "../shared/fixtures/archives/docker-save-single.tar",
      "../shared/fixtures/archives/skopeo-docker-archive.tar",
    );
    const columns = (result: CliResult): string[][] => result.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/ {3,}/).slice(0, 3));
    const rows = async (pattern: string): Promise<[number, string, string[][]]> => {
      const result = await lading(root, "images", pattern);
      return [result.code, result.stderr, columns(result)];
    };
    const DB = ["fixture/derived-b", "1.0", "0b6aaa7c4808"];
    const IMP_1 = ["fixture/imported", "1.0", "2846d53959af"];
    const IMP_LATEST = ["fixture/imported", "latest", "2846d53959af"];
    const PLAIN = ["imported-plain", "latest", "2846d53959af"];
    const LOCALHOST = ["localhost:5000/team/imported", "v1", "2846d53959af"];
    const DA = ["fixture/derived-a", "1.0", "662400124e1a"];
    const APP_1 = ["fixture/umoci-app", "1.0", "87d776c852de"];
    const APP_LATEST = ["fixture/umoci-app", "latest", "87d776c852de"];
    const REGISTRY = ["registry.example.com:5000/team/umoci-app", "v1", "87d776c852de"];
    const expected: [string, string[][]][] = [
      ["fixture/*", [DB, IMP_1, IMP_LATEST, DA, APP_1, APP_LATEST]],
      ["fixture/imp*", [IMP_1, IMP_LATEST]],
      ["*", [PLAIN]],
      ["fixture*", []],
      ["fixture/?mported", [IMP_1, IMP_LATEST]],
      ["fixture/derived-[^a]", [DB]],
      ["fixture/derived-[!a]", [DA]],
      ["fixture/derived-[a-b]", [DB, DA]],
      ["fixture/umoci-app:1.*", [APP_1]],
      ["fixture/*:1.0", [DB, IMP_1, DA, APP_1]],
      ["*:latest", [PLAIN]],
      ["fixture[/]umoci-app", [APP_1, APP_LATEST]],
      ["*/team/*", [LOCALHOST, REGISTRY]],
      ["*[/e]*d", []],
      ["*[/]*d", [IMP_1, IMP_LATEST]],
      ["fixture/imported:\\l*", [IMP_LATEST]],
      // Familiar names only, and no reference parsing: these match nothing, without an error.
      ["docker.io/fixture/imported", []],
      ["library/imported-plain", []],
      ["Fixture/imported", []],
    ];
    const seen: [string, string[][]][] = [];
    for (const [pattern] of expected) {
      const [code, stderr, listed] = await rows(pattern);
      expect([pattern, code, stderr]).toEqual([pattern, 0, ""]);
      seen.push([pattern, listed]);
    }
    expect(seen).toEqual(expected);
    const before = await readRepositories(root);
    for (const pattern of ["fixture/[", "fixture/imp\\", "fixture/derived-[a-]"]) {
      expect(output(await lading(root, "images", pattern))).toEqual([2, "", `lading: usage error: invalid reference pattern ${JSON.stringify(pattern)}: syntax error in pattern\n`]);
    }
    expect(await readRepositories(root)).toBe(before);
  });

  it("images PATTERN with a digest part matches the digest references as dockerd 20.10 does", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar", "../shared/fixtures/archives/docker-save-single.tar");
    const columns = (result: CliResult): string[][] => result.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/ {3,}/).slice(0, 4));
    const rows = async (pattern: string): Promise<[number, string, string[][]]> => {
      const result = await lading(root, "images", "--digests", pattern);
      return [result.code, result.stderr, columns(result)];
    };
    expect(await rows("fixture/derived-a@sha256:*")).toEqual([0, "", [["fixture/derived-a", "<none>", DERIVED_A, "662400124e1a"]]]);
    expect(await rows("fixture/derived-?@sha256:6624*")).toEqual([0, "", [["fixture/derived-a", "<none>", DERIVED_A, "662400124e1a"]]]);
    expect(await rows("fixture/*@*")).toEqual([
      0,
      "",
      [
        ["fixture/derived-b", "<none>", DERIVED_B, "0b6aaa7c4808"],
        ["fixture/derived-a", "<none>", DERIVED_A, "662400124e1a"],
      ],
    ]);
    // A tag pattern matches tags only (no digest shown); a tag and a digest together, nothing.
    expect(await rows("fixture/derived-a:*")).toEqual([0, "", [["fixture/derived-a", "1.0", "<none>", "662400124e1a"]]]);
    expect(await rows("fixture/derived-a:1.0@*")).toEqual([0, "", []]);
  });

  it("inspect by name, name:tag, name@digest, full ID, ID prefix, config digest prefix; ambiguous prefix fails", async () => {
    const root = await loaded(
      "../shared/fixtures/archives/docker-save-single.tar",
      "../shared/fixtures/archives/ctr-export.tar",
      "testdata/docker-archive.tar",
      "../shared/fixtures/archives/skopeo-oci-archive.tar",
    );
    const idOf = async (query: string): Promise<unknown> => {
      const result = await lading(root, "inspect", query);
      expect([result.code, result.stderr]).toEqual([0, ""]);
      return (JSON.parse(result.stdout) as { Id: string }[]).map((entry) => entry.Id);
    };
    expect(await idOf("imported-plain")).toEqual([IMPORTED]);
    expect(await idOf("fixture/imported:1.0")).toEqual([IMPORTED]);
    expect(await idOf("docker.io/fixture/imported:latest")).toEqual([IMPORTED]);
    expect(await idOf(`fixture/derived-a@${DERIVED_A}`)).toEqual([DERIVED_A]);
    expect(await idOf(DERIVED_A)).toEqual([DERIVED_A]);
    expect(await idOf(DERIVED_A.slice(7))).toEqual([DERIVED_A]);
    expect(await idOf("662400124e1a")).toEqual([DERIVED_A]);
    expect(await idOf("sha256:662400124e1a")).toEqual([DERIVED_A]);
    expect(await idOf(DERIVED_A_CONFIG.slice(7, 19))).toEqual([DERIVED_A]);
    expect(await idOf(IMPORTED_CONFIG)).toEqual([IMPORTED]);
    // "f" starts both fb5b2ad6... (testdata app's config) and f0488f7e... (the skopeo OCI image's config).
    expect(output(await lading(root, "inspect", "f"))).toEqual([
      1,
      "[]\n",
      "Error: ambiguous image ID prefix f: it matches 2 images: 54a548fd5910 (by its config f0488f7ed7f8), c2c61f8eba5f (by its config fb5b2ad6a24a); name one of them\n",
    ]);
    expect(output(await lading(root, "inspect", "fixture/imported:2.0"))).toEqual([1, "[]\n", "Error: No such image: fixture/imported:2.0\n"]);
    const both = await lading(root, "inspect", "imported-plain", FX_APP_OCI);
    expect((JSON.parse(both.stdout) as { Id: string; RepoTags: string[] }[]).map((entry) => [entry.Id, entry.RepoTags])).toEqual([
      [IMPORTED, ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"]],
      [FX_APP_OCI, []],
    ]);
  });

  it("inspect of a whole config digest several images share says so and lists their IDs", async () => {
    // skopeo's OCI and docker archives of one image: one config, two manifests (the second synthesized).
    const root = await loaded("../shared/fixtures/archives/skopeo-oci-archive.tar", "../shared/fixtures/archives/skopeo-docker-archive.tar");
    const config = "f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67";
    for (const query of [`sha256:${config}`, config]) {
      expect(output(await lading(root, "inspect", query))).toEqual([
        1,
        "[]\n",
        `Error: ${query} is the config of 2 images: 54a548fd5910, 87d776c852de; name one of them\n`,
      ]);
    }
    expect(output(await lading(root, "rmi", `sha256:${config}`))).toEqual([
      1,
      "",
      `Error: sha256:${config} is the config of 2 images: 54a548fd5910, 87d776c852de; name one of them\n`,
    ]);
  });

  it("repositories.json stays compact, sorted, mode 0600 through tag and rmi", async () => {
    const root = await loaded("../shared/fixtures/archives/ctr-export.tar", "testdata/docker-archive.tar");
    for (const target of ["zeta/last:1", "alpha/first:1", "localhost:5000/mid:2", "alpha/first:0"]) expect((await lading(root, "tag", "fixture/derived-a:1.0", target)).code).toBe(0);
    expect((await lading(root, "rmi", "lading-testdata/app:1.0")).code).toBe(0);
    const bytes = await readRepositories(root);
    expect(bytes).toBe(dockerBytes(JSON.parse(bytes) as Repositories));
    expect(bytes.endsWith("}}")).toBe(true);
    expect(Object.keys((JSON.parse(bytes) as Repositories).Repositories)).toEqual([
      "alpha/first",
      "fixture/derived-a",
      "fixture/derived-b",
      "lading-testdata/app",
      "localhost:5000/mid",
      "zeta/last",
    ]);
    expect((await stat(join(root, "repositories.json"))).mode & 0o777).toBe(0o600);
  });
});

describe("images: the order of the list", () => {
  it("is newest first by the creation time as docker reads it (whole seconds, any offset), then by ID; a missing or invalid time goes last", async () => {
    const createdBy: Record<string, string | undefined> = {
      a: "2024-01-01T00:00:00Z",
      b: "2024-01-01T00:00:00.5Z", // the same second as a: docker's Created is in seconds
      c: "2024-01-01T01:30:00+02:00", // 2023-12-31T23:30:00Z
      d: "2023-12-31T23:59:59.9Z",
      none: undefined,
      garbage: "garbage",
      rolled: "2024-02-30T00:00:00Z", // no such day; Date.parse would make it March 1st
    };
    // a's seed gives it the lower ID of the two images created in one second (0a02... before b's 1f22...).
    // load refuses a time that is no RFC 3339 time: those two images are loaded without one, and
    // their configs then swapped for ones with the bad times, as an earlier lading could store them.
    const refused = new Set(["garbage", "rolled"]);
    const images = Object.entries(createdBy).map(([name, created]) => ({
      name,
      image: makeImage({ seed: name === "a" ? "a3" : name, editConfig: (config) => (created === undefined || refused.has(name) ? config : { ...config, created }) }),
    }));
    const archive = join(scratch, "created.tar");
    const entries = images.map(({ name, image }) => descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": `docker.io/sort/${name}:1` } }));
    await writeFile(archive, buildTar(ociLayoutItems(images.map(({ image }) => image), { indexEntries: entries })));
    const root = await loaded(archive);
    for (const { name, image } of images.filter((entry) => refused.has(entry.name))) {
      const config = Buffer.from(JSON.stringify({ ...(JSON.parse(image.config.bytes.toString("utf8")) as object), created: createdBy[name] }));
      const digest = `sha256:${createHash("sha256").update(config).digest("hex")}`;
      await writeFile(join(root, "blobs", "sha256", digest.slice(7)), config);
      const recordFile = join(root, "images", `sha256-${image.manifest.digest.slice(7)}.json`);
      const record = JSON.parse(await readFile(recordFile, "utf8")) as { images: { config: { digest: string; size: number } }[] };
      record.images[0]!.config = { ...record.images[0]!.config, digest, size: config.length };
      await writeFile(recordFile, JSON.stringify(record));
    }
    const idOf = (name: string): string => images.find((entry) => entry.name === name)!.image.manifest.digest;
    const table = await lading(root, "images");
    expect([table.code, table.stderr]).toEqual([0, ""]);
    // a and b tie on the second, and then go by ID, as do the three without a valid time.
    const order = ["a", "b", "d", "c", "none", "garbage", "rolled"];
    expect([idOf("a") < idOf("b"), idOf("none") < idOf("garbage"), idOf("garbage") < idOf("rolled")]).toEqual([true, true, true]);
    expect(table.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/ {3,}/)[0])).toEqual(order.map((name) => `sort/${name}`));
    expect(table.stdout.trimEnd().split("\n").slice(1).map((line) => line.split(/ {3,}/)[3] === "N/A")).toEqual([false, false, false, false, true, true, true]);
    expect(output(await lading(root, "images", "-q", "--no-trunc"))).toEqual([0, order.map(idOf).join("\n") + "\n", ""]);
    const json = await lading(root, "images", "--json");
    expect((JSON.parse(json.stdout) as { id: string }[]).map((summary) => summary.id)).toEqual(order.map(idOf));
  });
});

describe.skipIf(!HAVE_FIXTURES)("the repositories.json dockerd 20.10 wrote", () => {
  const dockers = (): Repositories => sharedExpected!.dockerDataRoot.repositoriesJson;

  async function dockerRoot(): Promise<string> {
    const root = join(scratch, `docker-${counter++}`);
    expect((await lading(root, "images", "--json")).code).toBe(0); // creates the layout
    await writeFile(join(root, "repositories.json"), JSON.stringify(dockers()), { mode: 0o600 });
    return root;
  }

  it("is Docker's exact byte shape already (compact, sorted)", () => {
    expect(JSON.stringify(dockers())).toBe(dockerBytes(dockers()));
  });

  // lading lists images from its own records: references to images it does not hold are not listed.
  it("lading images lists nothing for references whose images are not in the store", async () => {
    const root = await dockerRoot();
    expect(output(await lading(root, "images", "--json"))).toEqual([0, "[]\n", ""]);
    expect(output(await lading(root, "images"))).toEqual([0, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n", ""]);
  });

  it("inspect of a reference whose image is absent says so in one line", async () => {
    const root = await dockerRoot();
    expect(output(await lading(root, "inspect", "fixture/imported:1.0"))).toEqual([
      1,
      "[]\n",
      `Error: image fixture/imported:1.0 points at ${IMPORTED_CONFIG}, whose record is missing (run lading fsck)\n`,
    ]);
  });

  it("what lading writes after a load and a tag keeps every docker entry and Docker's shape; undoing them gives docker's bytes back", async () => {
    const root = await dockerRoot();
    expect((await lading(root, "load", "-q", "-i", "testdata/docker-archive.tar")).code).toBe(0);
    expect(output(await lading(root, "tag", "lading-testdata/app:1.0", "fixture/imported:2.0"))).toEqual([0, "", ""]);
    const written = await readRepositories(root);
    const parsed = JSON.parse(written) as Repositories;
    expect(written).toBe(dockerBytes(parsed));
    const expectedDocument = structuredClone(dockers());
    expectedDocument.Repositories["fixture/imported"]!["fixture/imported:2.0"] = TD_APP;
    expectedDocument.Repositories["lading-testdata/app"] = { "lading-testdata/app:1.0": TD_APP, "lading-testdata/app:latest": TD_APP };
    expect(parsed).toEqual(expectedDocument);
    expect(Object.values(parsed.Repositories).every((refs) => Object.values(refs).every((id) => /^sha256:[0-9a-f]{64}$/.test(id)))).toBe(true);

    for (const reference of ["fixture/imported:2.0", "lading-testdata/app:1.0", "lading-testdata/app:latest"]) expect((await lading(root, "rmi", reference)).code).toBe(0);
    expect(await readRepositories(root)).toBe(JSON.stringify(dockers()));
  });
});
