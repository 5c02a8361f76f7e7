import { createHash } from "node:crypto";
import { copyFile, mkdtemp, readdir, readFile, rename, rm, stat, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import tarStream from "tar-stream";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { cannotRemove } from "../../src/core/errors.js";
import { inspectImage, isInspectedImage } from "../../src/ops/images.js";
import { loadArchive } from "../../src/ops/load.js";
import { IMAGE_ONLY_WARNING } from "../../src/server/system-routes.js";
import { engineHttpServer, startServer, type RunningServer } from "../../src/server/server.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, makeImage, runLading } from "../support/archive-builder.js";
import { http, json } from "./http-client.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/fixtures");
const SINGLE = path.join(fixtures, "archives/docker-save-single.tar");

// docker-save-single.tar loaded by lading: the synthesized manifest is the image ID.
const ID = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
const LAYER = "sha256:83a9253d845d733da43c70ff71669c4e03c6215402973934d80a222e43bed75e";
const CREATED = "2026-11-30T08:17:34.078391045Z";
const CREATED_SECONDS = 1796026654;
const SIZE = 32091;
const TAGS = ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"];
const OTHER_ID = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9c";

let root = "";
let server: RunningServer;
let socketPath = "";
const logged: string[] = [];
const MISSING_REMEDY = 'put it back, or, to start with no references, write {"Repositories":{}} to it or send lading serve SIGHUP';

const get = (p: string) => http({ socketPath }, "GET", p);

function listEntry(tags: string[]) {
  return {
    Id: ID,
    ParentId: "",
    RepoTags: tags,
    RepoDigests: [],
    Created: CREATED_SECONDS,
    Size: SIZE,
    VirtualSize: SIZE,
    SharedSize: -1,
    Labels: { "org.example.fixture": "imported" },
    Containers: -1,
  };
}

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");


