// What a library user reaches through the package's one entry point: every job (serve too), the
// types its signatures name, and results that say when a root has no image config.
import { execFileSync } from "node:child_process";
import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, describe, expect, expectTypeOf, it } from "vitest";
import * as lading from "../../src/index.js";
import { REPO_ROOT } from "./load-expectations.js";
import { blobOf, buildTar, descriptorOf, ensureBuilt, OCI_MANIFEST, ociLayoutItems } from "../support/archive-builder.js";

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-exports-"));
  temps.push(dir);
  return dir;
}

describe("the package's entry point", () => {
  it("names every type the jobs' signatures use (checked by tsc: an unexported one fails the typecheck)", () => {
    expectTypeOf<lading.RemoveResult>().toEqualTypeOf<Awaited<ReturnType<typeof lading.removeImage>>>();
    expectTypeOf<lading.InspectOptions | undefined>().toEqualTypeOf<Parameters<typeof lading.inspectImage>[2]>();
    expectTypeOf<lading.InspectedImage | lading.InspectedArtifact>().toEqualTypeOf<Awaited<ReturnType<typeof lading.inspectImage>>>();
    expectTypeOf<lading.StoreOptions | undefined>().toEqualTypeOf<Parameters<typeof lading.Store.open>[1]>();
    expectTypeOf<lading.OpenPathOptions | undefined>().toEqualTypeOf<Parameters<typeof lading.openArchivePath>[1]>();
    expectTypeOf<lading.Selection[]>().toEqualTypeOf<Awaited<ReturnType<typeof lading.selectImages>>>();
    expectTypeOf<lading.VerifiedRoot[]>().toEqualTypeOf<lading.VerifyReport["roots"]>();
    expectTypeOf<lading.VerifiedArtifact[]>().toEqualTypeOf<lading.VerifyReport["artifacts"]>();
    expectTypeOf<lading.Leftovers>().toEqualTypeOf<Awaited<ReturnType<typeof lading.pruneBlobs>>["leftovers"]>();
    expectTypeOf<lading.ServeOptions>().toEqualTypeOf<Parameters<typeof lading.startServer>[0]>();
    expectTypeOf<lading.RunningServer>().toEqualTypeOf<Awaited<ReturnType<typeof lading.startServer>>>();
    expect(new lading.LockLostError("/x.lock", new Error("gone"))).toBeInstanceOf(lading.LadingError);
  });

  it("is the package's only export: `import(\"lading\")` reaches it, a module path under dist/ does not", () => {
    ensureBuilt();
    // Run by node itself from the repository, which resolves its own package name through "exports".
    const script = `const m = await import("lading"); console.log(Object.keys(m).sort().join(" ")); await import("lading/dist/ops/load.js").catch((e) => console.log(e.code));`;
    const printed = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO_ROOT, encoding: "utf8" });
    expect(printed).toBe(`${Object.keys(lading).sort().join(" ")}\nERR_PACKAGE_PATH_NOT_EXPORTED\n`);
  });

  it("starts `lading serve`'s server: the Docker Engine API on the store's socket", async () => {
    const dir = await tempDir();
    const server = await lading.startServer({ root: join(dir, "store"), socketPath: join(dir, "s.sock") });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: server.socketPath, path: "/_ping" }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => (text += chunk.toString()));
          res.on("end", () => resolve(`${res.statusCode} ${text}`));
        });
        req.on("error", reject);
        req.end();
      });
      expect(body).toBe("200 OK");
    } finally {
      await server.close();
    }
  });
});

describe("configDigest of a root with no image config", () => {
  it("is null, for a loaded artifact and in the listing, where it was an empty string typed as a digest", async () => {
    const empty = blobOf("{}", "application/vnd.oci.empty.v1+json");
    const payload = blobOf('{"chart":"x"}', "application/vnd.example.chart.v1+json");
    const artifact = blobOf(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: "application/vnd.example.chart", config: descriptorOf(empty), layers: [descriptorOf(payload)] }),
      OCI_MANIFEST,
    );
    const archive = buildTar(ociLayoutItems([], { indexEntries: [descriptorOf(artifact, { annotations: { "io.containerd.image.name": "example.com/charts/x:1" } })], extraBlobs: [artifact, empty, payload] }));
    const store = await lading.Store.open(join(await tempDir(), "store"));
    const loaded = await lading.loadArchive(store, await lading.openTarStream(Readable.from([archive])));
    expect(loaded.images.map((image) => [image.id, image.tags, image.configDigest])).toEqual([[artifact.digest, ["example.com/charts/x:1"], null]]);
    expect((await lading.listImages(store)).map((image) => [image.id, image.configDigest])).toEqual([[artifact.digest, null]]);
    const inspected = await lading.inspectImage(store, "example.com/charts/x:1");
    expect([lading.isInspectedImage(inspected), inspected.ConfigDigest, "ArtifactType" in inspected && inspected.ArtifactType]).toEqual([false, empty.digest, "application/vnd.example.chart"]);
  });
});
