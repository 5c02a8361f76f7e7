// The direct path of save -o FILE (writePlanToFile through saveToFile) writes exactly the bytes of
// the stream path (TarWriter into any Writable), for every fixture and both formats; compressed
// saves to a file keep the stream path; a blob changed in or gone from the store fails with one line.
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { saveSelection, saveToFile, selectAll, type SaveOptions } from "../../src/ops/save.js";
import { writePlanToFile } from "../../src/ops/save-file.js";
import { Store } from "../../src/store/store.js";

const FIXTURES = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures");
const ARCHIVES = ["docker-save-single.tar", "docker-save-multi.tar", "skopeo-docker-archive.tar", "skopeo-oci-archive.tar", "oci-archive-multiplatform.tar", "ctr-export.tar"];
const sha256 = (bytes: Buffer): string => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "lading-save-file-test-"));
  temps.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function storeWith(archive: string): Promise<Store> {
  const store = await Store.open(tempDir());
  await loadArchive(store, await openArchivePath(join(FIXTURES, "archives", archive)));
  return store;
}

async function streamed(store: Store, options: SaveOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  await saveSelection(store, await selectAll(store), sink, options);
  return Buffer.concat(chunks);
}

async function toFile(store: Store, options: SaveOptions): Promise<Buffer> {
  const file = join(tempDir(), "out.tar");
  await saveToFile(file, async (sink) => saveSelection(store, await selectAll(store), sink, options));
  return readFileSync(file);
}

describe.runIf(existsSync(join(FIXTURES, "expected.json")))("save -o FILE, direct path", () => {
  it.each(ARCHIVES)("writes the stream path's bytes for %s, docker and oci formats, with and without an mtime", async (archive) => {
    const store = await storeWith(archive);
    for (const options of [{ format: "docker" }, { format: "oci", mtime: 1_700_000_000 }] as SaveOptions[]) {
      const progress = { done: 0, total: undefined as number | undefined };
      const direct = await toFile(store, { ...options, progress });
      const viaStream = await streamed(store, options);
      expect(sha256(direct)).toBe(sha256(viaStream));
      expect(progress.done).toBe(progress.total);
    }
  });

  it("keeps the stream path for a compressed archive", async () => {
    const store = await storeWith("docker-save-single.tar");
    const gzipped = await toFile(store, { compress: "gzip" });
    expect(gzipped.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(sha256(gunzipSync(gzipped))).toBe(sha256(await streamed(store, {})));
  });

  it("keeps the stream path when something went through the file's stream first", async () => {
    const store = await storeWith("docker-save-single.tar");
    const file = join(tempDir(), "out.tar");
    await saveToFile(file, async (sink) => {
      sink.write("head");
      return saveSelection(store, await selectAll(store), sink, {});
    });
    expect(sha256(readFileSync(file))).toBe(sha256(Buffer.concat([Buffer.from("head"), await streamed(store, {})])));
  });

  it("a blob missing from the store, or changed in it, fails the direct write with one line", async () => {
    const store = await storeWith("skopeo-oci-archive.tar");
    const [selection] = await selectAll(store);
    const layer = selection!.record.images[0]!.layers[0]!;
    const plan = { documents: [], entries: [{ kind: "blob" as const, name: "blobs/sha256/x", digest: layer.digest, size: layer.size }] };
    const handle = await open(join(tempDir(), "x.tar"), "wx");
    try {
      const progress = { done: 0 };
      const blob = store.content.blobPath(layer.digest);
      chmodSync(blob, 0o644);
      const changed = Buffer.from(readFileSync(blob));
      changed[0] = changed[0]! ^ 1;
      writeFileSync(blob, changed);
      await expect(writePlanToFile(store, plan, handle.fd, { mtime: 0, progress })).rejects.toThrow(
        `blob ${layer.digest} in the store has content ${sha256(changed)}: the store is damaged (run lading fsck)`,
      );
      expect(progress.done).toBe(layer.size);
      unlinkSync(blob);
      await expect(writePlanToFile(store, plan, handle.fd, { mtime: 0, progress })).rejects.toThrow(`blob ${layer.digest} not found in the content store`);
    } finally {
      await handle.close();
    }
  });
});
