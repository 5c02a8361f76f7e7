import { conflict, invalid, notFound } from "../core/errors.js";
import { formatReference, parseReference, withDefaultTag } from "../core/reference.js";
import type { ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";

const HEX_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

/**
 * Finds an image as docker does: a name (`:latest` implied), name:tag, name@digest, a full ID or
 * a unique ID prefix. IDs match the image ID (root digest) or the config digest.
 */
export async function resolveImage(store: Store, query: string): Promise<ImageRecord> {
  const byReference = await lookupReference(store, query);
  if (byReference) {
    const record = await store.records.get(byReference);
    if (!record) throw notFound(`image ${query} points at ${byReference}, whose record is missing (run lading fsck)`, query);
    return record;
  }
  const prefix = HEX_PREFIX.exec(query)?.[1];
  if (prefix !== undefined) {
    const matches = (await store.records.list()).filter((record) => idsOf(record).some((id) => id.startsWith(`sha256:${prefix}`)));
    const unique = [...new Map(matches.map((record) => [record.id, record])).values()];
    if (unique.length === 1) return unique[0] as ImageRecord;
    if (unique.length > 1) throw conflict(`ambiguous image ID prefix ${query}: it matches ${unique.length} images`, query);
  }
  throw notFound(`No such image: ${query}`, query);
}

/** The familiar key a query names in the reference store, or undefined if it is not a reference. */
export async function lookupReference(store: Store, query: string): Promise<string | undefined> {
  let ref;
  try {
    ref = withDefaultTag(parseReference(query));
  } catch (error) {
    if (HEX_PREFIX.test(query)) return undefined;
    throw invalid((error as Error).message, query);
  }
  return store.references.get(formatReference(ref, "familiar"));
}

/** The image ID and every config digest: what an ID or prefix may match. */
export function idsOf(record: ImageRecord): string[] {
  return [record.id, ...record.images.map((image) => image.config.digest)];
}
