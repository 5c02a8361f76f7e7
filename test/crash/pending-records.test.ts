// A load or pull killed (SIGKILL) after writing its image records, before its references: the
// records are listed in a pending-records marker first, so no command shows an image the killed
// one never reported, and the next load, pull, prune or fsck --repair removes them. Each case
// runs the store's own code in a process that kills itself at exactly that point.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { fsckStore } from "../../src/ops/fsck.js";
import { listImages, pruneBlobs, removeImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import type { ImageRecord } from "../../src/store/image-records.js";
import { ownNamespace, processStartTime } from "../../src/store/process-alive.js";
import { ReferenceStore } from "../../src/store/reference-store.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage, runLading, type TestImage } from "../support/archive-builder.js";
import { REPO_ROOT } from "../ops/load-expectations.js";

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});
beforeAll(() => ensureBuilt());

interface Fixture {
  root: string;
  store: Store;
  image: TestImage;
  record: ImageRecord;
  archive: string;
}

/** A store that held `image` as example/NAME:1 and had it removed: its blobs stay, its record and tag are gone. */
async function storeThatHad(name: string): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), "lading-pending-"));
  dirs.push(dir);
  const image = makeImage({ seed: `pending-${name}` });
  const archive = join(dir, "archive.tar");
  await writeFile(archive, buildTar(dockerArchiveItems([{ image, repoTags: [`example/${name}:1`] }])));
  const root = join(dir, "store");
  const store = await Store.open(root);
  const { images } = await loadArchive(store, await openArchivePath(archive));
  const record = (await store.records.get(images[0]!.id))!;
  await removeImage(store, `example/${name}:1`);
  return { root, store, image, record, archive };
}

/**
 * Runs `body` in a process of its own on the built store module, with `store`, `record` and
 * `die()` (SIGKILL of itself) in scope.
 */
function killedProcess(root: string, record: ImageRecord, body: string): void {
  const script = `
    import { Store } from ${JSON.stringify(join(REPO_ROOT, "dist", "store", "store.js"))};
    const store = await Store.open(${JSON.stringify(root)});
    const record = ${JSON.stringify(record)};
    const die = () => process.kill(process.pid, "SIGKILL");
    ${body}
    console.log("not killed");
  `;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  expect([child.signal, child.stdout, child.stderr]).toEqual(["SIGKILL", "", ""]);
  // The dead holder's lock would be taken over after 10 s (lock.test.ts covers that); not waited for here.
  rmSync(join(root, "repositories.json.lock"), { recursive: true, force: true });
}

/** What a load does, killed after its records and before its references. */
const KILLED_BEFORE_REFERENCES = `await store.updateWithRecords(async (txn, addRecords) => { txn.addTag("example/NAME:1", record.id); await addRecords([record]); die(); });`;
/** What a load does, killed after its references and before it removes its marker. */
const killedAfterReferences = (tag: boolean): string =>
  `await store.references.update(async (txn) => { ${tag ? `txn.addTag("example/NAME:1", record.id);` : ""} await store.records.addAll([record], txn); }); die();`;

const recordFile = (root: string, id: string): string => join(root, "images", `${id.replace(":", "-")}.json`);
const markers = async (root: string): Promise<string[]> => (await readdir(join(root, "images", "pending")).catch(() => [])).map((name) => join(root, "images", "pending", name));
const listed = async (store: Store): Promise<string[][]> => (await listImages(store)).map((image) => [image.id, ...image.repoTags]);

