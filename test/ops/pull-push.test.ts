// pull and push against the real docker-registry (distribution 2.8) on loopback, through the ops
// API and through the CLI commands: digests kept both ways, sparse pulls and their pushes, mounts,
// a registry (a proxy in front of it) serving a corrupted blob, and a second pull that downloads
// nothing.
import { createHash } from "node:crypto";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath, openTarStream } from "../../src/archive/source.js";
import { registerRegistryCommands } from "../../src/cli/registry-commands.js";
import { isLadingError } from "../../src/core/errors.js";
import { loadArchive } from "../../src/ops/load.js";
import { pullImages } from "../../src/ops/pull.js";
import { pushImage } from "../../src/ops/push.js";
import type { RegistryClientFactory } from "../../src/ops/registry-access.js";
import { RegistryClient } from "../../src/registry/client.js";
import { blobsOfRecord } from "../../src/store/image-records.js";
import { Store } from "../../src/store/store.js";
import { TESTDATA } from "./load-expectations.js";
import { makeTempDir, removeTree, requirePeers, startRegistry, type Registry } from "../support/peers.js";
import { snapshotTree } from "../support/store-tree.js";
import { startProxy } from "../registry/proxy.js";
import {
  blobPath,
  buildTar,
  capturingTerminal,
  descriptorOf,
  DOCKER_FOREIGN_LAYER,
  FOREIGN_URLS,
  makeForeignImage,
  ociLayoutItems,
  withoutFile,
  type TestImage,
} from "../support/archive-builder.js";

const ready = requirePeers("docker-registry");

// testdata/oci-archive.tar: one image (umoci, gzip layers), ref "app".
const APP = {
  manifest: "sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e",
  config: "sha256:fb5b2ad6a24aa54f8c9ca0f7cdf584eb08a611b5ae9cf62d54baa695825784c0",
  layers: [
    "sha256:4f79cd55a52ae15d49cd6e66fd53a4f6f9da8fa4cbb680f7b9408c604437c4b7",
    "sha256:d4f586709eb31a4672d7c1ce1b5d234e0de6a204a12b411f1d59e5e349b32f12",
    "sha256:9394608a86aa6ab14f23d70fdf3c8d35290506ccbd6c3fe77ef720e7c0c87393",
  ],
};
// testdata/oci-multiplatform.tar: an index of linux/amd64 and linux/arm64, ref "multi".
const MULTI = {
  index: "sha256:797b264987ad4dc1204bdbf5d26ed90293f22e70d542954cf366f9eed2300689",
  amd64: "sha256:03d237cdfc9cc0004be7419e358333ec3c3dd2c5ffe01831342726e01cfb2239",
};

const client: RegistryClientFactory = (host) => new RegistryClient(host, { retryDelayMs: 10, credentials: async () => undefined });

/**
 * A proxy in front of a registry: counts blob GETs, can flip a byte of every blob body it serves,
 * and can cut the connection half way through the next `cuts` bodies of the blob `cutDigest`.
 */
interface BlobProxy {
  url: string;
  blobGets: number;
  corrupt: boolean;
  cuts: number;
  cutDigest: string;
  close(): Promise<void>;
}

