import { invalid } from "../core/errors.js";
import { dockerLayerTypeFor, isForeignLayerType, MediaType } from "../core/media-types.js";
import { dockerManifestJsonSchema, parseDocument, type Descriptor, type DockerManifestItem } from "../core/schemas.js";
import { digestOf } from "../core/digest.js";
import { jsonBytes } from "./blob-lookup.js";
import { absentLayerWarning, checkLayers, parseImageConfig, platformOfConfig, type LayerInput } from "./image-check.js";
import type { ResolvedRoot, ScannedArchive } from "./model.js";
import { normalizeImageName } from "./names.js";
import { isAbsentPath, lookupFile } from "./scan.js";
import { synthesizeDockerManifest } from "./synthesize.js";

export interface DockerContext {
  archive: ScannedArchive;
  maxJsonBytes: number;
  maxManifestJsonBytes: number;
}

export function readDockerManifestJson(ctx: DockerContext): DockerManifestItem[] {
  const file = lookupFile(ctx.archive, "manifest.json", "manifest.json");
  return parseDocument(dockerManifestJsonSchema, jsonBytes(file, "manifest.json", ctx.maxManifestJsonBytes), "manifest.json");
}

/**
 * Resolves one manifest.json item. The archive carries no manifest for it, so one is synthesised
 * (as containerd's importer does) and marked as such.
 */
export function resolveDockerItem(ctx: DockerContext, item: DockerManifestItem, position: number): ResolvedRoot {
  const field = `manifest.json[${position}]`;
  const configFile = lookupFile(ctx.archive, item.Config, `${field}.Config`);
  checkConfigName(item.Config, configFile.digest, `${field}.Config`);
  const configBytes = jsonBytes(configFile, `${field}.Config`, ctx.maxJsonBytes);
  const config = parseImageConfig(configBytes, item.Config);
  const layerInputs = item.Layers.map((path, index): LayerInput & { path: string } => {
    const layerField = `${field}.Layers[${index}]`;
    const foreign = foreignSource(item, config.rootfs.diff_ids[index]);
    if (foreign && isAbsentPath(ctx.archive, path)) {
      checkAbsentLayerName(path, foreign, layerField);
      return { path, absent: foreign, field: layerField };
    }
    const file = lookupFile(ctx.archive, path, layerField);
    if (foreign) {
      // Carried after all: the blob LayerSources describes, keeping its media type and urls (as moby's loader does).
      if (file.digest !== foreign.digest) throw invalid(`${layerField}: LayerSources gives that layer as ${foreign.digest}, but ${path} is ${file.digest}`, path);
      return { path, file, mediaType: foreign.mediaType, urls: foreign.urls, field: layerField };
    }
    // A layer under blobs/sha512/ (a combined archive whose index addresses it so) keeps that name.
    return { path, file, ...(file.sha512 !== undefined ? { digest: file.sha512 } : {}), mediaType: "", field: layerField };
  });
  const layers = checkLayers(config, layerInputs, item.Config);
  // After the diff IDs: when both fail (an uncompressed layer named for its diff ID), that is the clearer message.
  for (const input of layerInputs) {
    if ("absent" in input) continue;
    for (const name of new Set([input.path.replace(/^(?:\.\/)+/, ""), input.file.name])) checkLayerName(name, input.file.digest, input.field);
  }
  const names = (item.RepoTags ?? []).map((tag, index) => normalizeImageName(tag, `${field}.RepoTags[${index}]`));
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
    digestNames: [],
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
    indexes: new Map(),
    source: "manifest.json",
    warnings,
  };
}

/**
 * The descriptor Docker's LayerSources gives a foreign layer (keyed by its diff ID): what stands
 * for the layer when the archive does not carry its file.
 */
function foreignSource(item: DockerManifestItem, diffId: string | undefined): Descriptor | undefined {
  const descriptor = diffId === undefined ? undefined : item.LayerSources?.[diffId];
  return descriptor && isForeignLayerType(descriptor.mediaType) ? descriptor : undefined;
}

/** A config named by its digest (`<hex>.json`, `blobs/sha256/<hex>`, `sha256:<hex>`) must match it. */
function checkConfigName(path: string, digest: string, field: string): void {
  const base = path.split("/").pop() ?? path;
  const match = /^(?:sha256:)?([0-9a-f]{64})(?:\.json)?$/.exec(base);
  if (match && `sha256:${match[1]}` !== digest) {
    throw invalid(`${field}: ${path} is named for ${match[1]} but its content is ${digest}`, path);
  }
}

/**
 * crane and skopeo name a top-level layer for the sha256 of its bytes (`<hex>.tar.gz`,
 * `<hex>.tar`): such a name is a claim to check. Not `<v1id>/layer.tar`, whose ID is no digest.
 */
const DIGEST_NAMED_LAYER = /^(?:sha256:)?([0-9a-f]{64})\.tar(?:\.gz)?$/;

/** The path of a foreign layer the archive does not carry, when it names a digest, must name LayerSources' one. */
function checkAbsentLayerName(path: string, source: Descriptor, field: string): void {
  const name = path.replace(/^(?:\.\/)+/, "");
  const blob = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name);
  const top = DIGEST_NAMED_LAYER.exec(name);
  const named = blob ? `${blob[1]}:${blob[2]}` : top ? `sha256:${top[1]}` : undefined;
  if (named !== undefined && named !== source.digest) {
    throw invalid(`${field}: ${path} is named for ${named}, but LayerSources gives that layer as ${source.digest}`, path);
  }
}

function checkLayerName(name: string, digest: string, field: string): void {
  const match = DIGEST_NAMED_LAYER.exec(name);
  if (match && `sha256:${match[1]}` !== digest) {
    throw invalid(`${field}: ${name} is named for ${match[1]} but its content is ${digest}`, name);
  }
}
