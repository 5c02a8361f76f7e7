import { invalid } from "../core/errors.js";
import { dockerLayerTypeFor, isForeignLayerType, MediaType } from "../core/media-types.js";
import type { Descriptor, DockerManifestItem } from "../core/schemas.js";
import { digestOf, encodedPart } from "../core/digest.js";
import { contentDigest, jsonBytes } from "./blob-lookup.js";
import { absentLayerWarning, checkLayers, parseImageConfig, platformOfConfig, type LayerInput } from "./image-check.js";
import type { Problem, ResolvedRoot, ScannedArchive, ScannedFile } from "./model.js";
import { digestNamedBy, repoTagName } from "./names.js";
import { isAbsentPath, lookupFile } from "./scan.js";
import { synthesizeDockerManifest } from "./synthesize.js";
import { parseDockerManifestJson } from "./image-manifest-shape.js";
import { safeEntryName } from "../tar/entry-name.js";

export interface DockerContext {
  archive: ScannedArchive;
  maxJsonBytes: number;
  maxManifestJsonBytes: number;
  /** The archive has an index.json too: a combined archive, whose manifests can pin a RepoTags digest name. */
  hasIndex: boolean;
}

export function readDockerManifestJson(ctx: DockerContext): DockerManifestItem[] {
  const file = lookupFile(ctx.archive, "manifest.json", "manifest.json");
  return parseDockerManifestJson(jsonBytes(file, "manifest.json", ctx.maxManifestJsonBytes));
}



/**
 * Resolves one manifest.json item. The archive carries no manifest for it, so one is synthesised
 * (as containerd's importer does) and marked as such.
 */
export function resolveDockerItem(ctx: DockerContext, item: DockerManifestItem, position: number): ResolvedRoot {
  const field = `manifest.json[${position}]`;
  const configFile = lookupFile(ctx.archive, item.Config, `${field}.Config`);
  checkNamesOf(item.Config, configFile, `${field}.Config`);
  const configBytes = jsonBytes(configFile, `${field}.Config`, ctx.maxJsonBytes);
  const config = parseImageConfig(configBytes, item.Config);
  const layerInputs = item.Layers.map((path, index): LayerInput & { path: string } => {
    const layerField = `${field}.Layers[${index}]`;
    const foreign = foreignSource(item, config.rootfs.diff_ids[index]);
    if (foreign && isAbsentPath(ctx.archive, path)) {
      checkAbsentLayerName(path, foreign.digest, layerField);
      if (!ctx.hasIndex) throw invalid(uncarriedForeignLayer(layerField, path), layerField);
      return { path, absent: foreign, field: layerField };
    }
    const file = lookupFile(ctx.archive, path, layerField);
    if (foreign) {
      // Carried after all: the blob LayerSources describes, keeping its media type and urls (as moby's loader does).
      if (file.digest !== foreign.digest) throw invalid(`${layerField}: LayerSources gives that layer as ${foreign.digest}, but ${path} is ${file.digest}`, path, { digest: foreign.digest, compared: "digest", expected: foreign.digest, actual: file.digest });
      return { path, file, mediaType: foreign.mediaType, urls: foreign.urls, field: layerField };
    }
    // A layer under blobs/sha512/ (a combined archive whose index addresses it so) keeps that name.
    return { path, file, ...(file.sha512 !== undefined ? { digest: file.sha512 } : {}), mediaType: "", field: layerField };
  });
  const layers = checkLayers(config, layerInputs, item.Config);
  // After the diff IDs: when both fail (an uncompressed layer named for its diff ID), that is the clearer message.
  for (const input of layerInputs) if (!("absent" in input)) checkNamesOf(input.path, input.file, input.field);
  const { names, digestNames } = namesOf(ctx, item, field);
  for (const layer of layers) if (!layer.absent && !isForeignLayerType(layer.mediaType)) layer.mediaType = dockerLayerTypeFor(layer.compression);
  const warnings = layers.flatMap((layer, index) => (layer.absent ? [absentLayerWarning(`${field}.Layers[${index}]`, layer)] : []));
  const manifestBytes = synthesizeDockerManifest({ digest: configFile.digest, size: configFile.size }, layers);
  const manifestDigest = digestOf(manifestBytes);
  return {
    descriptor: { mediaType: MediaType.dockerManifest, digest: manifestDigest, size: manifestBytes.length },
    kind: "manifest",
    origin: "synthesized",
    names: [...new Set(names)],
    bareTag: undefined,
    digestNames: [...new Set(digestNames)],
    images: [
      {
        manifest: { digest: manifestDigest, mediaType: MediaType.dockerManifest, size: manifestBytes.length, origin: "synthesized", bytes: manifestBytes },
        config: { digest: configFile.digest, mediaType: MediaType.dockerConfig, size: configFile.size, bytes: configBytes, parsed: config },
        platform: platformOfConfig(config),
        layers,
        indexChain: [],
      },
    ],
    absent: [],
    artifacts: [],
    artifactManifests: [],
    failures: [],
    indexes: new Map(),
    source: "manifest.json",
    warnings,
  };
}

