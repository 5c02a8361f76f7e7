// A store whose repositories.json went missing (moved or deleted by hand) while it holds images
// (README, "Reliability"): every command that writes image records writes the file too, so a
// store with records and no file has lost it. Writes of references refuse with the remedy and
// leave the store as it was, rather than start a new file that leaves every image untagged;
// read-only commands warn; fsck reports it, and --repair writes an empty file.
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage } from "../support/archive-builder.js";
import { ladingOnStore as lading } from "../support/cli-sync.js";
import { snapshotTree } from "../support/store-tree.js";

const REPO_ROOT = join(import.meta.dirname, "..", "..");
const ARCHIVE = join(REPO_ROOT, "testdata", "docker-archive.tar");
/** The image of testdata's docker-archive.tar, tagged lading-testdata/app:1.0 and :latest. */
const IMAGE = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";

let dir = "";
let loaded = "";
let counter = 0;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "lading-missing-references-"));
  loaded = join(dir, "loaded");
  expect(lading(loaded, "load", "-q", "-i", ARCHIVE)[0]).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/** A copy of the loaded store whose repositories.json has been moved away (kept beside the store). */
function storeWithoutReferences(): string {
  const root = join(dir, `store-${++counter}`);
  cpSync(loaded, root, { recursive: true });
  renameSync(join(root, "repositories.json"), join(dir, `repositories-${counter}.json`));
  return root;
}

const refusal = (root: string): string =>
  `lading: error: ${root}/repositories.json: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or run lading fsck --repair\n`;
const warning = (root: string): string =>
  `warning: ${root}/repositories.json: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or run lading fsck --repair (until then every image shows untagged)\n`;

