// A store shared with other users: opened by its owner to readers (`chmod -R a+rX`), or written
// by root for the user who owns it. Each rewrite of repositories.json keeps the file's mode and,
// as root, its owner: a write must not lock the others out.
import { execFileSync } from "node:child_process";
import { chmod, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading, type CliResult } from "../support/archive-builder.js";

const ARCHIVE = "testdata/docker-archive.tar";
const AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
const asRoot = process.geteuid?.() === 0;
/** The store's owner, a member of group 1000 that the store is shared through. */
const AS_OWNER_IN_GROUP = ["setpriv", "--reuid=65534", "--regid=65534", "--groups=1000"];
/** Another user, who reads the store as a member of group 1000. */
const AS_GROUP_MEMBER = ["setpriv", "--reuid=1001", "--regid=1001", "--groups=1000"];
/**
 * A test that switches users needs root. Run locally without it, it is skipped; under CI=true it
 * runs and fails, so that it is never left out unseen.
 */
const itAsRoot = it.skipIf(!asRoot && process.env.CI !== "true");

const scratch: string[] = [];
beforeAll(() => {
  ensureBuilt();
});
afterEach(async () => {
  await Promise.all(scratch.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function shared(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-shared-"));
  scratch.push(dir);
  await chmod(dir, 0o777);
  return dir;
}

const lading = (root: string, args: string[], through: string[] = []): Promise<CliResult> => runLading(["--root", root, ...args], { through });

describe("a store opened to other readers", () => {
  it("stays readable to them after its owner tags an image: repositories.json keeps its mode", async () => {
    const root = join(await shared(), "store");
    expect((await lading(root, ["load", "-q", "-i", ARCHIVE])).code).toBe(0);
    expect((await stat(join(root, "repositories.json"))).mode & 0o777).toBe(0o600);
    execFileSync("chmod", ["-R", "a+rX", root]);
    expect(await lading(root, ["tag", "lading-testdata/app:1.0", "shared/app:2"])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await stat(join(root, "repositories.json"))).mode & 0o777).toBe(0o644);
    if (!asRoot) return;
    const read = await lading(root, ["images", "-q", "shared/app"], AS_NOBODY);
    expect([read.code, read.stderr, read.stdout.split("\n").filter(Boolean)]).toEqual([0, "", [expect.stringMatching(/^[0-9a-f]{12}$/)]]);
  });

  itAsRoot("written by root for the user who owns it, stays that user's: the user can still write it", async () => {
    const root = join(await shared(), "store");
    expect((await lading(root, ["load", "-q", "-i", ARCHIVE], AS_NOBODY)).code).toBe(0);
    expect(await lading(root, ["tag", "lading-testdata/app:1.0", "by/root:1"])).toEqual({ code: 0, stdout: "", stderr: "" });
    const info = await stat(join(root, "repositories.json"));
    expect([info.uid, info.gid, info.mode & 0o777]).toEqual([65534, 65534, 0o600]);
    expect(await lading(root, ["tag", "lading-testdata/app:1.0", "by/owner:1"], AS_NOBODY)).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  itAsRoot("shared through a group, stays readable to its members after the owner tags an image: repositories.json keeps its group", async () => {
    expect(asRoot).toBe(true);
    const root = join(await shared(), "store");
    expect((await lading(root, ["load", "-q", "-i", ARCHIVE], AS_OWNER_IN_GROUP)).code).toBe(0);
    execFileSync("chgrp", ["-R", "1000", root]);
    execFileSync("chmod", ["-R", "g+rX", root]);
    const images = ["images", "--format", "{{.Repository}}:{{.Tag}}"];
    expect(await lading(root, images, AS_GROUP_MEMBER)).toEqual({ code: 0, stdout: "lading-testdata/app:1.0\nlading-testdata/app:latest\n", stderr: "" });
    expect(await lading(root, ["tag", "lading-testdata/app:1.0", "shared/app:2"], AS_OWNER_IN_GROUP)).toEqual({ code: 0, stdout: "", stderr: "" });
    const info = await stat(join(root, "repositories.json"));
    expect([info.uid, info.gid, info.mode & 0o777]).toEqual([65534, 1000, 0o640]);
    expect(await lading(root, images, AS_GROUP_MEMBER)).toEqual({ code: 0, stdout: "lading-testdata/app:1.0\nlading-testdata/app:latest\nshared/app:2\n", stderr: "" });
  });

  itAsRoot("written by a user outside the file's group, gets that user's group and keeps its mode", async () => {
    expect(asRoot).toBe(true);
    const root = join(await shared(), "store");
    expect((await lading(root, ["load", "-q", "-i", ARCHIVE], AS_NOBODY)).code).toBe(0);
    execFileSync("chgrp", ["-R", "1000", root]);
    execFileSync("chmod", ["-R", "g+rX", root]);
    expect(await lading(root, ["tag", "lading-testdata/app:1.0", "shared/app:2"], AS_NOBODY)).toEqual({ code: 0, stdout: "", stderr: "" });
    const info = await stat(join(root, "repositories.json"));
    expect([info.uid, info.gid, info.mode & 0o777]).toEqual([65534, 65534, 0o640]);
  });
});