/**
 * An item's RepoTags: tags, and in a combined archive names by digest, which graph.ts holds to
 * index.json (the digest must be that of the entry describing the image). Without index.json the
 * archive keeps no manifest for such a digest to pin.
 */
function namesOf(ctx: DockerContext, item: DockerManifestItem, field: string): { names: string[]; digestNames: string[] } {
  const names: string[] = [];
  const digestNames: string[] = [];
  (item.RepoTags ?? []).forEach((tag, index) => {
    const tagField = `${field}.RepoTags[${index}]`;
    const { name, digest } = repoTagName(tag, tagField);
    if (digest === undefined) names.push(name);
    else if (ctx.hasIndex) digestNames.push(name);
    else throw invalid(`${tagField}: ${JSON.stringify(tag)} carries a digest, but the archive has no index.json to keep the manifest it pins: a name in manifest.json alone must be a tag`, tagField);
  });
  return { names, digestNames };
}

/**
 * Why an image taken from manifest.json (no index.json entry describes it) cannot leave out a
 * layer LayerSources calls foreign: manifest.json is covered by no digest, so that claim, unlike an
 * original manifest's, would let a layer be dropped with the image's ID unchanged. docker load
 * (which opens every Layers path) and skopeo refuse such an archive too.
 */
export function uncarriedForeignLayer(layerField: string, path: string): string {
  return `${layerField}: ${JSON.stringify(path)} is not in the archive; LayerSources calls it a foreign layer, but no index.json entry describes the image to say so (manifest.json is covered by no digest), and an image listed in manifest.json alone must carry every layer (as docker load and skopeo require)`;
}

/** The first layer of a root taken from manifest.json that the archive leaves out, as a problem. */
export function uncarriedLayerProblem(item: DockerManifestItem, root: ResolvedRoot, position: number): Problem | undefined {
  const index = root.images[0]?.layers.findIndex((layer) => layer.absent) ?? -1;
  if (index < 0) return undefined;
  const field = `manifest.json[${position}].Layers[${index}]`;
  return { entry: field, message: uncarriedForeignLayer(field, item.Layers[index] ?? "") };
}

/**
 * The descriptor Docker's LayerSources gives a foreign layer (keyed by its diff ID): what stands
 * for the layer when the archive does not carry its file.
 */
function foreignSource(item: DockerManifestItem, diffId: string | undefined): Descriptor | undefined {
  const descriptor = diffId === undefined ? undefined : item.LayerSources?.[diffId];
  return descriptor && isForeignLayerType(descriptor.mediaType) ? descriptor : undefined;
}

/** The digest a path in manifest.json names, its field leading any error. */
function digestNamedByPath(path: string, field: string): string | undefined {
  try {
    return digestNamedBy(path);
  } catch (error) {
    throw invalid(`${field}: ${(error as Error).message}`, path);
  }
}

/**
 * A config or layer named for a digest (skopeo's `<hex>.json` and `<hex>.tar`, crane's `sha256:<hex>`
 * and `<hex>.tar.gz`, `blobs/sha256/<hex>`), by its path or by the file a link leads to, must be it.
 */
function checkNamesOf(path: string, file: ScannedFile, field: string): void {
  for (const name of new Set([safeEntryName(path), file.name])) {
    const named = digestNamedByPath(name, field);
    const actual = named && contentDigest(file, named);
    if (named !== undefined && actual !== named) {
      throw invalid(`${field}: ${name} is named for ${encodedPart(named)} but its content is ${actual}`, name, { digest: named, compared: "digest", expected: named, actual: actual ?? "" });
    }
  }
}

/** The path of a foreign layer the archive does not carry, when it names a digest, must name LayerSources' one. */
function checkAbsentLayerName(path: string, sourceDigest: string, field: string): void {
  const named = digestNamedByPath(path, field);
  if (named !== undefined && named !== sourceDigest) {
    throw invalid(`${field}: ${path} is named for ${named}, but LayerSources gives that layer as ${sourceDigest}`, path, { digest: sourceDigest, compared: "digest", expected: sourceDigest, actual: named });
  }
}