describe("a load killed between its image records and its references", () => {
  it("leaves a record no command lists; fsck reports it as a leftover and --repair removes it, after which prune reclaims its blobs", async () => {
    const { root, store, image, record } = await storeThatHad("killed");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "killed"));
    const [marker] = await markers(root);
    expect([existsSync(recordFile(root, record.id)), marker !== undefined]).toEqual([true, true]);
    expect([await listed(store), await store.records.get(record.id), await store.references.get("example/killed:1")]).toEqual([[], undefined, undefined]);
    const images = await runLading(["--root", root, "images", "-a", "-q"]);
    expect([images.code, images.stdout, images.stderr]).toEqual([0, "", ""]);

    const message = `${marker}: a load or pull was killed before it wrote its references; its image record ${record.id}, never committed,`;
    const check = await runLading(["--root", root, "fsck", "--json"]);
    expect([check.code, JSON.parse(check.stdout).problems]).toEqual([0, [{ kind: "interrupted-command", subject: marker, message: `${message} is not listed`, repaired: false }]]);
    expect(existsSync(recordFile(root, record.id))).toBe(true);

    const repair = await fsckStore(store, true);
    expect(repair.problems).toEqual([{ kind: "interrupted-command", subject: marker, message: `${message} was removed`, repaired: true }]);
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([false, []]);
    expect((await pruneBlobs(store)).deleted.sort()).toEqual([record.id, image.config.digest, image.layers[0]!.digest].sort());
  });

  it("the next load of another image settles it, and a load of the same image again lists it once, tagged", async () => {
    const { root, store, record, archive } = await storeThatHad("again");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "again"));
    const other = await storeThatHad("other");
    await loadArchive(store, await openArchivePath(other.archive));
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([false, []]);

    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "again"));
    const { images } = await loadArchive(store, await openArchivePath(archive));
    expect(images.map((loaded) => [loaded.id, loaded.tags])).toEqual([[record.id, ["example/again:1"]]]);
    expect((await listed(store)).filter(([id]) => id === record.id)).toEqual([[record.id, "example/again:1"]]);
    expect(await markers(root)).toEqual([]);
  });

  it("a tag added by hand to the uncommitted image makes it listed, and settling keeps it", async () => {
    const { root, store, record } = await storeThatHad("hand");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "hand"));
    await writeFile(join(root, "repositories.json"), JSON.stringify({ Repositories: { "example/hand": { "example/hand:by-hand": record.id } } }));
    expect(await listed(store)).toEqual([[record.id, "example/hand:by-hand"]]);
    await pruneBlobs(store);
    expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([true, [], [[record.id, "example/hand:by-hand"]]]);
    expect((await fsckStore(store)).problems).toEqual([]);
  });

  it("a record that a reference named when the load began (a tag left dangling) is committed by it: listed, and kept", async () => {
    const { root, store, record } = await storeThatHad("dangling");
    await writeFile(join(root, "repositories.json"), JSON.stringify({ Repositories: { "example/dangling": { "example/dangling:kept": record.id } } }));
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "dangling"));
    expect(await listed(store)).toEqual([[record.id, "example/dangling:kept"]]);
    await pruneBlobs(store);
    expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([true, [], [[record.id, "example/dangling:kept"]]]);
  });

  it("the marker of a process still running is not settled, and its records stay out of listings until it is gone", async () => {
    const { root, store, record } = await storeThatHad("running");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "running"));
    const [marker] = await markers(root);
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      const pid = sleeper.pid!;
      // The marker, as that running process would have written it.
      const alive = join(root, "images", "pending", `${pid}-n${ownNamespace()}-0123456789ab.json`);
      const body = JSON.parse(await readFile(marker!, "utf8")) as { startedAt: string };
      await writeFile(alive, JSON.stringify({ ...body, startedAt: processStartTime(pid) }));
      await rm(marker!);
      await pruneBlobs(store);
      expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([true, [alive], []]);
      expect((await fsckStore(store, true)).problems).toEqual([]);
    } finally {
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.on("exit", resolve));
    }
    await pruneBlobs(store);
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([false, []]);
  });
});

/** Gives the only marker to `pid` (a running process of this namespace), as if that process had written it. */
async function markerOfLiveProcess(root: string, pid: number): Promise<string> {
  const [marker] = await markers(root);
  const alive = join(root, "images", "pending", `${pid}-n${ownNamespace()}-0123456789ab.json`);
  const body = JSON.parse(await readFile(marker!, "utf8")) as { startedAt: string };
  await writeFile(alive, JSON.stringify({ ...body, startedAt: processStartTime(pid) }));
  await rm(marker!);
  return alive;
}

async function withSleeper(body: (pid: number) => Promise<void>): Promise<void> {
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
  try {
    await body(sleeper.pid!);
  } finally {
    sleeper.kill("SIGKILL");
    await new Promise((resolve) => sleeper.on("exit", resolve));
  }
}

