import type { Command } from "commander";
import { resolveStoreRoot } from "../store/root.js";
import { Store } from "../store/store.js";

/** Opens the store named by the global --root option (or LADING_ROOT, or the per-user default). */
export async function openStore(command: Command): Promise<Store> {
  const { root } = command.optsWithGlobals<{ root?: string }>();
  return Store.open(resolveStoreRoot(root === undefined ? {} : { root }));
}
