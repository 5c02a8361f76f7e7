// fsck of a store with a blob or an image record this user may not read: one problem each, in the
// system's words naming the file, the check goes on to the rest, and --repair keeps them (their
// content may be sound).
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { ladingAsNobody, RUNS_AS_NOBODY } from "../support/as-nobody.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** The image of testdata's docker-archive.tar (tagged twice), and the gzip layer of its oci-archive.tar. */
const TAGGED_IMAGE = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
const LAYER = "sha256:4f79cd55a52ae15d49cd6e66fd53a4f6f9da8fa4cbb680f7b9408c604437c4b7";
const CORRUPT = `sha256:${"2".repeat(64)}`;

let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-fsck-unreadable-"));
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI as nobody when this is root. */
const ladingAsUser = (...args: string[]): [number | null, string, string] => ladingAsNobody(args);

/** A store with testdata's two archives loaded, a corrupt blob beside, and this user's (nobody's, when root) throughout. */
function storeWithCorruptBlob(name: string): string {
  const root = join(dir, name);
  for (const archive of ["docker-archive.tar", "oci-archive.tar"]) {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", root, "load", "-q", "-i", join(REPO_ROOT, "testdata", archive)], { encoding: "utf8" });
    expect(run.status).toBe(0);
  }
  writeFileSync(join(root, "blobs", "sha256", "2".repeat(64)), "bad\n");
  if (RUNS_AS_NOBODY) chownTree(root);
  return root;
}

function chownTree(path: string): void {
  chownSync(path, 65534, 65534);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) chownTree(join(path, entry.name));
    else chownSync(join(path, entry.name), 65534, 65534);
  }
}

const blobFile = (root: string, digest: string): string => join(root, "blobs", "sha256", digest.slice(7));
const recordFile = (root: string, id: string): string => join(root, "images", `sha256-${id.slice(7)}.json`);

describe("fsck of a store with files this user may not read", () => {
  it("a blob: reported as unreadable-blob in the system's words, and the corrupt blob after it still is (plain and --json)", () => {
    const root = storeWithCorruptBlob("blob");
    const file = blobFile(root, LAYER);
    chmodSync(file, 0o000);
    const unreadable = `blob ${LAYER}: ${file}: permission denied`;
    const corrupt = `blob ${CORRUPT}: content does not match its digest`;
    expect(ladingAsUser("--root", root, "fsck")).toEqual([1, `broken: ${corrupt}\nbroken: ${unreadable}\nchecked 10 blobs, 2 images, 2 references: 2 problem(s)\n`, ""]);
    const [code, stdout, stderr] = ladingAsUser("--root", root, "fsck", "--json");
    expect([code, stderr]).toEqual([1, ""]);
    expect((JSON.parse(stdout) as { problems: unknown[] }).problems).toEqual([
      { kind: "corrupt-blob", subject: CORRUPT, message: corrupt, repaired: false },
      { kind: "unreadable-blob", subject: LAYER, message: unreadable, repaired: false },
    ]);
  });

  it("a blob: --repair removes the corrupt blob and keeps the unreadable one, not repaired", () => {
    const root = storeWithCorruptBlob("blob-repair");
    const file = blobFile(root, LAYER);
    chmodSync(file, 0o000);
    expect(ladingAsUser("--root", root, "fsck", "--repair")).toEqual([
      1,
      `repaired: blob ${CORRUPT}: content does not match its digest\nbroken: blob ${LAYER}: ${file}: permission denied (not repaired: it could not be read, so it is kept: it may be sound)\nchecked 10 blobs, 2 images, 2 references: 2 problem(s)\n`,
      "",
    ]);
    expect(readdirSync(join(root, "blobs", "sha256"))).toContain(LAYER.slice(7));
    expect(readdirSync(join(root, "blobs", "sha256"))).not.toContain(CORRUPT.slice(7));
  });

  it("an image record: reported as unreadable-record in the system's words, the rest checked; --repair keeps it, its blobs and its references", () => {
    const root = storeWithCorruptBlob("record");
    const file = recordFile(root, TAGGED_IMAGE);
    chmodSync(file, 0o000);
    const unreadable = `image record ${TAGGED_IMAGE}: ${file}: permission denied`;
    const corrupt = `blob ${CORRUPT}: content does not match its digest`;
    expect(ladingAsUser("--root", root, "fsck")).toEqual([1, `broken: ${unreadable}\nbroken: ${corrupt}\nchecked 10 blobs, 1 images, 2 references: 2 problem(s)\n`, ""]);
    const [code, stdout, stderr] = ladingAsUser("--root", root, "fsck", "--json");
    expect([code, stderr]).toEqual([1, ""]);
    expect((JSON.parse(stdout) as { problems: unknown[] }).problems).toEqual([
      { kind: "unreadable-record", subject: TAGGED_IMAGE, message: unreadable, repaired: false },
      { kind: "corrupt-blob", subject: CORRUPT, message: corrupt, repaired: false },
    ]);
    rmSync(blobFile(root, CORRUPT));
    const listing = (): string[][] => ["images", "blobs/sha256"].map((sub) => readdirSync(join(root, sub)));
    const before = [listing(), readFileSync(join(root, "repositories.json"), "utf8")];
    expect(ladingAsUser("--root", root, "fsck", "--repair")).toEqual([
      1,
      `broken: ${unreadable} (not repaired: it could not be read, so it is kept: it may be sound)\nchecked 9 blobs, 1 images, 2 references: 1 problem(s)\n`,
      "",
    ]);
    expect([listing(), readFileSync(join(root, "repositories.json"), "utf8")]).toEqual(before);
  });
});
