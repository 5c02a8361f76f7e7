// A save killed with SIGKILL leaves its temp file beside the -o target (nothing runs at SIGKILL);
// the next save to the same target removes such leftovers of dead processes, and only those.
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { saveToFile } from "../../src/ops/save.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lading-save-leftovers-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("saveToFile", () => {
  it("removes the temp files of dead saves to the same target, keeps everything else", async () => {
    const dead = ".out.tar.lading-2147483646-0123456789ab";
    const live = `.out.tar.lading-${process.pid}-0123456789ab`;
    const otherTarget = ".other.tar.lading-2147483646-0123456789ab";
    const lookalike = ".out.tar.lading-notapid";
    for (const name of [dead, live, otherTarget, lookalike]) await writeFile(join(dir, name), "partial");
    await saveToFile(join(dir, "out.tar"), async (sink) => {
      await new Promise<void>((resolve, reject) => sink.end(Buffer.from("archive"), (error?: Error | null) => (error ? reject(error) : resolve())));
      return { format: "docker", images: [] };
    });
    expect((await readdir(dir)).sort()).toEqual([live, lookalike, otherTarget, "out.tar"].sort());
    expect(await readFile(join(dir, "out.tar"), "utf8")).toBe("archive");
  });

  it("a save that fails before writing leaves neither the target nor a temp file", async () => {
    const before = (await readdir(dir)).sort();
    await expect(saveToFile(join(dir, "failed.tar"), () => Promise.reject(new Error("input refused")))).rejects.toThrow("input refused");
    expect((await readdir(dir)).sort()).toEqual(before);
  });
});
