import { isManifestType } from "../core/media-types.js";
import { parseReference } from "../core/reference.js";
import type { Descriptor, DockerManifestItem } from "../core/schemas.js";
import type { Problem, ResolvedImage, ResolvedRoot } from "./model.js";
import { isLayoutBlobPath } from "./names.js";

/** A manifest.json item that resolved, with where manifest.json lists it. */
export interface DockerItemRoot {
  root: ResolvedRoot;
  position: number;
}

/**
 * A combined archive as Docker 25+ `docker save` of its classic image store writes one: every
 * path in manifest.json a `blobs/<alg>/<encoded>` blob and every index.json entry an image
 * manifest (`ctr export` and lading's save write the same shape, and describe every image).
 */
export function isDockerCombinedShape(items: readonly DockerManifestItem[], indexEntries: readonly Descriptor[]): boolean {
  return items.every((item) => isLayoutBlobPath(item.Config) && item.Layers.every(isLayoutBlobPath)) && indexEntries.every((entry) => isManifestType(entry.mediaType));
}

/** The names carried by the entries of each document that failed for a reason of their own. */
export interface FailedEntryNames {
  manifestJson: ReadonlySet<string>;
  indexJson: ReadonlySet<string>;
}

/**
 * Both descriptions of the same archive must describe the same images, or it means two things.
 * In an archive of the Docker 25+ combined shape (`combinedShape`) whose index.json describes only
 * images manifest.json lists, an untagged image manifest.json lists but index.json does not
 * describe is no problem but a root of its own, returned in `leftOut`: Docker 25+ leaves images
 * saved by ID or digest out of index.json (all of them but a first untagged one, moby#51389; all
 * of them in 25.0.0 to 25.0.2, moby#47210). Only sound entries are compared: an image or name
 * that a failed entry of the other document carries is not said to be missing from it (`failed`),
 * since that entry's own problem is what is wrong.
 */
export function compareWithIndex(
  dockerRoots: readonly DockerItemRoot[],
  ociRoots: readonly ResolvedRoot[],
  combinedShape: boolean,
  failed: FailedEntryNames,
): { problems: Problem[]; leftOut: DockerItemRoot[] } {
  const problems: Problem[] = [];
  const leftOut: DockerItemRoot[] = [];
  // Docker lists every image it saves in manifest.json: index.json describes some of them, no other.
  const listed = (image: ResolvedImage): boolean => dockerRoots.some(({ root }) => root.images.some((dockerImage) => sameImage(image, dockerImage)));
  const docker25 = combinedShape && ociRoots.every((root) => root.images.every(listed));
  for (const docker of dockerRoots) {
    const { root: dockerRoot, position } = docker;
    const dockerImage = dockerRoot.images[0];
    if (!dockerImage) continue;
    const matches = ociRoots.filter((root) => root.images.some((image) => sameImage(image, dockerImage)));
    if (matches.length === 0) {
      if ([...dockerRoot.names, ...dockerRoot.digestNames].some((name) => failed.indexJson.has(name))) continue;
      const message = `manifest.json[${position}]: image with config ${dockerImage.config.digest} is not described by index.json`;
      if (docker25 && dockerRoot.names.length === 0 && dockerRoot.digestNames.length === 0) {
        dockerRoot.warnings.push(`${message} (as Docker 25+ leaves out images saved by ID or digest); taken from manifest.json, its manifest synthesized`);
        leftOut.push(docker);
      } else {
        problems.push({ entry: "manifest.json", field: `[${position}]`, message });
      }
      continue;
    }
    const ociNames = new Set(matches.flatMap((root) => [...root.names, ...root.digestNames]));
    const notGiven = (name: string): Problem => ({
      entry: "manifest.json",
      field: `[${position}].RepoTags`,
      message: `manifest.json[${position}].RepoTags: ${name} is not a name index.json gives to config ${dockerImage.config.digest}`,
    });
    for (const name of dockerRoot.names) if (!ociNames.has(name)) problems.push(notGiven(name));
    // A name by digest pins the manifest of the index.json entry describing the image, or nothing.
    for (const name of dockerRoot.digestNames) {
      const digest = parseReference(name).digest;
      if (matches.some((root) => root.descriptor.digest === digest)) {
        if (!ociNames.has(name)) problems.push(notGiven(name));
        continue;
      }
      problems.push({
        entry: "manifest.json",
        field: `[${position}].RepoTags`,
        message: `manifest.json[${position}].RepoTags: ${name} names the digest ${digest}, but index.json describes the image with config ${dockerImage.config.digest} as ${[...new Set(matches.map((root) => root.descriptor.digest))].join(" and ")}`,
      });
    }
  }
  // And the other way: docker's loader reads manifest.json alone, so a name only index.json gives
  // would be an image or a tag that docker never loads.
  for (const ociRoot of ociRoots) {
    if (ociRoot.kind === "unknown" || ociRoot.names.length === 0) continue;
    const described = dockerRoots.filter(({ root }) => root.images[0] && ociRoot.images.some((image) => sameImage(image, root.images[0] as typeof image)));
    const dockerNames = new Set(described.flatMap(({ root }) => root.names));
    for (const name of ociRoot.names) {
      if (dockerNames.has(name) || failed.manifestJson.has(name)) continue;
      problems.push({ entry: "index.json", message: `index.json: ${name} names ${ociRoot.descriptor.digest}, but manifest.json gives that name to none of its images` });
    }
  }
  return { problems, leftOut };
}

function sameImage(a: { config: { digest: string }; layers: { digest: string }[] }, b: { config: { digest: string }; layers: { digest: string }[] }): boolean {
  return a.config.digest === b.config.digest && a.layers.length === b.layers.length && a.layers.every((layer, i) => layer.digest === b.layers[i]?.digest);
}
