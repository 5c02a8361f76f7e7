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
export { LadingError, type ErrorKind, type ErrorDetail } from "./core/errors.js";
export { parseDigest, digestOf, chainIds, type ParsedDigest, type DigestAlgorithm } from "./core/digest.js";
export { parseReference, formatReference, familiarName, fullName, withDefaultTag, type ImageReference, type ReferenceStyle } from "./core/reference.js";
export { parsePlatform, formatPlatform, platformMatches, hostPlatform, type Platform } from "./core/platform.js";
export { MediaType } from "./core/media-types.js";
export type { Descriptor, Manifest, Index, ImageConfig } from "./core/schemas.js";

export { openArchivePath, openTarStream, type OpenedSource, type OpenPathOptions } from "./archive/source.js";
export type { Compression } from "./tar/compression.js";
export { readArchive, DEFAULT_LIMITS, type ReadLimits, type ReadOptions } from "./archive/read.js";
export type { ArchiveGraph, ArchiveFormat, DigestOrigin, ResolvedRoot, ResolvedImage, ResolvedLayer, AbsentManifest, ArtifactManifest, FailedDescriptor, RootEntry, Problem } from "./archive/model.js";
export type { LayoutFormat } from "./archive/write-layout.js";

export { Store, type StoreOptions } from "./store/store.js";
export { resolveStoreRoot, type StoreRootOptions } from "./store/root.js";
export {
  ReferenceStore,
  parseRepositoriesJson,
  serializeRepositoriesJson,
  type ReferenceStoreOptions,
  type ReferenceTxn,
  type ReferenceEntry,
  type ReferenceState,
  type RepositoriesFile,
  type UpdateOptions,
  type UpdateResult,
  type AddOptions,
  type AddResult,
} from "./store/reference-store.js";
export { LockLostError, type FileLockOptions } from "./store/lock.js";
export type { Leftovers } from "./store/process-alive.js";
export { WatchedReferences, type WatchedReferencesOptions, type WatchedReferencesEvents } from "./store/watched-references.js";
export type { ImageRecord } from "./store/image-records.js";

export { verifyArchive, VERIFY_SCHEMA_VERSION, type VerifyReport, type ImageStatus, type VerifiedImage, type VerifiedLayer, type VerifiedRoot, type VerifiedArtifact, type RootProblem, type Status } from "./ops/verify.js";
export { loadArchive, type LoadOptions, type LoadResult, type LoadedImage } from "./ops/load.js";
export { saveImages, saveToFile, selectImages, saveSelection, type Selection, type SaveOptions, type SaveResult, type SavedImage } from "./ops/save.js";
export { convertArchive, type ConvertOptions, type ConvertResult } from "./ops/convert.js";
export { verifyRoundtrip, ROUNDTRIP_SCHEMA_VERSION, type RoundtripReport, type RoundtripImage, type RoundtripPlatform } from "./ops/roundtrip.js";
export { fsckStore, type FsckReport, type FsckProblem } from "./ops/fsck.js";
export { listImages, inspectImage, isInspectedImage, tagImage, removeImage, pruneBlobs, type ImageSummary, type InspectOptions, type InspectedImage, type InspectedArtifact, type RemoveResult } from "./ops/images.js";
export { parseImageFilter, parseImageFilters, type ImageFilters } from "./ops/image-filters.js";
export { resolveImage } from "./ops/resolve-image.js";
export { pullImages, type PullOptions, type PullResult, type PulledImage, type LayerStatus } from "./ops/pull.js";
export { pushImage, type PushOptions, type PushResult, type BlobStatus } from "./ops/push.js";
export type { RegistryAccess, RegistryClientFactory, BlobDescriptor, FetchedManifest } from "./ops/registry-access.js";
export { RegistryClient, type RegistryClientOptions } from "./registry/client.js";
export { dockerConfigCredentials } from "./registry/credentials.js";
export type { Credentials, CredentialsProvider } from "./registry/auth.js";
export { startServer, type ServeOptions, type RunningServer } from "./server/server.js";
