// Images for comparing `lading images`, `inspect` and `tag` with the docker CLI: labels, creation
// times (Go's zero time among them), an image with several tags in two repositories, an untagged
// one, and configs whose Created, maps and strings docker writes in its own way.
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

/** Configs whose inspect output docker writes in its own way: times, maps, escapes. */
export const INSPECT_IMAGES: readonly Made[] = [
  made("rich", ["i/rich:1"], {
    created: "2024-01-02T04:04:05.500+01:00",
    author: "a <b@c> & d",
    config: {
      Env: ["A=<&>", "B=\u0001\b\f\u2028\u007f"],
      ExposedPorts: { "8080/tcp": {}, "443/tcp": { ignored: true }, "80/udp": {} },
      Volumes: { "/z": {}, "/a": {}, "/B": {} },
      Labels: { zeta: "1", "10": "ten", "9": "nine", Beta: "3", b: "<&>", "é": "accent", "\u{1F600}": "smile", "\uFFFD": "replacement" },
      Cmd: ["/bin/sh"],
    },
  }),
  made("zero-fraction", ["i/zero-fraction:1"], { created: "2024-01-02T03:04:05.000Z" }),
  made("utc-offset", ["i/utc-offset:1"], { created: "2024-01-02T03:04:05.1234567890+00:00" }),
  made("no-created", ["i/no-created:1"], {}),
];

export function inspectImagesArchive(): Buffer {
  return buildTar(dockerArchiveItems(INSPECT_IMAGES));
}

/** The block of one top-level key of an image in `docker image inspect`'s output (4-space indentation), without its comma. */
export function inspectBlock(stdout: string, key: string): string {
  const lines = stdout.split("\n");
  const start = lines.findIndex((line) => line.startsWith(`        "${key}": `));
  if (start === -1) return `(no ${key})`;
  let end = start + 1;
  while (end < lines.length && !/^ {8}"|^ {4}\}/.test(lines[end] as string)) end++;
  return lines.slice(start, end).join("\n").replace(/,$/, "");
}

/** The keys of `docker image inspect` that lading derives from the image's config and references, as dockerd does. */
export const DERIVED_KEYS = ["RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion", "Author", "Config", "Architecture", "Os", "RootFS"];
