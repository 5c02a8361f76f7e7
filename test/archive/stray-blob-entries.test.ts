// A file under blobs/<alg>/ whose name is no digest (macOS's .DS_Store and ._<hex>, left by a copy
// to a USB stick; a stray "zzz"; uppercase hex; an algorithm lading does not read, such as md5) is no blob: it is
// ignored with a warning naming it, in a layout directory or tar, by verify, load and convert (as
// skopeo and umoci ignore it), while a blob named for a valid digest must still hold it.
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { filesUnder, snapshotTree } from "../support/store-tree.js";
import { blobPath, buildTar, descriptorOf, hexOf, makeImage, ociLayoutItems, sha256, withFile, type TarItem } from "../support/archive-builder.js";
import { ladingInProcess, scratchDirectory } from "../support/in-process-cli.js";

const image = makeImage({ gzip: true, seed: "stray" });
const layer = image.layers[0]!;
const NAME = "docker.io/library/stray:1";
const goodItems = ociLayoutItems([image], { indexEntries: [descriptorOf(image.manifest, { annotations: { "io.containerd.image.name": NAME } })] });
const MD5 = "0123456789abcdef0123456789abcdef";
const strays: [string, string][] = [
  ["blobs/sha256/.DS_Store", 'invalid digest "sha256:.DS_Store"'],
  [`blobs/sha256/._${hexOf(layer.digest)}`, `invalid digest "sha256:._${hexOf(layer.digest)}"`],
  ["blobs/sha256/zzz", 'invalid sha256 digest "sha256:zzz" (want 64 lowercase hex digits)'],
  // A copy of the layer under its digest in uppercase: a name no descriptor can give (one that did would be refused).
  [`blobs/sha256/${hexOf(layer.digest).toUpperCase()}`, `invalid sha256 digest "sha256:${hexOf(layer.digest).toUpperCase()}" (want 64 lowercase hex digits)`],
  [`blobs/md5/${MD5}`, `unsupported digest algorithm "md5" in "md5:${MD5}"`],
];
const warningOf = ([name, reason]: [string, string]): string => `${name}: ignored, as its name is no digest: ${reason}`;
const WARNINGS = strays.map(warningOf);
/** The layout with every stray beside its blobs, each holding bytes that match no blob (as an AppleDouble file would). */
const strayItems = strays.reduce<TarItem[]>((items, [name]) => withFile(items, name, `resource fork of ${name}\n`), goodItems);

const { newPath } = scratchDirectory("lading-stray-blobs-");
const lading = ladingInProcess;

/** The items as a layout tar and as a layout directory. */
async function bothForms(items: readonly TarItem[]): Promise<{ tar: string; directory: string }> {
  const tar = newPath("layout.tar");
  await writeFile(tar, buildTar(items));
  const directory = newPath("layout");
  for (const item of items) {
    if (item.type !== "file") throw new Error(`only files are written to a directory, not ${item.type}`);
    await mkdir(dirname(join(directory, item.name)), { recursive: true });
    await writeFile(join(directory, item.name), item.content);
  }
  return { tar, directory };
}

interface VerifyJson {
  valid: boolean;
  warnings: string[];
  problems: { entry: string; message: string }[];
  images: { manifestDigest: string; layers: { digest: string; diffId: string }[] }[];
}

describe("a file under blobs/<alg>/ not named for a digest", () => {
  it("verify ignores each, with a warning naming it, in a tar and in a directory; the image's blobs are still found and checked", async () => {
    for (const input of Object.values(await bothForms(strayItems))) {
      const result = await lading("verify", "--json", input);
      const report = JSON.parse(result.stdout) as VerifyJson;
      expect([result.code, report.valid, report.problems, [...report.warnings].sort()]).toEqual([0, true, [], [...WARNINGS].sort()]);
      expect(report.images.map((found) => [found.manifestDigest, found.layers.map((l) => [l.digest, l.diffId])])).toEqual([[image.manifest.digest, [[layer.digest, layer.diffId]]]]);
    }
    const text = await lading("verify", (await bothForms(withFile(goodItems, "blobs/sha256/.DS_Store", ""))).directory);
    expect([text.code, text.stderr]).toEqual([0, `warning: ${warningOf(strays[0]!)}\n`]);
  });

  it("load ignores each with a note and stores what a load of the layout without them stores", async () => {
    const clean = newPath("root");
    expect(await lading("--root", clean, "load", "-i", (await bothForms(goodItems)).tar)).toEqual({ code: 0, stdout: `Loaded image: stray:1\n`, stderr: "" });
    for (const input of Object.values(await bothForms(withFile(goodItems, "blobs/sha256/.DS_Store", "")))) {
      const root = newPath("root");
      expect(await lading("--root", root, "load", "-i", input)).toEqual({ code: 0, stdout: `Loaded image: stray:1\n`, stderr: `note: ${warningOf(strays[0]!)}\n` });
      expect(await snapshotTree(join(root, "blobs"))).toEqual(await snapshotTree(join(clean, "blobs")));
    }
    const root = newPath("root");
    const json = await lading("--root", root, "load", "--json", "-i", (await bothForms(strayItems)).tar);
    expect([json.code, [...(JSON.parse(json.stdout) as { warnings: string[] }).warnings].sort()]).toEqual([0, [...WARNINGS].sort()]);
    expect(await snapshotTree(join(root, "blobs"))).toEqual(await snapshotTree(join(clean, "blobs")));
  });

  it("convert ignores each with a note", async () => {
    const result = await lading("convert", await newTar(withFile(goodItems, "blobs/sha256/.DS_Store", "")), newPath("out.tar"));
    expect(result).toEqual({ code: 0, stdout: "Converted oci-layout to docker: 1 image\n", stderr: `note: ${warningOf(strays[0]!)}\n` });
  });

  it("a file named for a valid digest must still hold it, beside the strays; so must a blob the image uses", async () => {
    const other = sha256("some other blob");
    const misnamed = withFile(strayItems, blobPath(other), "not that blob\n");
    for (const input of Object.values(await bothForms(misnamed))) {
      const report = JSON.parse((await lading("verify", "--json", input)).stdout) as VerifyJson;
      expect([report.valid, report.problems]).toEqual([false, [{ entry: blobPath(other), message: `${blobPath(other)}: content does not match its name (content is ${sha256("not that blob\n")})` }]]);
    }
    const damaged = Buffer.from(layer.bytes);
    damaged[damaged.length - 1]! ^= 0xff;
    const root = newPath("root");
    const result = await lading("--root", root, "load", "-i", await newTar(withFile(strayItems, blobPath(layer.digest), damaged)));
    expect(result).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${blobPath(layer.digest)}: content does not match its name (content is ${sha256(damaged)})\n` });
    expect(await filesUnder(join(root, "blobs"))).toEqual([]);
  });
});

async function newTar(items: readonly TarItem[]): Promise<string> {
  return (await bothForms(items)).tar;
}
