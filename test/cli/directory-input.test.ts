// A directory as the input of verify, load and convert (node bin/lading.js): one whose top level
// has neither manifest.json nor index.json (nor oci-layout) is refused at once, naming it, before
// its tree is walked or any of its files read (`-i .`, `-i ~`, a typo): the store stays
// byte-identical, and nothing of it is read. It used to be walked whole and every file read and
// written into the store's ingest area first (a 900 MB file: 12 s and ~897 MB of disk).
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, stat, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTar, descriptorOf, dockerArchiveItems, ensureBuilt, makeImage, ociLayoutItems, runLading, type CliResult, type TarItem } from "../support/archive-builder.js";
import { snapshotTree, type TreeEntry } from "../support/store-tree.js";

const NOT_AN_IMAGE = "not an image archive: it has neither manifest.json nor oci-layout and index.json";
const LEGACY =
  "not an image archive lading reads: it has repositories but no manifest.json, as docker save wrote before Docker 1.10; its images have no content-addressed config to check (docker load then docker save with Docker 1.10 or later writes one lading reads)";
/** A time long past, given as a file's last access: a read moves it to now. */
const LONG_AGO = new Date("2001-02-03T04:05:06Z");

const image = makeImage({ seed: "directory-input" });
let scratch: string;
let counter = 0;
let root: string;
let storeBefore: Record<string, TreeEntry>;
const servers: Server[] = [];

const newPath = (name: string): string => join(scratch, `${counter++}-${name}`);

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-directory-input-"));
  root = newPath("store");
  const archive = newPath("image.tar");
  await writeFile(archive, buildTar(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "docker.io/library/held:1" } })] })));
  expect((await runLading(["--root", root, "load", "-q", "-i", archive])).code).toBe(0);
  storeBefore = await snapshotTree(root);
});
afterAll(async () => {
  for (const server of servers) server.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A file whose access time says it was last read long ago. */
async function unreadFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, Buffer.alloc(size, 0x5a));
  await utimes(path, LONG_AGO, LONG_AGO);
}

/**
 * Whether a read moved the file's access time (as relatime and strictatime mounts record it; with
 * noatime never: there the sparse file's test below is the proof that nothing is read).
 */
async function wasRead(path: string): Promise<boolean> {
  return (await stat(path)).atimeMs !== LONG_AGO.getTime();
}

const mkfifo = (path: string): void => void execFileSync("mkfifo", [path]);

/** A unix socket at `path`, listening until the tests end (as /tmp holds them). */
async function socketAt(path: string): Promise<void> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

/** verify, load (into the store holding an image) and convert of `input`, each as a user runs it. */
async function everyCommand(input: string): Promise<Record<string, CliResult>> {
  const output = newPath("converted.tar");
  const results = {
    verify: await runLading(["verify", input]),
    load: await runLading(["--root", root, "load", "-i", input]),
    convert: await runLading(["convert", input, output]),
  };
  await expect(stat(output)).rejects.toThrow(/ENOENT/);
  return results;
}

function refusedByEvery(results: Record<string, CliResult>, message: string): void {
  const refused = { code: 1, stdout: "", stderr: `lading: error: ${message}\n` };
  expect(results).toEqual({ verify: refused, load: refused, convert: refused });
}

