// An image whose manifest lading synthesised (it came from a manifest.json-only docker save), once
// a name by its digest is recorded (a push records one), is saved with that name in index.json,
// an entry also marked dev.lading.manifest.synthesized. load, convert and verify --roundtrip keep
// the name: the archive carries the manifest's bytes, and the digest is in the registry pushed to.
// The image is still said to be synthesised, in words true of an image index.json lists.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Store } from "../../src/store/store.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { ladingInProcess, scratchDirectory } from "../support/in-process-cli.js";

const INPUT = join(REPO_ROOT, "testdata", "docker-archive.tar");
/** The manifest lading synthesises for testdata/docker-archive.tar, the image's ID. */
const ID = "sha256:c2c61f8eba5f376e756f6e1b7318548404f4882fcb2b9628205548ef74f9473a";
const PINNED = `127.0.0.1:5117/fx/app@${ID}`;
const TAGGED = "127.0.0.1:5117/fx/app:1.0";
const MARK = { "dev.lading.manifest.synthesized": "true" };
const LOAD_NOTE = `note: ${PINNED} has a manifest synthesized by lading, as index.json marks it\n`;

const { newPath } = scratchDirectory("lading-pinned-synthesized-");
const lading = ladingInProcess;

/** `save -o FILE` of a store holding the docker-save image, tagged TAGGED and pinned as PINNED. */
let byDigest: string;
let byRepository: string;

beforeAll(async () => {
  const root = newPath("store");
  expect((await lading("--root", root, "load", "-q", "-i", INPUT)).code).toBe(0);
  expect((await lading("--root", root, "tag", "lading-testdata/app:1.0", TAGGED)).code).toBe(0);
  // What `lading push TAGGED` records, without a registry.
  const store = await Store.open(root);
  await store.references.addDigest(PINNED, ID);
  byDigest = newPath("by-digest.tar");
  byRepository = newPath("by-repository.tar");
  expect(await lading("--root", root, "save", "-q", "-o", byDigest, PINNED)).toEqual({ code: 0, stdout: "", stderr: "" });
  expect(await lading("--root", root, "save", "-q", "-o", byRepository, "127.0.0.1:5117/fx/app")).toEqual({ code: 0, stdout: "", stderr: "" });
});

/** The annotations of each entry of an archive's index.json, all of whose entries must describe the image. */
function annotationsOf(archive: string): (Record<string, string> | undefined)[] {
  const index = JSON.parse(execFileSync("tar", ["-xOf", archive, "index.json"], { encoding: "utf8" })) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  expect(index.manifests.map((entry) => entry.digest)).toEqual(index.manifests.map(() => ID));
  return index.manifests.map((entry) => entry.annotations);
}

