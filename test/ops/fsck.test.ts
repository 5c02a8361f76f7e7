// fsck beside running commands, and fsck of a store with an image record it cannot read.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { listImages, pruneBlobs, removeImage, tagImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { ownNamespace } from "../../src/store/process-alive.js";
import { Store } from "../../src/store/store.js";
import { HAVE_FIXTURES } from "./load-expectations.js";
import { blobPath, buildTar, makeForeignImage, ociLayoutItems, withoutFile, type TestImage } from "../support/archive-builder.js";
import { readOnlyView } from "../support/read-only-view.js";
import { snapshotTree } from "../support/store-tree.js";

const SINGLE = "../shared/fixtures/archives/docker-save-single.tar";
const CTR = "../shared/fixtures/archives/ctr-export.tar";
const IMPORTED = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
const CONFIG = "sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b";

const roots: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
});

/** Runs the CLI on the store at `root`: exit code, stdout, stderr. */
function lading(root: string, ...args: string[]): [number | null, string, string] {
  const run = spawnSync(process.execPath, ["bin/lading.js", "--root", root, ...args], { encoding: "utf8" });
  return [run.status, run.stdout, run.stderr];
}

async function newRoot(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "lading-fsck-"));
  roots.push(root);
  return root;
}

describe.skipIf(!HAVE_FIXTURES)("fsck", () => {
  it("--repair beside a load that finishes while fsck reads: the load's new references are not taken for dangling ones", async () => {
    const root = await newRoot();
    const checker = await Store.open(root);
    const loader = await Store.open(root);
    await loadArchive(loader, await openArchivePath(CTR));
    // The load finishes right after fsck has listed the image records (by either listing).
    let loaded = false;
    const loadOnce = async (): Promise<void> => {
      if (loaded) return;
      loaded = true;
      await loadArchive(loader, await openArchivePath(SINGLE));
    };
    const records = checker.records as Partial<Pick<typeof checker.records, "scan">> & typeof checker.records;
    const scan = records.scan?.bind(records);
    if (scan) {
      vi.spyOn(checker.records, "scan").mockImplementation(async () => {
        const listed = await scan();
        await loadOnce();
        return listed;
      });
    }
    const list = checker.records.list.bind(checker.records);
    vi.spyOn(checker.records, "list").mockImplementation(async () => {
      const listed = await list();
      await loadOnce();
      return listed;
    });
    const report = await fsckStore(checker, true);
    expect(report.problems).toEqual([]);
    expect((await loader.references.references(IMPORTED)).map((entry) => entry.reference)).toEqual([
      "fixture/imported:1.0",
      "fixture/imported:latest",
      "imported-plain:latest",
      "localhost:5000/team/imported:v1",
    ]);
  });

  it("reports an image record it cannot read; --repair removes it and its references, after checking every blob", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const recordFile = join(root, "images", `sha256-${IMPORTED.slice(7)}.json`);
    await chmod(recordFile, 0o644);
    await writeFile(recordFile, "{}");
    await expect(listImages(store)).rejects.toThrow(`image record ${IMPORTED}`);
    await expect(listImages(store)).rejects.toThrow("(lading fsck --repair removes it)");
    const checked = await fsckStore(store);
    expect(checked.problems.map((problem) => [problem.kind, problem.subject, problem.repaired])).toEqual([
      ["unreadable-record", IMPORTED, false],
      ["dangling-reference", "fixture/imported:1.0", false],
      ["dangling-reference", "fixture/imported:latest", false],
      ["dangling-reference", "imported-plain:latest", false],
      ["dangling-reference", "localhost:5000/team/imported:v1", false],
    ]);
    const repaired = await fsckStore(store, true);
    expect(repaired.problems.map((problem) => [problem.kind, problem.repaired])).toEqual([
      ["unreadable-record", true],
      ["dangling-reference", true],
      ["dangling-reference", true],
      ["dangling-reference", true],
      ["dangling-reference", true],
    ]);
    expect(repaired.blobsChecked).toBe(3);
    // Only the (empty) directory of pending-records markers is left.
    expect([await readdir(join(root, "images")), await readdir(join(root, "images", "pending"))]).toEqual([["pending"], []]);
    expect(await listImages(store)).toEqual([]);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("a tag written by hand with an image's config digest (docker's classic image ID): inspect, save and fsck say whose it is and what to write instead", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const file = join(root, "repositories.json");
    const repositories = JSON.parse(await readFile(file, "utf8"));
    repositories.Repositories["classic/app"] = { "classic/app:1": CONFIG };
    await writeFile(file, JSON.stringify(repositories));
    const what = `${CONFIG} is the config digest of image ${IMPORTED}, its ID in docker's classic store; lading's image ID is the digest of its manifest: write ${IMPORTED} instead`;
    const missing = `image classic/app:1 points at ${CONFIG}, whose record is missing: ${what}`;
    expect(lading(root, "inspect", "classic/app:1")).toEqual([1, "[]\n", `Error: ${missing}\n`]);
    expect(lading(root, "save", "-o", join(root, "out.tar"), "classic/app:1")).toEqual([1, "", `lading: error: ${missing}\n`]);
    const checked = await fsckStore(store);
    expect(checked.problems.map((problem) => [problem.kind, problem.subject, problem.message])).toEqual([
      ["dangling-reference", "classic/app:1", `reference classic/app:1 points at ${CONFIG}, which is not in the store: ${what}`],
    ]);
    // An unreadable record of another image is not what went wrong here: the hint stays.
    await writeFile(join(root, "images", `sha256-${"7d".repeat(32)}.json`), "{");
    expect(lading(root, "inspect", "classic/app:1")).toEqual([1, "[]\n", `Error: ${missing}\n`]);
    expect(lading(root, "save", "-o", join(root, "out.tar"), "classic/app:1")).toEqual([1, "", `lading: error: ${missing}\n`]);
  });

  it("an image record whose layer digest is no digest (a hand edit): images, inspect and fsck name the record; --repair removes it", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const recordFile = join(root, "images", `sha256-${IMPORTED.slice(7)}.json`);
    const record = JSON.parse(await readFile(recordFile, "utf8"));
    record.images[0].layers[0].digest = "sha256:../../x";
    await chmod(recordFile, 0o644);
    await writeFile(recordFile, JSON.stringify(record));
    const unreadable = `image record ${IMPORTED}: images[0].layers[0].digest: invalid digest "sha256:../../x"`;
    expect(lading(root, "images")).toEqual([1, "", `lading: error: ${unreadable} (lading fsck --repair removes it)\n`]);
    expect(lading(root, "inspect", "fixture/imported:1.0")).toEqual([1, "[]\n", `Error: ${unreadable}\n`]);
    const checked = await fsckStore(store);
    expect(checked.problems.map((problem) => [problem.kind, problem.subject, problem.message, problem.repaired])).toEqual([
      ["unreadable-record", IMPORTED, unreadable, false],
      ...["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"].map((reference) => [
        "dangling-reference",
        reference,
        `reference ${reference} points at ${IMPORTED}, which is not in the store`,
        false,
      ]),
    ]);
    const repaired = await fsckStore(store, true);
    expect(repaired.problems.map((problem) => [problem.kind, problem.repaired])).toEqual([["unreadable-record", true], ...Array(4).fill(["dangling-reference", true])]);
    // Only the (empty) directory of pending-records markers is left.
    expect([await readdir(join(root, "images")), await readdir(join(root, "images", "pending"))]).toEqual([["pending"], []]);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("a copy of an image record under another image's file name: images refuses to list it, fsck reports it, --repair removes the copy alone", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const copyId = `sha256:${"1".repeat(64)}`;
    const copy = join(root, "images", `sha256-${"1".repeat(64)}.json`);
    await copyFile(join(root, "images", `sha256-${IMPORTED.slice(7)}.json`), copy);
    const unreadable = `image record ${copyId}: id: ${IMPORTED} is not the ID its file name sha256-${"1".repeat(64)}.json gives`;
    expect(lading(root, "images", "-q")).toEqual([1, "", `lading: error: ${unreadable} (lading fsck --repair removes it)\n`]);
    expect(lading(root, "fsck")).toEqual([1, `broken: ${unreadable}\nchecked 3 blobs, 1 images, 4 references: 1 problem(s)\n`, ""]);
    expect(lading(root, "fsck", "--repair")).toEqual([0, `repaired: ${unreadable}\nchecked 3 blobs, 1 images, 4 references: 1 problem(s)\n`, ""]);
    expect(existsSync(copy)).toBe(false);
    // As docker's images -q: the ID of every row, one per tag.
    expect(lading(root, "images", "-q")).toEqual([0, `${IMPORTED.slice(7, 19)}\n`.repeat(4), ""]);
  });

  it("a directory where a blob belongs: fsck names it, a load fails in one line naming it, --repair removes it once empty, and the next load stores the blob", async () => {
    const root = await newRoot();
    await loadArchive(await Store.open(root), await openArchivePath(SINGLE));
    const blob = join(root, "blobs", "sha256", CONFIG.slice(7));
    await rm(blob);
    await mkdir(blob);
    await writeFile(join(blob, "note"), "x");
    const notAFile = `blob ${CONFIG}: ${blob} is a directory, not a file`;
    const missing = `broken: image ${IMPORTED}: blob ${CONFIG} is missing\nchecked 2 blobs, 1 images, 4 references: 2 problem(s)\n`;
    expect(lading(root, "fsck")).toEqual([1, `broken: ${notAFile}\n${missing}`, ""]);
    expect(lading(root, "load", "-q", "-i", SINGLE)).toEqual([1, "", `lading: error: ${blob}: is a directory where blob ${CONFIG} belongs (lading fsck --repair removes an empty one)\n`]);
    expect(lading(root, "fsck", "--repair")).toEqual([1, `broken: ${notAFile} (not repaired: ${blob}: directory not empty)\n${missing}`, ""]);
    await rm(join(blob, "note"));
    expect(lading(root, "fsck", "--repair")).toEqual([1, `repaired: ${notAFile}\n${missing}`, ""]);
    expect(existsSync(blob)).toBe(false);
    expect(lading(root, "load", "-q", "-i", SINGLE)[0]).toBe(0);
    expect(lading(root, "fsck")).toEqual([0, "checked 3 blobs, 1 images, 4 references: 0 problem(s)\n", ""]);
  });

  it("a directory where repositories.json belongs: every command fails in one line naming it", async () => {
    const root = await newRoot();
    await Store.open(root);
    const file = join(root, "repositories.json");
    await mkdir(file);
    for (const command of [["images"], ["fsck"], ["fsck", "--repair"], ["tag", IMPORTED, "x:1"]]) {
      expect(lading(root, ...command)).toEqual([1, "", `lading: error: ${file}: is a directory\n`]);
    }
  });

  it("--repair on a store it cannot write still prints its report, each problem marked as not repaired and why, and exits 1", async () => {
    const root = await newRoot();
    await loadArchive(await Store.open(root), await openArchivePath(SINGLE));
    const blob = join(root, "blobs", "sha256", CONFIG.slice(7));
    await chmod(blob, 0o644);
    await writeFile(blob, "damaged");
    const record = join(root, "images", `sha256-${IMPORTED.slice(7)}.json`);
    await chmod(record, 0o644);
    await writeFile(record, "{}");
    const dead = spawnSync("true").pid as number;
    const ingest = `${dead}-0123456789abcdef01234567`;
    await writeFile(join(root, "ingest", ingest), "abc");
    await writeFile(join(root, `.repositories.json.tmp-${dead}-0123456789ab`), "{");
    const view = readOnlyView(root, await newRoot());
    try {
      const at = (file: string): string => `${join(view.path, file)}: ${view.refusal}`;
      const before = await snapshotTree(view.path);
      const references = ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"];
      expect(lading(view.path, "fsck", "--repair")).toEqual([
        1,
        [
          `broken: image record ${IMPORTED}: id: missing (not repaired: ${at(`images/sha256-${IMPORTED.slice(7)}.json`)})`,
          `broken: blob ${CONFIG}: content does not match its digest (not repaired: ${at(`blobs/sha256/${CONFIG.slice(7)}`)})`,
          ...references.map((reference) => `broken: reference ${reference} points at ${IMPORTED}, which is not in the store (not repaired: ${at("repositories.json.lock")})`),
          `leftover: 1 leftover ingest file (3 bytes) of interrupted loads (not repaired: ${at(`ingest/${ingest}`)})`,
          "leftover: 1 leftover temp file (1 byte) of interrupted record or reference writes (not repaired: they could not be removed)",
          "checked 3 blobs, 0 images, 4 references: 8 problem(s)",
          "",
        ].join("\n"),
        "",
      ]);
      expect(await snapshotTree(view.path)).toEqual(before);
    } finally {
      view.release();
    }
    await writeFile(join(root, "repositories.json"), '{"Repositories":{"BAD":{}}}');
    const again = readOnlyView(root, await newRoot());
    try {
      const [code, stdout] = lading(again.path, "fsck", "--repair");
      expect([code, stdout.split("\n")[0]]).toEqual([
        1,
        `broken: ${join(again.path, "repositories.json")}: Repositories["BAD"]: not a repository name: invalid reference format: repository name (library/BAD) must be lowercase (not repaired: ${join(again.path, "repositories.json.lock")}: ${again.refusal})`,
      ]);
    } finally {
      again.release();
    }
  });

  it("--repair and prune remove the temp files of record and reference writes whose process was killed, and only those", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const dead = spawnSync("true").pid as number;
    const stale = [join(root, `.repositories.json.tmp-${dead}-0123456789ab`), join(root, "images", `.sha256-${IMPORTED.slice(7)}.json.tmp-${dead}-0123456789ab`)];
    const live = join(root, `.repositories.json.tmp-${process.pid}-0123456789ab`);
    for (const file of [...stale, live]) await writeFile(file, "{");
    const found = await fsckStore(store);
    expect(found.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([
      ["stray-temporary", "2 leftover temp files (2 bytes) of interrupted record or reference writes", false],
    ]);
    const repaired = await fsckStore(store, true);
    expect(repaired.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([
      ["stray-temporary", "2 leftover temp files (2 bytes) of interrupted record or reference writes", true],
    ]);
    expect(stale.map((file) => existsSync(file))).toEqual([false, false]);
    expect(existsSync(live)).toBe(true);
    await writeFile(stale[1] as string, "{");
    await pruneBlobs(store);
    expect(existsSync(stale[1] as string)).toBe(false);
  });

  it("a blob a prune beside it removes between fsck's listing and its check is no problem", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    await removeImage(store, IMPORTED, true);
    const verify = store.content.verifyBlob.bind(store.content);
    // The prune deletes the blob at the moment fsck comes to check it.
    vi.spyOn(store.content, "verifyBlob").mockImplementation(async (digest) => {
      await store.content.delete(digest);
      return verify(digest);
    });
    const report = await fsckStore(store);
    expect([report.problems, report.blobsChecked > 0, await listImages(store)]).toEqual([[], true, []]);
  });

  it("a leftover ingest file of a killed load: fsck reports it with its size and exits 0; prune counts its bytes as reclaimed", async () => {
    const root = await newRoot();
    await Store.open(root);
    const dead = spawnSync("true").pid as number;
    await writeFile(join(root, "ingest", `${dead}-0123456789abcdef01234567`), Buffer.alloc(3000));
    expect(lading(root, "fsck")).toEqual([
      0,
      "leftover: 1 leftover ingest file (3000 bytes) of interrupted loads (--repair or prune removes them)\nchecked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect(lading(root, "prune")).toEqual([0, "Total reclaimed space: 3kB\n", ""]);
    expect(await readdir(join(root, "ingest"))).toEqual([]);
    expect(lading(root, "fsck")).toEqual([0, "checked 0 blobs, 0 images, 0 references: 0 problem(s)\n", ""]);
  });

  it("the lease of a killed load: fsck reports it as a leftover and exits 0; --repair removes it, and a live process's lease stays", async () => {
    const root = await newRoot();
    await Store.open(root);
    const dead = spawnSync("true").pid as number;
    await mkdir(join(root, "leases"), { recursive: true });
    await writeFile(join(root, "leases", `${dead}-n${ownNamespace()}-0123456789abcdef`), "12345");
    const live = join(root, "leases", `${process.pid}-n${ownNamespace()}-fedcba9876543210`);
    await writeFile(live, "");
    expect(lading(root, "fsck")).toEqual([
      0,
      "leftover: 1 leftover lease (5 bytes) of killed commands (--repair or prune removes them)\nchecked 0 blobs, 0 images, 0 references: 1 problem(s)\n",
      "",
    ]);
    expect(lading(root, "fsck", "--repair")).toEqual([0, "repaired: 1 leftover lease (5 bytes) of killed commands\nchecked 0 blobs, 0 images, 0 references: 1 problem(s)\n", ""]);
    expect(await readdir(join(root, "leases"))).toEqual([`${process.pid}-n${ownNamespace()}-fedcba9876543210`]);
  });

  it("an ingest file whose pid now names another process (reused after the load was killed): prune, with no lease live, removes it", async () => {
    const root = await newRoot();
    await Store.open(root);
    const name = `${process.ppid}-n${ownNamespace()}-0123456789abcdef01234567`; // a live process, holding no lease
    await writeFile(join(root, "ingest", name), Buffer.alloc(2000));
    const run = spawnSync(process.execPath, ["bin/lading.js", "--root", root, "prune"], { encoding: "utf8" });
    expect([run.status, run.stdout, run.stderr]).toEqual([0, "Total reclaimed space: 2kB\n", ""]);
    expect(await readdir(join(root, "ingest"))).toEqual([]);
  });
});

describe("an image whose foreign layer the store does not hold", () => {
  it("is no missing blob to fsck, and prune keeps every blob it does need", async () => {
    const store = await Store.open(await newRoot());
    const image = makeForeignImage();
    const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
    const bytes = buildTar(withoutFile(ociLayoutItems([image]), blobPath(foreign.digest)));
    await loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length));
    const report = await fsckStore(store);
    expect(report).toEqual({ blobsChecked: 3, imagesChecked: 1, referencesChecked: 0, layersDecompressed: 0, diffIdsRecorded: 0, problems: [] });
    expect(await pruneBlobs(store)).toMatchObject({ deleted: [], reclaimed: 0 });
    for (const digest of [image.manifest.digest, image.config.digest, own.digest]) expect(await store.content.has(digest)).toBe(true);
  });

  it("an unreadable repositories.json: fsck reports it and checks the rest; --repair keeps its valid entries and the old file beside it", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const file = join(root, "repositories.json");
    const edited = JSON.stringify({
      Repositories: {
        "fixture/imported": { "fixture/imported:1.0": IMPORTED, "fixture/imported:bad tag": IMPORTED },
        BAD: { "BAD:1": IMPORTED },
      },
    });
    await writeFile(file, edited);
    const found = await fsckStore(store);
    const unreadable = `${file}: Repositories["BAD"]: not a repository name: invalid reference format: repository name (library/BAD) must be lowercase`;
    expect(found.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([["unreadable-references", `${unreadable} (--repair keeps its valid entries)`, false]]);
    expect([found.blobsChecked, found.imagesChecked, found.referencesChecked]).toEqual([3, 1, 0]);
    const repaired = await fsckStore(store, true);
    const backups = (await readdir(root)).filter((name) => name.startsWith("repositories.json.broken-"));
    expect(backups).toHaveLength(1);
    expect(await readFile(join(root, backups[0]!), "utf8")).toBe(edited);
    expect(repaired.problems.map((problem) => [problem.kind, problem.message, problem.repaired])).toEqual([
      ["unreadable-references", `${unreadable}: kept 1 valid entries, dropped 2; the file as it was is ${join(root, backups[0]!)}`, true],
    ]);
    expect(await store.references.references()).toEqual([{ reference: "fixture/imported:1.0", id: IMPORTED }]);
    // Text that is no JSON at all: no entry can be kept; the file is kept beside.
    await writeFile(file, "{not json");
    const fromGarbage = await fsckStore(store, true);
    expect(fromGarbage.problems.map((problem) => [problem.kind, problem.repaired])).toEqual([["unreadable-references", true]]);
    expect(await store.references.references()).toEqual([]);
    expect((await readdir(root)).filter((name) => name.startsWith("repositories.json.broken-"))).toHaveLength(2);
  });

  it("a repositories.json whose key is \"repositories\" (dockerd reads it as Repositories): refused, not read as empty, so no write drops it; --repair keeps its entries", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const file = join(root, "repositories.json");
    const folded = JSON.stringify({ repositories: { "fixture/kept": { "fixture/kept:1": IMPORTED } } });
    await writeFile(file, folded);
    const unreadable = `${file}: key "repositories" is field Repositories only to Go, which matches field names case-insensitively; spell it "Repositories"`;
    await expect(store.references.references()).rejects.toThrow(unreadable);
    await expect(tagImage(store, IMPORTED, "fixture/new:1")).rejects.toThrow(unreadable);
    expect(await readFile(file, "utf8")).toBe(folded);
    expect((await fsckStore(store)).problems.map((problem) => problem.message)).toEqual([`${unreadable} (--repair keeps its valid entries)`]);
    expect((await fsckStore(store, true)).problems.map((problem) => problem.repaired)).toEqual([true]);
    expect(await store.references.references()).toEqual([{ reference: "fixture/kept:1", id: IMPORTED }]);
    // Both spellings: Go reads both into the one field, the later one's repositories replacing the earlier's.
    await writeFile(file, `{"Repositories":{"fixture/a":{"fixture/a:1":"${IMPORTED}"}},"repositories":{"fixture/b":{"fixture/b:1":"${IMPORTED}"}}}`);
    expect((await fsckStore(store)).problems.map((problem) => problem.message)).toEqual([
      `${file}: keys "Repositories" and "repositories" are one field, Repositories, to Go, which matches field names case-insensitively and reads both into it (--repair keeps its valid entries)`,
    ]);
    await fsckStore(store, true);
    expect(await store.references.references()).toEqual([
      { reference: "fixture/a:1", id: IMPORTED },
      { reference: "fixture/b:1", id: IMPORTED },
    ]);
  });

  it("a repositories.json with bytes after a whole document (zeros a crash left at its end): --repair keeps every entry of that document", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const file = join(root, "repositories.json");
    const before = await store.references.references();
    expect(before.length).toBeGreaterThan(0);
    await writeFile(file, Buffer.concat([await readFile(file), Buffer.alloc(4096)]));
    const [found] = (await fsckStore(store)).problems;
    expect(found!.message).toMatch(/^.*: invalid JSON: .* \(--repair keeps its valid entries\)$/);
    const repaired = await fsckStore(store, true);
    expect(repaired.problems.map((problem) => problem.message.replace(/; the file as it was is .*/, ""))).toEqual([`${found!.message.replace(/ \(--repair.*$/, "")}: kept ${before.length} valid entries, dropped 0`]);
    expect(await store.references.references()).toEqual(before);
  });

  it("--repair of a repositories.json with no entries to read (truncated, empty, not JSON, no object) says none could be read, not that none was dropped", async () => {
    const root = await newRoot();
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(SINGLE));
    const file = join(root, "repositories.json");
    const whole = await readFile(file);
    expect(whole.length).toBeGreaterThan(200);
    for (const text of [whole.subarray(0, 200), "{not json", "", "null", '{"Repositories":[1,2]}']) {
      await writeFile(file, text);
      const [found] = (await fsckStore(store)).problems;
      const promise = " (--repair replaces it with an empty one, keeping it beside as it is: no entry can be read from it)";
      expect(found!.message.endsWith(promise)).toBe(true);
      const unreadable = found!.message.slice(0, -promise.length);
      expect(unreadable).toMatch(new RegExp(`^${file}: `));
      const repaired = await fsckStore(store, true);
      const backup = (await readdir(root)).filter((name) => name.startsWith("repositories.json.broken-")).sort().at(-1)!;
      expect(repaired.problems).toEqual([
        { kind: "unreadable-references", subject: file, message: `${unreadable}: no entry could be read from it, so none was kept; the file as it was is ${join(root, backup)}`, repaired: true },
      ]);
      expect(await readFile(join(root, backup))).toEqual(Buffer.from(text));
      expect(await store.references.references()).toEqual([]);
    }
  });
});
