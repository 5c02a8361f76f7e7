import type { Command } from "commander";
import { resolveStoreRoot } from "../store/root.js";
import { onLockWait } from "../store/lock.js";
import { Store } from "../store/store.js";

/** Opens the store named by the global --root option (or LADING_ROOT, or the per-user default). */
export async function openStore(command: Command): Promise<Store> {
  const { root } = command.optsWithGlobals<{ root?: string }>();
  onLockWait((lockPath, staleMs) => {
    process.stderr.write(`lading: waiting for ${lockPath}: another lading command holds it (one that died is taken over once it is ${staleMs / 1000} s old)\n`);
  });
  return Store.open(resolveStoreRoot(root === undefined ? {} : { root }));
}
