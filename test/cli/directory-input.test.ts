// A directory as the input of verify, load and convert (node bin/lading.js): one whose top level
// has neither manifest.json nor index.json (nor oci-layout) is refused at once, naming it, before
// its tree is walked or any of its files read (`-i .`, `-i ~`, a typo): the store stays
// byte-identical, and nothing of it is read. It used to be walked whole and every file read and
// written into the store's ingest area first (a 900 MB file: 12 s and ~897 MB of disk). Beside an
// OCI layout (no manifest.json at the top), a file no image can use is passed by unread.
// With manifest.json at the top, manifest.json is read first: a containers/image dir: layout (made
// here by the real skopeo), a document that is no docker save list or one naming a file that is not
// there is refused before any other file is read, and a file it does not name is passed by unread.
// `-i` naming a socket or a device is refused in one line saying what it is; a FIFO is read as a pipe.
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, truncate, utimes, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  blobPath,
  buildTar,
  descriptorOf,
  dockerArchiveItems,
  ensureBuilt,
  hexOf,
  layerTar,
  makeImage,
  ociLayoutItems,
  runLading,
  sha256,
  type CliResult,
  type TarItem,
} from "../support/archive-builder.js";
import { requirePeers, run } from "../support/peers.js";
import { snapshotTree, type TreeEntry } from "../support/store-tree.js";

const TESTDATA = join(import.meta.dirname, "..", "..", "testdata");

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

/** The items (files only) written as a directory. */
async function directoryOf(items: readonly TarItem[], name: string): Promise<string> {
  const directory = newPath(name);
  for (const item of items) {
    if (item.type !== "file") throw new Error(`only files are written to a directory, not ${item.type}`);
    await mkdir(dirname(join(directory, item.name)), { recursive: true });
    await writeFile(join(directory, item.name), item.content);
  }
  return directory;
}