/** The files of a tar, by name. */
async function tarFiles(archive: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: unknown) => void chunks.push(chunk as Buffer));
      stream.on("end", () => {
        files.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(archive);
  await done;
  return files;
}

/** A docker-save archive of one image tagged `tag` whose one layer holds a file of `size` pseudo-random bytes. */
async function bigArchive(tag: string, size: number): Promise<{ archive: Buffer; diffId: string; layerTar: Buffer }> {
  const content = Buffer.alloc(size);
  for (let i = 0, x = 12345; i < size; i++) content[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  const layerTar = buildTar([{ type: "file", name: "data.bin", content }]);
  const diffId = `sha256:${sha256(layerTar)}`;
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [diffId] } }));
  const configName = `${sha256(config)}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: ["layer/layer.tar"] }]));
  const archive = buildTar([
    { type: "file", name: "layer/layer.tar", content: layerTar },
    { type: "file", name: configName, content: config },
    { type: "file", name: "manifest.json", content: manifest },
  ]);
  return { archive, diffId, layerTar };
}

/**
 * POSTs `body` with chunked transfer encoding in pieces of `piece` bytes, as the docker CLI sends a
 * load; resolves to the answer's text once the whole body has been sent too, as curl and the docker
 * CLI wait for their upload to finish (a server that stops reading leaves it unsent).
 */
async function postInPieces(p: string, body: Buffer, piece: number): Promise<string> {
  const { request } = await import("node:http");
  let sent!: () => void;
  const allSent = new Promise<void>((resolve) => (sent = resolve));
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: "POST", path: p, headers: { "Content-Type": "application/x-tar" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => void allSent.then(() => resolve(Buffer.concat(chunks).toString("utf8"))));
      res.on("error", reject);
    });
    req.on("finish", sent);
    req.on("error", reject);
    const send = (offset: number): void => {
      if (offset >= body.length) {
        req.end();
        return;
      }
      if (req.write(body.subarray(offset, offset + piece))) setImmediate(() => send(offset + piece));
      else req.once("drain", () => send(offset + piece));
    };
    send(0);
  });
}

async function replaceRepositoriesJson(text: string): Promise<void> {
  const temp = path.join(root, "repositories.json.hand");
  await writeFile(temp, text);
  await rename(temp, path.join(root, "repositories.json"));
}

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "lading-srv-"));
  const store = await Store.open(root);
  await loadArchive(store, await openArchivePath(SINGLE));
  logged.length = 0;
  server = await startServer({ root, log: (line) => logged.push(line), shutdownGraceMs: 300 });
  socketPath = server.socketPath;
});

afterEach(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

describe("lading serve: system endpoints", () => {
  it("listens on <root>/lading.sock with mode 0600", async () => {
    expect(socketPath).toBe(path.join(root, "lading.sock"));
    const info = await stat(socketPath);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
  });

  it("answers /_ping with and without a version prefix, HEAD too", async () => {
    for (const p of ["/_ping", "/v1.41/_ping", "/v1.24/_ping"]) {
      const result = await get(p);
      expect(result.status).toBe(200);
      expect(result.text).toBe("OK");
      expect(result.headers["api-version"]).toBe("1.41");
      expect(result.headers["docker-experimental"]).toBe("false");
      expect(result.headers["ostype"]).toBe("linux");
    }
    const head = await http({ socketPath }, "HEAD", "/_ping");
    expect(head.status).toBe(200);
    expect(head.text).toBe("");
    expect(head.headers["api-version"]).toBe("1.41");
  });

  it("refuses API versions it does not speak, with dockerd's messages", async () => {
    const tooNew = await get("/v1.50/version");
    expect(tooNew.status).toBe(400);
    expect(json(tooNew)).toEqual({ message: "client version 1.50 is too new. Maximum supported API version is 1.41" });
    const tooOld = await get("/v1.11/images/json");
    expect(tooOld.status).toBe(400);
    expect(json(tooOld)).toEqual({ message: "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version" });
  });

  it("reports its version", async () => {
    const result = await get("/v1.41/version");
    expect(result.status).toBe(200);
    const body = json(result) as Record<string, unknown>;
    expect(body).toMatchObject({ Version: "0.1.0", ApiVersion: "1.41", MinAPIVersion: "1.12", Os: "linux", Platform: { Name: "lading" } });
    expect((body.Components as { Name: string; Details: Record<string, string> }[])[0]).toMatchObject({
      Name: "Engine",
      Version: "0.1.0",
      Details: { ApiVersion: "1.41", MinAPIVersion: "1.12", Os: "linux" },
    });
  });

  it("reports the store in /info", async () => {
    const body = json(await get("/info")) as Record<string, unknown>;
    expect(body.Images).toBe(1);
    expect(body.DockerRootDir).toBe(root);
    expect(body.Driver).toBe("lading");
    expect(body.Warnings).toEqual([IMAGE_ONLY_WARNING]);
  });

  it("answers 501 with a clear message for the rest of the Engine API", async () => {
    for (const [method, p, shown] of [
      ["GET", "/v1.41/containers/json", "GET /containers/json"],
      ["POST", "/build", "POST /build"],
      ["GET", "/networks", "GET /networks"],
      ["POST", "/v1.41/images/create?fromImage=busybox", "POST /images/create"],
      ["PUT", "/images/busybox/json", "PUT /images/busybox/json"],
    ] as const) {
      const result = await http({ socketPath }, method, p);
      expect(result.status).toBe(501);
      expect(json(result)).toEqual({ message: `lading serve implements only the image API; ${shown} is not supported` });
    }
    expect(logged).toEqual([]);
  });
});

describe("lading serve: images", () => {
  it("lists images in Docker's shape", async () => {
    const result = await get("/v1.41/images/json");
    expect(result.status).toBe(200);
    expect(result.headers["content-type"]).toBe("application/json");
    expect(json(result)).toEqual([listEntry(TAGS)]);
  });

  it("has read the image records before the first GET /images/json, which reads none", async () => {
    // A server started well after the store was written (the listing does not trust a file
    // stamp within 100 ms of its change, and beforeEach has just loaded the image).
    await server.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    server = await startServer({ root });
    await server.warmedUp;
    const reads = vi.spyOn(server.store.records, "get");
    const result = await get("/v1.41/images/json");
    expect(result.status).toBe(200);
    expect(json(result)).toHaveLength(1);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
  });

  it("applies the reference and dangling filters", async () => {
    const filtered = await get(`/images/json?filters=${encodeURIComponent('{"reference":{"fixture/*":true}}')}`);
    expect(json(filtered)).toEqual([listEntry(["fixture/imported:1.0", "fixture/imported:latest"])]);
    const byTag = await get(`/images/json?filters=${encodeURIComponent('{"reference":["imported-plain:latest"]}')}`);
    expect(json(byTag)).toEqual([listEntry(["imported-plain:latest"])]);
    const none = await get(`/images/json?filters=${encodeURIComponent('{"reference":{"nothing":true}}')}`);
    expect(json(none)).toEqual([]);
    // Go's path.Match, shared with `lading images` (core/glob.ts): a chunk after * is taken where it
    // first matches, so [/e] takes the e of "fixture" and the next * cannot cross the / (dockerd
    // 20.10 lists nothing for `*[/e]*d`); an empty class is malformed, as dockerd says.
    const firstFit = await get(`/images/json?filters=${encodeURIComponent('{"reference":{"*[/e]*d":true}}')}`);
    expect(json(firstFit)).toEqual([]);
    const slash = await get(`/images/json?filters=${encodeURIComponent('{"reference":{"*[/]*d":true}}')}`);
    expect(json(slash)).toEqual([listEntry(["fixture/imported:1.0", "fixture/imported:latest"])]);
    const malformed = await get(`/images/json?filters=${encodeURIComponent('{"reference":{"fixture/[]a]":true}}')}`);
    expect([malformed.status, json(malformed)]).toEqual([400, { message: 'invalid reference pattern "fixture/[]a]": syntax error in pattern' }]);
    const dangling = await get(`/images/json?filters=${encodeURIComponent('{"dangling":{"true":true}}')}`);
    expect(json(dangling)).toEqual([]);
    const unsupported = await get(`/images/json?filters=${encodeURIComponent('{"until":{"1h":true}}')}`);
    expect(unsupported.status).toBe(400);
    expect(json(unsupported)).toEqual({ message: "Invalid filter 'until'" });
    // dockerd's words and rules for dangling: true among the values wins; a value must be set (true) to count.
    const answer = async (filters: string) => {
      const result = await get(`/images/json?filters=${encodeURIComponent(filters)}`);
      return [result.status, json(result)];
    };
    expect(await answer('{"dangling":{"maybe":true,"x":true}}')).toEqual([400, { message: "Invalid filter 'dangling=[maybe x]'" }]);
    expect(await answer('{"dangling":{"true":false}}')).toEqual([400, { message: "Invalid filter 'dangling=[true]'" }]);
    expect(await answer('{"dangling":{"1":true}}')).toEqual([400, { message: "Invalid filter 'dangling=[1]'" }]);
    expect(await answer('{"dangling":{"false":true,"true":true}}')).toEqual([200, []]);
    expect(await answer('{"dangling":["false"]}')).toEqual([200, [listEntry(TAGS)]]);
  });

  it("inspects an image named with a registry port and slashes", async () => {
    const result = await get("/v1.41/images/localhost:5000/team/imported:v1/json");
    expect(result.status).toBe(200);
    const body = json(result) as Record<string, unknown>;
    expect(body).toMatchObject({
      Id: ID,
      RepoTags: TAGS,
      RepoDigests: [],
      Parent: "",
      Comment: "make-fixtures import",
      Created: CREATED,
      Container: "",
      DockerVersion: "20.10.24+dfsg1",
      Author: "",
      Architecture: "amd64",
      Os: "linux",
      Size: SIZE,
      VirtualSize: SIZE,
      GraphDriver: { Name: "lading", Data: null },
      RootFS: { Type: "layers", Layers: [LAYER] },
    });
    expect((body.Config as Record<string, unknown>).Env).toEqual(["FOO=bar"]);
    expect((body.Config as Record<string, unknown>).Cmd).toEqual(["/bin/tool"]);
    expect(Object.keys(body)).toEqual([
      "Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion",
      "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "GraphDriver", "RootFS", "Metadata",
    ]);
    // The same image by URL-encoded name, by ID prefix and by config digest prefix.
    expect((json(await get("/images/localhost%3A5000%2Fteam%2Fimported%3Av1/json")) as { Id: string }).Id).toBe(ID);
    expect((json(await get("/images/2846d53959af/json")) as { Id: string }).Id).toBe(ID);
    expect((json(await get("/images/eed4e27eb6ff/json")) as { Id: string }).Id).toBe(ID);
  });

  it("Comment is the config's comment, else the last history entry's, as moby's inspect; lading inspect agrees", async () => {
    const store = await Store.open(root);
    await loadArchive(store, await openArchivePath(path.join(fixtures, "archives/docker-save-multi.tar")));
    const commented = makeImage({
      seed: "commented",
      editConfig: (config) => ({ ...config, comment: "from the config", history: [{ created_by: "test", comment: "from the history" }] }),
    });
    await loadArchive(store, await openTarStream(Readable.from([buildTar(dockerArchiveItems([{ image: commented, repoTags: ["fixture/commented:1"] }]))])));
    const comments: [string, string][] = [
      ["fixture/derived-a:1.0", "derived a"], // no config comment: the last history entry's
      ["fixture/commented:1", "from the config"],
      ["fixture/imported:1.0", "make-fixtures import"],
    ];
    for (const [name, comment] of comments) {
      await vi.waitFor(async () => expect((json(await get(`/images/${name}/json`)) as { Comment?: string }).Comment).toBe(comment), { timeout: 5000 });
      const inspected = await inspectImage(store, name);
      expect(isInspectedImage(inspected) && inspected.Comment).toBe(comment);
    }
  });

  it("the keys docker derives from the config, OsVersion and Variant included, are the same in serve's inspect and lading inspect", async () => {
    const store = await Store.open(root);
    const image = makeImage({
      seed: "os-version",
      editConfig: (config) => ({ ...config, architecture: "arm64", variant: "v8", "os.version": "10.0.1", config: { Env: ["A=1"], StopSignal: "SIGTERM" } }),
    });
    await loadArchive(store, await openTarStream(Readable.from([buildTar(dockerArchiveItems([{ image, repoTags: ["fixture/os-version:1"] }]))])));
    const keys = ["Parent", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Variant", "Os", "OsVersion"];
    const derived = (document: Record<string, unknown>): string => JSON.stringify(Object.fromEntries(keys.map((key) => [key, document[key]])));
    const served = await vi.waitFor(async () => {
      const result = await get("/images/fixture/os-version:1/json");
      expect(result.status).toBe(200);
      return json(result) as Record<string, unknown>;
    }, { timeout: 5000 });
    expect([served.Variant, served.OsVersion]).toEqual(["v8", "10.0.1"]);
    expect(derived(served)).toBe(derived(await inspectImage(store, "fixture/os-version:1")));
  });

  it("answers 404 No such image, and 400 for a malformed name", async () => {
    const missing = await get("/images/nosuch/json");
    expect(missing.status).toBe(404);
    expect(json(missing)).toEqual({ message: "No such image: nosuch:latest" });
    const bad = await get("/images/UPPER/json");
    expect(bad.status).toBe(400);
    expect(json(bad)).toEqual({ message: "invalid reference format: repository name (library/UPPER) must be lowercase" });
  });

  it("gives the history, newest first", async () => {
    const result = await get("/images/fixture/imported:1.0/history");
    expect(result.status).toBe(200);
    expect(json(result)).toEqual([{ Id: ID, Created: CREATED_SECONDS, CreatedBy: "", Tags: TAGS, Size: 30720, Comment: "make-fixtures import" }]);
  });

  it("tags: 201 and no body; 404 for an unknown source; 400 for a bad target", async () => {
    const tagged = await http({ socketPath }, "POST", "/v1.41/images/imported-plain/tag?repo=localhost:5000/new/x&tag=v2");
    expect(tagged.status).toBe(201);
    expect(tagged.text).toBe("");
    const noTag = await http({ socketPath }, "POST", "/images/imported-plain/tag?repo=team/app");
    expect(noTag.status).toBe(201);
    expect((json(await get("/images/json")) as { RepoTags: string[] }[])[0]?.RepoTags).toEqual([
      "fixture/imported:1.0",
      "fixture/imported:latest",
      "imported-plain:latest",
      "localhost:5000/new/x:v2",
      "localhost:5000/team/imported:v1",
      "team/app:latest",
    ]);
    expect(await server.store.references.get("team/app")).toBe(ID);

    const unknown = await http({ socketPath }, "POST", "/images/nosuch/tag?repo=a&tag=b");
    expect(unknown.status).toBe(404);
    expect(json(unknown)).toEqual({ message: "No such image: nosuch:latest" });
    const bad = await http({ socketPath }, "POST", "/images/imported-plain/tag?repo=Bad&tag=b");
    expect(bad.status).toBe(400);
    expect(json(bad)).toEqual({ message: "invalid reference format: repository name (library/Bad) must be lowercase" });
    const noRepo = await http({ socketPath }, "POST", "/images/imported-plain/tag");
    expect(noRepo.status).toBe(400);
    expect(json(noRepo)).toEqual({ message: "tag: the repo parameter is required" });
  });

  it("removes: untag by name, 409 for an ID in many repositories, all with force", async () => {
    const untag = await http({ socketPath }, "DELETE", "/v1.41/images/localhost:5000/team/imported:v1");
    expect(untag.status).toBe(200);
    expect(json(untag)).toEqual([{ Untagged: "localhost:5000/team/imported:v1" }]);
    const refused = await http({ socketPath }, "DELETE", "/images/2846d53959af");
    expect(refused.status).toBe(409);
    expect(json(refused)).toEqual({ message: "conflict: unable to delete 2846d53959af (must be forced) - image is referenced in multiple repositories" });
    const forced = await http({ socketPath }, "DELETE", "/images/2846d53959af?force=1");
    expect(forced.status).toBe(200);
    expect(json(forced)).toEqual([{ Untagged: "fixture/imported:1.0" }, { Untagged: "fixture/imported:latest" }, { Untagged: "imported-plain:latest" }, { Deleted: ID }]);
    expect(json(await get("/images/json"))).toEqual([]);
    const gone = await http({ socketPath }, "DELETE", "/images/imported-plain");
    expect(gone.status).toBe(404);
    expect(json(gone)).toEqual({ message: "No such image: imported-plain:latest" });
  });

  it("removes nothing when the image record cannot be removed after its references were: they are put back, and served", async () => {
    const before = await readFile(path.join(root, "repositories.json"));
    const record = path.join(root, "images", `sha256-${ID.slice(7)}.json`);
    // A refusal the directory does not show beforehand (an I/O error, a sticky directory): met only by the removal itself.
    vi.spyOn(server.store.records, "delete").mockRejectedValueOnce(cannotRemove(record, Object.assign(new Error(`EIO: i/o error, unlink '${record}'`), { code: "EIO" })));
    const failed = await http({ socketPath }, "DELETE", "/images/2846d53959af?force=1");
    expect(failed.status).toBe(500);
    expect(json(failed)).toEqual({ message: `cannot remove ${record}: i/o error` });
    expect(await readFile(path.join(root, "repositories.json"))).toEqual(before);
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    const forced = await http({ socketPath }, "DELETE", "/images/2846d53959af?force=1");
    expect(json(forced)).toEqual([{ Untagged: "fixture/imported:1.0" }, { Untagged: "fixture/imported:latest" }, { Untagged: "imported-plain:latest" }, { Untagged: "localhost:5000/team/imported:v1" }, { Deleted: ID }]);
  });

  it("saves a streamed archive that loads back through POST /images/load", async () => {
    const saved = await get("/v1.41/images/get?names=fixture/imported:1.0&names=imported-plain");
    expect(saved.status).toBe(200);
    expect(saved.headers["content-type"]).toBe("application/x-tar");
    const single = await get("/images/fixture/imported:1.0/get");
    expect(single.status).toBe(200);

    await http({ socketPath }, "DELETE", "/images/2846d53959af?force=1");
    const loaded = await http({ socketPath }, "POST", "/v1.41/images/load?quiet=1", saved.body);
    expect(loaded.status).toBe(200);
    expect(loaded.headers["content-type"]).toBe("application/json");
    expect(loaded.text).toBe('{"stream":"Loaded image: fixture/imported:1.0\\n"}\r\n{"stream":"Loaded image: imported-plain:latest\\n"}\r\n');
    // Whether repo@digest references come back depends on how save marks a synthesized manifest: not this test's concern.
    expect(json(await get("/images/json"))).toEqual([{ ...listEntry(["fixture/imported:1.0", "imported-plain:latest"]), RepoDigests: expect.any(Array) }]);

    const again = await http({ socketPath }, "POST", "/images/load", single.body);
    expect(again.text).toBe('{"stream":"Loaded image: fixture/imported:1.0\\n"}\r\n');
  });

  it("loads a multi-MiB archive sent in small chunked pieces, plain and gzip-compressed, and saves it back intact", async () => {
    const { archive, diffId, layerTar } = await bigArchive("big/one:1", 3 * 1024 * 1024 + 123);
    for (const body of [archive, gzipSync(archive)]) {
      await http({ socketPath }, "DELETE", "/images/big/one:1?force=1");
      const loaded = await postInPieces("/images/load?quiet=1", body, 16 * 1024);
      expect(loaded).toBe('{"stream":"Loaded image: big/one:1\\n"}\r\n');
      const inspect = json(await get("/images/big/one:1/json")) as { RootFS: { Layers: string[] } };
      expect(inspect.RootFS.Layers).toEqual([diffId]);
    }
    const saved = await get("/images/big/one:1/get");
    expect(saved.status).toBe(200);
    const files = await tarFiles(saved.body);
    const layer = [...files.values()].find((bytes) => `sha256:${sha256(bytes)}` === diffId);
    expect(layer?.equals(layerTar)).toBe(true);
  });

  it("answers a load whose archive is followed by megabytes of zero padding once the client has sent it all", async () => {
    const { archive } = await bigArchive("big/padded:1", 64 * 1024);
    const padded = Buffer.concat([archive, Buffer.alloc(16 * 1024 * 1024)]);
    // The reader stops at the end-of-archive blocks; the rest of the body used to stay unread and the client waited forever.
    expect(await postInPieces("/images/load", padded, 256 * 1024)).toBe('{"stream":"Loaded image: big/padded:1\\n"}\r\n');
    expect((await get("/_ping")).text).toBe("OK");
  });

  it("a save cut by a blob damaged in the store: the log says why, and the archive ends inside that blob's entry", async () => {
    const { archive, diffId } = await bigArchive("big/damaged:1", 3 * 1024 * 1024);
    expect(await postInPieces("/images/load", archive, 256 * 1024)).toBe('{"stream":"Loaded image: big/damaged:1\\n"}\r\n');
    const blob = path.join(root, "blobs", "sha256", diffId.slice(7));
    const { chmod, readFile } = await import("node:fs/promises");
    const damaged = await readFile(blob);
    damaged[damaged.length - 1024]! ^= 1;
    await chmod(blob, 0o644);
    await writeFile(blob, damaged);
    const { request } = await import("node:http");
    const saved = await new Promise<{ status: number; body: Buffer }>((resolve) => {
      const chunks: Buffer[] = [];
      const req = request({ socketPath, method: "GET", path: "/images/big/damaged:1/get" }, (res) => {
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", () => undefined);
        res.on("close", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      });
      req.end();
    });
    expect(saved.status).toBe(200);
    const failure = `lading serve: GET /images/big/damaged:1/get: blob ${diffId} in the store has content sha256:${sha256(damaged)}: the store is damaged (run lading fsck)`;
    await vi.waitFor(() => expect(logged).toContain(failure), { timeout: 5000 });
    const header = saved.body.lastIndexOf(Buffer.from(`blobs/sha256/${diffId.slice(7)}`));
    expect([header > 0, saved.body.length - header - 512 < damaged.length]).toEqual([true, true]);
  });

  it("survives a save whose client goes away, and serves the next one whole", async () => {
    const { archive, diffId, layerTar } = await bigArchive("big/two:1", 8 * 1024 * 1024);
    expect(await postInPieces("/images/load", archive, 256 * 1024)).toBe('{"stream":"Loaded image: big/two:1\\n"}\r\n');
    const { request } = await import("node:http");
    const received = await new Promise<number>((resolve, reject) => {
      const req = request({ socketPath, method: "GET", path: "/images/big/two:1/get" }, (res) => {
        res.once("data", (chunk: Buffer) => {
          req.destroy();
          resolve(chunk.length);
        });
      });
      req.on("error", (error) => ((error as NodeJS.ErrnoException).code === "ECONNRESET" ? undefined : reject(error)));
      req.end();
    });
    expect(received).toBeGreaterThan(0);
    // The save fails as soon as the response closes (it used to wait forever, holding its GC lease).
    const failure = "lading serve: GET /images/big/two:1/get: the output closed before the archive was complete";
    await vi.waitFor(() => expect(logged).toContain(failure), { timeout: 5000 });
    expect(await readdir(path.join(root, "leases"))).toEqual([]);
    expect((await get("/_ping")).text).toBe("OK");
    const whole = await get("/images/big/two:1/get");
    expect(whole.status).toBe(200);
    const layer = [...(await tarFiles(whole.body)).values()].find((bytes) => `sha256:${sha256(bytes)}` === diffId);
    expect(layer?.equals(layerTar)).toBe(true);
  });

  it("answers errors of save and load with Docker's error body", async () => {
    const missing = await get("/images/get?names=nosuch");
    expect(missing.status).toBe(404);
    expect(json(missing)).toEqual({ message: "No such image: nosuch" });
    const none = await get("/images/get");
    expect(none.status).toBe(400);
    expect(json(none)).toEqual({ message: "images/get: at least one names parameter is required" });
    // dockerd 20.10 answers a failed load with 200 and the error inside the JSON message stream.
    const garbage = await http({ socketPath }, "POST", "/images/load", Buffer.alloc(4096, 7));
    expect(garbage.status).toBe(200);
    expect(garbage.headers["content-type"]).toBe("application/json");
    const message = "invalid tar header at offset 0: checksum mismatch";
    expect(garbage.text).toBe(`${JSON.stringify({ errorDetail: { message }, error: message })}\r\n`);
    // The server is still fine afterwards.
    expect((await get("/_ping")).text).toBe("OK");
  });
});

describe("lading serve: hot reload and incomplete images", () => {
  it("serves a hand-written repositories.json on the next request, keeps the last good one when it is invalid", async () => {
    await replaceRepositoriesJson(`{"Repositories":{"hand/made":{"hand/made:1":"${ID}"}}}`);
    expect(json(await get("/images/json"))).toEqual([listEntry(["hand/made:1"])]);

    await replaceRepositoriesJson('{"Repositories":{"hand/made":');
    expect(json(await get("/images/json"))).toEqual([listEntry(["hand/made:1"])]);
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([
      IMAGE_ONLY_WARNING,
      "repositories.json: invalid JSON: Unexpected end of JSON input; serving the last good state",
    ]);
    expect(logged).toEqual(["lading serve: repositories.json: invalid JSON: Unexpected end of JSON input; serving the last good state"]);
    // The daemon's own file at fault, not the request: 500, as dockerd answers (and the file's problem is not logged again).
    const invalidJson = { message: `${path.join(root, "repositories.json")}: invalid JSON: Unexpected end of JSON input` };
    for (const [method, p] of [["POST", "/images/hand/made:1/tag?repo=x"], ["DELETE", "/images/hand/made:1"]] as const) {
      const refusedWrite = await http({ socketPath }, method, p);
      expect([method, refusedWrite.status, json(refusedWrite)]).toEqual([method, 500, invalidJson]);
    }
    expect(logged).toHaveLength(1);

    await replaceRepositoriesJson(`{"Repositories":{}}`);
    expect(json(await get("/images/json"))).toEqual([{ ...listEntry(["<none>:<none>"]), RepoDigests: ["<none>@<none>"] }]);
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING]);
    expect(logged).toEqual([
      "lading serve: repositories.json: invalid JSON: Unexpected end of JSON input; serving the last good state",
      "lading serve: repositories.json is valid again: serving it (0 references)",
    ]);
  });

  it("keeps serving the last good state when repositories.json goes missing, says so in the log and /info, refuses writes, and logs its return", async () => {
    const file = path.join(root, "repositories.json");
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    await rename(file, path.join(root, "aside.json"));
    // Not every image untagged: the last good state.
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    const warning = `repositories.json: no such file (moved or deleted?): ${MISSING_REMEDY}; serving the last good state`;
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING, warning]);
    expect(logged).toEqual([`lading serve: ${warning}`]);
    // A tag would start a new file holding that one tag: refused, as for an invalid file.
    const refused = await http({ socketPath }, "POST", "/images/fixture/imported:1.0/tag?repo=x");
    expect([refused.status, json(refused)]).toEqual([500, { message: `${file}: no such file (moved or deleted?): ${MISSING_REMEDY}` }]);
    expect((await readdir(root)).includes("repositories.json")).toBe(false);

    await rename(path.join(root, "aside.json"), file);
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING]);
    expect(logged).toEqual([`lading serve: ${warning}`, "lading serve: repositories.json is back: serving it (4 references)"]);
  });

  it("takes a missing repositories.json as an empty store once the image records are gone too (the store emptied under it), and loads into it", async () => {
    const listed = json(await get("/images/json"));
    expect(listed).toEqual([listEntry(TAGS)]);
    for (const name of ["blobs", "images", "diffids", "ingest", "leases", "repositories.json"]) await rm(path.join(root, name), { recursive: true, force: true });
    expect(json(await get("/images/json"))).toEqual([]);
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING]);
    const loaded = await http({ socketPath }, "POST", "/images/load", await readFile(SINGLE));
    expect([loaded.status, loaded.text.includes('"error"')]).toEqual([200, false]);
    expect(json(await get("/images/json"))).toEqual(listed);
    expect(logged).toEqual(["lading serve: repositories.json is gone: serving an empty store"]);
  });

  it("SIGHUP's reload() takes a missing repositories.json as an empty store, which may then be written", async () => {
    await rename(path.join(root, "repositories.json"), path.join(root, "aside.json"));
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    const state = await server.reload();
    expect([state.entries, server.references.problem]).toEqual([[], undefined]);
    expect(json(await get("/images/json"))).toEqual([{ ...listEntry(["<none>:<none>"]), RepoDigests: ["<none>@<none>"] }]);
    const tagged = await http({ socketPath }, "POST", `/images/${ID}/tag?repo=again&tag=1`);
    expect(tagged.status).toBe(201);
    expect(await readFile(path.join(root, "repositories.json"), "utf8")).toBe(`{"Repositories":{"again":{"again:1":"${ID}"}}}`);
    expect(logged).toEqual([
      `lading serve: repositories.json: no such file (moved or deleted?): ${MISSING_REMEDY}; serving the last good state`,
      "lading serve: repositories.json is gone: serving an empty store",
    ]);
  });

  it("names a repositories.json that is a symbolic link whose target is gone", async () => {
    const file = path.join(root, "repositories.json");
    const target = path.join(root, "shared-repositories.json");
    await rename(file, target);
    await symlink(target, file);
    await server.reload();
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    await unlink(target);
    expect(json(await get("/images/json"))).toEqual([listEntry(TAGS)]);
    const warning = `repositories.json: a symbolic link to ${target}, which does not exist: ${MISSING_REMEDY}; serving the last good state`;
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING, warning]);
    expect(logged).toEqual([`lading serve: ${warning}`]);
  });

  it("reloads on SIGHUP's reload()", async () => {
    await replaceRepositoriesJson(`{"Repositories":{"a":{"a:1":"${ID}"}}}`);
    const state = await server.reload();
    expect(state.entries).toEqual([{ reference: "a:1", id: ID }]);
  });

  it("says whose config a reference to an image's config digest names (docker's classic ID), in inspect, history and save", async () => {
    const config = (await server.store.records.get(ID))?.images[0]?.config.digest;
    await replaceRepositoriesJson(`{"Repositories":{"classic/app":{"classic/app:1":"${config}"}}}`);
    const what = `${config} is the config digest of image ${ID}, its ID in docker's classic store; lading's image ID is the digest of its manifest: write ${ID} instead`;
    const message = `image classic/app:1 points at ${config}, whose record is missing: ${what}`;
    for (const p of ["/images/classic/app:1/json", "/images/classic/app:1/history", "/images/get?names=classic/app:1"]) {
      const answer = await get(p);
      expect([p, answer.status, json(answer)]).toEqual([p, 404, { message }]);
    }
  });

  it("leaves a reference by a digest that is not its image's out of the list and inspect, as lading images does, and refuses it by name", async () => {
    const wrong = `other/x@sha256:${"a".repeat(64)}`;
    await replaceRepositoriesJson(`{"Repositories":{"other/x":{"other/x:1":"${ID}","${wrong}":"${ID}"}}}`);
    expect(json(await get("/images/json"))).toEqual([listEntry(["other/x:1"])]);
    expect(json(await get(`/images/${ID}/json`))).toMatchObject({ RepoTags: ["other/x:1"], RepoDigests: [] });
    const message = `image ${wrong} points at ${ID}, an image whose digest differs; a reference by digest names its image's own digest (lading fsck --repair removes it)`;
    for (const p of [`/images/${wrong}/json`, `/images/get?names=${wrong}`]) {
      const answer = await get(p);
      expect([p, answer.status, json(answer)]).toEqual([p, 404, { message }]);
    }
  });

  it("shows a reference without a record or blobs as incomplete, and fully once they arrive", async () => {
    await replaceRepositoriesJson(`{"Repositories":{"fixture/imported":{"fixture/imported:1.0":"${ID}"},"ghost":{"ghost:1":"${OTHER_ID}"}}}`);
    expect(json(await get("/images/json"))).toEqual([
      listEntry(["fixture/imported:1.0"]),
      {
        Id: OTHER_ID,
        ParentId: "",
        RepoTags: ["ghost:1"],
        RepoDigests: [],
        Created: -62135596800,
        Size: 0,
        VirtualSize: 0,
        SharedSize: -1,
        Labels: { "lading.incomplete": `missing image record ${OTHER_ID}` },
        Containers: -1,
      },
    ]);
    const ghost = await get("/images/ghost:1/json");
    expect(ghost.status).toBe(404);
    expect(json(ghost)).toEqual({ message: `image ghost:1 points at ${OTHER_ID}, whose record is missing (run lading fsck)` });

    const layerPath = path.join(root, "blobs/sha256", LAYER.slice("sha256:".length));
    const aside = path.join(root, "layer.aside");
    await copyFile(layerPath, aside);
    await unlink(layerPath);
    expect((json(await get("/images/json")) as unknown[])[0]).toEqual({
      ...listEntry(["fixture/imported:1.0"]),
      Size: 0,
      VirtualSize: 0,
      Labels: { "lading.incomplete": `missing blob ${LAYER}` },
    });
    const inspect = await get("/images/fixture/imported:1.0/json");
    expect(inspect.status).toBe(404);
    expect(json(inspect)).toEqual({ message: `image fixture/imported:1.0 is incomplete: blob ${LAYER} is missing` });
    const save = await get("/images/fixture/imported:1.0/get");
    expect(save.status).toBe(404);
    expect(json(save)).toEqual({ message: `image ${ID} is incomplete: blob ${LAYER} is missing` });

    await rename(aside, layerPath);
    expect((json(await get("/images/json")) as unknown[])[0]).toEqual(listEntry(["fixture/imported:1.0"]));
    expect((await get("/images/fixture/imported:1.0/json")).status).toBe(200);
  });
});

