/**
 * Which stored layers the store vouches for without reading them again.
 *
 * A diff-ID record marked layer-checked vouches for its blob: load, pull and fsck write one only
 * for a layer that passed load's checks (its diff ID and its tar); an earlier lading's unmarked
 * record vouches for the diff ID alone. An uncompressed layer addressed by sha256 is its
 * own diff ID and gets no record from a load: an image record that lists it as a layer, and not
 * as a foreign one, vouches for it instead, since load and pull check the tar of every such layer
 * before they record an image that lists it. A blob the store holds as anything else (an
 * artifact's layer, a foreign layer a pull carried unchecked) is vouched for by a record alone.
 * (A lading from before pulls checked layers recorded images without reading their layers; such a
 * listing cannot be told from a checked one.)
 */
import { isForeignLayerType } from "../core/media-types.js";
import type { ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";
import type { Compression } from "../tar/compression.js";
import { storedBlobCompression } from "./stored-compression.js";

/** The blobs the records list as a layer that is not foreign. */
export function layersListedByImages(records: readonly ImageRecord[]): Set<string> {
  const listed = new Set<string>();
  for (const record of records) {
    for (const image of record.images) {
      for (const layer of image.layers) if (!layer.absent && !isForeignLayerType(layer.mediaType)) listed.add(layer.digest);
    }
  }
  return listed;
}

/** layersListedByImages of every readable record in the store (an unreadable one is fsck's to report, not a pull's or a save's failure). */
export async function layersListedInStore(store: Store): Promise<Set<string>> {
  return layersListedByImages((await store.records.scan()).records);
}

/**
 * Whether the images' listing (`listed`) vouches for a stored layer: addressed by sha256, listed
 * as a layer that is not foreign, and uncompressed, so that its digest is its diff ID. The
 * compression is read from the blob's first bytes unless the caller already has it.
 */
export async function listingVouchesFor(store: Store, listed: ReadonlySet<string>, digest: string, compression?: Compression): Promise<boolean> {
  if (!digest.startsWith("sha256:") || !listed.has(digest)) return false;
  return (compression ?? (await storedBlobCompression(store, digest))) === "none";
}
