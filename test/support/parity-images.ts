// Images for comparing `lading images` with the docker CLI: labels, creation times (Go's zero
// time among them), an image with several tags in two repositories, an untagged one.
import { buildTar, dockerArchiveItems, makeImage, type TestImage } from "./archive-builder.js";

interface Made {
  image: TestImage;
  repoTags: string[] | null;
}

const made = (seed: string, repoTags: string[] | null, extra: Record<string, unknown>): Made => ({
  image: makeImage({ seed, editConfig: (config) => ({ ...config, ...extra }) }),
  repoTags,
});

/** What `docker images --filter` selects by: no two images created in the same second. */
export const FILTER_IMAGES: readonly Made[] = [
  made("a", ["f/a:1"], { created: "2024-01-02T03:04:05.5Z", config: { Labels: { team: "a", tier: "web" } } }),
  made("b", ["f/b:1"], { created: "2020-05-01T00:00:00Z", config: { Labels: { team: "" } } }),
  made("c", ["f/c:1"], { created: "0001-01-01T00:00:00Z", config: { Labels: { team: "b" } } }),
  made("d", ["f/d:1", "f/d:2", "other/d:latest"], { created: "2024-01-02T03:04:07.7Z" }),
  made("untagged", null, { created: "2019-01-01T00:00:00Z" }),
];

/** The docker archive of FILTER_IMAGES, as dockerd 20.10 and lading both load it. */
export function filterImagesArchive(): Buffer {
  return buildTar(dockerArchiveItems(FILTER_IMAGES));
}