describe("a write of references on a store whose repositories.json went missing", () => {
  it("load refuses, naming the file and the remedy, and leaves the store byte for byte as it was", async () => {
    const root = storeWithoutReferences();
    const before = await snapshotTree(root);
    expect(lading(root, "load", "-q", "-i", join(REPO_ROOT, "testdata", "oci-archive.tar"), "--name", "sk")).toEqual([1, "", refusal(root)]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("tag refuses, and leaves the store as it was", async () => {
    const root = storeWithoutReferences();
    const before = await snapshotTree(root);
    expect(lading(root, "tag", IMAGE.slice(7, 19), "new/app:1")).toEqual([1, "", refusal(root)]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("rmi refuses, and leaves the store as it was", async () => {
    const root = storeWithoutReferences();
    const before = await snapshotTree(root);
    expect(lading(root, "rmi", IMAGE.slice(7, 19))).toEqual([1, "", `Error: ${refusal(root).slice("lading: error: ".length)}`]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("tag and rmi by a name the lost file held refuse with the remedy, not No such image; rmi -f too, with exit 1, once for all its images", async () => {
    const root = storeWithoutReferences();
    const before = await snapshotTree(root);
    expect(lading(root, "tag", "lading-testdata/app:1.0", "new/app:1")).toEqual([1, "", refusal(root)]);
    const rmi = `Error: ${refusal(root).slice("lading: error: ".length)}`;
    expect(lading(root, "rmi", "lading-testdata/app:1.0")).toEqual([1, "", rmi]);
    expect(lading(root, "rmi", "-f", "lading-testdata/app:1.0", "lading-testdata/app:latest")).toEqual([1, "", rmi]);
    expect(await snapshotTree(root)).toEqual(before);
  });

  it("load, pull and push refuse before reading the archive or reaching the registry, not after", async () => {
    const root = storeWithoutReferences();
    // An empty standard input: a load that read it first would call it no image archive.
    const load = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", root, "load", "-q", "-i", "-"], { encoding: "utf8", input: "" });
    expect([load.status, load.stdout, load.stderr]).toEqual([1, "", refusal(root)]);
    // Port 1 of loopback refuses every connection: a pull that tried the registry first would say so.
    expect(lading(root, "pull", "127.0.0.1:1/app:1")).toEqual([1, "", refusal(root)]);
    expect(lading(root, "push", IMAGE.slice(7, 19), "127.0.0.1:1/app:1")).toEqual([1, "", refusal(root)]);
  });

  it("goes through once the file is put back, or once {\"Repositories\":{}} is written to it", () => {
    const root = storeWithoutReferences();
    renameSync(join(dir, `repositories-${counter}.json`), join(root, "repositories.json"));
    expect(lading(root, "tag", "lading-testdata/app:1.0", "new/app:1")).toEqual([0, "", ""]);
    const emptied = storeWithoutReferences();
    writeFileSync(join(emptied, "repositories.json"), '{"Repositories":{}}');
    expect(lading(emptied, "tag", IMAGE.slice(7, 19), "new/app:1")).toEqual([0, "", ""]);
    expect(readFileSync(join(emptied, "repositories.json"), "utf8")).toBe(`{"Repositories":{"new/app":{"new/app:1":"${IMAGE}"}}}`);
  });
});

describe("a read-only command on a store whose repositories.json went missing", () => {
  it("images, inspect and save warn once on standard error, naming the file, and exit as they would", () => {
    const root = storeWithoutReferences();
    const [code, stdout, stderr] = lading(root, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}");
    expect([code, stdout, stderr]).toEqual([0, `<none>:<none> ${IMAGE.slice(7, 19)}\n`, warning(root)]);
    expect(lading(root, "inspect", "--format", "{{.RepoTags}}", IMAGE.slice(7, 19))).toEqual([0, "[]\n", warning(root)]);
    expect(lading(root, "save", "-q", "-o", join(dir, `saved-${counter}.tar`), "lading-testdata/app:1.0")).toEqual([1, "", `${warning(root)}lading: error: No such image: lading-testdata/app:1.0\n`]);
  });

  it("a store with its file, or an empty store with none, gives no warning", () => {
    expect(lading(loaded, "images", "-q")).toEqual([0, `${IMAGE.slice(7, 19)}\n${IMAGE.slice(7, 19)}\n`, ""]);
    expect(lading(join(dir, "never-loaded"), "images", "-q")).toEqual([0, "", ""]);
  });
});

describe("fsck of a store whose repositories.json went missing", () => {
  it("reports missing-references and exits 1; --repair writes an empty file, after which the store is clean and writable", () => {
    const root = storeWithoutReferences();
    const file = `${root}/repositories.json`;
    const missing = `${file}: no such file (moved or deleted?), but the store holds images`;
    expect(lading(root, "fsck")).toEqual([
      1,
      `broken: ${missing}: they show untagged, and commands that write references refuse (put it back, or --repair writes an empty one)\nchecked 5 blobs, 1 images, 0 references: 1 problem(s)\n`,
      "",
    ]);
    const [code, stdout] = lading(root, "fsck", "--json");
    expect([code, (JSON.parse(stdout) as { problems: unknown[] }).problems]).toEqual([
      1,
      [{ kind: "missing-references", subject: file, message: `${missing}: they show untagged, and commands that write references refuse (put it back, or --repair writes an empty one)`, repaired: false }],
    ]);
    expect(lading(root, "fsck", "--repair")).toEqual([
      0,
      `repaired: ${missing}: wrote an empty one; the references it held are lost, and the images stay untagged\nchecked 5 blobs, 1 images, 0 references: 1 problem(s)\n`,
      "",
    ]);
    expect(readFileSync(file, "utf8")).toBe('{"Repositories":{}}');
    expect(lading(root, "fsck")).toEqual([0, "checked 5 blobs, 1 images, 0 references: 0 problem(s)\n", ""]);
    expect(lading(root, "tag", IMAGE.slice(7, 19), "back/app:1")).toEqual([0, "", ""]);
  });

  it("names a symbolic link whose target is gone as such, in the words a refused write uses", () => {
    const root = storeWithoutReferences();
    const gone = join(dir, "gone.json");
    symlinkSync(gone, join(root, "repositories.json"));
    const [code, stdout] = lading(root, "fsck");
    expect([code, stdout.split("\n")[0]]).toEqual([
      1,
      `broken: ${root}/repositories.json: a symbolic link to ${gone}, which does not exist, but the store holds images: they show untagged, and commands that write references refuse (put it back, or --repair writes an empty one)`,
    ]);
    expect(lading(root, "tag", IMAGE.slice(7, 19), "new/app:1")[2]).toContain(`${root}/repositories.json: a symbolic link to ${gone}, which does not exist: put it back`);
  });
});

describe("a store's first load", () => {
  it("of untagged images only writes an empty repositories.json, so that the store holds the file from its first image on", () => {
    const archive = join(dir, "untagged.tar");
    writeFileSync(archive, buildTar(dockerArchiveItems([{ image: makeImage({ seed: "untagged" }), repoTags: null }])));
    const root = join(dir, "untagged-store");
    const [code] = lading(root, "load", "-q", "-i", archive);
    expect(code).toBe(0);
    expect(readFileSync(join(root, "repositories.json"), "utf8")).toBe('{"Repositories":{}}');
  });

  it("killed between its records and its references leaves records it never committed: they do not count, so nothing warns and the next load is not refused", () => {
    const root = join(dir, "killed-store");
    const record = readFileSync(join(loaded, "images", `sha256-${IMAGE.slice(7)}.json`), "utf8");
    const script = `
      import { Store } from ${JSON.stringify(join(REPO_ROOT, "dist", "store", "store.js"))};
      const store = await Store.open(${JSON.stringify(root)});
      await store.updateWithRecords(async (txn, addRecords) => { await addRecords([${record}]); process.kill(process.pid, "SIGKILL"); });
    `;
    expect(spawnSync(process.execPath, ["--input-type=module", "-e", script]).signal).toBe("SIGKILL");
    // The dead holder's lock would be taken over after 10 s (lock.test.ts covers that); not waited for here.
    rmSync(join(root, "repositories.json.lock"), { recursive: true, force: true });
    expect([existsSync(join(root, "images", `sha256-${IMAGE.slice(7)}.json`)), existsSync(join(root, "repositories.json"))]).toEqual([true, false]);
    expect(lading(root, "images", "-q")).toEqual([0, "", ""]);
    expect(lading(root, "load", "-q", "-i", ARCHIVE)).toEqual([0, "Loaded image: lading-testdata/app:1.0\nLoaded image: lading-testdata/app:latest\n", ""]);
  });

  it("that fails writes no repositories.json", () => {
    const root = join(dir, "failed-store");
    const archive = join(dir, "truncated.tar");
    writeFileSync(archive, readFileSync(ARCHIVE).subarray(0, 3000));
    expect(lading(root, "load", "-q", "-i", archive)[0]).toBe(1);
    expect(existsSync(join(root, "repositories.json"))).toBe(false);
  });
});

describe("lading serve started on a store whose repositories.json went missing", () => {
  it("says so, serves the images untagged, refuses tag and delete with the remedy until SIGHUP takes the file as an empty store", async () => {
    const root = storeWithoutReferences();
    const before = await snapshotTree(root);
    const socket = join(dir, "serve.sock");
    const child = spawn(process.execPath, [join(REPO_ROOT, "bin", "lading.js"), "--root", root, "serve", "--socket", socket], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
    const call = (method: string, path: string, body?: Buffer): Promise<[number | undefined, string]> =>
      new Promise((resolve) => {
        const req = request({ socketPath: socket, path, method }, (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString()));
          res.on("end", () => resolve([res.statusCode, body]));
        });
        req.on("error", () => resolve([undefined, ""]));
        req.end(body);
      });
    const upload = (archive: string): Promise<[number | undefined, string]> => call("POST", "/images/load?quiet=1", readFileSync(archive));
    try {
      for (let tries = 0; tries < 200 && (await call("GET", "/_ping"))[0] !== 200; tries++) await new Promise((resolve) => setTimeout(resolve, 50));
      const remedy = `${root}/repositories.json: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or send lading serve SIGHUP`;
      expect(await call("POST", `/images/${IMAGE.slice(7, 19)}/tag?repo=q&tag=1`)).toEqual([500, `${JSON.stringify({ message: remedy })}\n`]);
      expect(await call("POST", "/images/lading-testdata/app:1.0/tag?repo=q&tag=1")).toEqual([500, `${JSON.stringify({ message: remedy })}\n`]);
      const [refusedStatus, refused] = await upload(ARCHIVE);
      expect([refusedStatus, refused.trimEnd()]).toEqual([200, JSON.stringify({ errorDetail: { message: remedy }, error: remedy })]);
      expect(await call("DELETE", `/images/${IMAGE.slice(7, 19)}`)).toEqual([500, `${JSON.stringify({ message: remedy })}\n`]);
      expect(await snapshotTree(root)).toEqual(before);
      expect(log.split("\n")[0]).toBe(
        `lading serve: ${root}/repositories.json: no such file (moved or deleted?), but the store holds images: they show untagged, and writes refuse until it is put back or SIGHUP takes it as an empty store`,
      );
      child.kill("SIGHUP");
      for (let tries = 0; tries < 100 && !log.includes("SIGHUP: reloaded"); tries++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await call("POST", `/images/${IMAGE.slice(7, 19)}/tag?repo=q&tag=1`))[0]).toBe(201);
      expect(JSON.parse(readFileSync(join(root, "repositories.json"), "utf8"))).toEqual({ Repositories: { q: { "q:1": IMAGE } } });
      const [status, loaded] = await upload(join(REPO_ROOT, "testdata", "oci-archive.tar"));
      expect([status, loaded.includes("Loaded image"), loaded.includes("error")]).toEqual([200, true, false]);
    } finally {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
  }, 30_000);
});
