// What a full disk (a small tmpfs, filled) or read-only media (a read-only bind mount) does to the
// commands that write: one line naming what was being written (the store's file, the archive, or
// lading's scratch file in TMPDIR), no stack trace, the store as it was (or, past a load's blob
// commit, only the blobs that `lading prune` reclaims), nothing left at the output's name.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, ensureBuilt, layerTar, makeImage, ociLayoutItems } from "../support/archive-builder.js";
import { bindReadOnly, mountSmallDisk, requireMounts, unmountAll, type SmallDisk } from "../support/small-disk.js";
import { snapshotTree } from "../support/store-tree.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");
const GZIP_ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar.gz");
const OCI_ARCHIVE = join(REPO_ROOT, "testdata", "oci-archive.tar");
/** What names a file a command owns: `<pid>-n<namespace key>-<random hex>` (see process-alive.ts). */
const OWNED = "\\d+-n[0-9a-f]+-[0-9a-f]+";
const FULL = "no space left on device";

let dir = "";
let disk: SmallDisk;
let bigArchive = "";

function lading(args: string[], env: NodeJS.ProcessEnv = {}): [number | null, string, string] {
  const run = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return [run.status, run.stdout, run.stderr];
}

/** A fresh store at `root` holding testdata's docker archive. */
function storeWithImage(root: string): void {
  expect(lading(["--root", root, "load", "-q", "-i", ARCHIVE])[0]).toBe(0);
}

