/**
 * What pull and push need of a registry: the subset of src/registry/client.ts's RegistryClient
 * they call (see notes/registry-contract.md). Typed here structurally, so the jobs depend on the
 * protocol's shape and tests can hand in a client of their own.
 */
import type { Readable } from "node:stream";
import { invalid, unsupported } from "../core/errors.js";
import { parseJsonStrict } from "../core/json.js";
import { isIndexType, isLayerType, isManifestType, isSchema1Type, MediaType } from "../core/media-types.js";
import { describeZodError, indexSchema, manifestSchema, type Index, type Manifest } from "../core/schemas.js";

export interface BlobDescriptor {
  digest: string;
  size: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export interface RegistryAccess {
  getManifest(repository: string, reference: string): Promise<FetchedManifest>;
  headManifest(repository: string, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined>;
  hasBlob(repository: string, digest: string): Promise<boolean>;
  openBlob(repository: string, blob: BlobDescriptor): Promise<Readable>;
  /** Writes the verified blob into `write` in large batches (each may be reused once its promise settles). */
  downloadBlob(repository: string, blob: BlobDescriptor, write: (bytes: Buffer) => Promise<void>): Promise<void>;
  mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean>;
  /**
   * Uploads the blob `open` gives (called again for a retry). A Readable that also has
   * `readAt(into, position): Promise<number>` (a stored file) is read at offsets into reused
   * buffers instead of being streamed, which keeps a push's memory flat.
   */
  uploadBlob(repository: string, blob: BlobDescriptor, open: () => Readable, options?: { chunkSize?: number }): Promise<void>;
  putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<string>;
}

/** Makes the client for one registry host (a reference's domain, e.g. "127.0.0.1:5000"). */
export type RegistryClientFactory = (registryHost: string) => RegistryAccess;

export type RegistryDocument = { kind: "index"; index: Index } | { kind: "manifest"; manifest: Manifest };

const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

/**
 * Parses a manifest or index as served: the media type (the Content-Type, or the descriptor's)
 * decides the kind, and a body of the other kind is refused (CVE-2021-41190), as is schema 1.
 */
export function parseRegistryDocument(bytes: Buffer, mediaType: string, what: string): RegistryDocument {
  const body = parseJsonStrict(bytes, what);
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalid(`${what}: not a JSON object`, what);
  const fields = body as Record<string, unknown>;
  const bodyMediaType = typeof fields.mediaType === "string" ? fields.mediaType : undefined;
  if (fields.schemaVersion === 1 || isSchema1Type(bodyMediaType) || isSchema1Type(mediaType)) {
    throw unsupported(`${what}: Docker schema 1 manifests are obsolete and not supported`, what);
  }
  const kind = isIndexType(mediaType) ? "index" : isManifestType(mediaType) ? "manifest" : undefined;
  if (kind === undefined) throw unsupported(`${what}: media type ${mediaType} is neither an image manifest nor an index`, what);
  if (bodyMediaType !== undefined && bodyMediaType !== mediaType) {
    throw invalid(`${what}: served as ${mediaType} but its body says ${bodyMediaType}`, what);
  }
  if (kind === "manifest" && "manifests" in fields) throw invalid(`${what}: described as a manifest but its body is an index`, what);
  if (kind === "index" && ("config" in fields || "layers" in fields)) throw invalid(`${what}: described as an index but its body is a manifest`, what);
  if (kind === "index") {
    const parsed = indexSchema.safeParse(body);
    if (!parsed.success) throw invalid(`${what}: ${describeZodError(parsed.error, body)}`, what);
    return { kind, index: parsed.data };
  }
  const parsed = manifestSchema.safeParse(body);
  if (!parsed.success) throw invalid(`${what}: ${describeZodError(parsed.error, body)}`, what);
  return { kind, manifest: parsed.data };
}

/** A runnable image (image config, layers only) rather than an attestation or another artifact. */
export function isImageManifest(manifest: Manifest): boolean {
  return IMAGE_CONFIG_TYPES.has(manifest.config.mediaType) && manifest.layers.every((layer) => isLayerType(layer.mediaType));
}

/** Runs `work` over `items` with at most `limit` at once; the first failure rejects (the rest are awaited). */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure !== undefined) throw failure.error;
}
