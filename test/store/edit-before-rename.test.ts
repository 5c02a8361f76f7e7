// A hand edit saved in the last moment of an update, after the update read the file again and
// before its rename: the stat just before the rename sees it, and nothing is written.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import * as fsPromises from "node:fs/promises";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ReferenceStore } from "../../src/store/reference-store.js";

vi.mock("node:fs/promises", async (importOriginal) => {
  const original = await importOriginal<typeof fsPromises>();
  return { ...original, stat: vi.fn(original.stat) };
});

const ID1 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9c";
const ID2 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9d";

let dir = "";
let file = "";
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lading-edit-race-"));
  file = path.join(dir, "repositories.json");
});
afterEach(async () => {
  vi.mocked(fsPromises.stat).mockReset();
  await rm(dir, { recursive: true, force: true });
});

describe("an update and a hand edit saved just before its rename", () => {
  it("refuses to write over the edit, which stays", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("keep:1", ID1);
    const edited = readFileSync(file, "utf8").replace('"keep:1"', `"keep:1":"${ID1}","keep:2"`);
    const realStat = vi.mocked(fsPromises.stat).getMockImplementation() as typeof fsPromises.stat;
    let saved = false;
    vi.mocked(fsPromises.stat).mockImplementation(((target: string, options?: { bigint?: boolean }) => {
      // The update's last look at the file, after it read it again: the editor saves (temp file, rename) first.
      if (!saved && target === file && options?.bigint === true) {
        saved = true;
        writeFileSync(`${file}.editor-tmp`, edited);
        renameSync(`${file}.editor-tmp`, file);
      }
      return realStat(target, options as never);
    }) as typeof fsPromises.stat);
    const error = await store.addTag("lading:1", ID2).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect([saved, error?.message]).toEqual([true, `${file} changed while this command was updating it (edited by another program?); nothing was written: run the command again`]);
    expect(await readFile(file, "utf8")).toBe(edited);
  });
});
