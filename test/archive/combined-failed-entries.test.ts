// A combined archive (index.json beside manifest.json, as ctr export and Docker 25+ write it) in
// which an entry of one document fails for a reason of its own: that reason is its one problem.
// The other document is not also said to lack the image or name the failed entry carries (before,
// a manifest.json item with its layers out of order also gave "index.json: NAME names …, but
// manifest.json gives that name to none of its images"), while a true disagreement still is one.
import { describe, expect, it } from "vitest";
import { blobPath, buildTar, descriptorOf, makeImage, ociLayoutItems, verifyItems, withFile, type TestImage } from "../support/archive-builder.js";

const layerOf = (seed: string): Buffer => buildTar([{ type: "file", name: `etc/${seed}.txt`, content: `${seed}\n` }]);
const app = makeImage({ seed: "app", layers: [layerOf("base"), layerOf("app")] });
const top = makeImage({ seed: "top", layers: [layerOf("base"), layerOf("top")] });
const APP = "docker.io/fixture/app:1.0";
const TOP = "docker.io/fixture/top:1.0";

interface Item {
  image: TestImage;
  repoTags: string[];
  layers?: string[];
}

/** A combined archive of app and top, named APP and TOP in index.json, with manifest.json's items as given. */
function combined(items: Item[], indexEntries = [descriptorOf(app.manifest, { annotations: { "io.containerd.image.name": APP } }), descriptorOf(top.manifest, { annotations: { "io.containerd.image.name": TOP } })]) {
  const manifestJson = items.map(({ image, repoTags, layers }) => ({ Config: blobPath(image.config.digest), RepoTags: repoTags, Layers: layers ?? image.layers.map((layer) => blobPath(layer.digest)) }));
  return withFile(ociLayoutItems([app, top], { indexEntries }), "manifest.json", JSON.stringify(manifestJson));
}

const problemsOf = async (items: ReturnType<typeof combined>): Promise<[string, string][]> => (await verifyItems(items)).problems.map((problem) => [problem.entry, problem.message]);

const reversed = app.layers.map((layer) => blobPath(layer.digest)).reverse();
const diffIdProblem: [string, string] = [
  blobPath(app.layers[1]!.digest),
  `manifest.json[0].Layers[0]: layer ${blobPath(app.layers[1]!.digest)} has diff ID ${app.layers[1]!.diffId}, but ${blobPath(app.config.digest)} rootfs.diff_ids[0] is ${app.layers[0]!.diffId}`,
];

describe("a combined archive with a failed entry", () => {
  it("is sound as built", async () => {
    expect(await problemsOf(combined([{ image: app, repoTags: ["fixture/app:1.0"] }, { image: top, repoTags: ["fixture/top:1.0"] }]))).toEqual([]);
  });

  it("a manifest.json item with its layers reversed gives its diff-ID problem only, not that index.json's name for it is given to none", async () => {
    expect(await problemsOf(combined([{ image: app, repoTags: ["fixture/app:1.0"], layers: reversed }, { image: top, repoTags: ["fixture/top:1.0"] }]))).toEqual([diffIdProblem]);
  });

  it("an index.json entry whose size is wrong gives its size problem only, not that manifest.json's image is described by no entry", async () => {
    const wrongSize = { ...descriptorOf(app.manifest, { annotations: { "io.containerd.image.name": APP } }), size: app.manifest.size + 1 };
    const items = combined([{ image: app, repoTags: ["fixture/app:1.0"] }, { image: top, repoTags: ["fixture/top:1.0"] }], [wrongSize, descriptorOf(top.manifest, { annotations: { "io.containerd.image.name": TOP } })]);
    expect(await problemsOf(items)).toEqual([[blobPath(app.manifest.digest), `index.json manifests[0]: size ${app.manifest.size + 1} does not match ${blobPath(app.manifest.digest)} (${app.manifest.size} bytes)`]]);
  });

  it("an oci-layout that fails its own check gives that problem only, not that index.json, left unread, describes no image of manifest.json", async () => {
    const sound = combined([{ image: app, repoTags: ["fixture/app:1.0"] }, { image: top, repoTags: ["fixture/top:1.0"] }]);
    expect(await problemsOf(withFile(sound, "oci-layout", JSON.stringify({ imageLayoutVession: "1.0.0" })))).toEqual([["oci-layout", 'oci-layout: imageLayoutVersion: missing (there is a key "imageLayoutVession", one character off)']]);
    expect(await problemsOf(withFile(sound, "oci-layout", JSON.stringify({ imageLayoutVersion: "2.0.0" })))).toEqual([["oci-layout", 'oci-layout: unsupported imageLayoutVersion "2.0.0" (want "1.0.0")']]);
  });

  it("an index.json refused as a whole document (one entry's key misspelt) gives that problem only, not that it describes no image of manifest.json", async () => {
    const sound = combined([{ image: app, repoTags: ["fixture/app:1.0"] }, { image: top, repoTags: ["fixture/top:1.0"] }]);
    const [misspelt, other] = [descriptorOf(app.manifest, { annotations: { "io.containerd.image.name": APP } }), descriptorOf(top.manifest, { annotations: { "io.containerd.image.name": TOP } })];
    const { digest, ...rest } = misspelt;
    const index = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ ...rest, digst: digest }, other] });
    expect(await problemsOf(withFile(sound, "index.json", index))).toEqual([["index.json", 'index.json: manifests[0].digest: missing (there is a key "digst", one character off)']]);
  });

  it("a true disagreement beside a failed entry is still said: a name index.json gives that no sound item gives, and the failed item does not carry", async () => {
    const items = combined([{ image: app, repoTags: ["fixture/app:1.0"], layers: reversed }, { image: top, repoTags: ["fixture/other:1.0"] }]);
    expect(await problemsOf(items)).toEqual([
      diffIdProblem,
      ["manifest.json", `manifest.json[1].RepoTags: docker.io/fixture/other:1.0 is not a name index.json gives to config ${top.config.digest}`],
      ["index.json", `index.json: ${TOP} names ${top.manifest.digest}, but manifest.json gives that name to none of its images`],
    ]);
  });
});
