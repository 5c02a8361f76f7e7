import { invalid } from "../core/errors.js";
import { layerTypeCompression } from "../core/media-types.js";
import { formatPlatform, normalizePlatform, type Platform } from "../core/platform.js";
import { isRfc3339Time } from "../core/rfc3339.js";
import { imageConfigSchema, parseDocument, type ImageConfig } from "../core/schemas.js";
import type { ResolvedLayer, ScannedFile } from "./model.js";
import type { Compression } from "../tar/compression.js";

/**
 * A config an archive or a registry brings. Its times must read as the Go peers read them
 * (docker, containerd and podman refuse an image whose time does not parse). Checked here, where
 * images come in, not in the schema: an image an earlier lading stored must still list and inspect.
 */
export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  const config = parseDocument(imageConfigSchema, bytes, what);
  const times: [string, string | undefined][] = [["created", config.created], ...(config.history ?? []).map((entry, index): [string, string | undefined] => [`history[${index}].created`, entry.created])];
  for (const [field, time] of times) {
    if (time !== undefined && !isRfc3339Time(time)) throw invalid(`${what}: ${field}: ${JSON.stringify(time)} is not an RFC 3339 time`, what);
  }
  return config;
}

export function platformOfConfig(config: ImageConfig): Platform {
  return normalizePlatform({ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) });
}

/**
 * How the platform an index gives a manifest contradicts the image's config, if it does: os or
 * architecture (as normalised: aarch64 is arm64), or the variant when both name one.
 */
export function platformDisagreement(claimed: Platform, config: ImageConfig, configName: string): string | undefined {
  const configured: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  const [a, b] = [normalizePlatform(claimed), normalizePlatform(configured)];
  const variantsDiffer = claimed.variant !== undefined && configured.variant !== undefined && a.variant !== b.variant;
  if (a.os === b.os && a.architecture === b.architecture && !variantsDiffer) return undefined;
  return `the index gives platform ${formatPlatform(claimed)} but ${configName} is ${formatPlatform(configured)}`;
}

/** A layer as a manifest lists it: the archive's file, or a foreign layer's descriptor alone. */
export type LayerInput =
  | { file: ScannedFile; digest?: string; mediaType: string; urls?: string[] | null | undefined; field: string }
  | { absent: { digest: string; size: number; mediaType: string; urls?: string[] | null | undefined }; field: string };

/**
 * Checks an image's layers against its config: as many layers as diff IDs, each layer sound
 * (a tar, decompressible, nothing escaping the root inside) and with the diff ID the config lists.
 * An absent foreign layer cannot be checked: it takes the config's diff ID.
 */
export function checkLayers(config: ImageConfig, layers: readonly LayerInput[], configName: string): ResolvedLayer[] {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length) {
    throw invalid(`${configName}: rootfs.diff_ids lists ${diffIds.length} layers but the image has ${layers.length}`, configName);
  }
  return layers.map((layer, index) => ("absent" in layer ? absentLayer(layer.absent, diffIds[index]) : checkLayer(layer, diffIds[index], index, configName)));
}

/** A layer whose compression (sniffed from its first bytes) is not the one its media type says; gzip's may also be none. */
export function checkLayerCompression(field: string, mediaType: string, name: string, compression: Compression): void {
  const claimed = layerTypeCompression(mediaType);
  if (claimed !== undefined && claimed !== compression && !(claimed === "gzip" && compression === "none")) {
    throw invalid(`${field}: media type ${mediaType} says ${claimed} but ${name} is ${compression}`, name);
  }
}

/** One layer against the diff ID its config lists at `index`: load's check, and pull's. */
export function checkLayer({ file, digest, mediaType, urls, field }: Extract<LayerInput, { file: ScannedFile }>, diffId: string | undefined, index: number, configName: string): ResolvedLayer {
  if (file.layerProblem) throw invalid(`${field}: layer ${file.name}: ${file.layerProblem}`, file.name, { digest: digest ?? file.digest });
  checkLayerCompression(field, mediaType, file.name, file.compression);
  // A compressed layer left compressed on request (checkCompressedLayers: false) has no diff ID of its own.
  const trusted = file.diffId === undefined && file.compression !== "none";
  if (!trusted && file.diffId !== diffId) {
    throw invalid(
      `${field}: layer ${file.name} has diff ID ${file.diffId}${file.diffIdSource ? ` (as ${file.diffIdSource} says)` : ""}, but ${configName} rootfs.diff_ids[${index}] is ${diffId}`,
      file.name,
      { digest: digest ?? file.digest, compared: "diffId", ...(diffId !== undefined ? { expected: diffId } : {}), ...(file.diffId !== undefined ? { actual: file.diffId } : {}) },
    );
  }
  return {
    // The descriptor's digest where there is one: a layer may be addressed by sha512.
    digest: digest ?? file.digest,
    size: file.size,
    mediaType,
    compression: file.compression,
    diffId: trusted ? diffId : file.diffId,
    uncompressedSize: file.uncompressedSize,
    entry: file.name,
    ...(urls ? { urls } : {}),
  };
}

function absentLayer(descriptor: { digest: string; size: number; mediaType: string; urls?: string[] | null | undefined }, diffId: string | undefined): ResolvedLayer {
  return {
    digest: descriptor.digest,
    size: descriptor.size,
    mediaType: descriptor.mediaType,
    compression: layerTypeCompression(descriptor.mediaType) ?? "none",
    diffId,
    uncompressedSize: undefined,
    entry: undefined,
    absent: true,
    ...(descriptor.urls ? { urls: descriptor.urls } : {}),
  };
}

/** What verify and load say of an absent foreign layer: nothing in the archive backs its diff ID. */
export function absentLayerWarning(field: string, layer: ResolvedLayer): string {
  return `${field}: foreign layer ${layer.digest} is not in the archive; its diff ID ${layer.diffId ?? "(none)"} is the config's, unchecked`;
}