/** verify, load (into the store holding an image) and convert of `input`, each as a user runs it (with `options`). */
async function everyCommand(input: string, options: string[] = [], which: readonly ("verify" | "load" | "convert")[] = ["verify", "load", "convert"]): Promise<Record<string, CliResult>> {
  const output = newPath("converted.tar");
  const commands = { verify: ["verify", ...options, input], load: ["--root", root, "load", ...options, "-i", input], convert: ["convert", ...options, input, output] };
  const results: Record<string, CliResult> = {};
  for (const command of which) results[command] = await runLading(commands[command]);
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

describe("beside an OCI layout directory (no manifest.json at its top), a file no image can use", () => {
  const layout = ociLayoutItems([image]);
  const clean = async (): Promise<string> => directoryOf(layout, "clean-layout");

  it("is passed by unread: verify gives the report of the layout alone (a 64 GiB sparse disk image beside it: reading it would outlast the 20 s allowed)", async () => {
    const input = await directoryOf(layout, "layout-with-disk-image");
    await writeFile(join(input, "disk.img"), "");
    await truncate(join(input, "disk.img"), 64 * 1024 ** 3);
    const alone = await runLading(["verify", "--json", await clean()]);
    const result = await runLading(["verify", "--json", input], { through: ["timeout", "-s", "KILL", "20"] });
    expect({ code: result.code, report: result.stdout }).toEqual({ code: alone.code, report: alone.stdout });
    expect(alone.code).toBe(0);
  });

  it("is passed by unread by load and convert (so not written into the ingest area either): the store and the converted archive are those of the layout alone", async () => {
    const input = await directoryOf(layout, "layout-with-strays");
    await unreadFile(join(input, "junk.bin"), 4 * 1024 * 1024);
    await unreadFile(join(input, "notes", "draft.txt"), 64 * 1024);
    await mkdir(join(input, "blobs", "sha256"), { recursive: true });
    const [loaded, alone] = [newPath("store"), newPath("store")];
    expect(await runLading(["--root", loaded, "load", "-i", input])).toEqual(await runLading(["--root", alone, "load", "-i", await clean()]));
    expect(await snapshotTree(join(loaded, "blobs"))).toEqual(await snapshotTree(join(alone, "blobs")));
    const [converted, convertedAlone] = [newPath("out.tar"), newPath("out.tar")];
    expect((await runLading(["convert", input, converted])).code).toBe(0);
    expect((await runLading(["convert", await clean(), convertedAlone])).code).toBe(0);
    expect(await readFile(converted)).toEqual(await readFile(convertedAlone));
    expect([await wasRead(join(input, "junk.bin")), await wasRead(join(input, "notes", "draft.txt"))]).toEqual([false, false]);
  });

  it("is still held to --max-layer-size from its size, and a pipe beside the layout is still refused, as in a tar", async () => {
    const input = await directoryOf(layout, "layout-with-big-stray");
    await writeFile(join(input, "disk.img"), "");
    await truncate(join(input, "disk.img"), 3 * 1024 ** 3);
    expect(await runLading(["verify", "--max-layer-size", "1g", input])).toMatchObject({
      code: 1,
      stderr: `error: entry "disk.img": size ${3 * 1024 ** 3} exceeds the limit of ${1024 ** 3} bytes (--max-layer-size)\n`,
    });
    const piped = await directoryOf(layout, "layout-with-pipe");
    mkfifo(join(piped, "pipe"));
    expect(await runLading(["verify", piped])).toMatchObject({ code: 1, stderr: `error: entry "pipe": unsupported entry type (device, FIFO or similar)\n` });
  });

  it("a socket is left out, as tar leaves sockets out of an archive: verify, load and convert give what they give of the layout alone", async () => {
    const input = await directoryOf(layout, "layout-with-socket");
    await socketAt(join(input, "agent.sock"));
    await mkdir(join(input, "run"));
    await socketAt(join(input, "run", "docker.sock"));
    const alone = await clean();
    expect(await runLading(["verify", "--json", input])).toEqual(await runLading(["verify", "--json", alone]));
    const [loaded, loadedAlone] = [newPath("store"), newPath("store")];
    const load = await runLading(["--root", loaded, "load", "-q", "-i", input]);
    expect(load).toEqual({ code: 0, stdout: `Loaded image ID: ${image.manifest.digest}\n`, stderr: "" });
    expect(await runLading(["--root", loadedAlone, "load", "-q", "-i", alone])).toEqual(load);
    expect(await snapshotTree(join(loaded, "blobs"))).toEqual(await snapshotTree(join(loadedAlone, "blobs")));
    const [converted, convertedAlone] = [newPath("out.tar"), newPath("out.tar")];
    expect((await runLading(["convert", input, converted])).code).toBe(0);
    expect((await runLading(["convert", alone, convertedAlone])).code).toBe(0);
    expect(await readFile(converted)).toEqual(await readFile(convertedAlone));
  });

  it("but a file named for a digest is still read and must hold it, used or not, and a file a blob's link points at is used", async () => {
    const misnamed = await directoryOf(layout, "layout-with-misnamed");
    const claimed = sha256("some other blob");
    await mkdir(join(misnamed, "extra"));
    await writeFile(join(misnamed, "extra", `${hexOf(claimed)}.json`), "not that blob\n");
    const name = `extra/${hexOf(claimed)}.json`;
    const report = JSON.parse((await runLading(["verify", "--json", misnamed])).stdout) as { valid: boolean; problems: unknown[] };
    expect([report.valid, report.problems]).toEqual([false, [{ entry: name, message: `${name}: content does not match its name (content is ${sha256("not that blob\n")})` }]]);

    const linked = await directoryOf(layout, "layout-with-linked-layer");
    const layer = image.layers[0]!;
    await rm(join(linked, blobPath(layer.digest)));
    await mkdir(join(linked, "layers"));
    await writeFile(join(linked, "layers", "first"), layer.bytes);
    await symlink("../../layers/first", join(linked, blobPath(layer.digest)));
    const store = newPath("store");
    expect(await runLading(["--root", store, "load", "-q", "-i", linked])).toEqual({ code: 0, stdout: `Loaded image ID: ${image.manifest.digest}\n`, stderr: "" });
  });

  it("is read when manifest.json is at the top, whose paths may name any file", async () => {
    const items = dockerArchiveItems([{ image, repoTags: ["fixture/dir:1"] }]);
    const layerName = `${hexOf(image.layers[0]!.digest)}.tar`;
    const renamed = items.map((item) => {
      if (item.type !== "file") return item;
      if (item.name === layerName) return { ...item, name: "layers/first" };
      if (item.name === "manifest.json") return { ...item, content: item.content.toString().replace(layerName, "layers/first") };
      return item;
    });
    const store = newPath("store");
    expect(await runLading(["--root", store, "load", "-q", "-i", await directoryOf(renamed, "docker-dir")])).toEqual({ code: 0, stdout: "Loaded image: fixture/dir:1\n", stderr: "" });
  });
});

/** Every file below `directory` but `except`, given an access time long past. */
async function markUnread(directory: string, except: readonly string[] = []): Promise<string[]> {
  const marked: string[] = [];
  for (const name of await readdir(directory, { recursive: true })) {
    const path = join(directory, name);
    if (except.includes(name) || !(await stat(path)).isFile()) continue;
    await utimes(path, LONG_AGO, LONG_AGO);
    marked.push(path);
  }
  return marked.sort();
}

async function readOnes(paths: readonly string[]): Promise<string[]> {
  const read: string[] = [];
  for (const path of paths) if (await wasRead(path)) read.push(path);
  return read;
}

/** The message verify gives a tar of the same files (the directory's refusal is it, after the directory's name). */
async function tarMessage(items: readonly TarItem[], options: string[] = []): Promise<string> {
  const archive = newPath("same.tar");
  await writeFile(archive, buildTar(items));
  const report = JSON.parse((await runLading(["verify", "--json", ...options, archive])).stdout) as { problems: { message: string }[] };
  expect(report.problems.length).toBe(1);
  return report.problems[0]!.message;
}

/** A 64 GiB sparse file: reading it would outlast the 20 s a test gives verify. */
async function sparseFile(path: string): Promise<void> {
  await writeFile(path, "");
  await truncate(path, 64 * 1024 ** 3);
}

async function verifyWithin20s(input: string): Promise<CliResult> {
  return runLading(["verify", "--json", input], { through: ["timeout", "-s", "KILL", "20"] });
}

/** What a tar of a dir: layout's files gets too, after the directory's name. */
const DIR_LAYOUT_WORDS = "manifest.json: an image manifest, not docker save's list of images: this is a dir: layout (skopeo copy dir:, podman save --format docker-dir), which lading does not read; skopeo copy dir:DIR docker-archive:FILE makes an archive of it";

describe.skipIf(!requirePeers("skopeo"))("a containers/image dir: layout (manifest.json one image manifest, blobs named by digest)", () => {
  const dirLayout = (input: string): string => `${input}: ${DIR_LAYOUT_WORDS}`;

  async function skopeoDir(): Promise<string> {
    const input = newPath("skopeo-dir");
    const copied = await run("skopeo", ["copy", "-q", `oci-archive:${join(TESTDATA, "oci-archive.tar")}`, `dir:${input}`]);
    expect([copied.code, copied.stderr]).toEqual([0, ""]);
    expect(await readFile(join(input, "version"), "utf8")).toBe("Directory Transport Version: 1.1\n");
    return input;
  }

  it("is refused at once by verify, load and convert, in one line saying what it is and how to convert it: no blob is read, the store is byte-identical", async () => {
    const input = await skopeoDir();
    const blobs = await markUnread(input, ["manifest.json"]);
    expect(blobs.length).toBe(5); // config, three layers, version
    refusedByEvery(await everyCommand(input), dirLayout(input));
    expect(await snapshotTree(root)).toEqual(storeBefore);
    expect(await readOnes(blobs)).toEqual([]);
  });

  it("is refused before its blobs are read whatever their size (a 64 GiB sparse one named for a digest, which a scan reads)", async () => {
    const input = await skopeoDir();
    await sparseFile(join(input, "e".repeat(64)));
    const result = await verifyWithin20s(input);
    expect({ code: result.code, problems: (JSON.parse(result.stdout || "{}") as { problems?: unknown }).problems }).toEqual({
      code: 1,
      problems: [{ entry: input, message: dirLayout(input) }],
    });
  });

  it("converted as the refusal says (skopeo copy dir:DIR docker-archive:FILE), is an archive lading reads", async () => {
    const input = await skopeoDir();
    const out = newPath("converted.tar");
    expect((await run("skopeo", ["copy", "-q", `dir:${input}`, `docker-archive:${out}`])).code).toBe(0);
    const result = await runLading(["verify", "--json", out]);
    expect([result.code, (JSON.parse(result.stdout) as { valid: boolean }).valid]).toEqual([0, true]);
  });
});

/** load and convert of `input` refuse it at once with `message`, and leave the store byte-identical; no file is read but manifest.json. */
async function refusedByLoadAndConvert(input: string, message: string, others: readonly string[], options: string[] = []): Promise<void> {
  const { load, convert } = await everyCommand(input, options, ["load", "convert"]);
  const refused = { code: 1, stdout: "", stderr: `lading: error: ${input}: ${message}\n` };
  expect({ load, convert }).toEqual({ load: refused, convert: refused });
  expect(await snapshotTree(root)).toEqual(storeBefore);
  expect(await readOnes(others)).toEqual([]);
}

/** verify reports the directory as it reports a tar of the same files (each image, each problem), paths aside; with --json too. */
async function verifiedAsTar(input: string, items: readonly TarItem[], options: string[] = []): Promise<void> {
  const archive = newPath("same.tar");
  await writeFile(archive, buildTar(items));
  for (const json of [[], ["--json"]]) {
    const [ofDirectory, ofTar] = await Promise.all([runLading(["verify", ...json, ...options, input]), runLading(["verify", ...json, ...options, archive])]);
    expect(ofDirectory.code).toBe(1);
    expect({ ...ofDirectory, stdout: ofDirectory.stdout.replaceAll(input, "ARCHIVE") }).toEqual({ ...ofTar, stdout: ofTar.stdout.replaceAll(archive, "ARCHIVE") });
  }
}

describe("a directory with manifest.json at its top, which is read first", () => {
  const items = dockerArchiveItems([{ image, repoTags: ["fixture/dir:1"] }]);
  const withManifestJson = (content: string): TarItem[] =>
    items.map((item) => (item.type === "file" && item.name === "manifest.json" ? { ...item, content: Buffer.from(content) } : item));

  for (const [what, content] of [
    ["no JSON list (an object without schemaVersion)", JSON.stringify({ Config: "x.json" })],
    ["a list whose item lacks Layers", JSON.stringify([{ Config: `${hexOf(image.config.digest)}.json`, RepoTags: ["fixture/dir:1"] }])],
    ["no JSON at all", "Config: x.json\n"],
  ] as const) {
    it(`that is ${what} is refused at once by load and convert, in the words a tar of the same files gets: no other file is read; verify reports it as for that tar`, async () => {
      const changed = withManifestJson(content);
      const input = await directoryOf(changed, "bad-manifest-json");
      const others = await markUnread(input, ["manifest.json"]);
      await refusedByLoadAndConvert(input, await tarMessage(changed), others);
      await verifiedAsTar(input, changed);
    });
  }

  it("naming a file that is not there is refused at once by load and convert, in a tar's words: no other file is read; verify reports each image as for that tar", async () => {
    const twoLayers = makeImage({ seed: "two-layers", layers: [layerTar({ "a.txt": "a\n" }), layerTar({ "b.txt": "b\n" })] });
    const second = `${hexOf(twoLayers.layers[1]!.digest)}.tar`;
    const missing = dockerArchiveItems([{ image: twoLayers, repoTags: ["fixture/dir:2"] }]).filter((item) => item.type !== "file" || item.name !== second);
    const input = await directoryOf(missing, "missing-layer");
    const others = await markUnread(input, ["manifest.json"]);
    expect(others.length).toBe(2); // the config and the first layer
    const message = await tarMessage(missing);
    expect(message).toBe(`manifest.json[0].Layers[1]: ${JSON.stringify(second)} is not in the archive`);
    await refusedByLoadAndConvert(input, message, others);
    await verifiedAsTar(input, missing);
  });

  it("larger than --max-manifest-json-size is refused unread past the limit by load and convert, in a tar's words; verify reports it as for that tar", async () => {
    const manifestJson = items.find((item) => item.type === "file" && item.name === "manifest.json");
    const padded = withManifestJson(`${manifestJson?.type === "file" ? manifestJson.content.toString() : ""}${" ".repeat(2048)}`);
    const input = await directoryOf(padded, "large-manifest-json");
    const others = await markUnread(input);
    const message = await tarMessage(padded, ["--max-manifest-json-size", "1k"]);
    expect(message).toBe("manifest.json: manifest.json is larger than the JSON size cap of 1024 bytes");
    await refusedByLoadAndConvert(input, message, others, ["--max-manifest-json-size", "1k"]);
    await verifiedAsTar(input, padded, ["--max-manifest-json-size", "1k"]);
  });
});

describe("beside an unpacked docker save archive (manifest.json at its top), a file manifest.json does not name", () => {
  /** testdata's docker save archive (docker 20.10's legacy layout: <v1id>/{VERSION,json,layer.tar}, repositories), unpacked. */
  async function unpacked(name: string): Promise<string> {
    const directory = newPath(name);
    await mkdir(directory);
    execFileSync("tar", ["-xf", join(TESTDATA, "docker-save.tar"), "-C", directory]);
    return directory;
  }

  it("is passed by unread: verify gives the report of the archive alone (a 64 GiB sparse disk image beside it)", async () => {
    const input = await unpacked("docker-save-with-disk-image");
    await sparseFile(join(input, "disk.img"));
    const alone = await runLading(["verify", "--json", await unpacked("docker-save")]);
    const result = await verifyWithin20s(input);
    expect({ code: result.code, report: result.stdout }).toEqual({ code: alone.code, report: alone.stdout });
    expect(alone.code).toBe(0);
  });

  it("is passed by unread by load and convert: the store and the converted archive are those of the archive alone", async () => {
    const input = await unpacked("docker-save-with-strays");
    await unreadFile(join(input, "junk.bin"), 4 * 1024 * 1024);
    await unreadFile(join(input, "notes", "draft.txt"), 64 * 1024);
    const [loaded, alone] = [newPath("store"), newPath("store")];
    const clean = await unpacked("docker-save");
    expect(await runLading(["--root", loaded, "load", "-i", input])).toEqual(await runLading(["--root", alone, "load", "-i", clean]));
    expect(await snapshotTree(join(loaded, "blobs"))).toEqual(await snapshotTree(join(alone, "blobs")));
    const [converted, convertedAlone] = [newPath("out.tar"), newPath("out.tar")];
    expect((await runLading(["convert", input, converted])).code).toBe(0);
    expect((await runLading(["convert", clean, convertedAlone])).code).toBe(0);
    expect(await readFile(converted)).toEqual(await readFile(convertedAlone));
    expect(await readOnes([join(input, "junk.bin"), join(input, "notes", "draft.txt")])).toEqual([]);
  });

  it("is still held to --max-layer-size from its size, and a pipe beside the archive is still refused, as in a tar", async () => {
    const input = await unpacked("docker-save-with-big-stray");
    await writeFile(join(input, "disk.img"), "");
    await truncate(join(input, "disk.img"), 3 * 1024 ** 3);
    expect(await runLading(["verify", "--max-layer-size", "1g", input])).toMatchObject({
      code: 1,
      stderr: `error: entry "disk.img": size ${3 * 1024 ** 3} exceeds the limit of ${1024 ** 3} bytes (--max-layer-size)\n`,
    });
    const piped = await unpacked("docker-save-with-pipe");
    mkfifo(join(piped, "pipe"));
    expect(await runLading(["verify", piped])).toMatchObject({ code: 1, stderr: `error: entry "pipe": unsupported entry type (device, FIFO or similar)\n` });
  });
});

describe("-i (and verify's and convert's input) naming no file or directory", () => {
  it("a unix socket is refused in one line naming it and saying what it is; the store is byte-identical", async () => {
    const socket = newPath("input.sock");
    await socketAt(socket);
    refusedByEvery(await everyCommand(socket), `${socket}: not an image archive: it is a socket`);
    expect(await snapshotTree(root)).toEqual(storeBefore);
  });

  it("a device is refused so too (/dev/null, which read as an empty archive)", async () => {
    refusedByEvery(await everyCommand("/dev/null"), "/dev/null: not an image archive: it is a character device file");
    expect(await snapshotTree(root)).toEqual(storeBefore);
  });

  it("a FIFO is read as a pipe, as before", async () => {
    const fifo = newPath("input.fifo");
    mkfifo(fifo);
    const writer = spawn("sh", ["-c", `cat "$1" > "$2"`, "sh", join(TESTDATA, "docker-archive.tar"), fifo], { stdio: "ignore" });
    const written = new Promise((resolve) => writer.on("close", resolve));
    const store = newPath("store");
    expect(await runLading(["--root", store, "load", "-q", "-i", fifo])).toEqual({
      code: 0,
      stdout: "Loaded image: lading-testdata/app:1.0\nLoaded image: lading-testdata/app:latest\n",
      stderr: "",
    });
    expect(await written).toBe(0);
  });
});
