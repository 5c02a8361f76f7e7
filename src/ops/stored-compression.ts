import { COMPRESSION_SNIFF_BYTES, detectCompression } from "../tar/compression.js";
import type { Store } from "../store/store.js";

/** Whether a stored blob is not compressed, by its first bytes (as a load detects it). */
export async function storedBlobIsUncompressed(store: Store, digest: string): Promise<boolean> {
  const head = Buffer.alloc(COMPRESSION_SNIFF_BYTES);
  const length = await store.content.readAt(digest, 0, head);
  return detectCompression(head.subarray(0, length)) === "none";
}
