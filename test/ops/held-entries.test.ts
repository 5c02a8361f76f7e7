import { expect, it } from "vitest";
import { HeldEntries } from "../../src/ops/held-entries.js";
import type { ScannedFile } from "../../src/archive/model.js";

const scanned = (name: string, size: number): ScannedFile => ({ name, digest: "sha256:" + "0".repeat(64), size, compression: "none" }) as ScannedFile;

it("keeps a copy of each chunk (the reader reuses its buffers) and hands the bytes out once", async () => {
  const held = new HeldEntries(16, 64);
  const writer = held.writer("a.json", 6);
  const chunk = Buffer.from("abc");
  await writer?.write(chunk);
  chunk.write("xyz");
  await writer?.write(chunk);
  await writer?.close(scanned("a.json", 6));
  expect(held.take("a.json")?.toString()).toBe("abcxyz");
  expect(held.take("a.json")).toBeUndefined();
});

it("refuses an entry over the per-entry size and any entry once the budget is spent, until bytes are released", async () => {
  const held = new HeldEntries(16, 32);
  expect(held.writer("big", 17)).toBeUndefined();
  const first = held.writer("first", 16);
  const second = held.writer("second", 16);
  expect(first).toBeDefined();
  expect(second).toBeDefined();
  expect(held.writer("third", 1)).toBeUndefined();
  await second?.abort();
  const third = held.writer("third", 16);
  await third?.write(Buffer.alloc(16, 1));
  await third?.close(scanned("third", 16));
  expect(held.writer("fourth", 1)).toBeUndefined();
  expect(held.take("third")).toEqual(Buffer.alloc(16, 1));
  expect(held.writer("fourth", 16)).toBeDefined();
});

it("keeps one copy of a duplicate entry and releases the other's share of the budget", async () => {
  const held = new HeldEntries(8, 8);
  for (const content of ["1234", "1234"]) {
    const writer = held.writer("dup", 4);
    await writer?.write(Buffer.from(content));
    await writer?.close(scanned("dup", 4));
  }
  expect(held.writer("other", 4)).toBeDefined();
});

it("names the entry whose body does not match its declared size", async () => {
  const held = new HeldEntries(64, 64);
  const long = held.writer("long.json", 2);
  expect(() => long?.write(Buffer.from("abc"))).toThrow(/^entry "long.json": more bytes than its declared size 2$/);
  await long?.abort(); // as the scan does after a failed write
  const short = held.writer("short.json", 4);
  await short?.write(Buffer.from("ab"));
  await expect(short?.close(scanned("short.json", 2))).rejects.toThrow(/^entry "short.json": 2 bytes where its header declares 4$/);
  expect(held.take("short.json")).toBeUndefined();
  expect(held.writer("next", 64)).toBeDefined();
});