describe("a name by the digest of a manifest lading synthesised", () => {
  it("save writes it to index.json beside the synthesised mark, and beside the image's tag of the same repository too", async () => {
    expect(annotationsOf(byDigest)).toEqual([{ "io.containerd.image.name": PINNED, ...MARK }]);
    expect(annotationsOf(byRepository)).toEqual([
      { "io.containerd.image.name": TAGGED, "org.opencontainers.image.ref.name": "1.0", ...MARK },
      { "io.containerd.image.name": PINNED, ...MARK },
    ]);
  });

  it("save's note names the image by that name and says index.json marks the manifest synthesised, not that it is no registry digest", async () => {
    const root = newPath("notes");
    expect((await lading("--root", root, "load", "-q", "-i", byRepository)).code).toBe(0);
    expect(await lading("--root", root, "save", "-o", newPath("pinned-again.tar"), PINNED)).toEqual({
      code: 0,
      stdout: "",
      stderr: `note: ${PINNED} has a manifest synthesized by lading, and index.json marks it so\n`,
    });
    expect(await lading("--root", root, "save", "-o", newPath("tagged-again.tar"), TAGGED)).toEqual({
      code: 0,
      stdout: "",
      // Saved by its tag alone, the archive carries no name by digest: nothing in it says a registry holds the manifest.
      stderr: `note: ${TAGGED} has a manifest synthesized by lading (${ID}), not a registry digest\n`,
    });
    expect(await lading("--root", root, "save", "-o", newPath("both-again.tar"), "127.0.0.1:5117/fx/app")).toEqual({
      code: 0,
      stdout: "",
      stderr: `note: ${TAGGED} has a manifest synthesized by lading (${ID}), and index.json marks it so\n`,
    });
    const json = JSON.parse((await lading("--root", root, "save", "--json", "-o", newPath("json.tar"), "127.0.0.1:5117/fx/app")).stdout) as { images: { tags: string[]; digestNames: string[] }[] };
    expect(json.images.map(({ tags, digestNames }) => [tags, digestNames])).toEqual([[[TAGGED], [PINNED]]]);
  });

  it("load keeps it, and its note says index.json marks the manifest synthesised, not that manifest.json alone lists it", async () => {
    const root = newPath("far-side");
    expect(await lading("--root", root, "load", "-i", byDigest)).toEqual({ code: 0, stdout: `Loaded image: ${PINNED}\n`, stderr: LOAD_NOTE });
    const json = JSON.parse((await lading("--root", root + "-json", "load", "--json", "-i", byDigest)).stdout) as { images: Record<string, unknown>[] };
    expect(json.images.map(({ id, origin, listedIn, tags, digests }) => ({ id, origin, listedIn, tags, digests }))).toEqual([
      { id: ID, origin: "synthesized", listedIn: "index.json", tags: [], digests: [PINNED] },
    ]);
    const inspected = JSON.parse((await lading("--root", root, "inspect", PINNED)).stdout) as { Id: string; RepoTags: string[]; RepoDigests: string[]; ManifestOrigin: string }[];
    expect(inspected.map(({ Id, RepoTags, RepoDigests, ManifestOrigin }) => ({ Id, RepoTags, RepoDigests, ManifestOrigin }))).toEqual([
      { Id: ID, RepoTags: [], RepoDigests: [PINNED], ManifestOrigin: "synthesized" },
    ]);
  });

  it("load keeps it beside a tag of the same repository, which implies no name by a synthesised digest", async () => {
    const root = newPath("far-side-tagged");
    const loaded = JSON.parse((await lading("--root", root, "load", "--json", "-i", byRepository)).stdout) as { images: { tags: string[]; digests: string[] }[] };
    expect(loaded.images.map(({ tags, digests }) => [tags, digests])).toEqual([[[TAGGED], [PINNED]]]);
    const text = await lading("--root", newPath("far-side-tagged-text"), "load", "-i", byRepository);
    expect(text).toEqual({
      code: 0,
      stdout: `Loaded image: ${TAGGED}\n`,
      stderr: `note: ${TAGGED} has a manifest synthesized by lading (${ID}), as index.json marks it\n`,
    });
  });

  it("convert carries it, in either layout, still marked synthesised", async () => {
    for (const format of ["docker", "oci"]) {
      const output = newPath(`converted-${format}.tar`);
      const converted = await lading("convert", "-q", "--format", format, byDigest, output);
      expect([converted.code, converted.stderr]).toEqual([0, ""]);
      expect(annotationsOf(output)).toEqual([{ "io.containerd.image.name": PINNED, ...MARK }]);
    }
    const output = newPath("converted-tagged.tar");
    expect((await lading("convert", "-q", byRepository, output)).code).toBe(0);
    expect(annotationsOf(output)).toEqual(annotationsOf(byRepository));
  });

  it("verify --roundtrip finds it in the saved archive: the trip is exact", async () => {
    for (const archive of [byDigest, byRepository]) {
      const trip = await lading("verify", "--roundtrip", archive);
      expect([trip.code, trip.stderr, trip.stdout.split("\n").slice(-2)]).toEqual([0, "", ["round trip is exact: 1 image came back with the same digests", ""]]);
    }
    const text = await lading("verify", "--roundtrip", byDigest);
    expect(text.stdout.split("\n").slice(0, 2)).toEqual([PINNED, `  manifest ${ID} (synthesized by lading: stable across trips, pinned by a name by digest)`]);
    const report = JSON.parse((await lading("verify", "--roundtrip", "--json", byRepository)).stdout) as { exact: boolean; images: { names: string[]; origin: string; differences: string[] }[] };
    expect([report.exact, report.images.map(({ names, origin, differences }) => ({ names, origin, differences }))]).toEqual([
      true,
      [{ names: [TAGGED, PINNED], origin: "synthesized", differences: [] }],
    ]);
  });

  it("verify lists it, its manifest synthesised by lading as index.json marks it", async () => {
    const result = await lading("verify", byDigest);
    expect([result.code, result.stdout.split("\n").slice(1, 4)]).toEqual([
      0,
      [PINNED, `  ID ${ID}  config sha256:fb5b2ad6a24aa54f8c9ca0f7cdf584eb08a611b5ae9cf62d54baa695825784c0  linux/amd64  3 layers`, `  manifest ${ID} (synthesized by lading, as index.json marks it)`],
    ]);
  });
});
