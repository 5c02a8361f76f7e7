import { conflict, invalid, notFound, type LadingError } from "../core/errors.js";
import { formatReference, parseReference, withDefaultTag } from "../core/reference.js";
import type { ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";
import { wrongDigestOf } from "../store/reference-store.js";

const HEX_PREFIX = /^(?:sha256:)?([0-9a-f]{1,64})$/;

/**
 * Finds an image as docker does: a name (`:latest` implied), name:tag, name@digest, a full ID or
 * a unique ID prefix. IDs match the image ID (root digest) or the config digest. An image not
 * found is `No such image: NAME`, NAME as dockerd gives it (missingImageName) unless `missingName`
 * says otherwise.
 */
export async function resolveImage(store: Store, query: string, missingName?: string): Promise<ImageRecord> {
  const byReference = await lookupReference(store, query);
  if (byReference) {
    const record = await store.records.get(byReference);
    if (!record) throw await missingRecord(store, query, byReference);
    return record;
  }
  const prefix = HEX_PREFIX.exec(query)?.[1];
  if (prefix !== undefined) {
    const records = await store.records.list();
    const exact = records.find((record) => record.id === `sha256:${prefix}`);
    if (exact) return exact;
    const matches = records.filter((record) => idsOf(record).some((id) => id.startsWith(`sha256:${prefix}`)));
    if (matches.length === 1) return matches[0] as ImageRecord;
    if (matches.length > 1) throw conflict(ambiguity(query, prefix, matches), query);
  }
  throw notFound(`No such image: ${missingName ?? missingImageName(query)}`, query);
}

const FULL_ID = /^(?:sha256:)?([0-9a-f]{64})$/;

/**
 * An image that cannot be found as dockerd names it (`No such image: NAME`): a whole ID as
 * `sha256:<hex>`, a reference in its familiar form with `:latest` implied (`docker.io/library/x`
 * is `x:latest`), anything else as given.
 */
export function missingImageName(query: string): string {
  const full = FULL_ID.exec(query);
  if (full) return `sha256:${full[1]}`;
  try {
    return formatReference(withDefaultTag(parseReference(query)), "familiar");
  } catch {
    return query;
  }
}

/**
 * Names the images a query matches, so that the user can pick one. A whole digest that is no
 * image's ID is a config digest several images share (one config, several manifests).
 */
function ambiguity(query: string, hex: string, matches: readonly ImageRecord[]): string {
  const ids = matches.map((record) => matchedAs(record, hex)).sort();
  const what = hex.length === 64 ? `${query} is the config of ${matches.length} images` : `ambiguous image ID prefix ${query}: it matches ${matches.length} images`;
  return `${what}: ${ids.join(", ")}; name one of them`;
}

/** An image's short ID, and, when only a config digest starts with `hex`, that config's: `0b6aaa7c4808 (by its config 8f3e1b2c4d5a)`. */
function matchedAs(record: ImageRecord, hex: string): string {
  const short = (digest: string): string => digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
  if (record.id.startsWith(`sha256:${hex}`) || hex.length === 64) return short(record.id);
  const config = record.images.map((image) => image.config.digest).find((digest) => digest.startsWith(`sha256:${hex}`));
  return config === undefined ? short(record.id) : `${short(record.id)} (by its config ${short(config)})`;
}

/**
 * The image ID a query names in the reference store, or undefined if it is not a reference. A
 * reference by a digest the image it points at does not have (written by hand) is refused.
 */
export async function lookupReference(store: Store, query: string): Promise<string | undefined> {
  let ref;
  try {
    ref = withDefaultTag(parseReference(query));
  } catch (error) {
    if (HEX_PREFIX.test(query)) return undefined;
    throw invalid((error as Error).message, query);
  }
  const reference = formatReference(ref, "familiar");
  const id = await store.references.get(reference);
  if (id !== undefined && wrongDigestOf({ reference, id }) !== undefined) throw notFound(`image ${query} points at ${digestDiffers(id)} (lading fsck --repair removes it)`, query);
  return id;
}

/** What a reference by digest that is not its image's (see wrongDigestOf) points at, and why it names no image. */
export function digestDiffers(id: string): string {
  return `${id}, an image whose digest differs; a reference by digest names its image's own digest`;
}

/** The image ID and every config digest: what an ID or prefix may match. */
export function idsOf(record: ImageRecord): string[] {
  return [record.id, ...record.images.map((image) => image.config.digest)];
}

/**
 * A reference `query` whose image ID `id` has no record: `run lading fsck`, or what the ID is (see
 * configDigestOf). Records that cannot be read are passed over: they are not what went wrong here.
 */
export async function missingRecord(store: Store, query: string, id: string): Promise<LadingError> {
  const config = configDigestOf((await store.records.scan()).records, id);
  return notFound(`image ${query} points at ${id}, whose record is missing${config === undefined ? " (run lading fsck)" : `: ${config}`}`, query);
}

/**
 * When `id`, no image's ID, is the config digest of stored images (the classic image ID, which a
 * repositories.json written by dockerd's classic store holds): which, and what to write instead.
 */
export function configDigestOf(records: readonly ImageRecord[], id: string): string | undefined {
  const owners = records.filter((record) => record.images.some((image) => image.config.digest === id)).map((record) => record.id);
  if (owners.length === 0) return undefined;
  if (owners.length === 1) {
    return `${id} is the config digest of image ${owners[0]}, its ID in docker's classic store; lading's image ID is the digest of its manifest: write ${owners[0]} instead`;
  }
  return `${id} is the config digest of images ${owners.sort().join(", ")}, their ID in docker's classic store; lading's image IDs are the digests of their manifests: write one of them instead`;
}
