// A reference by digest written by hand with a digest that is not its image's ID (lading records
// `repo@<image ID>` only): fsck reports it and --repair removes it alone, no command resolves it,
// and the listings leave it out rather than show that digest as the image's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../support/archive-builder.js";
import { ladingOnStore as lading } from "../support/cli-sync.js";
import { snapshotTree } from "../support/store-tree.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** The image of testdata's oci-archive.tar, loaded untagged. */
const ID = "sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e";
const WRONG = `other/x@sha256:${"a".repeat(64)}`;
const REFUSAL = `image ${WRONG} points at ${ID}, an image whose digest differs; a reference by digest names its image's own digest (lading fsck --repair removes it)`;
const PROBLEM = `reference ${WRONG} points at ${ID}, an image whose digest differs; a reference by digest names its image's own digest`;

let dir = "";
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-wrong-digest-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** A store with testdata's two archives loaded and `other/x` written by hand: a tag, the image's own digest, and a wrong digest. */
function storeWithWrongDigest(name: string): string {
  const root = join(dir, name);
  for (const archive of ["docker-archive.tar", "oci-archive.tar"]) expect(lading(root, "load", "-q", "-i", join(REPO_ROOT, "testdata", archive))[0]).toBe(0);
  writeFileSync(join(root, "repositories.json"), JSON.stringify({ Repositories: { "other/x": { "other/x:1": ID, [WRONG]: ID, [`other/x@${ID}`]: ID } } }));
  return root;
}

describe("a reference by a digest that is not its image's", () => {
  it("is left out of images --digests and inspect's RepoDigests", () => {
    const root = storeWithWrongDigest("listings");
    expect(lading(root, "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")).toEqual([0, `other/x 1 ${ID}\n<none> <none> <none>\n`, ""]);
    expect(lading(root, "inspect", "-f", "{{.RepoDigests}}", ID)).toEqual([0, `[other/x@${ID}]\n`, ""]);
  });

  it("is refused by save, tag, inspect and rmi in one line naming it and its image, the store left as it was", async () => {
    const root = storeWithWrongDigest("refused");
    const before = await snapshotTree(root);
    expect(lading(root, "save", "-o", join(dir, "x.tar"), WRONG)).toEqual([1, "", `lading: error: ${REFUSAL}\n`]);
    expect(lading(root, "tag", WRONG, "new/n:1")).toEqual([1, "", `lading: error: ${REFUSAL}\n`]);
    expect(lading(root, "inspect", WRONG)).toEqual([1, "[]\n", `Error: ${REFUSAL}\n`]);
    expect(lading(root, "rmi", WRONG)).toEqual([1, "", `Error: ${REFUSAL}\n`]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("is not one of its repository's references: save of a repository with no other names no image", async () => {
    const root = storeWithWrongDigest("repository");
    const only = `other/z@sha256:${"b".repeat(64)}`;
    writeFileSync(join(root, "repositories.json"), JSON.stringify({ Repositories: { "other/z": { [only]: ID } } }));
    const before = await snapshotTree(root);
    expect(lading(root, "save", "-o", join(dir, "z.tar"), "other/z")).toEqual([1, "", "lading: error: No such image: other/z\n"]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("is a problem to fsck (plain and --json), which --repair removes, and only it", () => {
    const root = storeWithWrongDigest("fsck");
    expect(lading(root, "fsck")).toEqual([1, `broken: ${PROBLEM}\nchecked 9 blobs, 2 images, 3 references: 1 problem(s)\n`, ""]);
    const [code, stdout, stderr] = lading(root, "fsck", "--json");
    expect([code, stderr]).toEqual([1, ""]);
    expect((JSON.parse(stdout) as { problems: unknown[] }).problems).toEqual([{ kind: "wrong-digest-reference", subject: WRONG, message: PROBLEM, repaired: false }]);
    expect(lading(root, "fsck", "--repair")).toEqual([0, `repaired: ${PROBLEM}\nchecked 9 blobs, 2 images, 3 references: 1 problem(s)\n`, ""]);
    expect(JSON.parse(readFileSync(join(root, "repositories.json"), "utf8"))).toEqual({ Repositories: { "other/x": { "other/x:1": ID, [`other/x@${ID}`]: ID } } });
    expect(lading(root, "fsck")).toEqual([0, "checked 9 blobs, 2 images, 2 references: 0 problem(s)\n", ""]);
  });
});
