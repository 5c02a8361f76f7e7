// docker load's lines in dockerd's order (image/tarexport/load.go: per image, per tag, the
// renaming line of a tag that moved just before that tag's "Loaded image" line), as the CLI and
// lading serve print them.
import { describe, expect, it } from "vitest";
import { loadLinesByImage, type LoadedImage, type LoadResult } from "../../src/ops/load.js";

const id = (char: string): string => `sha256:${char.repeat(64)}`;
const image = (char: string, tags: string[], digests: string[] = []): LoadedImage => ({
  id: id(char),
  origin: "archive",
  listedIn: "manifest.json",
  tags,
  digests,
  configDigest: id(char),
  platforms: ["linux/amd64"],
  absent: [],
});
const renaming = (reference: string, char: string): string => `The image ${reference} already exists, renaming the old one with ID ${id(char)} to empty string`;
const result = (images: LoadedImage[], moved: LoadResult["moved"]): LoadResult => ({ images, moved, format: "docker-archive", warnings: [] });

describe("loadLinesByImage", () => {
  it("puts a moved tag's renaming line just before its own Loaded image line, after the image's earlier tags", () => {
    const lines = loadLinesByImage(result([image("a", ["aaa/new:1"]), image("b", ["bbb/new:1", "zzz/a:1"])], [{ reference: "zzz/a:1", previousId: id("c") }]));
    expect(lines.map((group) => group.lines)).toEqual([["Loaded image: aaa/new:1"], ["Loaded image: bbb/new:1", renaming("zzz/a:1", "c"), "Loaded image: zzz/a:1"]]);
  });

  it("gives a tag two images share its renaming line between the two images' lines, and an image with no name its ID", () => {
    const lines = loadLinesByImage(
      result(
        [image("a", ["fixture/shared:1.0"]), image("b", ["fixture/shared:1.0"]), image("d", [], [])],
        [
          { reference: "fixture/shared:1.0", previousId: id("c") },
          { reference: "fixture/shared:1.0", previousId: id("a") },
        ],
      ),
    );
    expect(lines.map((group) => group.lines)).toEqual([
      [renaming("fixture/shared:1.0", "c"), "Loaded image: fixture/shared:1.0"],
      [renaming("fixture/shared:1.0", "a"), "Loaded image: fixture/shared:1.0"],
      [`Loaded image ID: ${id("d")}`],
    ]);
  });
});