describe("a load killed after its references, before it removed its marker", () => {
  it("a tagged image is committed: it is listed, and settling removes only the marker", async () => {
    const { root, store, record } = await storeThatHad("committed");
    killedProcess(root, record, killedAfterReferences(true).replace("NAME", "committed"));
    expect(await listed(store)).toEqual([[record.id, "example/committed:1"]]);
    const [marker] = await markers(root);
    expect((await fsckStore(store, true)).problems).toEqual([
      { kind: "interrupted-command", subject: marker, message: `${marker}: left by a killed load or pull; it hides no image record`, repaired: true },
    ]);
    expect([await markers(root), await listed(store)]).toEqual([[], [[record.id, "example/committed:1"]]]);
  });

  it("an untagged image's load, which changes no reference, commits only by removing its marker: the record is not listed and prune removes it", async () => {
    const { root, store, image, record } = await storeThatHad("untagged");
    killedProcess(root, record, killedAfterReferences(false));
    expect(await listed(store)).toEqual([]);
    expect((await pruneBlobs(store)).deleted.sort()).toEqual([record.id, image.config.digest, image.layers[0]!.digest].sort());
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([false, []]);
  });
});

describe("a load that another load overtakes", () => {
  it("an untagged load whose records a live process has not committed: the second load commits them for itself, and they outlive that process's marker", async () => {
    const { root, store, image, record } = await storeThatHad("adopted");
    killedProcess(root, record, killedAfterReferences(false));
    const untagged = join(root, "..", "untagged.tar");
    await writeFile(untagged, buildTar(dockerArchiveItems([{ image, repoTags: null }])));
    await withSleeper(async (pid) => {
      const alive = await markerOfLiveProcess(root, pid);
      expect(await listed(store)).toEqual([]);
      const { images } = await loadArchive(store, await openArchivePath(untagged));
      expect(images.map((loaded) => loaded.id)).toEqual([record.id]);
      expect([await listed(store), await markers(root)]).toEqual([[[record.id]], [alive]]);
    });
    await pruneBlobs(store);
    expect([await listed(store), await markers(root), (await fsckStore(store)).problems]).toEqual([[[record.id]], [], []]);
  });

  it("a load stopped (SIGSTOP) after its records, whose lock another load takes over: the other load's image stays, and the stopped one, continued, fails and removes nothing", async () => {
    const { root, record, archive } = await storeThatHad("stopped");
    const quickStale = `{ references: (file) => new ReferenceStore(file, { lock: { staleMs: 2000 } }) }`;
    const script = `
      import { Store } from ${JSON.stringify(join(REPO_ROOT, "dist", "store", "store.js"))};
      import { ReferenceStore } from ${JSON.stringify(join(REPO_ROOT, "dist", "store", "reference-store.js"))};
      const store = await Store.open(${JSON.stringify(root)}, ${quickStale});
      const record = ${JSON.stringify(record)};
      try {
        await store.updateWithRecords(async (txn, addRecords) => {
          txn.addTag("example/stopped:1", record.id);
          await addRecords([record]);
          process.stdout.write("written\\n");
          await new Promise((resolve) => setTimeout(resolve, 500));
        });
        console.log("committed");
      } catch (error) {
        console.log(error.message);
      }
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const exited = new Promise((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve) => child.stdout.on("data", (chunk: Buffer) => ((out += chunk.toString()), out.includes("written") && resolve())));
    child.kill("SIGSTOP");
    const other = await Store.open(root, { references: (file) => new ReferenceStore(file, { lock: { staleMs: 2000 } }) });
    const { images } = await loadArchive(other, await openArchivePath(archive));
    expect(images.map((loaded) => [loaded.id, loaded.tags])).toEqual([[record.id, ["example/stopped:1"]]]);
    child.kill("SIGCONT");
    await exited;
    // Told by proper-lockfile (the lock is gone) or by the stall check, whichever runs first.
    expect(out).toMatch(new RegExp(`^written\nlost the lock ${root}/repositories\\.json\\.lock while holding it: [^\n]+\n$`));
    expect([existsSync(recordFile(root, record.id)), await listed(other)]).toEqual([true, [[record.id, "example/stopped:1"]]]);
    await pruneBlobs(other);
    expect([await listed(other), await markers(root), (await fsckStore(other)).problems]).toEqual([[[record.id, "example/stopped:1"]], [], []]);
  });
});

describe("the marker of a load or pull in another pid namespace (a store shared by containers)", () => {
  const OTHER_NAMESPACE = ownNamespace() === "0123456789ab" ? "ba9876543210" : "0123456789ab";
  const FOREIGN_OWNER = `4242-n${OTHER_NAMESPACE}`;

  /**
   * Gives the only marker to pid 4242 of another namespace, as if that process had written it;
   * `lease` gives it a lease last refreshed so many ms ago, taken by a process of start time
   * `leaseStartedAt` ("": unknown).
   */
  async function foreignMarker(root: string, lease?: number, leaseStartedAt = ""): Promise<string> {
    const [marker] = await markers(root);
    const foreign = join(root, "images", "pending", `${FOREIGN_OWNER}-0123456789ab.json`);
    await rename(marker!, foreign);
    if (lease !== undefined) {
      const file = join(root, "leases", `${FOREIGN_OWNER}-0123456789abcdef`);
      await mkdir(join(root, "leases"), { recursive: true });
      await writeFile(file, leaseStartedAt);
      const refreshed = new Date(Date.now() - lease);
      await utimes(file, refreshed, refreshed);
    }
    return foreign;
  }

  it("while its owner holds a live lease: fsck reports the records it hides, exit 0, and --repair keeps it", async () => {
    const { root, store, record } = await storeThatHad("foreignlive");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "foreignlive"));
    const marker = await foreignMarker(root, 0);
    const message =
      `${marker}: written by a load or pull in another pid namespace (pid 4242 there), whose lease was refreshed in the last 60 s, before its references; ` +
      `its image record ${record.id}, not committed, is not listed. If that command is gone, fsck --repair settles the marker once its lease is older, or at once from its own pid namespace; do not remove the marker by hand`;
    const check = await runLading(["--root", root, "fsck", "--json"]);
    expect([check.code, JSON.parse(check.stdout).problems, check.stderr]).toEqual([0, [{ kind: "foreign-command", subject: marker, message, repaired: false }], ""]);
    const repair = await runLading(["--root", root, "fsck", "--repair"]);
    expect([repair.code, repair.stdout, repair.stderr]).toEqual([0, `leftover: ${message}\nchecked 3 blobs, 0 images, 0 references: 1 problem(s)\n`, ""]);
    expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([true, [marker], []]);
  });

  it("a marker that hides nothing (its command wrote its references) is reported as such while the lease is live", async () => {
    const { root, store, record } = await storeThatHad("foreigndone");
    killedProcess(root, record, killedAfterReferences(true).replace("NAME", "foreigndone"));
    const marker = await foreignMarker(root, 0);
    const check = await runLading(["--root", root, "fsck"]);
    const message = `${marker}: written by a load or pull in another pid namespace (pid 4242 there), whose lease was refreshed in the last 60 s; it hides no image record. If that command is gone, fsck --repair settles the marker once its lease is older, or at once from its own pid namespace; do not remove the marker by hand`;
    expect([check.code, check.stdout, check.stderr]).toEqual([0, `leftover: ${message}\nchecked 3 blobs, 1 images, 1 references: 1 problem(s)\n`, ""]);
    expect(await listed(store)).toEqual([[record.id, "example/foreigndone:1"]]);
  });

  it("once its owner holds no live lease, it is a killed command's: fsck reports it and --repair settles it", async () => {
    const { root, store, record } = await storeThatHad("foreigngone");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "foreigngone"));
    const marker = await foreignMarker(root);
    const message = `${marker}: a load or pull was killed before it wrote its references; its image record ${record.id}, never committed,`;
    const check = await runLading(["--root", root, "fsck", "--json"]);
    expect([check.code, JSON.parse(check.stdout).problems]).toEqual([0, [{ kind: "interrupted-command", subject: marker, message: `${message} is not listed`, repaired: false }]]);
    expect((await fsckStore(store, true)).problems).toEqual([{ kind: "interrupted-command", subject: marker, message: `${message} was removed`, repaired: true }]);
    expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([false, [], []]);
  });

  it.each([
    ["keeps it while its owner's lease is live", 0, true],
    ["settles it once its owner's lease is stale", 120_000, false],
  ] as const)("the next load of another image %s", async (_, leaseAge, kept) => {
    const { root, store, record } = await storeThatHad(`foreignload${leaseAge}`);
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", `foreignload${leaseAge}`));
    const marker = await foreignMarker(root, leaseAge);
    const other = makeImage({ seed: `pending-other-${leaseAge}` });
    const archive = join(root, "..", "other.tar");
    await writeFile(archive, buildTar(dockerArchiveItems([{ image: other, repoTags: ["example/other:1"] }])));
    await loadArchive(store, await openArchivePath(archive));
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([kept, kept ? [marker] : []]);
    // Settled, the record is gone; kept, it is no longer hidden once the references have changed,
    // as for a stopped command of this namespace whose lock was taken over.
    expect(await listed(store)).toEqual([...(kept ? [[record.id]] : []), [(await store.references.get("example/other:1"))!, "example/other:1"]].sort());
  });

  it("a live lease of a later process given the same pid there (another start time) does not keep it: fsck --repair settles it", async () => {
    const { root, store, record } = await storeThatHad("foreignreused");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "foreignreused"));
    const marker = await foreignMarker(root, 0, "999");
    const message = `${marker}: a load or pull was killed before it wrote its references; its image record ${record.id}, never committed,`;
    expect((await fsckStore(store, true)).problems).toEqual([{ kind: "interrupted-command", subject: marker, message: `${message} was removed`, repaired: true }]);
    expect([existsSync(recordFile(root, record.id)), await markers(root)]).toEqual([false, []]);
  });

  it("prune settles it once its owner's lease is stale", async () => {
    const { root, store, image, record } = await storeThatHad("foreignstale");
    killedProcess(root, record, KILLED_BEFORE_REFERENCES.replace("NAME", "foreignstale"));
    await foreignMarker(root, 120_000);
    expect((await pruneBlobs(store)).deleted.sort()).toEqual([record.id, image.config.digest, image.layers[0]!.digest].sort());
    expect([existsSync(recordFile(root, record.id)), await markers(root), await readdir(join(root, "leases"))]).toEqual([false, [], []]);
  });
});

describe("a load that fails before its references are written", () => {
  it("keeps a record that a tag added by hand meanwhile names", async () => {
    const { root, store, record } = await storeThatHad("handtag");
    const repositories = join(root, "repositories.json");
    const failure = store.updateWithRecords(async (txn, addRecords) => {
      txn.addTag("example/handtag:1", record.id);
      await addRecords([record]);
      await writeFile(repositories, JSON.stringify({ Repositories: { byhand: { "byhand:keep": record.id } } }));
    });
    await expect(failure).rejects.toThrow(`${repositories} changed while this command was updating it (edited by another program?); nothing was written: run the command again`);
    expect([existsSync(recordFile(root, record.id)), await markers(root), await listed(store)]).toEqual([true, [], [[record.id, "byhand:keep"]]]);
  });

  it("puts its records back: a new one is removed with its marker, one it merged into is as it was", async () => {
    const { root, store, record } = await storeThatHad("failed");
    const other = await storeThatHad("merged");
    await loadArchive(store, await openArchivePath(other.archive));
    const otherFile = recordFile(root, other.record.id);
    const otherBytes = await readFile(otherFile);
    const grown = { ...other.record, otherBlobs: [...other.record.otherBlobs, record.id] };
    const repositories = join(root, "repositories.json");
    const failure = store.updateWithRecords(async (txn, addRecords) => {
      txn.addTag("example/failed:1", record.id);
      await addRecords([record, grown]);
      expect([existsSync(recordFile(root, record.id)), (await markers(root)).length]).toEqual([true, 1]);
      // Another program replaces the file meanwhile: the update refuses to write over it.
      await writeFile(repositories, "{\"Repositories\":{}}");
    });
    await expect(failure).rejects.toThrow(`${repositories} changed while this command was updating it (edited by another program?); nothing was written: run the command again`);
    expect([existsSync(recordFile(root, record.id)), await markers(root), (await readFile(otherFile)).equals(otherBytes)]).toEqual([false, [], true]);
  });
});

describe("a load that completes", () => {
  it("removes its marker; a marker that cannot be read hides nothing, and fsck --repair removes it", async () => {
    const { root, store, record, archive } = await storeThatHad("whole");
    await loadArchive(store, await openArchivePath(archive));
    expect(await markers(root)).toEqual([]);
    const broken = join(root, "images", "pending", "999999999-0123456789ab.json");
    await writeFile(broken, "{");
    expect(await listed(store)).toEqual([[record.id, "example/whole:1"]]);
    const [problem] = (await fsckStore(store, true)).problems;
    expect([problem?.kind, problem?.subject, problem?.repaired]).toEqual(["interrupted-command", broken, true]);
    expect(problem?.message).toMatch(/^pending-records marker .*999999999-0123456789ab\.json: .*; it hides no image record$/);
    expect(await markers(root)).toEqual([]);
  });
});

it("the temp file of a marker write that was killed is cleaned like the store's other temp files", async () => {
  const { root, store } = await storeThatHad("temporaries");
  const temp = join(root, "images", "pending", ".x.json.tmp-999999999-n" + ownNamespace() + "-0123456789ab");
  await writeFile(temp, "x");
  const report = await fsckStore(store, true);
  expect(report.problems.map((problem) => [problem.kind, problem.repaired])).toEqual([["stray-temporary", true]]);
  expect(existsSync(temp)).toBe(false);
});
