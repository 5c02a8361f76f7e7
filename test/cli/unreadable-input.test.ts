// An archive the file system will not read (EIO from /proc/self/mem; a blob of a layout or a layer
// of an unpacked docker save this user may not open): `verify --json` and `verify --roundtrip --json` still print their one document,
// its problem the system's error, as for an archive that cannot be opened for any other reason.
// A directory inside an input directory that this user may not list is passed by when no image
// could use a file in it (lost+found at the top of a file system holding a layout), and refused in
// the system's words, naming it, when one could (a layout's blobs, a layer manifest.json names).
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { ladingAsNobody } from "../support/as-nobody.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** testdata's OCI layout, and its gzip layer blob. */
const LAYOUT = join(REPO_ROOT, "testdata", "oci-layout");
const LAYER = "4f79cd55a52ae15d49cd6e66fd53a4f6f9da8fa4cbb680f7b9408c604437c4b7";

let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-unreadable-input-"));
  // Entered and written by the user below, who is not root.
  chmodSync(dir, 0o777);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI as nobody when this is root, with TMPDIR where that user may write. */
const ladingAsUser = (...args: string[]): [number | null, string, string] => ladingAsNobody(args, { ...process.env, TMPDIR: dir });

/** testdata's docker-save.tar, unpacked into a new directory `name` of the scratch directory. */
function unpackedDockerSave(name: string): string {
  const unpacked = join(dir, name);
  mkdirSync(unpacked);
  execFileSync("tar", ["-xf", join(REPO_ROOT, "testdata", "docker-save.tar"), "-C", unpacked]);
  return unpacked;
}

const roundtripDocument = (problem: string): string => `${JSON.stringify({ schemaVersion: 1, valid: false, exact: false, format: "docker", images: [], problems: [problem], warnings: [] }, null, 2)}\n`;

describe("an archive the file system will not read", () => {
  it("a layout with a blob this user may not open: verify --roundtrip --json prints its document", () => {
    const layout = join(dir, "layout");
    cpSync(LAYOUT, layout, { recursive: true });
    chmodSync(join(layout, "blobs", "sha256", LAYER), 0o000);
    const blob = join(layout, "blobs", "sha256", LAYER);
    expect(ladingAsUser("verify", "--roundtrip", "--json", layout)).toEqual([1, roundtripDocument(`EACCES: permission denied, open '${blob}'`), ""]);
  });

  it("an unpacked docker save with a layer this user may not open: verify --json prints its document, the error its problem", () => {
    const unpacked = unpackedDockerSave("unpacked");
    const [item] = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8")) as { Layers: string[] }[];
    const layer = join(unpacked, item!.Layers[0]!);
    chmodSync(layer, 0o000);
    const [code, stdout, stderr] = ladingAsUser("verify", "--json", unpacked);
    expect([code, stderr]).toEqual([1, ""]);
    expect((JSON.parse(stdout) as { problems: unknown[] }).problems).toEqual([{ entry: unpacked, message: `EACCES: permission denied, open '${layer}'` }]);
  });

  it.skipIf(!existsSync("/proc/self/mem"))("/proc/self/mem (EIO at its first byte): verify --json and verify --roundtrip --json print their documents", () => {
    const [code, stdout, stderr] = ladingAsUser("verify", "--json", "/proc/self/mem");
    expect([code, stderr]).toEqual([1, ""]);
    expect((JSON.parse(stdout) as { valid: boolean; problems: unknown[] }).problems).toEqual([{ entry: "/proc/self/mem", message: "EIO: i/o error, read" }]);
    expect(ladingAsUser("verify", "--roundtrip", "--json", "/proc/self/mem")).toEqual([1, roundtripDocument("EIO: i/o error, read"), ""]);
  });
});

describe("a directory this user may not list, inside an input directory", () => {
  /** `directory`/`name`, made unlistable; given back its mode when `use` ends, so that the tree can be removed. */
  function withUnlistable(directory: string, name: string, use: () => void): void {
    const path = join(directory, name);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o000);
    try {
      use();
    } finally {
      chmodSync(path, 0o755);
    }
  }

  it("that no image could use (lost+found beside a layout or an unpacked docker save) is passed by: verify and load give what they give without it", () => {
    const layout = join(dir, "layout-with-lost-found");
    cpSync(LAYOUT, layout, { recursive: true });
    const unpacked = unpackedDockerSave("unpacked-with-lost-found");
    const plainUnpacked = join(dir, "unpacked-plain");
    cpSync(unpacked, plainUnpacked, { recursive: true });
    for (const [input, plain] of [[layout, LAYOUT], [unpacked, plainUnpacked]] as const) {
      withUnlistable(input, "lost+found", () => {
        const report = ladingAsUser("verify", "--json", input);
        expect(report).toEqual(ladingAsUser("verify", "--json", plain));
        expect(report[0]).toBe(0);
        const load = ladingAsUser("--root", join(dir, `store-${input.length}-a`), "load", "-q", "-i", input);
        expect(load).toEqual(ladingAsUser("--root", join(dir, `store-${input.length}-b`), "load", "-q", "-i", plain));
        expect([load[0], load[2]]).toEqual([0, ""]);
      });
    }
  });

  it("that could hold a blob of a layout, or a layer manifest.json names: refused in the system's words, naming it, and the store stays empty", () => {
    const layout = join(dir, "layout-with-unlistable-blobs");
    cpSync(LAYOUT, layout, { recursive: true });
    const unpacked = unpackedDockerSave("unpacked-with-unlistable-layer");
    const [item] = JSON.parse(readFileSync(join(unpacked, "manifest.json"), "utf8")) as { Layers: string[] }[];
    const layerDirectory = item!.Layers[0]!.split("/")[0]!;
    for (const [input, name] of [[layout, "blobs/sha256"], [unpacked, layerDirectory]] as const) {
      withUnlistable(input, name, () => {
        const store = join(dir, `store-refused-${input.length}`);
        expect(ladingAsUser("--root", store, "load", "-i", input)).toEqual([1, "", `lading: error: EACCES: permission denied, scandir '${join(input, name)}'\n`]);
        expect(existsSync(join(store, "repositories.json"))).toBe(false);
      });
    }
  });
});