/** Loads one image made by makeImage, its config edited by `edit`, tagged `tag`, through the server's store; resolves to its ID. */
async function loadMade(tag: string, edit: (config: Record<string, unknown>) => Record<string, unknown>): Promise<string> {
  const image = makeImage({ seed: tag, editConfig: edit });
  const result = await loadArchive(server.store, await openTarStream(Readable.from([buildTar(dockerArchiveItems([{ image, repoTags: [tag] }]))])));
  return result.images[0]!.id;
}

/** A config as an OCI tool writes it: `config` holds only the keys that were set, or is absent. */
const ociConfig = (extra: Record<string, unknown>) => (config: Record<string, unknown>) => {
  const { config: _dropped, history: _history, ...rest } = config;
  return { ...rest, ...extra };
};

const listTags = async (filters?: unknown): Promise<string[]> => {
  const result = await get(`/images/json${filters === undefined ? "" : `?filters=${encodeURIComponent(JSON.stringify(filters))}`}`);
  expect(result.status).toBe(200);
  return (json(result) as { RepoTags: string[] }[]).map((entry) => entry.RepoTags.join(","));
};

describe("lading serve: images made by OCI tools, as dockerd 20.10 shows them", () => {
  // The objects below are what dockerd 20.10.24 answered for the same configs.
  const EMPTY_CONFIG = {
    Hostname: "", Domainname: "", User: "", AttachStdin: false, AttachStdout: false, AttachStderr: false, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: null, Cmd: null, Image: "", Volumes: null, WorkingDir: "", Entrypoint: null, OnBuild: null, Labels: null,
  };

  it("inspect fills Config and ContainerConfig in with every key of dockerd's, and keeps Config null without a config object", async () => {
    await loadMade("oci/partial:1", ociConfig({ created: "2024-01-02T03:04:05.5Z", config: { Env: ["PATH=/usr/bin"], Cmd: ["/bin/sh"], Labels: { team: "a" } } }));
    await loadMade("oci/bare:1", ociConfig({}));
    await loadMade("oci/full:1", ociConfig({
      container_config: { Cmd: ["x"] },
      config: {
        Foo: 1, Shell: ["/bin/sh", "-c"], StopTimeout: 0, StopSignal: "SIGTERM", MacAddress: "", NetworkDisabled: true, ArgsEscaped: true,
        Healthcheck: { Test: ["NONE"] }, ExposedPorts: { "80/tcp": {} }, Labels: {}, Env: [], Entrypoint: ["/e"], WorkingDir: "/w", User: "u", Volumes: { "/v": {} }, OnBuild: [],
      },
    }));
    await loadMade("oci/empties:1", ociConfig({ config: { ExposedPorts: {}, Shell: [], ArgsEscaped: false, Cmd: null } }));

    const inspect = async (name: string) => json(await get(`/images/${name}/json`)) as { Created: string; Config: unknown; ContainerConfig: unknown };
    const partial = await inspect("oci/partial:1");
    expect(JSON.stringify(partial.Config)).toBe(JSON.stringify({ ...EMPTY_CONFIG, Env: ["PATH=/usr/bin"], Cmd: ["/bin/sh"], Labels: { team: "a" } }));
    expect(JSON.stringify(partial.ContainerConfig)).toBe(JSON.stringify(EMPTY_CONFIG));
    const bare = await inspect("oci/bare:1");
    expect([bare.Created, bare.Config, JSON.stringify(bare.ContainerConfig)]).toEqual(["0001-01-01T00:00:00Z", null, JSON.stringify(EMPTY_CONFIG)]);
    const full = await inspect("oci/full:1");
    expect(JSON.stringify(full.Config)).toBe(
      '{"Hostname":"","Domainname":"","User":"u","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,' +
        '"Env":[],"Cmd":null,"Healthcheck":{"Test":["NONE"]},"ArgsEscaped":true,"Image":"","Volumes":{"/v":{}},"WorkingDir":"/w","Entrypoint":["/e"],"NetworkDisabled":true,"OnBuild":[],' +
        '"Labels":{},"StopSignal":"SIGTERM","StopTimeout":0,"Shell":["/bin/sh","-c"]}',
    );
    expect(JSON.stringify(full.ContainerConfig)).toBe(JSON.stringify({ ...EMPTY_CONFIG, Cmd: ["x"] }));
    expect(JSON.stringify((await inspect("oci/empties:1")).Config)).toBe(JSON.stringify(EMPTY_CONFIG));
  });

  it("inspect answers the bytes dockerd's Go encoder writes: Created as Go writes a time, map keys sorted, GraphDriver in struct order", async () => {
    await loadMade("oci/go:1", ociConfig({ created: "2024-01-02T03:04:05.500+00:00", config: { Labels: { b: "<&>", a: "1", "10": "x", "9": "y" }, ExposedPorts: { "80/tcp": { x: 1 }, "443/tcp": {} } } }));
    const body = (await get("/images/oci/go:1/json")).text;
    expect(body.endsWith("\n")).toBe(true);
    expect(body).toContain('"Created":"2024-01-02T03:04:05.5Z",');
    expect(body).toContain('"ExposedPorts":{"443/tcp":{},"80/tcp":{}},');
    expect(body).toContain('"Labels":{"10":"x","9":"y","a":"1","b":"<&>"}},');
    expect(body).toContain('"GraphDriver":{"Data":null,"Name":"lading"},');
  });

  it("lists an image without created with Go's zero time, and sorts by creation time (not text), newest first, ties by ID", async () => {
    const older = await loadMade("t/offset:1", ociConfig({ created: "2024-01-02T04:04:05.2+01:00" }));
    await loadMade("t/later:1", ociConfig({ created: "2024-01-02T03:30:00Z" }));
    const sameSecond = await loadMade("t/same-second:1", ociConfig({ created: "2024-01-02T03:04:05.9Z" }));
    await loadMade("t/none:1", ociConfig({}));
    const list = json(await get("/images/json")) as { RepoTags: string[]; Created: number }[];
    const tie = [[older, "t/offset:1"], [sameSecond, "t/same-second:1"]].sort(([a], [b]) => (a! < b! ? -1 : 1)).map(([, tag]) => tag);
    expect(list.map((entry) => [entry.RepoTags.join(","), entry.Created])).toEqual([
      [TAGS.join(","), CREATED_SECONDS],
      ["t/later:1", 1704166200],
      [tie[0], 1704164645],
      [tie[1], 1704164645],
      ["t/none:1", -62135596800],
    ]);
  });

  it("applies the label, before and since filters as dockerd 20.10 does", async () => {
    await loadMade("f/a:1", ociConfig({ created: "2024-01-02T03:04:05.5Z", config: { Labels: { team: "a", tier: "web" } } }));
    await loadMade("f/b:1", ociConfig({ created: "2020-05-01T00:00:00Z", config: { Labels: { team: "" } } }));
    await loadMade("f/c:1", ociConfig({ config: { Labels: { team: "b" } } }));
    await loadMade("f/d:1", ociConfig({ created: "2024-01-02T03:04:05.7Z" }));
    const sorted = async (filters: unknown) => (await listTags(filters)).sort();
    expect(await sorted({ label: { team: true } })).toEqual(["f/a:1", "f/b:1", "f/c:1"]);
    expect(await sorted({ label: ["team=a"] })).toEqual(["f/a:1"]);
    expect(await sorted({ label: { "team=": true } })).toEqual(["f/b:1"]);
    expect(await sorted({ label: { "team=a": true, tier: true } })).toEqual(["f/a:1"]);
    expect(await sorted({ label: { team: true, nope: true } })).toEqual([]);
    expect(await sorted({ label: { "org.example.fixture=imported": true } })).toEqual([TAGS.join(",")]);
    expect(await sorted({ before: { "f/a:1": true } })).toEqual(["f/b:1", "f/c:1"]);
    expect(await sorted({ since: { "f/a:1": true } })).toEqual(["f/d:1", TAGS.join(",")].sort());
    expect(await sorted({ since: { "f/c:1": true } })).toEqual(["f/a:1", "f/b:1", "f/d:1", TAGS.join(",")].sort());
    expect(await sorted({ before: { [ID.slice(7, 19)]: true }, since: { "f/b:1": true }, label: { team: true } })).toEqual(["f/a:1"]);
    const unknown = await get(`/images/json?filters=${encodeURIComponent('{"before":{"nosuch":true}}')}`);
    expect([unknown.status, json(unknown)]).toEqual([404, { message: "No such image: nosuch:latest" }]);
  });
});

