import { COMPRESSION_SNIFF_BYTES, detectCompression, type Compression } from "../tar/compression.js";
import type { Store } from "../store/store.js";

/** A stored blob's compression, by its first bytes (as a load detects it). */
export async function storedBlobCompression(store: Store, digest: string): Promise<Compression> {
  const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
  const length = await store.content.readAt(digest, 0, head);
  return detectCompression(head.subarray(0, length));
}
