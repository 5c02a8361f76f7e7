/**
 * A load or pull that fails once it has committed blobs (the disk fills up while its image
 * records or references are written) adds no image and no reference, but the blobs it stored
 * stay, unreferenced, until `lading prune` removes them: its error says so, in the README's words.
 */
import { toLadingError, withWordsAfter } from "../core/errors.js";
import type { Store } from "../store/store.js";

/**
 * `error`, saying which of `committed` (the blobs the command was storing that the store did not
 * hold) it left in the store. Unchanged when it left none, and in a scratch store, which goes
 * with its command.
 */
export async function withBlobsLeft(store: Store, committed: readonly string[], error: unknown): Promise<unknown> {
  if (store.scratch || committed.length === 0) return error;
  const present = await Promise.all(committed.map((digest) => store.content.has(digest).catch(() => false)));
  const left = present.filter(Boolean).length;
  if (left === 0) return error;
  const failure = toLadingError(error);
  const blobs = left === 1 ? "the blob it stored stays" : `the ${left} blobs it stored stay`;
  return withWordsAfter(failure, `; no image or reference was added, but ${blobs}, unreferenced, until lading prune`);
}
