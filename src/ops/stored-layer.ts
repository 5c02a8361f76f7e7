/**
 * A stored layer blob read as a load reads a layer (probeFile): hashed for its digest, decompressed
 * and hashed for its diff ID, and its tar checked for what a load refuses. fsck and pull read a
 * stored layer no load checked this way, so that a diff ID they record means what a load's does.
 */
import { blobPathFor, contentDigest } from "../archive/blob-lookup.js";
import type { ScannedFile } from "../archive/model.js";
import { probeFile, type ProbeLimits } from "../archive/probe.js";
import { DEFAULT_LIMITS } from "../archive/read.js";
import type { Store } from "../store/store.js";

/** A layer is never kept as JSON: no JSON is collected. */
export const STORED_LAYER_LIMITS: ProbeLimits = { maxJsonBytes: 0, maxLayerBytes: DEFAULT_LIMITS.maxLayerBytes, decompress: true };

export interface StoredLayerRead {
  /** What the read found, named for the blob's digest. */
  file: ScannedFile;
  /** The digest of the bytes read, with the algorithm of the blob's digest. */
  actualDigest: string | undefined;
}

export async function probeStoredLayer(store: Store, digest: string): Promise<StoredLayerRead> {
  const file = await probeFile(blobPathFor(digest), store.content.readStream(digest), STORED_LAYER_LIMITS);
  return { file: { ...file, name: digest }, actualDigest: contentDigest(file, digest) };
}
