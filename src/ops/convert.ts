/**
 * `convert`: archive to archive without the user's store. The input is loaded (verified, all or
 * nothing) into a private temporary store, saved from it, and the temporary store removed: what
 * `save` writes, made from what `verify` reads. OCI input keeps its digests; a manifest.json-only
 * input gets lading's synthesised manifest.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import type { OpenedSource } from "../archive/source.js";
import { loadArchive, type LoadOptions, type LoadResult } from "./load.js";
import { saveSelection, selectAll, type SaveOptions, type SaveResult } from "./save.js";
import { Store } from "../store/store.js";

export interface ConvertResult {
  loaded: LoadResult;
  saved: SaveResult;
}

/** Runs `work` with a store in a fresh temporary directory, removed afterwards whatever happens. */
export async function withTemporaryStore<T>(work: (store: Store) => Promise<T>, parent = tmpdir()): Promise<T> {
  const root = await mkdtemp(path.join(parent, "lading-tmp-store-"));
  try {
    return await work(await Store.open(root));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function convertArchive(source: OpenedSource, sink: Writable, options: SaveOptions & { load?: LoadOptions } = {}): Promise<ConvertResult> {
  return withTemporaryStore(async (store) => {
    const loaded = await loadArchive(store, source, options.load ?? {});
    const saved = await saveSelection(store, await selectAll(store), sink, options);
    return { loaded, saved };
  });
}
