import { LadingError } from "../core/errors.js";
import { dockerManifestJsonSchema, imageConfigSchema, indexSchema, manifestSchema, ociLayoutSchema, type DockerManifestItem } from "../core/schemas.js";
import { checkBlobNames, blobPathFor, strayBlobWarnings } from "./blob-lookup.js";
import { compareWithIndex, isDockerCombinedShape, type DockerItemRoot } from "./combined.js";
import type { ArchiveGraph, Problem, RootEntry, ScannedArchive } from "./model.js";
import { problemOf } from "./problem.js";
import { repoTagName } from "./names.js";
import { readDockerManifestJson, resolveDockerItem, uncarriedLayerProblem } from "./resolve-docker.js";
import { DescriptorBudget } from "./descriptor-budget.js";
import { checkOciLayout, readOciLayout, resolveOciRoot } from "./resolve-oci.js";
import { lookupFile } from "./scan.js";
import { sharedNameWarnings } from "./shared-names.js";
import { notAnImageArchive } from "./top-level.js";

export interface ResolveLimits {
  maxJsonBytes: number;
  maxManifestJsonBytes: number;
}

/**
 * Builds the schemas resolveGraph parses with, loading zod's bundle, before they are needed:
 * readArchive calls it once this thread has probed its share of the layers and is waiting for
 * the workers' (~20 ms of a second load that no longer comes after the last hash).
 */
export function buildGraphSchemas(): void {
  for (const schema of [dockerManifestJsonSchema, imageConfigSchema, ociLayoutSchema, indexSchema, manifestSchema]) schema.get();
}

/**
 * Interprets what a scan found, once everything has been read (metadata may come last): the
 * OCI layout when there is one, checked against manifest.json when both exist; else manifest.json.
 * `path`, the archive's when it came from one, prefixes a refusal of the archive as a whole.
 */
export function resolveGraph(archive: ScannedArchive, limits: ResolveLimits, path?: string): ArchiveGraph {
  const problems: Problem[] = [];
  const record = (error: unknown, fallbackEntry: string): void => {
    const { entry, message } = problemOf(error, fallbackEntry);
    problems.push({ entry, message });
  };
  for (const problem of checkBlobNames(archive, { layout: true })) problems.push(problem);

  const hasIndex = archive.files.has("index.json") || archive.files.has("oci-layout");
  const hasManifestJson = archive.files.has("manifest.json") || archive.links.has("manifest.json");
  const graph: ArchiveGraph = {
    format: hasIndex ? (hasManifestJson ? "docker-archive+oci-layout" : "oci-layout") : hasManifestJson ? "docker-archive" : null,
    compression: archive.compression,
    roots: [],
    blobs: new Map(),
    problems,
    entries: [],
    warnings: [],
    readingWarnings: strayBlobWarnings(archive),
  };
  graph.warnings.push(...graph.readingWarnings);
  const refusal = notAnImageArchive({ index: hasIndex, manifestJson: hasManifestJson, repositories: archive.files.has("repositories") || archive.links.has("repositories") });
  if (refusal !== undefined) {
    problems.push({ entry: "(archive)", message: path === undefined ? refusal : `${path}: ${refusal}` });
    return graph;
  }

  const ctx = { archive, ...limits, hasIndex };
  // Read first: whether the archive is a Docker 25+ combined one decides how index.json is read.
  let items: DockerManifestItem[] | undefined;
  let itemsError: unknown;
  if (hasManifestJson) {
    try {
      items = readDockerManifestJson(ctx);
    } catch (error) {
      itemsError = error;
    }
  }
  let combinedShape = false;
  // An oci-layout that fails its own check leaves index.json unread, and an index.json that fails
  // as a whole document lists nothing: either way there is nothing to hold manifest.json to.
  let indexRead = false;
  if (hasIndex) {
    try {
      checkOciLayout(ctx);
      // A null list has no entries: only manifest.json's paths tell the shape then.
      const { index, warnings } = readOciLayout(ctx, { nullManifestsAsEmpty: items !== undefined && isDockerCombinedShape(items, []) });
      indexRead = true;
      graph.warnings.push(...warnings);
      graph.readingWarnings.push(...warnings);
      graph.layoutIndex = index;
      combinedShape = items !== undefined && isDockerCombinedShape(items, index.manifests);
      const budget = new DescriptorBudget();
      for (const [position, descriptor] of index.manifests.entries()) {
        const entry: RootEntry = { listedAt: `index.json manifests[${position}]`, descriptor, names: [], root: undefined, problems: [] };
        graph.entries.push(entry);
        try {
          const root = resolveOciRoot(ctx, descriptor, entry.listedAt, budget);
          Object.assign(entry, { root, names: [...root.names, ...root.digestNames] });
          entry.problems.push(...root.failures.map((failure) => failure.problem));
          if (root.failures.length === 0) graph.roots.push(root);
        } catch (error) {
          entry.problems.push(problemOf(error, "index.json"));
        }
        for (const { entry: at, message } of entry.problems) problems.push({ entry: at, message });
        // The later entries would each fail the same way: the one line is enough.
        if (budget.exhausted) break;
      }
    } catch (error) {
      record(error, "index.json");
    }
  }
  if (itemsError !== undefined) record(itemsError, "manifest.json");
  if (items !== undefined) {
    const dockerRoots: DockerItemRoot[] = [];
    const failedItemNames = new Set<string>();
    items.forEach((item, position) => {
      // With index.json, manifest.json is a second description of the same roots, checked against it.
      const entry: RootEntry = { listedAt: `manifest.json[${position}]`, descriptor: undefined, names: readableNames(item.RepoTags), root: undefined, problems: [] };
      if (!hasIndex) graph.entries.push(entry);
      try {
        const root = resolveDockerItem(ctx, item, position);
        Object.assign(entry, { root, descriptor: root.descriptor, names: [...root.names, ...root.digestNames] });
        dockerRoots.push({ root, position });
      } catch (error) {
        const problem = problemOf(error, "manifest.json");
        const configDigest = carriedDigest(archive, item.Config);
        if (configDigest !== undefined) entry.configDigest = configDigest;
        entry.problems.push(problem);
        for (const name of entry.names) failedItemNames.add(name);
        problems.push({ entry: problem.entry, message: problem.message });
      }
    });
    if (hasIndex && indexRead) {
      const failedIndexNames = new Set(graph.entries.filter((entry) => entry.problems.length > 0).flatMap((entry) => entry.names));
      const compared = compareWithIndex(dockerRoots, graph.roots, combinedShape, { manifestJson: failedItemNames, indexJson: failedIndexNames });
      problems.push(...compared.problems);
      // An image Docker 25+ left out of index.json stands as a manifest.json-only archive's image does.
      for (const { root, position } of compared.leftOut) {
        const uncarried = uncarriedLayerProblem(items[position]!, root, position);
        graph.entries.push({ listedAt: `manifest.json[${position}]`, descriptor: root.descriptor, names: [], root, problems: uncarried ? [uncarried] : [] });
        if (uncarried) problems.push(uncarried);
        else graph.roots.push(root);
      }
    } else if (!hasIndex) {
      graph.roots.push(...dockerRoots.map(({ root }) => root));
    }
  }
  // A docker-save name that manifest.json uses was checked with its field; these are the rest.
  const reported = new Set(problems.map((problem) => problem.entry));
  for (const problem of checkBlobNames(archive, { layout: false })) if (!reported.has(problem.entry)) problems.push(problem);
  for (const root of graph.roots) {
    if (root.kind === "unknown") graph.warnings.push(unknownRootWarning(root));
    if (root.bareTag !== undefined) graph.warnings.push(bareTagWarning(root.bareTag));
    graph.warnings.push(...root.warnings);
  }
  graph.warnings.push(...sharedNameWarnings(graph.entries));
  // Only when nothing failed: a document that could not be read lists no image either.
  const empty = noImageWarning(graph);
  if (empty !== undefined && problems.length === 0) graph.warnings.push(empty);
  collectBlobs(graph, archive);
  return graph;
}

