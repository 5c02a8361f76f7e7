// `lading serve` driven by the real docker CLI (the Debian 20.10 client and the newer one in
// /usr/local/bin), with `lading` CLI processes changing the store at the same time.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { cp, mkdir, rename, symlink, writeFile } from "node:fs/promises";
import { Readable } from "node:stream";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { IMAGE_ONLY_WARNING } from "../../src/server/system-routes.js";
import { ReferenceStore } from "../../src/store/reference-store.js";
import { Store } from "../../src/store/store.js";
import { buildTar, dockerArchiveItems, ensureBuilt, makeImage } from "../support/archive-builder.js";
import { DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT, makeTempDir, removeTree, requirePeers, run, startDockerd } from "../support/peers.js";
import { DERIVED_KEYS, inspectBlock, inspectImagesArchive, INSPECT_IMAGES } from "../support/parity-images.js";
import { http } from "../server/http-client.js";
import { withoutLockWaits } from "../support/lock-waits.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = path.join(REPO_ROOT, "../shared/fixtures/archives");
const SINGLE = path.join(fixtures, "docker-save-single.tar");
const MULTI = path.join(fixtures, "docker-save-multi.tar");
const ID = "sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1";
const SHORT_ID = ID.slice(7, 19);
const TAGS = ["fixture/imported:1.0", "fixture/imported:latest", "imported-plain:latest", "localhost:5000/team/imported:v1"];
const haveFixtures = existsSync(SINGLE) && existsSync(MULTI);

/**
 * The CLI under test, copied out of dist/ once: other work may rebuild dist/ while these tests
 * run, and a half-written dist/ must not fail a process in the middle of the concurrency test.
 */
let ladingBin = path.join(REPO_ROOT, "bin/lading.js");
let snapshotDir = "";

async function snapshotBuild(): Promise<void> {
  try {
    ensureBuilt();
  } catch (error) {
    // Another file of the tree may not compile at this moment; dist/ is emitted regardless.
    if (!existsSync(path.join(REPO_ROOT, "dist/cli/lading.js"))) throw error;
  }
  snapshotDir = makeTempDir("lading-serve-bin-");
  await cp(path.join(REPO_ROOT, "dist"), path.join(snapshotDir, "dist"), { recursive: true });
  await mkdir(path.join(snapshotDir, "bin"));
  await cp(path.join(REPO_ROOT, "bin/lading.js"), path.join(snapshotDir, "bin/lading.js"));
  await cp(path.join(REPO_ROOT, "package.json"), path.join(snapshotDir, "package.json"));
  await symlink(path.join(REPO_ROOT, "node_modules"), path.join(snapshotDir, "node_modules"));
  ladingBin = path.join(snapshotDir, "bin/lading.js");
}

interface Served {
  root: string;
  socket: string;
  child: ChildProcess;
  log: () => string;
  docker: (client: string, args: string[]) => ReturnType<typeof run>;
  stop: () => Promise<number | null>;
}

