import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ScannedFile } from "../../src/archive/model.js";
import { openRangeWriter } from "../../src/archive/range-writer.js";
import { pageAlignedBuffers } from "../../src/tar/page-aligned.js";
import { patternBytes as pattern, takesDirect } from "../support/direct-io.js";

const dir = mkdtempSync(join(tmpdir(), "lading-range-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** What the probe tells a writer at its end (the range writer only closes its files). */
const scanned = (name: string, size: number): ScannedFile => ({ name, digest: "", size, compression: "none", looksLikeTar: false });

function emptyFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, "");
  return path;
}

describe("openRangeWriter", () => {
  it("writes whole pages from an aligned buffer around the page cache, and the last partial page through it", async () => {
    const path = emptyFile("aligned");
    const [buffer] = pageAlignedBuffers(1, 64 * 1024) as [Buffer];
    const content = pattern(3 * 64 * 1024 + 1000, 1);
    const writer = await openRangeWriter(path);
    for (let offset = 0; offset < content.length; offset += buffer.length) {
      const length = content.copy(buffer, 0, offset, offset + buffer.length);
      await writer.write(buffer.subarray(0, length));
    }
    await writer.close(scanned("aligned", content.length));
    expect(sha256(readFileSync(path))).toBe(sha256(content));
    expect(writer.directBytes()).toBe(takesDirect(path) ? 3 * 64 * 1024 : 0);
  });

  it("goes through the page cache from the first chunk that leaves the offset off a page boundary", async () => {
    const path = emptyFile("unaligned");
    const [buffer] = pageAlignedBuffers(1, 8192) as [Buffer];
    const writer = await openRangeWriter(path);
    const pieces = [pattern(8192, 2), pattern(100, 3), pattern(8192, 4)];
    for (const piece of pieces) {
      piece.copy(buffer);
      await writer.write(buffer.subarray(0, piece.length));
    }
    await writer.close(scanned("unaligned", 16484));
    expect(sha256(readFileSync(path))).toBe(sha256(Buffer.concat(pieces)));
    expect(writer.directBytes()).toBe(takesDirect(path) ? 8192 : 0);
  });

  it("writes the same bytes from memory that is not known to be page aligned (the kernel may refuse it: then through the cache)", async () => {
    const path = emptyFile("heap");
    const content = pattern(64 * 4096, 5);
    // byteOffset 0, but malloc's address: usually 16 bytes past a page boundary, so O_DIRECT says EINVAL.
    const heap = Buffer.allocUnsafeSlow(content.length);
    content.copy(heap);
    const writer = await openRangeWriter(path);
    await writer.write(heap.subarray(0, 32 * 4096));
    await writer.write(heap.subarray(32 * 4096));
    await writer.close(scanned("heap", content.length));
    expect(sha256(readFileSync(path))).toBe(sha256(content));
    // A view that starts off a page boundary of its memory is never tried around the cache.
    const offPage = emptyFile("off-page");
    const [aligned] = pageAlignedBuffers(1, 3 * 4096) as [Buffer];
    const view = aligned.subarray(512, 512 + 2 * 4096);
    content.copy(view, 0, 0, view.length);
    const second = await openRangeWriter(offPage);
    await second.write(view);
    await second.close(scanned("off-page", view.length));
    expect(sha256(readFileSync(offPage))).toBe(sha256(content.subarray(0, view.length)));
    expect(second.directBytes()).toBe(0);
  });

  it("writes into tmpfs, whether or not its kernel takes O_DIRECT there", async (context) => {
    let shmDir: string;
    try {
      shmDir = mkdtempSync(join("/dev/shm", "lading-range-writer-"));
    } catch {
      if (process.env.CI === "true") throw new Error("/dev/shm is missing");
      context.skip();
      return;
    }
    try {
      const path = join(shmDir, "tmpfs");
      writeFileSync(path, "");
      const [buffer] = pageAlignedBuffers(1, 4 * 4096) as [Buffer];
      const content = pattern(4 * 4096 + 10, 6);
      const writer = await openRangeWriter(path);
      content.copy(buffer, 0, 0, buffer.length);
      await writer.write(buffer);
      content.copy(buffer, 0, buffer.length);
      await writer.write(buffer.subarray(0, 10));
      await writer.close(scanned("tmpfs", content.length));
      expect(sha256(readFileSync(path))).toBe(sha256(content));
      expect(writer.directBytes()).toBe(takesDirect(path) ? 4 * 4096 : 0);
    } finally {
      rmSync(shmDir, { recursive: true, force: true });
    }
  });
});

