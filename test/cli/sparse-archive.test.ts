import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobPath, ensureBuilt, layerTar, makeImage, ociLayoutItems, runLading, type CliResult } from "../support/archive-builder.js";
import { SPARSE_FORMATS, sparseTar, writeWithHoles } from "../support/sparse-tar.js";
import { filesUnder, snapshotTree } from "../support/store-tree.js";

let scratch: string;
let counter = 0;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-sparse-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const lading = (root: string, ...args: string[]): Promise<CliResult> => runLading(["--root", root, ...args]);

/** An OCI layout whose uncompressed layer (a file of zeros) lies on disk with holes, ready for `tar --sparse`. */
async function sparseLayout(): Promise<{ dir: string; names: string[]; layerPath: string }> {
  const image = makeImage({ layers: [layerTar({ zeros: "\0".repeat(256 * 1024) })] });
  const dir = join(scratch, `layout-${counter++}`);
  const layerPath = blobPath(image.layers[0]!.digest);
  const names: string[] = [];
  for (const item of ociLayoutItems([image])) {
    if (item.type !== "file") continue;
    const path = join(dir, item.name);
    await mkdir(dirname(path), { recursive: true });
    if (item.name === layerPath) writeWithHoles(path, item.content as Buffer);
    else await writeFile(path, item.content);
    names.push(item.name);
  }
  return { dir, names, layerPath };
}

describe("an archive whose blob is a sparse file (tar --sparse): refused by name, store unchanged", () => {
  for (const { tarOptions, described } of SPARSE_FORMATS) {
    it(described, async () => {
      const { dir, names, layerPath } = await sparseLayout();
      const archive = join(scratch, `sparse-${counter++}.tar`);
      await writeFile(archive, sparseTar(dir, names, tarOptions));
      const message = `entry "${layerPath}" is a sparse file (${described}), which lading does not read`;

      expect(await runLading(["verify", archive])).toEqual({ code: 1, stdout: "archive is INVALID: 1 problem\n", stderr: `error: ${message}\n` });

      const root = join(scratch, `store-${counter++}`);
      expect((await lading(root, "load", "-q", "-i", "testdata/oci-archive.tar")).code).toBe(0);
      const before = await snapshotTree(root);
      expect(await lading(root, "load", "-i", archive)).toEqual({ code: 1, stdout: "", stderr: `lading: error: ${message}\n` });
      expect(await snapshotTree(root)).toEqual(before);
      expect(await filesUnder(join(root, "ingest"))).toEqual([]);
    });
  }
});
