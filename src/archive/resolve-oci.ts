import { invalid, unsupported } from "../core/errors.js";
import { parseJsonStrict } from "../core/json.js";
import { isIndexType, isLayerType, isManifestType, isSchema1Type, isForeignLayerType, MediaType } from "../core/media-types.js";
import { formatPlatform, normalizePlatform } from "../core/platform.js";
import { describeZodError, indexSchema, manifestSchema, ociLayoutSchema, type Descriptor, type Index, type Manifest } from "../core/schemas.js";
import { blobForDescriptor, blobPathFor, hasBlob, jsonBytes } from "./blob-lookup.js";
import { DescriptorBudgetExceeded, type DescriptorBudget } from "./descriptor-budget.js";
import { checkIndexData, checkManifestData } from "./embedded-data.js";
import { absentLayerWarning, checkLayers, parseImageConfig, platformDisagreement, platformOfConfig, type LayerInput } from "./image-check.js";
import type { ResolvedImage, ResolvedRoot, ScannedArchive } from "./model.js";
import { problemOf } from "./problem.js";
import { ANNOTATION_SYNTHESIZED, namesFromAnnotations } from "./names.js";
import { lookupFile } from "./scan.js";

const MAX_INDEX_DEPTH = 8;
const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);
/** BuildKit's annotation on an attestation manifest: the image manifest it attests. */
const DOCKER_REFERENCE_DIGEST = "vnd.docker.reference.digest";
const DOCKER_SCHEMA2_TYPES: ReadonlySet<string> = new Set([MediaType.dockerManifest, MediaType.dockerManifestList]);

export interface OciContext {
  archive: ScannedArchive;
  maxJsonBytes: number;
}

/** Refuses a missing or unreadable `oci-layout` file, or one of a version other than 1.0.0. */
export function checkOciLayout(ctx: OciContext): void {
  const layoutFile = lookupFile(ctx.archive, "oci-layout", "oci-layout");
  const layout = parseJsonStrict(jsonBytes(layoutFile, "oci-layout", ctx.maxJsonBytes), "oci-layout");
  const checked = ociLayoutSchema.safeParse(layout);
  if (!checked.success) {
    const version = (layout as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof version === "string" && version !== "1.0.0") throw unsupported(`oci-layout: unsupported imageLayoutVersion ${JSON.stringify(version)} (want "1.0.0")`, "oci-layout");
    throw invalid(`oci-layout: ${describeZodError(checked.error, layout)}`, "oci-layout");
  }
}

/**
 * The layout's index.json, once checkOciLayout has passed. `nullManifestsAsEmpty` reads
 * `"manifests": null` (which Docker 25.0.0 to 25.0.2 write when saving by digest or ID,
 * moby#47210) as an empty list, and says so.
 */
