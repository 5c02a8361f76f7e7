// lading pull/push meet skopeo 1.9 and docker-registry 2.8 (Debian's packages) on loopback:
// what skopeo pushes from the real fixtures, lading pulls with the digest `skopeo inspect`
// reports; a multi-platform index pulled with --all-platforms, saved, loaded into a fresh store
// and pushed to a second registry keeps its digest; a default (sparse) pull cannot be pushed to an
// empty registry; what lading pushes, skopeo reads and copies.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { Store } from "../../src/store/store.js";
import { capturingTerminal, type CliResult } from "../support/archive-builder.js";
import { FIXTURES, HAVE_FIXTURES, sharedExpected, TESTDATA } from "../ops/load-expectations.js";
import { makeTempDir, removeTree, requirePeers, run, runBytes, startRegistry, type Registry } from "../support/peers.js";

const ready = requirePeers("docker-registry", "skopeo") && HAVE_FIXTURES;

const sha256 = (bytes: Buffer | string): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;


/** `lading --root ROOT ...` in process, exactly as the CLI's main() runs it. */
async function lading(root: string, ...args: string[]): Promise<CliResult> {
  const captured = capturingTerminal();
  const code = await main(["node", "lading", "--root", root, ...args], captured.terminal);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

async function skopeoDigest(reference: string): Promise<string> {
  const inspected = await run("skopeo", ["inspect", "--tls-verify=false", reference]);
  expect([inspected.code, inspected.stderr]).toEqual([0, ""]);
  return (JSON.parse(inspected.stdout) as { Digest: string }).Digest;
}

async function skopeoRawDigest(reference: string): Promise<string> {
  const raw = await runBytes("skopeo", ["inspect", "--tls-verify=false", "--raw", reference]);
  expect(raw.code).toBe(0);
  return sha256(raw.stdout);
}

async function skopeoCopy(...args: string[]): Promise<void> {
  const copied = await run("skopeo", ["copy", "-q", "--dest-tls-verify=false", "--src-tls-verify=false", ...args], { timeoutMs: 120_000 });
  expect([copied.code, copied.stderr]).toEqual([0, ""]);
}

describe.skipIf(!ready)("lading pull and push with skopeo and docker-registry", () => {
  let dir: string;
  let registry: Registry;
  let second: Registry;
  let counter = 0;
  const newRoot = (): string => join(dir, `root-${counter++}`);
  const fixtures = sharedExpected?.fixtures;
  const multiIndex = fixtures?.["oci-archive-multiplatform.tar"]?.index?.manifests[0]?.digest as string;
  const multiImages = fixtures?.["oci-archive-multiplatform.tar"]?.images ?? [];

  beforeAll(async () => {
    dir = makeTempDir("lading-registry-interop-");
    [registry, second] = await Promise.all([startRegistry(), startRegistry()]);
    await skopeoCopy("--preserve-digests", `oci-archive:${join(FIXTURES, "archives", "skopeo-oci-archive.tar")}`, `docker://${registry.url}/fixture/app:1.0`);
    await skopeoCopy("--all", "--preserve-digests", `oci-archive:${join(FIXTURES, "archives", "oci-archive-multiplatform.tar")}`, `docker://${registry.url}/fixture/multi:1.0`);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([registry?.stop(), second?.stop()]);
    if (dir) await removeTree(dir);
  });

  it("an image skopeo pushed is pulled with the digest skopeo inspect reports", async () => {
    const reference = `${registry.url}/fixture/app:1.0`;
    const digest = await skopeoDigest(`docker://${reference}`);
    expect(digest).toBe(fixtures?.["skopeo-oci-archive.tar"]?.images[0]?.manifestDigest);
    const root = newRoot();
    const pulled = await lading(root, "pull", reference);
    const layers = fixtures?.["skopeo-oci-archive.tar"]?.images[0]?.layers.map((layer) => `${(layer.blobSha256 ?? layer.digest ?? "").slice(7, 19)}: Pull complete`) ?? [];
    expect(pulled).toEqual({
      code: 0,
      stdout: [`1.0: Pulling from fixture/app`, ...layers, `Digest: ${digest}`, `Status: Downloaded newer image for ${reference}`, reference, ""].join("\n"),
      stderr: "",
    });
    const inspected = JSON.parse((await lading(root, "inspect", reference)).stdout) as { Id: string; RepoDigests: string[]; ConfigDigest: string; ManifestOrigin: string }[];
    expect(inspected.map(({ Id, RepoDigests, ConfigDigest, ManifestOrigin }) => ({ Id, RepoDigests, ConfigDigest, ManifestOrigin }))).toEqual([
      { Id: digest, RepoDigests: [`${registry.url}/fixture/app@${digest}`], ConfigDigest: fixtures?.["skopeo-oci-archive.tar"]?.images[0]?.imageId, ManifestOrigin: "archive" },
    ]);
  });

  it("a multi-platform index pulled with --all-platforms, saved, loaded into a fresh store and pushed to a second registry keeps its digest", async () => {
    const reference = `${registry.url}/fixture/multi:1.0`;
    expect(await skopeoRawDigest(`docker://${reference}`)).toBe(multiIndex);
    const pulledRoot = newRoot();
    const pulled = await lading(pulledRoot, "pull", "--all-platforms", "-q", reference);
    expect(pulled).toEqual({ code: 0, stdout: `${reference}\n`, stderr: "" });
    const archive = join(dir, "multi.tar");
    // A pull checks every blob's digest and every layer's diff ID, and records what it
    // decompressed as a load does: save has nothing to warn of, and fsck nothing left to decompress.
    // Both platforms share their one layer.
    const layers = new Set(multiImages.flatMap((image) => image.layers.map((layer) => layer.blobSha256 ?? layer.digest ?? "")));
    expect(layers.size).toBe(1);
    const [layer] = [...layers] as [string];
    expect((await (await Store.open(pulledRoot)).diffIds.get(layer))?.diffId).toBe(multiImages[0]?.diffIds[0]);
    const saved = await lading(pulledRoot, "save", "-q", "-o", archive, reference);
    expect([saved.code, saved.stderr]).toEqual([0, ""]);
    const checked = await lading(pulledRoot, "fsck", "--json");
    expect([checked.code, (JSON.parse(checked.stdout) as { layersDecompressed: number }).layersDecompressed]).toEqual([0, 0]);

    const freshRoot = newRoot();
    const loaded = await lading(freshRoot, "load", "-q", "-i", archive);
    expect(loaded).toEqual({ code: 0, stdout: `Loaded image: ${reference}\n`, stderr: "" });
    const target = `${second.url}/copied/multi:2.0`;
    const pushed = await lading(freshRoot, "push", reference, target);
    const layerDigests = [...new Set(multiImages.flatMap((image) => image.layers.map((layer) => layer.blobSha256 ?? layer.digest ?? "")))].reverse();
    expect(pushed).toEqual({
      code: 0,
      stdout: [`The push refers to repository [${second.url}/copied/multi]`, ...layerDigests.map((digest) => `${digest.slice(7, 19)}: Pushed`), `2.0: digest: ${multiIndex} size: 491`, ""].join("\n"),
      stderr: "",
    });
    expect(await skopeoRawDigest(`docker://${target}`)).toBe(multiIndex);
    for (const image of multiImages) {
      const child = await runBytes("skopeo", ["inspect", "--tls-verify=false", "--raw", `docker://${second.url}/copied/multi@${image.manifestDigest}`]);
      expect([child.code, sha256(child.stdout)]).toEqual([0, image.manifestDigest]);
    }
    // skopeo can copy every platform back out of the second registry.
    await skopeoCopy("--all", "--preserve-digests", `docker://${target}`, `oci:${join(dir, "multi-out")}:x`);
  });

  it("a default pull of the index is sparse, and its push to an empty registry fails naming the missing child", async () => {
    const reference = `${registry.url}/fixture/multi:1.0`;
    const root = newRoot();
    const pulled = await lading(root, "pull", reference);
    expect(pulled.code).toBe(0);
    expect(pulled.stdout.split("\n").slice(-4)).toEqual([`Digest: ${multiIndex}`, `Status: Downloaded newer image for ${reference}`, reference, ""]);
    expect(pulled.stderr).toBe(`note: ${reference} is sparse: linux/arm64 not pulled (use --all-platforms to pull every platform)\n`);
    const store = await Store.open(root);
    expect((await store.records.get(multiIndex))?.images.map((image) => image.manifest.digest)).toEqual([multiImages.find((image) => image.architecture === "amd64")?.manifestDigest]);

    const arm64 = multiImages.find((image) => image.architecture === "arm64")?.manifestDigest;
    const pushed = await lading(root, "push", reference, `${second.url}/sparse/multi:1.0`);
    expect(pushed).toEqual({
      code: 1,
      stdout: "",
      stderr: `lading: error: cannot push ${second.url}/sparse/multi:1.0: the image is sparse and registry ${second.url} does not have linux/arm64 (${arm64}) in sparse/multi (pull the image with --all-platforms first)\n`,
    });
    const tags = await run("skopeo", ["list-tags", "--tls-verify=false", `docker://${second.url}/sparse/multi`]);
    expect(tags.code).not.toBe(0);
  });

  it("an image lading pushed is read and copied by skopeo with the same digest", async () => {
    const root = newRoot();
    const loaded = await lading(root, "load", "-q", "-i", join(TESTDATA, "oci-archive.tar"), "--name", "lading-testdata/app");
    expect(loaded.code).toBe(0);
    const target = `${second.url}/lading/app:1`;
    const pushed = await lading(root, "push", "-q", "lading-testdata/app:app", target);
    const expected = "sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e";
    expect(pushed.stdout).toMatch(new RegExp(`^1: digest: ${expected} size: \\d+\\n$`));
    expect(await skopeoDigest(`docker://${target}`)).toBe(expected);
    await skopeoCopy(`docker://${target}`, `oci:${join(dir, "app-out")}:app`);
  });
});
