// DiffIdRecords: one small file per compressed blob, read back only when well-formed.
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DiffIdRecords } from "../../src/store/diff-id-records.js";

const BLOB = `sha256:${"a".repeat(64)}`;
const DIFF_ID = `sha256:${"b".repeat(64)}`;

let dir: string;
let records: DiffIdRecords;
beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(tmpdir(), "lading-diffids-")), "diffids");
  records = new DiffIdRecords(dir);
});
afterEach(async () => {
  await rm(path.dirname(dir), { recursive: true, force: true });
});

describe("DiffIdRecords", () => {
  it("writes '<diff ID> <size> layer-checked' under diffids/sha256/<hex> and reads it back", async () => {
    await records.put(BLOB, { diffId: DIFF_ID, size: 10240 });
    expect(await readFile(path.join(dir, "sha256", "a".repeat(64)), "utf8")).toBe(`${DIFF_ID} 10240 layer-checked\n`);
    expect(await readdir(path.join(dir, "sha256"))).toEqual(["a".repeat(64)]);
    expect(await records.get(BLOB)).toEqual({ diffId: DIFF_ID, size: 10240, layerChecked: true });
  });

  it("reads an earlier lading's record, without the mark, as a diff ID whose layer was not checked", async () => {
    await records.put(BLOB, { diffId: DIFF_ID, size: 1 });
    await writeFile(path.join(dir, "sha256", "a".repeat(64)), `${DIFF_ID} 10240\n`);
    expect(await records.get(BLOB)).toEqual({ diffId: DIFF_ID, size: 10240, layerChecked: false });
    expect(await records.confirm(BLOB, DIFF_ID)).toBe(true);
  });

  it("writes a new record 0600, and an earlier lading's record rewritten keeps its mode (a store opened to other readers)", async () => {
    const record = path.join(dir, "sha256", "a".repeat(64));
    await records.put(BLOB, { diffId: DIFF_ID, size: 1 });
    expect((await stat(record)).mode & 0o777).toBe(0o600);
    await writeFile(record, `${DIFF_ID} 1\n`);
    await chmod(record, 0o644);
    await records.put(BLOB, { diffId: DIFF_ID, size: 1 });
    expect([await readFile(record, "utf8"), (await stat(record)).mode & 0o777]).toEqual([`${DIFF_ID} 1 layer-checked\n`, 0o644]);
  });

  it("has no record for a blob never recorded, nor for a malformed digest", async () => {
    expect(await records.get(BLOB)).toBeUndefined();
    expect(await records.get("sha256:../../etc/passwd")).toBeUndefined();
    await records.put("sha256:../escape", { diffId: DIFF_ID, size: 1 });
    await expect(readdir(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("does not use a record that is empty, truncated or otherwise malformed", async () => {
    await records.put(BLOB, { diffId: DIFF_ID, size: 1 });
    const file = path.join(dir, "sha256", "a".repeat(64));
    for (const text of ["", `${DIFF_ID} 1`, `${DIFF_ID}\n`, `${DIFF_ID} -1\n`, `${DIFF_ID} 01\n`, `sha256:${"B".repeat(64)} 1\n`, `${DIFF_ID} 1\n\n`, `${DIFF_ID} 1 layer-checked`, `${DIFF_ID} 1 checked\n`]) {
      await writeFile(file, text);
      expect(await records.get(BLOB)).toBeUndefined();
    }
  });

  it("refuses to write a malformed fact, and remove drops a record", async () => {
    await records.put(BLOB, { diffId: "sha256:short", size: 1 });
    expect(await records.get(BLOB)).toBeUndefined();
    await records.put(BLOB, { diffId: DIFF_ID, size: 7 });
    await records.remove(BLOB);
    expect(await records.get(BLOB)).toBeUndefined();
    expect(await readdir(path.join(dir, "sha256"))).toEqual([]);
  });

  it("says whether a put was written", async () => {
    expect(await records.put(BLOB, { diffId: DIFF_ID, size: 3 })).toBe(true);
    expect(await records.put(BLOB, { diffId: "sha256:short", size: 1 })).toBe(false);
    // A directory that cannot be made (a file is in its place) is a record not written, not an error.
    const blocked = new DiffIdRecords(path.join(dir, "sha256", "a".repeat(64)));
    expect(await blocked.put(BLOB, { diffId: DIFF_ID, size: 3 })).toBe(false);
  });

  it("confirms a diff ID only by the blob's record (a blob's own digest proves nothing: it may be compressed)", async () => {
    expect(await records.confirm(DIFF_ID, DIFF_ID)).toBe(false);
    expect(await records.confirm(BLOB, DIFF_ID)).toBe(false);
    await records.put(BLOB, { diffId: DIFF_ID, size: 3 });
    expect(await records.confirm(BLOB, DIFF_ID)).toBe(true);
    expect(await records.confirm(BLOB, `sha256:${"c".repeat(64)}`)).toBe(false);
  });
});
