// ImageRecords: a record is read back only when every field later code takes as it is holds what
// its writers guarantee, and only under the file name its own ID gives.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ImageRecords, type ImageRecord } from "../../src/store/image-records.js";

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const ID = digest("a");
const FILE = `sha256-${"a".repeat(64)}.json`;

const record = (): ImageRecord => ({
  id: ID,
  mediaType: "application/vnd.oci.image.index.v1+json",
  size: 300,
  origin: "archive",
  loadedAt: "2024-01-01T00:00:00.000Z",
  images: [
    {
      platform: "linux/amd64",
      manifest: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest("b"), size: 400 },
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digest("c"), size: 500 },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digest("d"), size: 600, diffId: digest("e") }],
    },
  ],
  absent: [{ digest: digest("f"), mediaType: "application/vnd.oci.image.manifest.v1+json", platform: "linux/arm64" }],
  otherBlobs: [digest("1")],
});

let dir: string;
let records: ImageRecords;
beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(tmpdir(), "lading-records-")), "images");
  await mkdir(dir);
  records = new ImageRecords(dir);
});
afterEach(async () => {
  await rm(path.dirname(dir), { recursive: true, force: true });
});

describe("ImageRecords: a record with a field later code cannot take as it is", () => {
  const BAD = "sha256:../../x";
  const broken: [string, (edited: ImageRecord) => void, string][] = [
    ["images[0].layers[0].digest", (edited) => void (edited.images[0]!.layers[0]!.digest = BAD), `invalid digest "${BAD}"`],
    ["images[0].layers[0].diffId", (edited) => void (edited.images[0]!.layers[0]!.diffId = "sha256:abc"), `invalid sha256 digest "sha256:abc" (want 64 lowercase hex digits)`],
    ["images[0].manifest.digest", (edited) => void (edited.images[0]!.manifest.digest = BAD), `invalid digest "${BAD}"`],
    ["images[0].config.digest", (edited) => void (edited.images[0]!.config.digest = "md5:abc"), `unsupported digest algorithm "md5" in "md5:abc"`],
    ["absent[0].digest", (edited) => void (edited.absent[0]!.digest = BAD), `invalid digest "${BAD}"`],
    ["otherBlobs[0]", (edited) => void (edited.otherBlobs[0] = BAD), `invalid digest "${BAD}"`],
    ["id", (edited) => void (edited.id = BAD), `invalid digest "${BAD}"`],
    ["images[0].layers[0].size", (edited) => void (edited.images[0]!.layers[0]!.size = -1), "Too small: expected number to be >=0"],
    ["images[0].config.size", (edited) => void (edited.images[0]!.config.size = 1.5), "Invalid input: expected int, received number"],
    ["size", (edited) => void (edited.size = 2 ** 53), "Too big: expected int to be <=9007199254740991"],
    ["images[0].manifest.mediaType", (edited) => void (edited.images[0]!.manifest.mediaType = ""), "Too small: expected string to have >=1 characters"],
  ];

  it.each(broken)("%s: get refuses it naming the record and the field, scan lists it as unreadable", async (field, edit, problem) => {
    const edited = record();
    edit(edited);
    await writeFile(path.join(dir, FILE), JSON.stringify(edited));
    const message = `image record ${ID}: ${field}: ${problem}`;
    await expect(records.get(ID)).rejects.toMatchObject({ kind: "invalid", message });
    expect(await records.scan()).toEqual({ records: [], unreadable: [{ id: ID, file: path.join(dir, FILE), message }] });
  });

  it("reads back the record as written when every field holds", async () => {
    await records.put(record());
    expect(await readdir(dir)).toEqual([FILE]);
    expect(await records.get(ID)).toEqual(record());
    expect(await records.scan()).toEqual({ records: [record()], unreadable: [] });
  });
});

describe("ImageRecords: a record under a file name its ID does not give (a copy)", () => {
  it("get refuses it naming both IDs; scan lists the record under its own name and the copy as unreadable", async () => {
    await records.put(record());
    const other = digest("9");
    const copy = `sha256-${"9".repeat(64)}.json`;
    await copyFile(path.join(dir, FILE), path.join(dir, copy));
    const message = `image record ${other}: id: ${ID} is not the ID its file name ${copy} gives`;
    await expect(records.get(other)).rejects.toMatchObject({ kind: "invalid", message });
    expect(await records.scan()).toEqual({ records: [record()], unreadable: [{ id: other, file: path.join(dir, copy), message }] });
    await expect(records.list()).rejects.toMatchObject({ message: `${message} (lading fsck --repair removes it)` });
  });
});
