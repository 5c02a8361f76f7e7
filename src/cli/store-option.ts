import type { Writable } from "node:stream";
import type { Command } from "commander";
import { missingReferencesFile } from "../store/references-file-error.js";
import { resolveStoreRoot } from "../store/root.js";
import { onLockWait } from "../store/lock.js";
import { MISSING_REFERENCES_REMEDY, Store } from "../store/store.js";
import { printLine } from "./output.js";

/** Opens the store named by the global --root option (or LADING_ROOT, or the per-user default). */
export async function openStore(command: Command): Promise<Store> {
  const { root } = command.optsWithGlobals<{ root?: string }>();
  onLockWait((lockPath, staleMs) => {
    process.stderr.write(`lading: waiting for ${lockPath}: another lading command holds it (one that died is taken over once it is ${staleMs / 1000} s old)\n`);
  });
  return Store.open(resolveStoreRoot(root === undefined ? {} : { root }));
}

/**
 * openStore for a command that only reads the store: it works on, with one warning line when
 * repositories.json is missing from a store that holds images (see Store.referencesLost).
 */
export async function openStoreToRead(command: Command, stderr: Writable): Promise<Store> {
  const store = await openStore(command);
  if (await store.referencesLost().catch(() => false)) {
    const missing = await missingReferencesFile(store.paths.repositoriesJson, MISSING_REFERENCES_REMEDY);
    printLine(stderr, `warning: ${missing.message} (until then every image shows untagged)`);
  }
  return store;
}