describe("lading serve: a repositories.json invalid from the start", () => {
  it("fails image requests with the file's error until a valid file is read, then serves it", async () => {
    await server.close();
    const file = path.join(root, "repositories.json");
    await writeFile(file, '{"Repositories":{"x":');
    logged.length = 0;
    server = await startServer({ root, log: (line) => logged.push(line), shutdownGraceMs: 300 });
    const message = `${file}: invalid JSON: Unexpected end of JSON input`;
    for (const [method, p] of [["GET", "/images/json"], ["GET", "/images/imported-plain/json"], ["GET", "/images/imported-plain/history"], ["POST", "/images/imported-plain/tag?repo=x"], ["DELETE", "/images/imported-plain"], ["GET", "/images/imported-plain/get"]] as const) {
      const result = await http({ socketPath }, method, p);
      expect([method, p, result.status, json(result)]).toEqual([method, p, 500, { message }]);
    }
    const warning = "repositories.json: invalid JSON: Unexpected end of JSON input; no valid state read yet: image requests fail until it is fixed";
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING, warning]);
    expect(logged).toEqual([`lading serve: ${warning}`]);

    await replaceRepositoriesJson(`{"Repositories":{"hand/made":{"hand/made:1":"${ID}"}}}`);
    expect(json(await get("/images/json"))).toEqual([listEntry(["hand/made:1"])]);
    expect((json(await get("/info")) as { Warnings: string[] }).Warnings).toEqual([IMAGE_ONLY_WARNING]);
    expect(logged).toEqual([`lading serve: ${warning}`, "lading serve: repositories.json is valid again: serving it (1 references)"]);
    // A file that goes bad later still keeps the last good state.
    await replaceRepositoriesJson('{"Repositories":');
    expect(json(await get("/images/json"))).toEqual([listEntry(["hand/made:1"])]);
  });
});

