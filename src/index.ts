/**
 * lading's library API: the same jobs as the CLI, typed.
 *
 *   const store = await Store.open(resolveStoreRoot());
 *   const loaded = await loadArchive(store, await openArchivePath("images.tar"));
 *   await saveToFile("out.tar", (sink) => saveImages(store, ["busybox:1.36"], sink, { format: "oci" }));
 *   const report = await verifyArchive(await openArchivePath("out.tar"));
 *
 * `lading load --skip-diff-id-check` is `loadArchive(store, source, { checkCompressedLayers: false })`,
 * and `lading pull --skip-diff-id-check` is `pullImages(store, refs, { client, checkCompressedLayers: false })`.
 */
export { LadingError, type ErrorKind } from "./core/errors.js";
export { parseDigest, digestOf, chainIds } from "./core/digest.js";
export { parseReference, formatReference, familiarName, fullName, withDefaultTag, type ImageReference } from "./core/reference.js";
export { parsePlatform, formatPlatform, platformMatches, hostPlatform, type Platform } from "./core/platform.js";
export { MediaType } from "./core/media-types.js";
export type { Descriptor, Manifest, Index, ImageConfig } from "./core/schemas.js";

export { openArchivePath, openTarStream, type OpenedSource } from "./archive/source.js";
export { readArchive, DEFAULT_LIMITS, type ReadLimits, type ReadOptions } from "./archive/read.js";
export type { ArchiveGraph, ResolvedRoot, ResolvedImage, ResolvedLayer, Problem } from "./archive/model.js";

export { Store } from "./store/store.js";
export { resolveStoreRoot } from "./store/root.js";
export { ReferenceStore, parseRepositoriesJson, serializeRepositoriesJson } from "./store/reference-store.js";
export { WatchedReferences, type WatchedReferencesOptions, type WatchedReferencesEvents } from "./store/watched-references.js";
export type { ImageRecord } from "./store/image-records.js";

export { verifyArchive, type VerifyReport, type VerifiedImage } from "./ops/verify.js";
export { loadArchive, type LoadOptions, type LoadResult, type LoadedImage } from "./ops/load.js";
export { saveImages, saveToFile, selectImages, type SaveOptions, type SaveResult, type SavedImage } from "./ops/save.js";
export { convertArchive, type ConvertOptions, type ConvertResult } from "./ops/convert.js";
export { verifyRoundtrip, type RoundtripReport, type RoundtripImage } from "./ops/roundtrip.js";
export { fsckStore, type FsckReport, type FsckProblem } from "./ops/fsck.js";
export { listImages, inspectImage, tagImage, removeImage, pruneBlobs, type ImageSummary } from "./ops/images.js";
export { parseImageFilter, parseImageFilters, type ImageFilters } from "./ops/image-filters.js";
export { resolveImage } from "./ops/resolve-image.js";
export { pullImages, type PullOptions, type PullResult, type PulledImage } from "./ops/pull.js";
export { pushImage, type PushOptions, type PushResult } from "./ops/push.js";
export type { RegistryAccess, RegistryClientFactory } from "./ops/registry-access.js";
export { RegistryClient, type RegistryClientOptions } from "./registry/client.js";
export { dockerConfigCredentials } from "./registry/credentials.js";
