/**
 * What `lading inspect` shows of an artifact: a root manifest whose config is not an image config
 * (a Helm chart, a signature, an SBOM), or an index of such manifests. The store keeps no platform
 * image for one, so these fields come from the root document itself, in the terms `oras manifest
 * fetch` uses; the image-only fields of docker's shape (Config, Os, RootFS, ...) are left out.
 */
import { DEFAULT_LIMITS } from "../archive/read.js";
import { isIndexType, isManifestType } from "../core/media-types.js";
import { indexSchema, manifestSchema, parseDocument, type Descriptor } from "../core/schemas.js";
import type { ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";

/** The manifest limit a load applies by default (`--max-manifest-json-size`). */
const MAX_ROOT_BYTES = DEFAULT_LIMITS.maxManifestJsonBytes;

/** A type, not an interface, so that an inspect document is also a `Record<string, unknown>`. */
export type ArtifactFields = {
  /** The manifest's artifactType, else its config's media type (the distribution spec's rule); an index's artifactType. */
  ArtifactType: string | null;
  ConfigDigest: string | null;
  ConfigMediaType: string | null;
  ManifestDigest: string | null;
  /** A manifest's layers (its blobs), as its descriptors list them. */
  Layers: Descriptor[] | null;
  /** An index's children, as its descriptors list them. */
  Manifests: Descriptor[] | null;
  Subject: Descriptor | null;
  Annotations: Record<string, string> | null;
};

export async function artifactFields(store: Store, record: ImageRecord): Promise<ArtifactFields> {
  const none: ArtifactFields = { ArtifactType: null, ConfigDigest: null, ConfigMediaType: null, ManifestDigest: null, Layers: null, Manifests: null, Subject: null, Annotations: null };
  if (isManifestType(record.mediaType)) {
    const manifest = parseDocument(manifestSchema, await store.content.readBuffer(record.id, MAX_ROOT_BYTES), `manifest ${record.id}`);
    return {
      ...none,
      ArtifactType: manifest.artifactType ?? manifest.config.mediaType,
      ConfigDigest: manifest.config.digest,
      ConfigMediaType: manifest.config.mediaType,
      ManifestDigest: record.id,
      Layers: manifest.layers,
      Subject: manifest.subject ?? null,
      Annotations: manifest.annotations ?? null,
    };
  }
  if (isIndexType(record.mediaType)) {
    const index = parseDocument(indexSchema, await store.content.readBuffer(record.id, MAX_ROOT_BYTES), `index ${record.id}`);
    return { ...none, ArtifactType: index.artifactType ?? null, Manifests: index.manifests, Subject: index.subject ?? null, Annotations: index.annotations ?? null };
  }
  return none;
}