const regex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe.skipIf(!requireMounts())("a full disk, or read-only media, under a command that writes", () => {
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), "lading-full-disk-"));
    disk = mountSmallDisk(dir, "disk", "4m");
    // One layer of 512 KiB: more than the room left for it below, and more than a load keeps in memory.
    bigArchive = join(dir, "big.tar");
    writeFileSync(bigArchive, buildTar(ociLayoutItems([makeImage({ layers: [layerTar({ big: randomBytes(384 * 1024).toString("base64") })] })])));
  });
  afterAll(() => {
    unmountAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("load: a blob that does not fit fails naming the store's ingest file, and the store is as it was", async () => {
    const root = join(disk.path, "load-blob");
    storeWithImage(root);
    const before = await snapshotTree(root);
    disk.fillTo(64 * 1024);
    try {
      const [code, stdout, stderr] = lading(["--root", root, "load", "-q", "-i", bigArchive]);
      expect([code, stdout]).toEqual([1, ""]);
      expect(stderr).toMatch(new RegExp(`^lading: error: cannot write ${regex(root)}/ingest/${OWNED}: ${FULL}\\n$`));
      expect(await snapshotTree(root)).toEqual(before);
    } finally {
      disk.empty();
    }
  });

  it("load: image records that cannot be written, past the blob commit, say that lading prune reclaims the blobs left, and it does", async () => {
    const root = join(dir, "load-records");
    storeWithImage(root);
    const before = await snapshotTree(root);
    bindReadOnly(join(root, "images"));
    const [code, stdout, stderr] = lading(["--root", root, "load", "-q", "-i", OCI_ARCHIVE]);
    const after = await snapshotTree(root);
    const added = Object.keys(after).filter((name) => !(name in before));
    const blobs = added.filter((name) => name.startsWith("blobs/"));
    expect([code, stdout]).toEqual([1, ""]);
    expect(stderr).toMatch(
      new RegExp(`^lading: error: cannot write ${regex(root)}/images/pending/${OWNED}\\.json: read-only file system; no image or reference was added, but the ${blobs.length} blobs it stored stay, unreferenced, until lading prune\\n$`),
    );
    expect(blobs.length).toBeGreaterThan(1);
    // Nothing else changed but the blobs, and the records of their layers' diff IDs, which prune removes with them.
    const diffIds = (name: string): boolean => name === "diffids" || name.startsWith("diffids/");
    expect(added.filter((name) => !name.startsWith("blobs/") && !diffIds(name))).toEqual([]);
    expect(Object.fromEntries(Object.entries(after).filter(([name]) => name in before))).toEqual(before);
    expect(lading(["--root", root, "prune"])[0]).toBe(0);
    // What is left of diffids/ is its directories, empty.
    const pruned = await snapshotTree(root);
    expect(Object.entries(pruned).filter(([name]) => diffIds(name) && !(name in before))).toEqual(Object.entries(pruned).filter(([name, entry]) => diffIds(name) && entry.type === "dir"));
    expect(Object.fromEntries(Object.entries(pruned).filter(([name]) => !diffIds(name)))).toEqual(before);
  });

  it("tag and rmi: a references file that cannot be written is named, and the store is as it was", async () => {
    const root = join(disk.path, "references");
    storeWithImage(root);
    const before = await snapshotTree(root);
    disk.fillTo(0);
    try {
      expect(lading(["--root", root, "tag", "lading-testdata/app:1.0", "other:1"])).toEqual([1, "", `lading: error: cannot write ${root}/repositories.json: ${FULL}\n`]);
      expect(lading(["--root", root, "rmi", "lading-testdata/app:1.0"])).toEqual([1, "", `Error: cannot write ${root}/repositories.json: ${FULL}\n`]);
      expect(await snapshotTree(root)).toEqual(before);
    } finally {
      disk.empty();
    }
  });

  it("rmi of an image whose records are on read-only media: the record is named, and the store is as it was", async () => {
    const root = join(dir, "rmi-records");
    storeWithImage(root);
    const before = await snapshotTree(root);
    bindReadOnly(join(root, "images"));
    const record = join(root, "images", "sha256-c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a.json");
    expect(lading(["--root", root, "rmi", "-f", "c2c61f8eba5f"])).toEqual([1, "", `Error: cannot remove ${record}: read-only file system\n`]);
    expect(lading(["--root", root, "rmi", "lading-testdata/app:1.0", "lading-testdata/app:latest"])).toEqual([1, "Untagged: lading-testdata/app:1.0\n", `Error: cannot remove ${record}: read-only file system\n`]);
    const after = await snapshotTree(root);
    expect(readFileSync(join(root, "repositories.json"), "utf8")).toBe('{"Repositories":{"lading-testdata/app":{"lading-testdata/app:latest":"sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a"}}}');
    expect(after).toEqual({ ...before, "repositories.json": after["repositories.json"] });
  });

  it("save -o and convert onto a full disk: the archive is named, and nothing is left at its name or beside it", () => {
    const root = join(dir, "save");
    storeWithImage(root);
    const out = join(disk.path, "out");
    mkdirSync(out);
    disk.fillTo(0);
    try {
      for (const args of [
        ["save", "-o", join(out, "x.tar"), "lading-testdata/app:1.0"],
        ["save", "--compress", "gzip", "-o", join(out, "x.tar"), "lading-testdata/app:1.0"],
        ["convert", ARCHIVE, join(out, "x.tar")],
        ["convert", GZIP_ARCHIVE, join(out, "x.tar")],
      ]) {
        expect([args, lading(["--root", root, ...args])]).toEqual([args, [1, "", `lading: error: cannot write the archive to ${join(out, "x.tar")}: ${FULL}\n`]]);
        expect(readdirSync(out)).toEqual([]);
      }
    } finally {
      disk.empty();
    }
  });

  it("save onto a full disk through standard output: one line, no stack trace", () => {
    const root = join(dir, "save-stdout");
    storeWithImage(root);
    disk.fillTo(0);
    try {
      const run = spawnSync("sh", ["-c", `exec "$0" "$1" --root "$2" save lading-testdata/app:1.0 > "$3"`, process.execPath, join(REPO_ROOT, "bin", "lading.js"), root, join(disk.path, "stdout.tar")], {
        encoding: "utf8",
      });
      expect([run.status, run.stdout, run.stderr]).toEqual([1, "", "lading: error: write /dev/stdout: no space left on device\n"]);
    } finally {
      disk.empty();
      rmSync(join(disk.path, "stdout.tar"), { force: true });
    }
  });

  it("convert and verify --roundtrip with a full TMPDIR: lading's scratch file is named as such, --json still gives the document, and nothing is left", () => {
    const scratch = join(disk.path, "tmp");
    mkdirSync(scratch);
    const out = join(dir, "converted.tar");
    disk.fillTo(0);
    try {
      const env = { TMPDIR: scratch };
      const [code, stdout, stderr] = lading(["convert", GZIP_ARCHIVE, out], env);
      expect([code, stdout]).toEqual([1, ""]);
      expect(stderr).toMatch(new RegExp(`^lading: error: cannot write ${regex(scratch)}/lading-convert-\\w{6}/0: ${FULL} \\(lading's scratch space in TMPDIR\\)\\n$`));
      expect(existsSync(out)).toBe(false);
      const inTemporaryStore = `cannot write ${regex(scratch)}/lading-roundtrip-\\w{6}/lading-tmp-store-\\w{6}/leases/${OWNED}: ${FULL} \\(lading's scratch space in TMPDIR\\)`;
      const trip = lading(["verify", "--roundtrip", ARCHIVE], env);
      expect([trip[0], trip[1]]).toEqual([1, ""]);
      expect(trip[2]).toMatch(new RegExp(`^lading: error: ${inTemporaryStore}\\n$`));
      const json = lading(["verify", "--roundtrip", "--json", ARCHIVE], env);
      expect([json[0], json[2]]).toEqual([1, ""]);
      const report = JSON.parse(json[1]) as { problems: string[] };
      expect(report).toEqual({ schemaVersion: 1, valid: false, exact: false, format: "docker", images: [], problems: [expect.stringMatching(new RegExp(`^${inTemporaryStore}$`))], warnings: [] });
      expect(readdirSync(scratch)).toEqual([]);
    } finally {
      disk.empty();
    }
  });

  it("fsck --repair of an unreadable repositories.json on a full disk: the report says what was not repaired, naming the file, and leaves no copy", async () => {
    const root = join(disk.path, "fsck");
    storeWithImage(root);
    const file = join(root, "repositories.json");
    const document = JSON.parse(readFileSync(file, "utf8")) as { Repositories: Record<string, Record<string, string>> };
    document.Repositories["bad/x"] = { "bad/x:1": "sha256:zzzz" };
    writeFileSync(file, JSON.stringify(document));
    const before = await snapshotTree(root);
    const broken = `broken: ${file}: Repositories["bad/x"]["bad/x:1"]: invalid image ID "sha256:zzzz" (want sha256:<64 lowercase hex>)`;
    const summary = "checked 5 blobs, 1 images, 0 references: 1 problem(s)\n";
    try {
      // Room for the copy of the old file, none for the new one.
      disk.fillTo(4096);
      expect(lading(["--root", root, "fsck", "--repair"])).toEqual([1, `${broken} (not repaired: ${file}: ${FULL})\n${summary}`, ""]);
      expect(await snapshotTree(root)).toEqual(before);
      // No room for the copy.
      disk.fillTo(0);
      const [code, stdout, stderr] = lading(["--root", root, "fsck", "--repair"]);
      expect([code, stderr]).toEqual([1, ""]);
      expect(stdout).toMatch(new RegExp(`^${regex(broken)} \\(not repaired: ${regex(file)}\\.broken-[0-9TZ-]+: ${FULL}\\)\\n${regex(summary)}$`));
      expect(await snapshotTree(root)).toEqual(before);
    } finally {
      disk.empty();
    }
  });
});