/** A store with docker-save-single.tar loaded (and what `prepare` adds), served by `node bin/lading.js serve` in a child process. */
async function serve(prepare?: (root: string) => Promise<void>): Promise<Served> {
  const root = makeTempDir("lading-serve-");
  await loadArchive(await Store.open(root), await openArchivePath(SINGLE));
  await prepare?.(root);
  const socket = path.join(root, "docker.sock");
  const child = spawn(process.execPath, [ladingBin, "--root", root, "serve", "--socket", socket], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ping = await http({ socketPath: socket }, "GET", "/_ping").catch(() => undefined);
    if (ping?.text === "OK") break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`lading serve did not come up: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(root, "docker-config") };
  delete env.DOCKER_CONTEXT;
  return {
    root,
    socket,
    child,
    log: () => stderr,
    docker: (client, args) => run(client, args, { env }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}

const lading = (root: string, args: string[]) => run(process.execPath, [ladingBin, "--root", root, ...args]);

function tagLines(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line !== "");
}

const clients = [
  ["Debian docker 20.10", DEBIAN_DOCKER_CLIENT],
  ["newer docker", LOCAL_DOCKER_CLIENT],
] as const;

beforeAll(snapshotBuild);
afterAll(async () => {
  if (snapshotDir !== "") await removeTree(snapshotDir);
});

for (const [label, client] of clients) {
  describe.skipIf(!haveFixtures || !requirePeers(client))(`lading serve with the ${label} client`, () => {
    let served: Served;
    beforeAll(async () => {
      served = await serve();
    });
    afterAll(async () => {
      expect(await served.stop()).toBe(0);
      expect(existsSync(served.socket)).toBe(false);
      await removeTree(served.root);
    });

    it("docker version and docker info", async () => {
      const version = await served.docker(client, ["version", "--format", "{{.Server.Version}} {{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Server.Os}}"]);
      expect(version.stderr).toBe("");
      expect(version.stdout).toBe("0.1.0 1.41 1.12 linux\n");
      const info = await served.docker(client, ["info"]);
      expect(info.code).toBe(0);
      expect(info.stdout).toContain(" Server Version: 0.1.0\n");
      expect(info.stdout).toContain(" Images: 1\n");
      expect(info.stderr).toContain(IMAGE_ONLY_WARNING);
    });

    it("docker images lists the store", async () => {
      const listed = await served.docker(client, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"]);
      expect(listed.stderr).toBe("");
      expect(tagLines(listed.stdout).sort()).toEqual(TAGS.map((tag) => `${tag} ${SHORT_ID} 32.1kB`));
      const table = await served.docker(client, ["images"]);
      const rows = tagLines(table.stdout);
      expect(rows[0]).toMatch(/^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$/);
      for (const tag of TAGS) {
        const [repository, version] = [tag.slice(0, tag.lastIndexOf(":")), tag.slice(tag.lastIndexOf(":") + 1)];
        expect(rows.some((row) => new RegExp(`^${repository.replace(/[.]/g, "\\.")} +${version} +${SHORT_ID} +.* +32\\.1kB$`).test(row))).toBe(true);
      }
      const filtered = await served.docker(client, ["images", "--format", "{{.Repository}}:{{.Tag}}", "fixture/imported"]);
      expect(tagLines(filtered.stdout).sort()).toEqual(["fixture/imported:1.0", "fixture/imported:latest"]);
    });

    it("docker image inspect", async () => {
      const inspected = await served.docker(client, ["image", "inspect", "--format", "{{.Id}} {{json .RepoTags}} {{.Os}}/{{.Architecture}} {{json .Config.Env}}", "localhost:5000/team/imported:v1"]);
      expect(inspected.stderr).toBe("");
      expect(inspected.stdout).toBe(`${ID} ${JSON.stringify(TAGS)} linux/amd64 ["FOO=bar"]\n`);
      const missing = await served.docker(client, ["image", "inspect", "nosuch"]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("No such image: nosuch");
    });

    it("docker tag and docker rmi change the store", async () => {
      const tagged = await served.docker(client, ["tag", "imported-plain", "localhost:5000/new/app:v2"]);
      expect(tagged).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(await new ReferenceStore(path.join(served.root, "repositories.json")).get("localhost:5000/new/app:v2")).toBe(ID);
      const removed = await served.docker(client, ["rmi", "localhost:5000/new/app:v2"]);
      expect(removed).toEqual({ code: 0, stdout: "Untagged: localhost:5000/new/app:v2\n", stderr: "" });
      expect(await new ReferenceStore(path.join(served.root, "repositories.json")).get("localhost:5000/new/app:v2")).toBeUndefined();
      const refused = await served.docker(client, ["rmi", SHORT_ID]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toBe(`Error response from daemon: conflict: unable to delete ${SHORT_ID} (must be forced) - image is referenced in multiple repositories\n`);
    });

    it("docker save -o, docker rmi -f, docker load -i", async () => {
      const archive = path.join(served.root, "saved.tar");
      const saved = await served.docker(client, ["save", "-o", archive, "fixture/imported:1.0", "imported-plain"]);
      expect(saved).toEqual({ code: 0, stdout: "", stderr: "" });
      const check = await Store.open(makeTempDir("lading-serve-check-"));
      const reloaded = await loadArchive(check, await openArchivePath(archive));
      expect(reloaded.images.map((image) => [image.id, image.tags])).toEqual([[ID, ["fixture/imported:1.0", "imported-plain:latest"]]]);
      await removeTree(check.paths.root);

      const removed = await served.docker(client, ["rmi", "-f", SHORT_ID]);
      expect(removed.code).toBe(0);
      expect(tagLines(removed.stdout)).toEqual([...TAGS.map((tag) => `Untagged: ${tag}`), `Deleted: ${ID}`]);
      expect((await served.docker(client, ["images", "-q"])).stdout).toBe("");

      const loaded = await served.docker(client, ["load", "-i", archive]);
      expect(loaded.stderr).toBe("");
      expect(loaded.stdout).toBe("Loaded image: fixture/imported:1.0\nLoaded image: imported-plain:latest\n");
      const listed = await served.docker(client, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
      expect(tagLines(listed.stdout).sort()).toEqual([`fixture/imported:1.0 ${SHORT_ID}`, `imported-plain:latest ${SHORT_ID}`]);

      const bad = await served.docker(client, ["load", "-i", SINGLE + ".nonexistent"]);
      expect(bad.code).toBe(1);
    });

    it("docker load of a bad archive prints the error the way it prints dockerd's", async () => {
      const garbage = path.join(served.root, "garbage.tar");
      await writeFile(garbage, Buffer.alloc(4096, 7));
      // dockerd's failed load is a 200 whose stream carries the error: the CLI prints the bare message.
      expect(await served.docker(client, ["load", "-i", garbage])).toEqual({ code: 1, stdout: "", stderr: "invalid tar header at offset 0: checksum mismatch\n" });
    });

    it("docker ps and docker run get the 501 message", async () => {
      const ps = await served.docker(client, ["ps"]);
      expect(ps.code).toBe(1);
      expect(ps.stderr).toBe("Error response from daemon: lading serve implements only the image API; GET /containers/json is not supported\n");
    });
  });
}

const hotClient = requirePeers(LOCAL_DOCKER_CLIENT) ? LOCAL_DOCKER_CLIENT : DEBIAN_DOCKER_CLIENT;

describe.skipIf(!haveFixtures || !requirePeers(hotClient))("lading serve: hot reload and concurrency, end to end", () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve();
  });
  afterAll(async () => {
    expect(await served.stop()).toBe(0);
    await removeTree(served.root);
  });

  const images = async (): Promise<string[]> => {
    const listed = await served.docker(hotClient, ["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(listed.stderr).toBe("");
    return tagLines(listed.stdout).sort();
  };
  const replaceByHand = async (text: string): Promise<void> => {
    const temp = path.join(served.root, "repositories.json.new");
    await writeFile(temp, text);
    await rename(temp, path.join(served.root, "repositories.json"));
  };

  it("(a) shows what a second process loads and tags, at once", async () => {
    expect((await lading(served.root, ["load", "-q", "-i", MULTI])).code).toBe(0);
    expect((await lading(served.root, ["tag", "fixture/derived-a:1.0", "team/derived:v9"])).code).toBe(0);
    expect(await images()).toEqual([...TAGS, "fixture/derived-a:1.0", "fixture/derived-b:1.0", "team/derived:v9"].sort());
  });

  it("(b) sees a repositories.json replaced by hand; (d) a deleted reference disappears", async () => {
    await replaceByHand(`{"Repositories":{"hand/made":{"hand/made:1":"${ID}"},"imported-plain":{"imported-plain:latest":"${ID}"}}}`);
    expect(await images()).toEqual(["hand/made:1", "imported-plain:latest", "<none>:<none>", "<none>:<none>"].sort());
    await replaceByHand(`{"Repositories":{"hand/made":{"hand/made:1":"${ID}"}}}`);
    expect(await images()).toEqual(["<none>:<none>", "<none>:<none>", "hand/made:1"]);
  });

  it("(c) keeps answering from the last good state while the file is invalid, and docker info says why", async () => {
    await replaceByHand('{"Repositories":{"hand/made":{"hand/made:1":"sha256:bad"}}}');
    expect(await images()).toEqual(["<none>:<none>", "<none>:<none>", "hand/made:1"]);
    const info = await served.docker(hotClient, ["info"]);
    expect(info.code).toBe(0);
    const warning = 'repositories.json: Repositories["hand/made"]["hand/made:1"]: invalid image ID "sha256:bad" (want sha256:<64 lowercase hex>); serving the last good state';
    expect(info.stderr).toContain(warning);
    expect(served.log()).toContain(`lading serve: ${warning}\n`);
    await replaceByHand(`{"Repositories":{"hand/made":{"hand/made:2":"${ID}"}}}`);
    expect(await images()).toEqual(["<none>:<none>", "<none>:<none>", "hand/made:2"]);
    expect((await served.docker(hotClient, ["info"])).stderr).not.toContain("serving the last good state");
  });

  it("(e) SIGHUP forces a reload", async () => {
    served.child.kill("SIGHUP");
    const deadline = Date.now() + 5000;
    while (!served.log().includes("SIGHUP: reloaded repositories.json: 1 references") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(served.log()).toContain("lading serve: SIGHUP: reloaded repositories.json: 1 references\n");
    expect(await images()).toEqual(["<none>:<none>", "<none>:<none>", "hand/made:2"]);
  });

  it("the server, 8 processes and 8 CLI runs tag and untag at once without losing an update", async () => {
    // Each worker process does 20 locked read-modify-writes through the library as fast as it can
    // (a CLI process per operation would spend its time starting Node, not contending); the CLI
    // itself runs alongside, once per worker, and the server takes its own writes over HTTP.
    const WORKERS = 8;
    const OPS = 20;
    const library = path.join(snapshotDir, "dist/index.js");
    const script = `
      const [library, root, worker, ops] = process.argv.slice(1);
      const { Store, tagImage, removeImage } = await import(library);
      const store = await Store.open(root);
      for (let i = 0; i < Number(ops); i++) {
        await tagImage(store, "hand/made:2", "lib/w" + worker + ":t" + i);
        if (i % 3 === 0) await removeImage(store, "lib/w" + worker + ":t" + i);
      }`;
    const worker = async (w: number): Promise<void> => {
      const result = await run(process.execPath, ["--input-type=module", "-e", script, library, served.root, String(w), String(OPS)], { timeoutMs: 120_000 });
      expect(result).toEqual({ code: 0, stdout: "", stderr: "" });
    };
    const cli = async (w: number): Promise<void> => {
      const tagged = await lading(served.root, ["tag", "hand/made:2", `cli/w${w}:v1`]);
      expect({ ...tagged, stderr: withoutLockWaits(tagged.stderr) }).toEqual({ code: 0, stdout: "", stderr: "" });
    };
    const throughServer = async (): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        const tagged = await http({ socketPath: served.socket }, "POST", `/v1.41/images/hand/made:2/tag?repo=srv/s&tag=t${i}`);
        expect(tagged.status).toBe(201);
        if (i % 2 === 0) expect((await http({ socketPath: served.socket }, "DELETE", `/v1.41/images/srv/s:t${i}`)).status).toBe(200);
      }
    };
    const workers = Array.from({ length: WORKERS }, (_, w) => w);
    await Promise.all([...workers.map(worker), ...workers.map(cli), throughServer()]);

    const expected = ["hand/made:2"];
    for (const w of workers) {
      expected.push(`cli/w${w}:v1`);
      for (let i = 0; i < OPS; i++) if (i % 3 !== 0) expected.push(`lib/w${w}:t${i}`);
    }
    for (let i = 1; i < 40; i += 2) expected.push(`srv/s:t${i}`);
    expected.sort();
    const onDisk = await new ReferenceStore(path.join(served.root, "repositories.json")).references();
    expect(onDisk.map((entry) => entry.reference).sort()).toEqual(expected);
    expect(new Set(onDisk.map((entry) => entry.id))).toEqual(new Set([ID]));
    expect((await images()).filter((name) => name !== "<none>:<none>")).toEqual(expected);
  }, 240_000);
});

describe.skipIf(!haveFixtures || !requirePeers("dockerd", DEBIAN_DOCKER_CLIENT))("POST /images/load failures: lading serve answers as dockerd 20.10 does", () => {
  it("200, application/json, one errorDetail/error line in the stream", async () => {
    const garbage = Buffer.alloc(4096, 7);
    const dockerd = await startDockerd();
    let theirs: Awaited<ReturnType<typeof http>>;
    try {
      theirs = await http({ socketPath: dockerd.host.slice("unix://".length) }, "POST", "/v1.41/images/load?quiet=1", garbage);
    } finally {
      await dockerd.stop();
    }
    const served = await serve();
    let ours: Awaited<ReturnType<typeof http>>;
    try {
      ours = await http({ socketPath: served.socket }, "POST", "/v1.41/images/load?quiet=1", garbage);
    } finally {
      await served.stop();
      await removeTree(served.root);
    }
    const dockerdMessage = "Error processing tar file(exit status 1): archive/tar: invalid tar header";
    expect([theirs.status, theirs.headers["content-type"], theirs.text]).toEqual([200, "application/json", `${JSON.stringify({ errorDetail: { message: dockerdMessage }, error: dockerdMessage })}\r\n`]);
    const ladingMessage = "invalid tar header at offset 0: checksum mismatch";
    expect([ours.status, ours.headers["content-type"], ours.text]).toEqual([200, "application/json", `${JSON.stringify({ errorDetail: { message: ladingMessage }, error: ladingMessage })}\r\n`]);
  });
});

/**
 * Two GET /_ping on one connection, `idleMs` apart, as a client that keeps its connection; the
 * status line of each response, and the error of the second write if the server had closed it.
 */
async function twoPingsApart(socketPath: string, idleMs: number): Promise<string[]> {
  const socket = connect(socketPath);
  let received = "";
  socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
  const outcome: string[] = [];
  socket.on("error", (error: NodeJS.ErrnoException) => outcome.push(`error ${error.code}`));
  const ping = "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
  socket.write(ping);
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  socket.write(ping);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  socket.destroy();
  return [...(received.match(/HTTP\/1\.1 \d{3} [^\r]*/g) ?? []), ...outcome];
}

describe.skipIf(!requirePeers("dockerd"))("an idle connection: lading serve keeps it open as dockerd 20.10 does", () => {
  it("a second request 7 s after the first, on the same connection, is answered", async () => {
    const [dockerd, served] = await Promise.all([startDockerd(), serve()]);
    try {
      const [theirs, ours] = await Promise.all([twoPingsApart(dockerd.host.slice("unix://".length), 7000), twoPingsApart(served.socket, 7000)]);
      expect(theirs).toEqual(["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"]);
      expect(ours).toEqual(theirs);
    } finally {
      await Promise.all([dockerd.stop(), served.stop().then(() => removeTree(served.root))]);
    }
  }, 60_000);
});

describe.skipIf(!haveFixtures || !requirePeers(hotClient))("lading serve started on an invalid repositories.json", () => {
  it("docker images fails with the file's error (not every image as <none>) until the file is valid", async () => {
    const served = await serve((root) => writeFile(path.join(root, "repositories.json"), '{"Repositories":{"x":'));
    try {
      const error = `Error response from daemon: ${path.join(served.root, "repositories.json")}: invalid JSON: Unexpected end of JSON input\n`;
      expect(await served.docker(hotClient, ["images"])).toEqual({ code: 1, stdout: "", stderr: error });
      expect(await served.docker(hotClient, ["images", "-f", "dangling=true", "-q"])).toEqual({ code: 1, stdout: "", stderr: error });
      const temp = path.join(served.root, "repositories.json.new");
      await writeFile(temp, `{"Repositories":{"hand/made":{"hand/made:1":"${ID}"}}}`);
      await rename(temp, path.join(served.root, "repositories.json"));
      expect(await served.docker(hotClient, ["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])).toEqual({ code: 0, stdout: `hand/made:1 ${SHORT_ID}\n`, stderr: "" });
    } finally {
      expect(await served.stop()).toBe(0);
      await removeTree(served.root);
    }
  });
});

/** Archives of images as OCI tools make them: `config` holds only what was set, or is absent; `created` may be absent. */
function ociToolArchives(): { tag: string; archive: Buffer }[] {
  const made = (tag: string, extra: Record<string, unknown>) => {
    const image = makeImage({
      seed: tag,
      editConfig: (config) => {
        const { config: _dropped, history: _history, ...rest } = config;
        return { ...rest, ...extra };
      },
    });
    return { tag, archive: buildTar(dockerArchiveItems([{ image, repoTags: [tag] }])) };
  };
  return [
    made("oci/partial:1", { created: "2024-01-02T04:04:05.5+01:00", config: { Env: ["PATH=/usr/bin"], Entrypoint: ["/bin/tool"], Labels: { team: "a", tier: "web" } } }),
    made("oci/later:1", { created: "2024-01-02T03:30:00Z", config: { Labels: { team: "" } } }),
    made("oci/old:1", { created: "2020-05-01T00:00:00Z" }),
    made("oci/bare:1", {}),
    made("oci/nocreated:1", { config: { Labels: { team: "b" } } }),
  ];
}

describe.skipIf(!requirePeers("dockerd", DEBIAN_DOCKER_CLIENT))("lading serve and dockerd 20.10 show images made by OCI tools alike", () => {
  const archives = [...ociToolArchives(), { tag: "i/*", archive: inspectImagesArchive() }];
  let served: Served;
  let dockerd: Awaited<ReturnType<typeof startDockerd>>;
  beforeAll(async () => {
    dockerd = await startDockerd();
    for (const { archive } of archives) expect((await dockerd.docker(["load"], { input: archive })).code).toBe(0);
    served = await serve(async (root) => {
      const store = await Store.open(root);
      for (const { archive } of archives) await loadArchive(store, await openTarStream(Readable.from([archive])));
    });
  }, 60_000);
  afterAll(async () => {
    await dockerd?.stop();
    expect(await served?.stop()).toBe(0);
    if (served) await removeTree(served.root);
  });

  /** The same docker command against both daemons. */
  const both = async (args: string[], client = DEBIAN_DOCKER_CLIENT) => {
    const theirs = await run(client, args, { env: dockerd.env });
    const ours = await served.docker(client, args);
    return { theirs, ours };
  };

  // The 20.10 client decodes inspect into its struct, which fills in the missing keys itself; newer
  // clients template the JSON as it comes (`map has no entry for key "Entrypoint"`).
  it.skipIf(!requirePeers(LOCAL_DOCKER_CLIENT))("docker inspect: the whole Config and ContainerConfig, Created", async () => {
    const format = "{{.Config.Entrypoint}} {{.Config.Hostname}}|{{.Created}}|{{json .Config}}|{{json .ContainerConfig}}";
    const { theirs, ours } = await both(["inspect", "-f", format, "oci/partial:1", "oci/nocreated:1"], LOCAL_DOCKER_CLIENT);
    expect(theirs.code).toBe(0);
    expect(ours).toEqual(theirs);
    expect(ours.stdout.split("\n")[0]).toMatch(/^\[\/bin\/tool\] \|2024-01-02T04:04:05.5\+01:00\|\{"AttachStderr":false,/);
    // No config object: Config stays null, as dockerd has it.
    const bare = await both(["inspect", "-f", "{{.Created}}|{{json .Config}}|{{json .ContainerConfig}}", "oci/bare:1"], LOCAL_DOCKER_CLIENT);
    expect(bare.theirs.code).toBe(0);
    expect(bare.ours).toEqual(bare.theirs);
    expect(bare.ours.stdout).toMatch(/^0001-01-01T00:00:00Z\|null\|\{"Hostname":"",/);
  });

  it("docker images: CREATED N/A without created, newest first by time", async () => {
    const format = "{{.Repository}}:{{.Tag}} {{.CreatedSince}}";
    const { theirs, ours } = await both(["images", "--format", format, "oci/*"]);
    expect(theirs.code).toBe(0);
    // The two without created tie (dockerd lists them in map order): compare the rest in order.
    // With --format, CreatedSince of Go's zero time is empty; the table shows N/A.
    const undated = (line: string): boolean => line.endsWith(" ");
    const split = (stdout: string) => {
      const lines = tagLines(stdout);
      return { ordered: lines.filter((line) => !undated(line)), undated: lines.filter(undated).sort() };
    };
    expect(split(ours.stdout)).toEqual(split(theirs.stdout));
    expect(split(ours.stdout).undated).toEqual(["oci/bare:1 ", "oci/nocreated:1 "]);
    for (const client of [DEBIAN_DOCKER_CLIENT, hotClient]) {
      const table = await served.docker(client, ["images", "oci/bare"]);
      expect(tagLines(table.stdout)[1]).toMatch(/^oci\/bare +1 +[0-9a-f]{12} +N\/A +\S+$/);
    }
    expect(split(ours.stdout).ordered.map((line) => line.split(" ")[0])).toEqual(["oci/later:1", "oci/partial:1", "oci/old:1"]);
  });

  it("docker images --filter label=, before=, since=", async () => {
    for (const filters of [
      ["label=team"],
      ["label=team=a"],
      ["label=team="],
      ["label=team=a", "label=tier"],
      ["label=team", "label=nope"],
      ["before=oci/partial:1"],
      ["since=oci/partial:1"],
      ["since=oci/bare:1"],
      ["before=oci/later:1", "since=oci/old:1", "label=team"],
    ]) {
      const args = ["images", "--format", "{{.Repository}}:{{.Tag}}", ...filters.flatMap((filter) => ["--filter", filter]), "oci/*"];
      const { theirs, ours } = await both(args);
      expect(theirs.code).toBe(0);
      expect([filters, tagLines(ours.stdout).sort(), ours.code]).toEqual([filters, tagLines(theirs.stdout).sort(), 0]);
    }
    for (const filter of ["before=nosuch", "since=docker.io/library/nosuch:2", "foo=1", "dangling=maybe", "dangling=1"]) {
      const { theirs, ours } = await both(["images", "--filter", filter]);
      expect(theirs.code).toBe(1);
      expect([filter, ours]).toEqual([filter, theirs]);
    }
    expect((await both(["images", "--filter", "before=nosuch"])).ours.stderr).toBe("Error response from daemon: No such image: nosuch:latest\n");
  });

  it("docker image inspect prints the same bytes for every key derived from the config (Created, sorted maps, Go's escapes)", async () => {
    for (const name of INSPECT_IMAGES.flatMap((image) => image.repoTags ?? [])) {
      for (const client of [DEBIAN_DOCKER_CLIENT, ...(requirePeers(LOCAL_DOCKER_CLIENT) ? [LOCAL_DOCKER_CLIENT] : [])]) {
        const { theirs, ours } = await both(["image", "inspect", name], client);
        expect([client, name, theirs.code, ours.code]).toEqual([client, name, 0, 0]);
        const blocks = (stdout: string): string[] => [...DERIVED_KEYS, "GraphDriver"].map((key) => inspectBlock(stdout, key).replace('"Name": "lading"', '"Name": "vfs"'));
        expect([client, name, blocks(ours.stdout)]).toEqual([client, name, blocks(theirs.stdout)]);
      }
    }
  });
});