describe("lading serve: lifecycle", () => {
  it("sets no limit on how long a request (a docker load's upload) may take, as dockerd does; the headers keep Node's limit", () => {
    const http = engineHttpServer(() => undefined);
    expect([http.requestTimeout, http.headersTimeout]).toEqual([0, 60_000]);
  });

  it("removes its socket on close and aborts a request still running after the grace period", async () => {
    const { request } = await import("node:http");
    const hanging = new Promise<string>((resolve) => {
      const req = request({ socketPath, method: "POST", path: "/images/load", headers: { "Content-Type": "application/x-tar" } });
      req.on("error", (error) => resolve(`aborted: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
      req.on("response", (res) => resolve(`answered ${res.statusCode ?? 0}`));
      req.write(Buffer.alloc(512, 0x61));
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await hanging).toBe("aborted: ECONNRESET");
    await expect(stat(socketPath)).rejects.toThrow("ENOENT");
  });

  it("refuses a second server on a live socket, replaces a stale one, and listens on loopback TCP when asked", async () => {
    await expect(startServer({ root })).rejects.toThrow(`another server is already listening on ${socketPath}`);
    await server.close();
    // A socket file without a server behind it (a killed server) is taken over.
    const { createServer } = await import("node:net");
    const stale = createServer();
    await new Promise<void>((resolve) => stale.listen(socketPath, resolve));
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    await writeFile(path.join(root, "marker"), "");
    server = await startServer({ root, listen: "127.0.0.1:0" });
    expect((await get("/_ping")).text).toBe("OK");
    const [host, port] = (server.tcpAddress ?? "").split(":");
    expect(host).toBe("127.0.0.1");
    expect((await http({ host: "127.0.0.1", port: Number(port) }, "GET", "/_ping")).text).toBe("OK");
  });

  it("says that the --socket directory does not exist, before listening; the CLI in one line", async () => {
    const missing = path.join(root, "no-such-dir");
    await expect(startServer({ root, socketPath: path.join(missing, "x.sock") })).rejects.toThrow(`--socket: directory ${missing} does not exist`);
    await writeFile(path.join(root, "a-file"), "");
    await expect(startServer({ root, socketPath: path.join(root, "a-file", "x.sock") })).rejects.toThrow(`--socket: ${path.join(root, "a-file")} is not a directory`);
    const cli = await runLading(["--root", root, "serve", "--socket", path.join(missing, "x.sock")]);
    expect(cli).toEqual({ code: 1, stdout: "", stderr: `lading: error: --socket: directory ${missing} does not exist\n` });
  });

  it("refuses a --listen address that is not loopback", async () => {
    await expect(startServer({ root, socketPath: path.join(root, "b.sock"), listen: "0.0.0.0:2375" })).rejects.toThrow(
      "--listen: 0.0.0.0 is not a loopback address; lading serve listens on 127.0.0.1, ::1 or localhost only",
    );
    await expect(startServer({ root, socketPath: path.join(root, "b.sock"), listen: "2375" })).rejects.toThrow(
      '--listen: expected HOST:PORT with a loopback host (127.0.0.1:2375), got "2375"',
    );
  });
});