describe("a directory whose top level is no image archive's", () => {
  it("is refused at once by verify, load and convert, naming it; no file in it is read and the store is byte-identical", async () => {
    const input = newPath("not-an-image");
    const big = join(input, "big");
    await unreadFile(big, 4 * 1024 * 1024);
    // Sorted after "big": the walk that read every file first reached it last.
    mkfifo(join(input, "zz-pipe"));
    refusedByEvery(await everyCommand(input), `${input}: ${NOT_AN_IMAGE}`);
    expect(await snapshotTree(root)).toEqual(storeBefore);
    expect(await wasRead(big)).toBe(false);
  });

  it("is refused before any file is read whatever its size (a 64 GiB sparse file: reading it would outlast the 20 s allowed)", async () => {
    const input = newPath("huge");
    await mkdir(input);
    await writeFile(join(input, "disk.img"), "");
    await truncate(join(input, "disk.img"), 64 * 1024 ** 3);
    // verify only: it writes nothing, so even a lading that read the file leaves no 64 GiB behind.
    const started = Date.now();
    const result = await runLading(["verify", "--json", input], { through: ["timeout", "-s", "KILL", "20"] });
    expect({ code: result.code, problems: (JSON.parse(result.stdout || "{}") as { problems?: unknown }).problems }).toEqual({
      code: 1,
      problems: [{ entry: input, message: `${input}: ${NOT_AN_IMAGE}` }],
    });
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("is refused before its tree is walked: sockets, pipes, link loops and names no archive may hold below it, as in /tmp", async () => {
    const input = newPath("like-tmp");
    await mkdir(join(input, "session", "deeper"), { recursive: true });
    await socketAt(join(input, "agent.sock"));
    mkfifo(join(input, "session", "pipe"));
    await symlink("loop", join(input, "loop"));
    await symlink("/", join(input, "root-link"));
    // A name the walk refuses (no entry name may hold a backslash): reaching it would have said so.
    await writeFile(join(input, "session", "deeper", "C:\\Users\\x.txt"), "x");
    await unreadFile(join(input, "session", "cache.bin"), 64 * 1024);
    refusedByEvery(await everyCommand(input), `${input}: ${NOT_AN_IMAGE}`);
    expect(await snapshotTree(root)).toEqual(storeBefore);
    expect(await wasRead(join(input, "session", "cache.bin"))).toBe(false);
  });

  it("is named as given: a symbolic link to such a directory is refused in the link's name", async () => {
    const target = newPath("target");
    await unreadFile(join(target, "notes.txt"), 1024);
    const link = newPath("link");
    await symlink(target, link);
    refusedByEvery(await everyCommand(link), `${link}: ${NOT_AN_IMAGE}`);
    expect(await wasRead(join(target, "notes.txt"))).toBe(false);
  });

  it("with repositories but no manifest.json (docker save before 1.10, unpacked) is refused at once in the archive's words, naming it", async () => {
    const input = newPath("legacy");
    const v1id = "a".repeat(64);
    await mkdir(join(input, v1id), { recursive: true });
    await writeFile(join(input, "repositories"), JSON.stringify({ busybox: { latest: v1id } }));
    await writeFile(join(input, v1id, "json"), JSON.stringify({ id: v1id }));
    await unreadFile(join(input, v1id, "layer.tar"), 1024 * 1024);
    refusedByEvery(await everyCommand(input), `${input}: ${LEGACY}`);
    expect(await snapshotTree(root)).toEqual(storeBefore);
    expect(await wasRead(join(input, v1id, "layer.tar"))).toBe(false);
  });
});

describe("a directory whose top level may be an image archive's is read as before", () => {
  async function directoryOf(items: readonly TarItem[], name: string): Promise<string> {
    const directory = newPath(name);
    for (const item of items) {
      if (item.type !== "file") throw new Error(`only files are written to a directory, not ${item.type}`);
      await mkdir(dirname(join(directory, item.name)), { recursive: true });
      await writeFile(join(directory, item.name), item.content);
    }
    return directory;
  }

  it("an OCI layout and an unpacked docker save archive (manifest.json alone at the top) both verify", async () => {
    for (const items of [ociLayoutItems([image]), dockerArchiveItems([{ image, repoTags: ["fixture/dir:1"] }])]) {
      const result = await runLading(["verify", "--json", await directoryOf(items, "layout")]);
      expect([result.code, (JSON.parse(result.stdout) as { images: { manifestDigest: string }[] }).images.length]).toEqual([0, 1]);
    }
  });

  it("one with only a directory named index.json is no layout: refused at once, as the scan would refuse it", async () => {
    const input = newPath("index-dir");
    await mkdir(join(input, "index.json"), { recursive: true });
    await unreadFile(join(input, "index.json", "data"), 1024);
    refusedByEvery(await everyCommand(input), `${input}: ${NOT_AN_IMAGE}`);
    expect(await wasRead(join(input, "index.json", "data"))).toBe(false);
  });
});
