// The library API (src/index.ts) does every job of the CLI: load, save to a file, verify,
// convert, the round trip and fsck, through the names it exports, with the digests the fixtures
// record.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import * as lading from "../../src/index.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const OCI = join(FIXTURES, "archives", "skopeo-oci-archive.tar");

const temps: string[] = [];
afterEach(async () => {
  for (const dir of temps.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "lading-library-"));
  temps.push(dir);
  return dir;
}

describe("the library API", () => {
  it("loads, saves to a file, verifies, converts, round-trips and checks the store, keeping the manifest digest", async () => {
    const expected = JSON.parse(await readFile(join(FIXTURES, "expected.json"), "utf8")) as {
      fixtures: Record<string, { images: { manifestDigest: string; imageId: string }[] }>;
    };
    const [fixture] = expected.fixtures["skopeo-oci-archive.tar"]!.images;
    const dir = await tempDir();
    const store = await lading.Store.open(join(dir, "store"));
    const loaded = await lading.loadArchive(store, await lading.openArchivePath(OCI), { checkCompressedLayers: false, name: "library/test" });
    const [image] = loaded.images;
    expect(loaded.images.map((entry) => [entry.id, entry.configDigest, entry.tags])).toEqual([[fixture!.manifestDigest, fixture!.imageId, ["test:1.0"]]]);
    const out = join(dir, "out.tar");
    const saved = await lading.saveToFile(out, (sink) => lading.saveImages(store, [image!.id], sink, { format: "oci" }));
    expect(saved.images.map((entry) => entry.id)).toEqual([image!.id]);
    const report = await lading.verifyArchive(await lading.openArchivePath(out));
    expect([report.valid, report.images.map((entry) => entry.manifestDigest)]).toEqual([true, [image!.id]]);
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    });
    const converted = await lading.convertArchive(await lading.openArchivePath(out), sink, { format: "docker" });
    expect([converted.inputFormat, converted.saved.images.map((entry) => entry.id)]).toEqual(["oci-layout", [image!.id]]);
    const dockerArchive = await lading.verifyArchive(await lading.openTarStream(Readable.from([Buffer.concat(chunks)])));
    expect(dockerArchive.images.map((entry) => [entry.manifestDigest, entry.configDigest])).toEqual([[fixture!.manifestDigest, fixture!.imageId]]);
    const roundtrip = await lading.verifyRoundtrip(await lading.openArchivePath(out));
    expect(roundtrip.valid).toBe(true);
    const fsck = await lading.fsckStore(store);
    expect(fsck.problems).toEqual([]);
  });

  it("lists images through filters parsed as `lading images PATTERN -f KEY=VALUE` parses them", async () => {
    const store = await lading.Store.open(join(await tempDir(), "store"));
    await lading.loadArchive(store, await lading.openArchivePath(join(FIXTURES, "archives", "docker-save-single.tar")));
    const filter: lading.ImageFilters = lading.parseImageFilter("fixture/*");
    expect(filter).toEqual({ reference: ["fixture/*"], dangling: undefined, label: [], before: [], since: [] });
    const listed = await lading.listImages(store, filter);
    expect(listed.map((image) => [image.id, image.repoTags])).toEqual([
      ["sha256:2846d53959af90a6a2526068a48aefdb29789c57c4855e58b8c7077081e2fef1", ["fixture/imported:1.0", "fixture/imported:latest"]],
    ]);
    expect(() => lading.parseImageFilter("fixture/[")).toThrow('invalid reference pattern "fixture/[": syntax error in pattern');
    const filters = lading.parseImageFilters([" Label = org.example.fixture=imported", "dangling=false"], "fixture/*:1.0");
    expect(filters).toEqual({ reference: ["fixture/*:1.0"], dangling: false, label: ["org.example.fixture=imported"], before: [], since: [] });
    expect((await lading.listImages(store, filters)).map((image) => image.repoTags)).toEqual([["fixture/imported:1.0"]]);
  });
});