/** The names of a manifest.json item that could not be resolved, those that are valid names. */
function readableNames(repoTags: string[] | null | undefined): string[] {
  const names = new Set<string>();
  for (const tag of repoTags ?? []) {
    try {
      names.add(repoTagName(tag, "RepoTags").name);
    } catch {
      // Not a name: the item's problem says so when that is what failed.
    }
  }
  return [...names];
}

/** The digest of the file at a path manifest.json gives, when the archive carries it. */
function carriedDigest(archive: ScannedArchive, path: string): string | undefined {
  try {
    return lookupFile(archive, path, path).digest;
  } catch {
    return undefined; // not there, or not safely reachable: the item's problem says so when that is what failed
  }
}

/** Every blob the roots reach, by digest, pointing at the archive file or the synthesised bytes. */
function collectBlobs(graph: ArchiveGraph, archive: ScannedArchive): void {
  const add = (digest: string, size: number, mediaType: string, bytes?: Buffer): void => {
    if (graph.blobs.has(digest)) return;
    let file = archive.byDigest.get(digest);
    if (!file && !bytes) {
      const path = blobPathFor(digest);
      file = archive.files.get(path);
    }
    graph.blobs.set(digest, { digest, size, mediaType, ...(bytes ? { bytes } : {}), ...(file ? { file } : {}) });
  };
  for (const root of graph.roots) {
    if (root.kind === "unknown") continue;
    for (const [digest, bytes] of root.indexes) add(digest, bytes.length, root.descriptor.mediaType, bytes);
    for (const image of root.images) {
      add(image.manifest.digest, image.manifest.size, image.manifest.mediaType, image.manifest.bytes);
      add(image.config.digest, image.config.size, image.config.mediaType, image.config.bytes);
      for (const layer of image.layers) if (!layer.absent) add(layer.digest, layer.size, layer.mediaType);
    }
    for (const digest of root.artifacts) {
      const file = archive.byDigest.get(digest);
      if (file) add(digest, file.size, "", file.json);
    }
  }
}

export function firstProblem(graph: ArchiveGraph): LadingError | undefined {
  const problem = graph.problems[0];
  return problem ? new LadingError("invalid", problem.message, { subject: problem.entry }) : undefined;
}

/**
 * Said of an archive whose documents list no image: valid (formats.md; docker loads a `[]`
 * manifest.json, loading nothing), but a load of it does nothing, which deserves a word.
 */
export function noImageWarning(graph: ArchiveGraph): string | undefined {
  if (graph.format === null || graph.roots.length > 0) return undefined;
  return `the archive holds no image: ${graph.format === "oci-layout" ? "index.json" : "manifest.json"} lists none`;
}

/** Verify's warning for an index.json entry of a media type lading does not know. */
export function unknownRootWarning(root: { descriptor: { digest: string; mediaType: string } }): string {
  return `index.json: entry ${root.descriptor.digest} has unknown media type ${root.descriptor.mediaType}; ignored`;
}

/** Verify's warning for an image named by a bare ref.name alone. */
export function bareTagWarning(tag: string): string {
  return `index.json: ref.name ${JSON.stringify(tag)} is a bare tag without a repository; the image is untagged`;
}