async function startBlobProxy(target: string): Promise<BlobProxy> {
  const [targetHost, targetPort] = target.split(":") as [string, string];
  const state = { blobGets: 0, corrupt: false, cuts: 0, cutDigest: "" };
  const server: Server = createServer((req, res) => {
    const isBlobGet = req.method === "GET" && /\/blobs\/sha256:[0-9a-f]{64}$/.test(req.url ?? "");
    if (isBlobGet) state.blobGets++;
    const upstream = request({ host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const length = Number(answer.headers["content-length"] ?? 0);
      if (isBlobGet && state.cuts > 0 && req.url?.endsWith(`/${state.cutDigest}`) && answer.statusCode === 200 && length > 1) {
        state.cuts--;
        res.flushHeaders();
        let sent = 0;
        answer.on("data", (chunk: Buffer) => {
          const room = Math.floor(length / 2) - sent;
          if (room > 0) res.write(chunk.subarray(0, room));
          sent += chunk.length;
          if (sent >= length / 2) {
            answer.destroy();
            setTimeout(() => res.socket?.destroy(), 20);
          }
        });
        return;
      }
      if (!(isBlobGet && state.corrupt && answer.statusCode === 200)) {
        answer.pipe(res);
        return;
      }
      let first = true;
      answer.on("data", (chunk: Buffer) => {
        if (first && chunk.length > 0) {
          chunk[0] = (chunk[0] as number) ^ 0xff;
          first = false;
        }
        res.write(chunk);
      });
      answer.on("end", () => res.end());
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `127.0.0.1:${port}`,
    get blobGets() {
      return state.blobGets;
    },
    set blobGets(value: number) {
      state.blobGets = value;
    },
    get corrupt() {
      return state.corrupt;
    },
    set corrupt(value: boolean) {
      state.corrupt = value;
    },
    get cuts() {
      return state.cuts;
    },
    set cuts(value: number) {
      state.cuts = value;
    },
    get cutDigest() {
      return state.cutDigest;
    },
    set cutDigest(value: string) {
      state.cutDigest = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Runs `lading <args>` through a commander program holding only the registry commands. */
async function cli(root: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const captured = capturingTerminal();
  const program = new Command().name("lading").option("--root <dir>").exitOverride();
  registerRegistryCommands(program, captured.terminal);
  await program.parseAsync(["node", "lading", "--root", root, ...args]);
  return { stdout: captured.stdout(), stderr: captured.stderr() };
}

async function sha256File(path: string): Promise<string> {
  return `sha256:${createHash("sha256").update(await readFile(path)).digest("hex")}`;
}

describe.skipIf(!ready)("pull and push against docker-registry 2.8", () => {
  let dir: string;
  let registry: Registry;
  let second: Registry;
  let proxy: BlobProxy;
  let source: Store;
  let counter = 0;
  const freshStore = (): Promise<Store> => Store.open(join(dir, `store-${counter++}`));

  beforeAll(async () => {
    dir = makeTempDir("lading-pull-push-");
    [registry, second] = await Promise.all([startRegistry(), startRegistry()]);
    proxy = await startBlobProxy(registry.url);
    source = await freshStore();
    await loadArchive(source, await openArchivePath(join(TESTDATA, "oci-archive.tar")), { name: "lading-testdata/app" });
    await loadArchive(source, await openArchivePath(join(TESTDATA, "oci-multiplatform.tar")), { name: "lading-testdata/multi" });
    await pushImage(source, "lading-testdata/multi:multi", `${registry.url}/multi:1`, { client });
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([registry?.stop(), second?.stop()]);
    if (dir) await removeTree(dir);
  });

  it("push then pull gives the same digests and the same bytes", async () => {
    const pushed = await pushImage(source, "lading-testdata/app:app", `${registry.url}/team/app:1.0`, { client });
    expect(pushed).toMatchObject({
      repository: `${registry.url}/team/app`,
      reference: `${registry.url}/team/app:1.0`,
      tag: "1.0",
      digest: APP.manifest,
      manifests: 1,
      borrowed: [],
      uploadedBlobs: 4,
    });
    // Top layer first, as docker lists them.
    expect(pushed.layers.map((layer) => [layer.digest, layer.status])).toEqual([...APP.layers].reverse().map((digest) => [digest, "Pushed"]));

    const store = await freshStore();
    const pulled = await pullImages(store, [`${registry.url}/team/app:1.0`], { client });
    expect(pulled.moved).toEqual([]);
    expect(pulled.fetchedBlobs).toBe(4);
    expect(pulled.images).toHaveLength(1);
    expect(pulled.images[0]).toMatchObject({
      reference: `${registry.url}/team/app:1.0`,
      repository: "team/app",
      tagOrDigest: "1.0",
      id: APP.manifest,
      platforms: ["linux/amd64"],
      absent: [],
      tags: [`${registry.url}/team/app:1.0`],
      digests: [`${registry.url}/team/app@${APP.manifest}`],
      upToDate: false,
    });
    expect(pulled.images[0]?.layers.map((layer) => [layer.digest, layer.status])).toEqual(APP.layers.map((digest) => [digest, "Pull complete"]));
    const record = await store.records.get(APP.manifest);
    const original = await source.records.get(APP.manifest);
    expect(record?.origin).toBe("archive");
    expect(record?.images).toEqual(original?.images);
    for (const digest of blobsOfRecord(record!)) {
      expect(await sha256File(store.content.blobPath(digest))).toBe(digest);
      expect(await readFile(store.content.blobPath(digest))).toEqual(await readFile(source.content.blobPath(digest)));
    }
    expect(await store.references.references()).toEqual([
      { reference: `${registry.url}/team/app:1.0`, id: APP.manifest },
      { reference: `${registry.url}/team/app@${APP.manifest}`, id: APP.manifest },
    ]);

    // Pushing it again finds every blob there; pushing it to another repository mounts them from the one it came from.
    const again = await pushImage(store, `${registry.url}/team/app:1.0`, undefined, { client });
    expect([again.digest, again.uploadedBlobs, again.layers.map((layer) => layer.status)]).toEqual([APP.manifest, 0, Array(3).fill("Layer already exists")]);
    const mounted = await pushImage(store, `${registry.url}/team/app:1.0`, `${registry.url}/other/app:2`, { client });
    expect([mounted.digest, mounted.uploadedBlobs, mounted.layers.map((layer) => layer.status)]).toEqual([APP.manifest, 0, Array(3).fill("Mounted from team/app")]);
  });

  it("a push records the target repository's name@digest, as docker does, and the next push mounts from it; a failed push records nothing", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(TESTDATA, "oci-archive.tar")), { name: "lading-testdata/app" });
    const first = await pushImage(store, "lading-testdata/app:app", `${registry.url}/recorded/a:1`, { client });
    expect([first.digest, first.uploadedBlobs]).toEqual([APP.manifest, 4]);
    const afterFirst = [
      { reference: `${registry.url}/recorded/a@${APP.manifest}`, id: APP.manifest },
      { reference: "lading-testdata/app:app", id: APP.manifest },
      { reference: `lading-testdata/app@${APP.manifest}`, id: APP.manifest },
    ];
    expect(await store.references.references()).toEqual(afterFirst);

    const refusing = await startProxy(registry.url, {
      intercept: (req, res) => {
        if (req.method !== "PUT" || !req.url?.includes("/manifests/")) return false;
        req.resume();
        res.writeHead(400, { "Content-Type": "application/json" }).end('{"errors":[{"code":"DENIED","message":"no"}]}');
        return true;
      },
    });
    try {
      const failure = await pushImage(store, "lading-testdata/app:app", `${refusing.host}/recorded/refused:1`, { client }).catch((error: unknown) => error);
      expect(isLadingError(failure) && failure.message).toBe(`registry ${refusing.host}: manifest recorded/refused:1: 400 DENIED: no`);
    } finally {
      await refusing.stop();
    }
    expect(await store.references.references()).toEqual(afterFirst);

    const second = await pushImage(store, "lading-testdata/app:app", `${registry.url}/recorded/b:1`, { client });
    expect([second.uploadedBlobs, second.layers.map((layer) => layer.status)]).toEqual([0, Array(3).fill("Mounted from recorded/a")]);
    expect(await store.references.references()).toEqual([afterFirst[0], { reference: `${registry.url}/recorded/b@${APP.manifest}`, id: APP.manifest }, ...afterFirst.slice(1)]);
  });

  it("an image loaded without its foreign layer pushes with its digest, uploading every blob but that layer's", async () => {
    const image = makeForeignImage(DOCKER_FOREIGN_LAYER, "push");
    const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
    const store = await freshStore();
    const bytes = buildTar(withoutFile(ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "example.com/win/app:1" } })] }), blobPath(foreign.digest)));
    await loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length));
    const windows = await startRegistry({ allowLayerUrls: true });
    try {
      const pushed = await pushImage(store, "example.com/win/app:1", `${windows.url}/win/app:1`, { client });
      expect([pushed.digest, pushed.uploadedBlobs, pushed.layers.map((layer) => [layer.digest, layer.status])]).toEqual([image.manifest.digest, 2, [[own.digest, "Pushed"]]]);
      const served = await client(windows.url).getManifest("win/app", "1");
      expect([served.digest, served.bytes.equals(image.manifest.bytes)]).toEqual([image.manifest.digest, true]);
      expect(await client(windows.url).hasBlob("win/app", foreign.digest)).toBe(false);
    } finally {
      await windows.stop();
    }
  });

  it("a pull records a foreign layer the registry lacks as absent, as a load of an archive without it does; one the registry holds is fetched", async () => {
    const image = makeForeignImage(DOCKER_FOREIGN_LAYER, "pull");
    const [foreign, own] = image.layers as [TestImage["layers"][number], TestImage["layers"][number]];
    const items = ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": "example.com/win/app:1" } })] });
    const loaded = async (bytes: Buffer): Promise<Store> => {
      const store = await freshStore();
      await loadArchive(store, await openTarStream(Readable.from([bytes]), bytes.length));
      return store;
    };
    const [withoutForeign, whole] = [await loaded(buildTar(withoutFile(items, blobPath(foreign.digest)))), await loaded(buildTar(items))];
    const imagesOf = async (store: Store): Promise<unknown> => (await store.records.get(image.manifest.digest))?.images;
    const windows = await startRegistry({ allowLayerUrls: true });
    try {
      await pushImage(withoutForeign, "example.com/win/app:1", `${windows.url}/win/lacking:1`, { client });
      await pushImage(whole, "example.com/win/app:1", `${windows.url}/win/holding:1`, { client });
      const store = await freshStore();

      const lacking = await pullImages(store, [`${windows.url}/win/lacking:1`], { client });
      expect(lacking.images[0]?.layers.map((layer) => [layer.digest, layer.status])).toEqual([
        [foreign.digest, "Foreign layer not in the registry"],
        [own.digest, "Pull complete"],
      ]);
      expect(await imagesOf(store)).toEqual(await imagesOf(withoutForeign));
      expect((await store.records.get(image.manifest.digest))?.images[0]?.layers[0]).toMatchObject({ digest: foreign.digest, absent: true, urls: FOREIGN_URLS });
      expect(await store.content.has(foreign.digest)).toBe(false);

      const holding = await pullImages(store, [`${windows.url}/win/holding:1`], { client });
      expect(holding.images[0]?.layers.map((layer) => [layer.digest, layer.status])).toEqual([
        [foreign.digest, "Pull complete"],
        [own.digest, "Already exists"],
      ]);
      expect(await imagesOf(store)).toEqual(await imagesOf(whole));
      expect(await store.content.verifyBlob(foreign.digest)).toBe(true);
    } finally {
      await windows.stop();
    }
  });

  it("a default pull of an index is sparse; its push needs the registry to hold the missing children", async () => {
    const store = await freshStore();
    const pulled = await pullImages(store, [`${registry.url}/multi:1`], { client, platforms: [{ os: "linux", architecture: "amd64" }] });
    const arm64 = (await source.records.get(MULTI.index))?.images.find((image) => image.platform === "linux/arm64")?.manifest.digest as string;
    expect(pulled.images[0]).toMatchObject({ id: MULTI.index, platforms: ["linux/amd64"], absent: ["linux/arm64"] });
    const record = await store.records.get(MULTI.index);
    expect(record?.images.map((image) => image.manifest.digest)).toEqual([MULTI.amd64]);
    expect(record?.absent).toEqual([{ digest: arm64, mediaType: "application/vnd.oci.image.manifest.v1+json", platform: "linux/arm64" }]);
    expect(await store.content.has(arm64)).toBe(false);

    const failure = await pushImage(store, `${registry.url}/multi:1`, `${second.url}/multi:1`, { client }).catch((error: unknown) => error);
    expect(isLadingError(failure) && failure.message).toBe(
      `cannot push ${second.url}/multi:1: the image is sparse and registry ${second.url} does not have linux/arm64 (${arm64}) in multi (pull the image with --all-platforms first)`,
    );
    // Nothing was uploaded before the refusal.
    expect(await client(second.url).hasBlob("multi", record!.images[0]!.config.digest)).toBe(false);

    const strict = await pushImage(store, `${registry.url}/multi:1`, `${registry.url}/multi:copy`, { client, allPlatforms: true }).catch((error: unknown) => error);
    expect(isLadingError(strict) && strict.message).toBe(
      `cannot push ${registry.url}/multi:copy with --all-platforms: the store lacks linux/arm64 (${arm64}) (pull it with --all-platforms)`,
    );
    // The registry the index came from still has the arm64 manifest: there the sparse push succeeds.
    const borrowed = await pushImage(store, `${registry.url}/multi:1`, `${registry.url}/multi:copy`, { client });
    expect([borrowed.digest, borrowed.borrowed, borrowed.manifests]).toEqual([MULTI.index, [arm64], 2]);

    // A later pull of the other platform fills the image in, and says so (not "sparse" again).
    const filled = await pullImages(store, [`${registry.url}/multi:1`], { client, platforms: [{ os: "linux", architecture: "arm64" }] });
    expect(filled.images[0]).toMatchObject({ id: MULTI.index, platforms: ["linux/amd64", "linux/arm64"], absent: [] });
    expect((await store.records.get(MULTI.index))?.absent).toEqual([]);
  });

  it("--all-platforms pulls every child, and a push to an empty registry keeps the index digest", async () => {
    const store = await freshStore();
    const pulled = await pullImages(store, [`${registry.url}/multi:1`], { client, allPlatforms: true });
    expect(pulled.images[0]).toMatchObject({ id: MULTI.index, platforms: ["linux/amd64", "linux/arm64"], absent: [] });
    const pushed = await pushImage(store, `${registry.url}/multi:1`, `${second.url}/copied/multi:1`, { client, allPlatforms: true });
    expect([pushed.digest, pushed.manifests, pushed.borrowed]).toEqual([MULTI.index, 3, []]);
    const served = await client(second.url).getManifest("copied/multi", "1");
    expect([served.digest, served.mediaType]).toEqual([MULTI.index, "application/vnd.oci.image.index.v1+json"]);
    expect(served.bytes).toEqual(await readFile(source.content.blobPath(MULTI.index)));
  });

  it("a blob corrupted on the way is refused and the store is left byte-identical", async () => {
    const store = await freshStore();
    await loadArchive(store, await openArchivePath(join(TESTDATA, "oci-archive.tar")), { name: "lading-testdata/app" });
    const before = await snapshotTree(store.paths.root);
    proxy.corrupt = true;
    try {
      const failure = await pullImages(store, [`${proxy.url}/multi:1`], { client, allPlatforms: true }).catch((error: unknown) => error);
      expect(isLadingError(failure) && failure.kind).toBe("invalid");
      expect(isLadingError(failure) && failure.message).toMatch(new RegExp(`^registry ${proxy.url}: blob sha256:[0-9a-f]{64} of multi: digest mismatch \\(got sha256:[0-9a-f]{64}\\)$`));
    } finally {
      proxy.corrupt = false;
    }
    expect(await snapshotTree(store.paths.root)).toEqual(before);
    expect(await store.references.get(`${proxy.url}/multi:1`)).toBeUndefined();
  });

  it("a blob whose connection is cut half way is downloaded again; cut every time, the pull fails after three tries and changes nothing", async () => {
    const store = await freshStore();
    const { config, layers } = (await source.records.get(APP.manifest))!.images[0]!;
    const halfOfCut = Math.floor((layers[1]?.size ?? 0) / 2);
    await pushImage(source, "lading-testdata/app:app", `${registry.url}/cut/app:1`, { client });
    proxy.blobGets = 0;
    proxy.cutDigest = APP.layers[1] as string;
    proxy.cuts = 1;
    const pulled = await pullImages(store, [`${proxy.url}/cut/app:1`], { client, parallel: 1 });
    expect([proxy.cuts, proxy.blobGets, pulled.fetchedBlobs, pulled.images[0]?.id]).toEqual([0, 5, 4, APP.manifest]);
    expect(await store.content.verifyBlob(config.digest)).toBe(true);
    for (const digest of APP.layers) expect(await store.content.verifyBlob(digest)).toBe(true);

    const other = await freshStore();
    const before = await snapshotTree(other.paths.root);
    proxy.cuts = 100;
    const failure = await pullImages(other, [`${proxy.url}/cut/app:1`], { client, parallel: 1 }).catch((error: unknown) => error);
    const attempts = 100 - proxy.cuts;
    proxy.cuts = 0;
    expect(isLadingError(failure) && [failure.kind, failure.message]).toEqual(["io", `registry ${proxy.url}: blob ${APP.layers[1]} of cut/app: connection lost after ${halfOfCut} bytes`]);
    expect(attempts).toBe(3);
    expect(await snapshotTree(other.paths.root)).toEqual(before);
  });

  it("a manifest, an index child and a config whose body is cut are fetched again; cut every time, the pull fails with the read's error and changes nothing", async () => {
    const amd64Config = (await source.records.get(MULTI.index))!.images.find((image) => image.platform === "linux/amd64")!.config.digest;
    const paths = { root: "/v2/multi/manifests/1", child: `/v2/multi/manifests/${MULTI.amd64}`, config: `/v2/multi/blobs/${amd64Config}` };
    const cuts = new Map<string, number>();
    const cutting = await startProxy(registry.url, {
      cutBody: (req) => {
        const left = cuts.get(req.path) ?? 0;
        if (req.method !== "GET" || left === 0) return undefined;
        cuts.set(req.path, left - 1);
        return 10;
      },
    });
    const gets = (path: string): number => cutting.log.filter((entry) => entry.method === "GET" && entry.path === path).length;
    const amd64 = { client, platforms: [{ os: "linux", architecture: "amd64" }] };
    try {
      for (const path of Object.values(paths)) cuts.set(path, 1);
      const pulled = await pullImages(await freshStore(), [`${cutting.host}/multi:1`], amd64);
      expect([pulled.images[0]?.id, pulled.images[0]?.platforms, ...Object.values(paths).map(gets)]).toEqual([MULTI.index, ["linux/amd64"], 2, 2, 2]);

      const store = await freshStore();
      const before = await snapshotTree(store.paths.root);
      cutting.log.length = 0;
      cuts.set(paths.config, 100);
      const config = await pullImages(store, [`${cutting.host}/multi:1`], amd64).catch((error: unknown) => error);
      expect(isLadingError(config) && [config.kind, config.message, gets(paths.config)]).toEqual(["io", `registry ${cutting.host}: blob ${amd64Config} of multi: connection lost after 10 bytes`, 3]);
      cuts.set(paths.root, 100);
      const root = await pullImages(store, [`${cutting.host}/multi:1`], amd64).catch((error: unknown) => error);
      // The client's own attempts (4), as for a connection lost before the answer.
      expect(isLadingError(root) && [root.kind, root.message, gets(paths.root)]).toEqual(["io", `registry ${cutting.host}: manifest multi:1: reading the body: aborted`, 1 + 4]);
      expect(await snapshotTree(store.paths.root)).toEqual(before);
    } finally {
      await cutting.stop();
    }
  });

  it("a second pull downloads no blob and reports the image up to date", async () => {
    const store = await freshStore();
    proxy.blobGets = 0;
    const first = await pullImages(store, [`${proxy.url}/multi:1`], { client, allPlatforms: true });
    const record = await store.records.get(MULTI.index);
    const configsAndLayers = new Set(record!.images.flatMap((image) => [image.config.digest, ...image.layers.map((layer) => layer.digest)]));
    expect([proxy.blobGets, first.fetchedBlobs, first.images[0]?.upToDate]).toEqual([configsAndLayers.size, configsAndLayers.size, false]);
    const tree = await snapshotTree(join(store.paths.root, "blobs"));

    proxy.blobGets = 0;
    const second = await pullImages(store, [`${proxy.url}/multi:1`], { client, allPlatforms: true });
    expect([proxy.blobGets, second.fetchedBlobs, second.fetchedBytes, second.images[0]?.upToDate]).toEqual([0, 0, 0, true]);
    expect(second.images[0]?.layers.every((layer) => layer.status === "Already exists")).toBe(true);
    expect(await snapshotTree(join(store.paths.root, "blobs"))).toEqual(tree);
  });

  it("pull by digest records only the digest reference", async () => {
    const store = await freshStore();
    const pulled = await pullImages(store, [`${registry.url}/multi@${MULTI.index}`], { client, platforms: [{ os: "linux", architecture: "arm64" }] });
    expect(pulled.images[0]).toMatchObject({ tagOrDigest: MULTI.index, tags: [], digests: [`${registry.url}/multi@${MULTI.index}`], platforms: ["linux/arm64"], absent: ["linux/amd64"] });
    expect(await store.references.references()).toEqual([{ reference: `${registry.url}/multi@${MULTI.index}`, id: MULTI.index }]);
  });

  it("errors name the reference: unknown tag, unknown platform", async () => {
    const store = await freshStore();
    const missing = await pullImages(store, [`${registry.url}/multi:nope`], { client }).catch((error: unknown) => error);
    expect(isLadingError(missing) && [missing.kind, missing.message]).toEqual(["not-found", `registry ${registry.url}: manifest multi:nope not found`]);
    const platform = await pullImages(store, [`${registry.url}/multi:1`], { client, platforms: [{ os: "linux", architecture: "s390x" }] }).catch((error: unknown) => error);
    expect(isLadingError(platform) && platform.message).toBe(`platform linux/s390x is not in ${registry.url}/multi:1 (it has linux/amd64, linux/arm64)`);
    // A platform already selected is still one the index has.
    const second = await pullImages(store, [`${registry.url}/multi:1`], { client, platforms: [{ os: "linux", architecture: "arm64" }, { os: "linux", architecture: "s390x" }] }).catch((error: unknown) => error);
    expect(isLadingError(second) && [second.kind, second.message]).toEqual(["not-found", `platform linux/s390x is not in ${registry.url}/multi:1 (it has linux/amd64, linux/arm64)`]);
    expect(await store.records.list()).toEqual([]);
  });

  it("the CLI prints docker's lines for pull and push", async () => {
    const root = join(dir, `store-${counter++}`);
    const pulled = await cli(root, "pull", "--platform", "linux/amd64", `${registry.url}/multi:1`);
    const record = await (await Store.open(root)).records.get(MULTI.index);
    const layerLines = record!.images[0]!.layers.map((layer) => `${layer.digest.slice(7, 19)}: Pull complete`);
    expect(pulled.stdout).toBe(
      [`1: Pulling from multi`, ...layerLines, `Digest: ${MULTI.index}`, `Status: Downloaded newer image for ${registry.url}/multi:1`, `${registry.url}/multi:1`, ""].join("\n"),
    );
    expect(pulled.stderr).toBe(`note: ${registry.url}/multi:1 is sparse: linux/arm64 not pulled (use --all-platforms to pull every platform)\n`);

    const again = await cli(root, "pull", "--platform", "linux/amd64", `${registry.url}/multi:1`);
    expect(again.stdout).toBe(
      [`1: Pulling from multi`, ...layerLines.map((line) => line.replace("Pull complete", "Already exists")), `Digest: ${MULTI.index}`, `Status: Image is up to date for ${registry.url}/multi:1`, `${registry.url}/multi:1`, ""].join("\n"),
    );

    const pushed = await cli(root, "push", `${registry.url}/multi:1`, `${registry.url}/multi:cli`);
    const pushLines = [...record!.images[0]!.layers].reverse().map((layer) => `${layer.digest.slice(7, 19)}: Layer already exists`);
    expect(pushed.stdout).toBe([`The push refers to repository [${registry.url}/multi]`, ...pushLines, `cli: digest: ${MULTI.index} size: ${record!.size}`, ""].join("\n"));
    expect(pushed.stderr).toBe(`note: ${registry.url}/multi:cli is sparse: the registry already held ${record!.absent[0]!.digest}\n`);
  });
});
