import { mkdtemp, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureStoreLayout, resolveStoreRoot } from "../../src/store/root.js";

describe("resolveStoreRoot", () => {
  const env = {
    LADING_ROOT: "/srv/lading",
    XDG_DATA_HOME: "/home/u/.data",
    HOME: "/home/u",
  };

  it("prefers --root over every variable, resolved to an absolute path", () => {
    expect(resolveStoreRoot({ root: "/opt/store", env })).toBe("/opt/store");
    expect(resolveStoreRoot({ root: "rel/store", env })).toBe(path.join(process.cwd(), "rel/store"));
  });

  it("uses LADING_ROOT when there is no --root", () => {
    expect(resolveStoreRoot({ env })).toBe("/srv/lading");
    expect(resolveStoreRoot({ env: { ...env, LADING_ROOT: "./here" } })).toBe(path.join(process.cwd(), "here"));
  });

  it("falls back to $XDG_DATA_HOME/lading, then ~/.local/share/lading", () => {
    expect(resolveStoreRoot({ env: { XDG_DATA_HOME: "/home/u/.data", HOME: "/home/u" } })).toBe("/home/u/.data/lading");
    expect(resolveStoreRoot({ env: { HOME: "/home/u" } })).toBe("/home/u/.local/share/lading");
  });

  it("treats empty variables and a relative XDG_DATA_HOME as unset", () => {
    expect(resolveStoreRoot({ env: { LADING_ROOT: "", XDG_DATA_HOME: "", HOME: "/home/u" } })).toBe(
      "/home/u/.local/share/lading",
    );
    expect(resolveStoreRoot({ env: { XDG_DATA_HOME: "data", HOME: "/home/u" } })).toBe("/home/u/.local/share/lading");
  });

  it("refuses an empty --root", () => {
    expect(() => resolveStoreRoot({ root: "", env })).toThrow("--root: the store directory must not be empty");
  });
});

describe("ensureStoreLayout", () => {
  let base: string;
  beforeEach(async () => {
    base = await mkdtemp(path.join(tmpdir(), "lading-root-"));
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("creates the layout with a 0700 root and returns its paths", async () => {
    const root = path.join(base, "a", "store");
    const paths = await ensureStoreLayout(root);
    expect(paths).toEqual({
      root,
      blobs: path.join(root, "blobs"),
      ingest: path.join(root, "ingest"),
      repositoriesJson: path.join(root, "repositories.json"),
      images: path.join(root, "images"),
      diffIds: path.join(root, "diffids"),
    });
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    for (const dir of ["blobs/sha256", "blobs/sha512", "ingest", "images", "leases"]) {
      expect((await stat(path.join(root, dir))).isDirectory()).toBe(true);
    }
    await expect(stat(paths.repositoriesJson)).rejects.toMatchObject({ code: "ENOENT" });
    // A second call on the existing layout succeeds and changes nothing.
    expect(await ensureStoreLayout(root)).toEqual(paths);
  });

  it("two commands making the same new root at once both succeed", async () => {
    const root = path.join(base, "x", "y", "store");
    const [first, second] = await Promise.all([ensureStoreLayout(root), ensureStoreLayout(root)]);
    expect(second).toEqual(first);
    for (const dir of ["x", "x/y", "x/y/store", "x/y/store/blobs/sha512"]) expect((await stat(path.join(base, dir))).mode & 0o777).toBe(0o700);
  });

  it("a root that is a file, or under one, is refused in one line naming it", async () => {
    const file = path.join(base, "file");
    await writeFile(file, "");
    await expect(ensureStoreLayout(file)).rejects.toMatchObject({ kind: "invalid", message: `the store root ${file} is not a directory` });
    const under = path.join(file, "store");
    await expect(ensureStoreLayout(under)).rejects.toMatchObject({
      kind: "invalid",
      message: `the store root ${under} cannot be created: part of its path is not a directory`,
    });
  });

  it("leaves the mode of an existing root alone", async () => {
    const root = path.join(base, "existing");
    await mkdir(root, { mode: 0o755 });
    await ensureStoreLayout(root);
    expect((await stat(root)).mode & 0o777).toBe(0o755);
  });
});
