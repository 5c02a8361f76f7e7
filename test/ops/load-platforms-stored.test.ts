// A load of some platforms of an index reports the image as the store then holds it: a platform
// stored by an earlier load counts, so loading the one still missing leaves the image whole, and
// the CLI's "is sparse" note is not printed for it.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { parsePlatform } from "../../src/core/platform.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { scratchDirectory } from "../support/in-process-cli.js";

const ARCHIVE = join(import.meta.dirname, "..", "..", "testdata", "oci-multiplatform.tar");

const { newPath } = scratchDirectory("lading-platforms-stored-");

describe("platforms of a load into a store that holds others of the same index", () => {
  it("are those stored: the first load is sparse, the second, of the other platform, is not", async () => {
    const dir = newPath("case");
    await mkdir(dir);
    const store = await Store.open(join(dir, "store"));
    const loadPlatform = async (platform: string): Promise<[string[], string[]]> => {
      const [image] = (await loadArchive(store, await openArchivePath(ARCHIVE), { platforms: [parsePlatform(platform)], name: "multi" })).images;
      return [image?.platforms ?? [], image?.absent ?? []];
    };
    expect(await loadPlatform("linux/amd64")).toEqual([["linux/amd64"], ["linux/arm64"]]);
    expect(await loadPlatform("linux/arm64")).toEqual([["linux/arm64", "linux/amd64"], []]);
  });
});