export function readOciLayout(ctx: OciContext, options: { nullManifestsAsEmpty: boolean }): { index: Index; warnings: string[] } {
  const indexFile = lookupFile(ctx.archive, "index.json", "index.json");
  const body = parseJsonStrict(jsonBytes(indexFile, "index.json", ctx.maxJsonBytes), "index.json");
  if (options.nullManifestsAsEmpty && isObject(body) && body.manifests === null) {
    const warning = `index.json: "manifests" is null (as Docker 25.0.0 to 25.0.2 write it on saving by digest or ID); read as an empty list`;
    // Replaced in place: how the document's numbers were spelt is kept per object (see
    // numberSpelling), so a copy would let through a `"schemaVersion": 2.0` that Go refuses.
    body.manifests = [];
    return { index: checkedIndex(body), warnings: [warning] };
  }
  return { index: checkedIndex(body), warnings: [] };
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** What resolving one root has met: each blob is resolved once, however often the graph lists it. */
interface RootWalk {
  root: ResolvedRoot;
  budget: DescriptorBudget;
  /** Indexes walked (by media type and digest), with how many levels of indexes each holds, itself included. */
  indexHeights: Map<string, number>;
  /** Manifests resolved (by media type and digest): the image, or undefined for an artifact or one that failed. */
  manifests: Map<string, ResolvedManifest | undefined>;
  /** Children already taken (digest, media type, size, platform): a repeat is legal and says nothing new. */
  taken: Set<string>;
}

/** An image manifest resolved once, before an index's descriptor gives it a platform. */
interface ResolvedManifest {
  manifest: ResolvedImage["manifest"];
  config: ResolvedImage["config"];
  layers: ResolvedImage["layers"];
  configName: string;
}

/**
 * Resolves one entry of index.json into a root with its images, following nested indexes.
 * `budget` is shared by every entry of one index.json.
 */
export function resolveOciRoot(ctx: OciContext, descriptor: Descriptor, field: string, budget: DescriptorBudget): ResolvedRoot {
  const { names, bareTag, digestNames } = namesFromAnnotations(descriptor.annotations, field, descriptor.digest);
  const origin = descriptor.annotations?.[ANNOTATION_SYNTHESIZED] === "true" ? "synthesized" : "archive";
  const root: ResolvedRoot = {
    descriptor,
    kind: isManifestType(descriptor.mediaType) ? "manifest" : isIndexType(descriptor.mediaType) ? "index" : "unknown",
    origin,
    names,
    bareTag,
    digestNames,
    images: [],
    absent: [],
    artifacts: [],
    artifactManifests: [],
    failures: [],
    indexes: new Map(),
    source: "index.json",
    warnings: [],
  };
  if (isSchema1Type(descriptor.mediaType)) throw unsupported(`${field}: Docker schema 1 manifests are obsolete and not supported`, field);
  budget.spend(1, field);
  const walk: RootWalk = { root, budget, indexHeights: new Map(), manifests: new Map(), taken: new Set() };
  collectFailure(root, descriptor, () => {
    if (root.kind === "manifest") {
      const image = imageOf(ctx, walk, descriptor, field, []);
      if (image) root.images.push({ ...image, manifest: { ...image.manifest, origin } });
    } else if (root.kind === "index") {
      walkIndex(ctx, walk, descriptor, field, [], 0);
    }
  });
  return root;
}

/**
 * Runs the resolution of one manifest or index, keeping what is wrong with it as a failure of the
 * root, so that its siblings are still resolved and a report can say which part is at fault.
 */
function collectFailure(root: ResolvedRoot, descriptor: Descriptor, resolve: () => void): void {
  try {
    resolve();
  } catch (error) {
    if (error instanceof DescriptorBudgetExceeded) throw error;
    root.failures.push({ descriptor, problem: problemOf(error, "index.json"), imagesBefore: root.images.length });
  }
}

const blobKey = (descriptor: Descriptor): string => `${descriptor.mediaType} ${descriptor.digest}`;

/** A child's identity for telling a repeat: what resolving it checks or reports. */
function takenKey(descriptor: Descriptor): string {
  const platform = descriptor.platform ? formatPlatform(normalizePlatform(descriptor.platform)) : "";
  return `${descriptor.digest} ${descriptor.mediaType} ${descriptor.size} ${platform}`;
}

/** True the first time a root meets this child. */
function takeOnce(walk: RootWalk, descriptor: Descriptor): boolean {
  const key = takenKey(descriptor);
  if (walk.taken.has(key)) return false;
  walk.taken.add(key);
  return true;
}

/**
 * Walks an index once per root; returns how many levels of indexes it holds. Met again, it adds
 * nothing, but is still refused when it would now nest deeper than the limit.
 */
function walkIndex(ctx: OciContext, walk: RootWalk, descriptor: Descriptor, field: string, chain: string[], depth: number): number {
  if (depth >= MAX_INDEX_DEPTH) throw invalid(`${field}: indexes nested deeper than ${MAX_INDEX_DEPTH} levels`, field);
  if (chain.includes(descriptor.digest)) throw invalid(`${field}: index ${descriptor.digest} contains itself`, field);
  const file = blobForDescriptor(ctx.archive, descriptor, field);
  const walked = walk.indexHeights.get(blobKey(descriptor));
  if (walked !== undefined) {
    if (depth + walked > MAX_INDEX_DEPTH) throw invalid(`${field}: indexes nested deeper than ${MAX_INDEX_DEPTH} levels`, field);
    return walked;
  }
  walk.indexHeights.set(blobKey(descriptor), 1);
  const bytes = jsonBytes(file, field, ctx.maxJsonBytes);
  const index = parseChecked(bytes, "index", file.name, descriptor.mediaType);
  walk.budget.spend(index.manifests.length, file.name);
  walk.root.indexes.set(descriptor.digest, bytes);
  const innerChain = [...chain, descriptor.digest];
  let height = 1;
  index.manifests.forEach((child, position) => {
    const childField = `${file.name} manifests[${position}]`;
    collectFailure(walk.root, child, () => {
      const below = resolveChild(ctx, walk, { descriptor, name: file.name, chain: innerChain, depth }, child, childField);
      height = Math.max(height, below + 1);
    });
  });
  walk.indexHeights.set(blobKey(descriptor), height);
  return height;
}

/**
 * One entry of an index: a nested index, a manifest, or another blob (an artifact), or absent (a
 * sparse index). Returns how many levels of indexes it holds (0 unless it is an index).
 */
function resolveChild(ctx: OciContext, walk: RootWalk, parent: { descriptor: Descriptor; name: string; chain: string[]; depth: number }, child: Descriptor, childField: string): number {
  const root = walk.root;
  if (isSchema1Type(child.mediaType)) throw unsupported(`${childField}: Docker schema 1 manifests are obsolete and not supported`, parent.name);
  const known = isManifestType(child.mediaType) || isIndexType(child.mediaType);
  if (!hasBlob(ctx.archive, child)) {
    if (known && takeOnce(walk, child)) {
      root.absent.push({
        digest: child.digest,
        mediaType: child.mediaType,
        platform: child.platform ? normalizePlatform(child.platform) : undefined,
        indexDigest: parent.descriptor.digest,
      });
    }
    return 0;
  }
  if (isIndexType(child.mediaType)) return walkIndex(ctx, walk, child, childField, parent.chain, parent.depth + 1);
  if (!takeOnce(walk, child)) return 0;
  if (isManifestType(child.mediaType)) {
    const image = imageOf(ctx, walk, child, childField, parent.chain);
    if (image) root.images.push(image);
  } else {
    root.artifactManifests.push({ descriptor: child, artifactType: child.artifactType ?? undefined, subject: undefined, blobs: [] });
    blobForDescriptor(ctx.archive, child, childField);
    root.artifacts.push(child.digest);
  }
  return 0;
}

/**
 * The image a manifest descriptor gives, its manifest resolved once per root: undefined for a
 * manifest that is no runnable image (its blobs checked and carried as an artifact's) or whose
 * failure the root already holds.
 */
function imageOf(ctx: OciContext, walk: RootWalk, descriptor: Descriptor, field: string, chain: string[]): ResolvedImage | undefined {
  const key = blobKey(descriptor);
  let resolved: ResolvedManifest | undefined;
  if (walk.manifests.has(key)) {
    blobForDescriptor(ctx.archive, descriptor, field);
    resolved = walk.manifests.get(key);
  } else {
    walk.manifests.set(key, undefined);
    resolved = resolveManifest(ctx, walk, descriptor, field);
    walk.manifests.set(key, resolved);
  }
  if (!resolved) return undefined;
  walk.budget.spend(1 + resolved.layers.length, blobPathFor(descriptor.digest));
  // The index's word is what platform selection goes by, so it stands; a contradiction is said.
  const disagreement = descriptor.platform ? platformDisagreement(descriptor.platform, resolved.config.parsed, resolved.configName) : undefined;
  if (disagreement) walk.root.warnings.push(`${field}: ${disagreement}`);
  return {
    manifest: resolved.manifest,
    config: resolved.config,
    platform: descriptor.platform ? normalizePlatform(descriptor.platform) : platformOfConfig(resolved.config.parsed),
    layers: resolved.layers,
    indexChain: chain,
  };
}

/**
 * Resolves an image manifest with its config and layers. Returns undefined for a manifest that
 * is not a runnable image (an attestation or another artifact): its blobs are checked and carried.
 */
function resolveManifest(ctx: OciContext, walk: RootWalk, descriptor: Descriptor, field: string): ResolvedManifest | undefined {
  const root = walk.root;
  const file = blobForDescriptor(ctx.archive, descriptor, field);
  const bytes = jsonBytes(file, field, ctx.maxJsonBytes);
  const manifest = parseChecked(bytes, "manifest", file.name, descriptor.mediaType);

  const isImage = IMAGE_CONFIG_TYPES.has(manifest.config.mediaType) && manifest.layers.every((layer) => isLayerType(layer.mediaType));
  if (!isImage) {
    walk.budget.spend(1 + manifest.layers.length, file.name);
    // Described before its blobs are checked: a missing or bad config is then the artifact's failure, not an image's.
    root.artifactManifests.push({
      descriptor,
      artifactType: manifest.artifactType ?? manifest.config.mediaType,
      subject: manifest.subject?.digest ?? descriptor.annotations?.[DOCKER_REFERENCE_DIGEST],
      blobs: [manifest.config, ...manifest.layers].map(({ digest, mediaType, size }) => ({ digest, mediaType, size })),
    });
    blobForDescriptor(ctx.archive, manifest.config, `${file.name} config`);
    root.artifacts.push(descriptor.digest, manifest.config.digest);
    manifest.layers.forEach((layer, position) => {
      blobForDescriptor(ctx.archive, layer, `${file.name} layers[${position}]`);
      root.artifacts.push(layer.digest);
    });
    return undefined;
  }
  const configFile = blobForDescriptor(ctx.archive, manifest.config, `${file.name} config`);
  const configBytes = jsonBytes(configFile, `${file.name} config`, ctx.maxJsonBytes);
  const config = parseImageConfig(configBytes, configFile.name);
  const layers = checkLayers(
    config,
    manifest.layers.map((layer, position): LayerInput => {
      const layerField = `${file.name} layers[${position}]`;
      if (hasBlob(ctx.archive, layer)) return { file: blobForDescriptor(ctx.archive, layer, layerField), digest: layer.digest, mediaType: layer.mediaType, urls: layer.urls, field: layerField };
      if (isForeignLayerType(layer.mediaType)) return { absent: layer, field: layerField };
      throw invalid(`${layerField}: blob ${layer.digest} is missing`, file.name, { digest: layer.digest });
    }),
    configFile.name,
  );
  layers.forEach((layer, position) => {
    if (layer.absent) root.warnings.push(absentLayerWarning(`${file.name} layers[${position}]`, layer));
  });
  return {
    manifest: { digest: descriptor.digest, mediaType: descriptor.mediaType, size: descriptor.size, origin: "archive", bytes },
    config: { digest: manifest.config.digest, mediaType: manifest.config.mediaType, size: manifest.config.size, bytes: configBytes, parsed: config },
    layers,
    configName: configFile.name,
  };
}

/**
 * Parses a manifest or index, refusing a body of the other kind (CVE-2021-41190): the body's own
 * mediaType, when it has one, and its fields must agree with what the descriptor claims.
 */
function parseChecked(bytes: Buffer, expected: "index", what: string, descriptorMediaType?: string): Index;
function parseChecked(bytes: Buffer, expected: "manifest", what: string, descriptorMediaType?: string): Manifest;
function parseChecked(bytes: Buffer, expected: "index" | "manifest", what: string, descriptorMediaType?: string): Index | Manifest {
  return checkedBody(parseJsonStrict(bytes, what), expected, what, descriptorMediaType);
}

/** The top-level index.json, already parsed from JSON, checked as parseChecked checks an index. */
const checkedIndex = (body: unknown): Index => checkedBody(body, "index", "index.json") as Index;

/** parseChecked of a body already parsed from JSON. */
function checkedBody(body: unknown, expected: "index" | "manifest", what: string, descriptorMediaType?: string): Index | Manifest {
  if (!isObject(body)) throw invalid(`${what}: not a JSON object`, what);
  const fields = body;
  const bodyMediaType = typeof fields.mediaType === "string" ? fields.mediaType : undefined;
  if (fields.schemaVersion === 1 || isSchema1Type(bodyMediaType) || isSchema1Type(descriptorMediaType)) {
    throw unsupported(`${what}: Docker schema 1 manifests are obsolete and not supported`, what);
  }
  if (expected === "manifest" && "manifests" in fields) throw invalid(`${what}: described as a manifest but its body is an index`, what);
  if (expected === "index" && ("config" in fields || "layers" in fields)) throw invalid(`${what}: described as an index but its body is a manifest`, what);
  if (bodyMediaType !== undefined && descriptorMediaType !== undefined && bodyMediaType !== descriptorMediaType) {
    throw invalid(`${what}: media type ${descriptorMediaType} in its descriptor but ${bodyMediaType} in its body`, what);
  }
  // The OCI types may leave it out; a Docker schema 2 body always names it, and a registry
  // refuses one that does not (MANIFEST_INVALID).
  if (bodyMediaType === undefined && DOCKER_SCHEMA2_TYPES.has(descriptorMediaType ?? "")) {
    throw invalid(`${what}: media type ${descriptorMediaType} in its descriptor but none in its body`, what);
  }
  if (expected === "index") {
    const index = indexSchema.safeParse(body);
    if (!index.success) throw invalid(`${what}: ${describeZodError(index.error, body)}`, what);
    checkIndexData(index.data, what);
    return index.data;
  }
  const manifest = manifestSchema.safeParse(body);
  if (!manifest.success) throw invalid(`${what}: ${describeZodError(manifest.error, body)}`, what);
  checkManifestData(manifest.data, what);
  return manifest.data;
}
