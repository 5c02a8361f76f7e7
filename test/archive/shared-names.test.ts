// One tag given to two different images, in index.json (two entries with one
// io.containerd.image.name) or in manifest.json (two items with one RepoTags value). docker load
// gives the tag to the last and prints its "renaming the old one" line; skopeo refuses such an OCI
// archive for a lookup by name. It is not refused but said, naming the tag and both images: by
// verify (a warning), load and convert (notes); convert also says what it writes for the image
// passed over, which before went without a word.
import { writeFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { buildTar, descriptorOf, dockerArchiveItems, layerTar, makeImage, ociLayoutItems, synthesizedDockerDigest, type TarItem } from "../support/archive-builder.js";
import { ladingInProcess, scratchDirectory } from "../support/in-process-cli.js";

const first = makeImage({ seed: "first", layers: [layerTar({ "etc/first.txt": "first\n" })] });
const second = makeImage({ seed: "second", layers: [layerTar({ "etc/second.txt": "second\n" })] });
const NAME = "docker.io/fixture/shared:1.0";
const { newPath } = scratchDirectory("lading-shared-names-");
const lading = ladingInProcess;

const ociItems = ociLayoutItems([first, second], {
  indexEntries: [first, second].map((image) => descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": NAME } })),
});
const dockerItems = dockerArchiveItems([
  { image: first, repoTags: ["fixture/shared:1.0"] },
  { image: second, repoTags: ["fixture/shared:1.0"] },
]);


const OCI_FIRST = first.manifest.digest;
const OCI_SECOND = second.manifest.digest;
const DOCKER_FIRST = synthesizedDockerDigest(first);
const DOCKER_SECOND = synthesizedDockerDigest(second);

const sharedWarning = (a: string, atA: string, b: string, atB: string): string =>
  `${NAME} names 2 images, ${a} (${atA}) and ${b} (${atB}): a load gives it to the last, as docker load does, and leaves ${a} without it`;
const OCI_WARNING = sharedWarning(OCI_FIRST, "index.json manifests[0]", OCI_SECOND, "index.json manifests[1]");
const DOCKER_WARNING = sharedWarning(DOCKER_FIRST, "manifest.json[0]", DOCKER_SECOND, "manifest.json[1]");

async function newTar(items: readonly TarItem[]): Promise<string> {
  const path = newPath("archive.tar");
  await writeFile(path, buildTar(items));
  return path;
}

describe("one tag on two images", () => {
  it("verify calls the archive valid, with a warning naming the tag and both images (text and --json)", async () => {
    for (const [items, warning] of [
      [ociItems, OCI_WARNING],
      [dockerItems, DOCKER_WARNING],
    ] as const) {
      const tar = await newTar(items);
      const text = await lading("verify", tar);
      expect([text.code, text.stdout.endsWith("archive is valid\n"), text.stderr]).toEqual([0, true, `warning: ${warning}\n`]);
      const json = JSON.parse((await lading("verify", "--json", tar)).stdout) as { valid: boolean; warnings: string[] };
      expect([json.valid, json.warnings]).toEqual([true, [warning]]);
    }
  });

  it("verify --roundtrip gives verify's warning first, then the name the trip moved (text and --json)", async () => {
    const tar = await newTar(ociItems);
    const text = await lading("verify", "--roundtrip", tar);
    const moved = [
      `error: fixture/shared:1.0: name ${NAME}: in the input, not in the saved archive`,
      `error: fixture/shared:1.0: name docker.io/fixture/shared@${OCI_FIRST}: in the saved archive, not in the input`,
    ];
    expect([text.code, text.stderr.split("\n")]).toEqual([1, [`warning: ${OCI_WARNING}`, ...moved, ""]]);
    const json = JSON.parse((await lading("verify", "--roundtrip", "--json", tar)).stdout) as { valid: boolean; warnings: string[] };
    expect([json.valid, json.warnings]).toEqual([false, [OCI_WARNING]]);
  });

  it("load gives the tag to the last image, as docker load does, with a note, and its renaming line between the two images' lines, where docker prints it", async () => {
    const oci = await lading("--root", newPath("root"), "load", "-i", await newTar(ociItems));
    expect(oci).toEqual({
      code: 0,
      stdout: `Loaded image: fixture/shared:1.0\nThe image fixture/shared:1.0 already exists, renaming the old one with ID ${OCI_FIRST} to empty string\nLoaded image: fixture/shared:1.0\n`,
      stderr: `note: ${OCI_WARNING}\n`,
    });
    const docker = await lading("--root", newPath("root"), "load", "-i", await newTar(dockerItems));
    expect([docker.code, docker.stderr.split("\n").slice(-2)]).toEqual([0, [`note: ${DOCKER_WARNING}`, ""]]);
  });

  it("convert says so, and what it writes for the image passed over: a name by its digest, or nothing for a synthesized one", async () => {
    for (const format of ["docker", "oci"]) {
      const oci = await lading("convert", "--format", format, await newTar(ociItems), newPath("out.tar"));
      expect([oci.code, oci.stderr.split("\n").slice(-3)]).toEqual([
        0,
        [`note: ${OCI_WARNING}`, `note: ${OCI_FIRST} is written without ${NAME}, which goes to ${OCI_SECOND}: named docker.io/fixture/shared@${OCI_FIRST} instead`, ""],
      ]);
      const docker = await lading("convert", "--format", format, await newTar(dockerItems), newPath("out.tar"));
      expect([docker.code, docker.stderr.split("\n").slice(-3)]).toEqual([0, [`note: ${DOCKER_WARNING}`, `note: ${DOCKER_FIRST} is written without ${NAME}, which goes to ${DOCKER_SECOND}: untagged`, ""]]);
    }
  });

  it("says nothing of one tag an index.json gives one image twice", async () => {
    const twice = ociLayoutItems([first], { indexEntries: [first, first].map((image) => descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": NAME } })) });
    const result = await lading("verify", "--json", await newTar(twice));
    expect([result.code, (JSON.parse(result.stdout) as { warnings: string[] }).warnings, result.stderr]).toEqual([0, [], ""]);
  });
});
