import { missingFileWords } from "../store/references-file-error.js";
import type { Store } from "../store/store.js";
import { attemptRepair, withFailure, type FsckProblem } from "./fsck.js";

/**
 * fsck of a store whose repositories.json is missing while it holds image records (see
 * Store.referencesLost): the references it held are gone, every image shows untagged, and every
 * write of references refuses until the file is back. --repair writes an empty one, so that the
 * store can be used again (a file put back meanwhile is left as it is).
 */
export async function checkMissingReferences(store: Store, repair: boolean): Promise<FsckProblem | undefined> {
  if (!(await store.referencesLost())) return undefined;
  const subject = store.references.filePath;
  const missing = `${subject}: ${await missingFileWords(subject)}, but the store holds images`;
  if (!repair) {
    return { kind: "missing-references", subject, message: `${missing}: they show untagged, and commands that write references refuse (put it back, or --repair writes an empty one)`, repaired: false };
  }
  let written = false;
  const outcome = await attemptRepair(true, async () => {
    ({ changed: written } = await store.references.update(() => undefined, undefined, undefined, { createFile: true, acceptMissing: true }));
    return true;
  });
  const done = written ? `wrote an empty one; the references it held are lost, and the images stay untagged` : "it is back";
  return { kind: "missing-references", subject, message: outcome.repaired ? `${missing}: ${done}` : withFailure(missing, outcome), repaired: outcome.repaired };
}
