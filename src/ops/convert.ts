/**
 * `convert`: archive to archive without the user's store: what `save` writes, made from what
 * `verify` reads. OCI input keeps its digests; a manifest.json-only input gets lading's
 * synthesised manifest. The output is byte for byte what loading the input into an empty store
 * and saving every image from it would give (convertViaStore, kept as the reference), except that
 * the oci layout keeps a bare ref.name tag, which no store can hold: a skopeo user's
 * `oci-archive:OUT:TAG` finds the image after the conversion as before it.
 *
 * The input is read once, verified as a load verifies it, while each entry's bytes are placed
 * (ConvertBlobs: left in an uncompressed input file, or spooled); then the archive is written
 * in save's order, each blob hashed again on the way: into a new file as `save -o` writes one
 * (FileTarWriter at the descriptor, a few read buffers shared by every blob, so memory stays
 * flat however large the archive), otherwise through TarWriter's stream.
 */
import { tmpdir } from "node:os";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { ArchiveFormat, ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { readArchive } from "../archive/read.js";
import type { OpenedSource } from "../archive/source.js";
import { planArchive, type ArchivePlan, type LayoutFormat } from "../archive/write-layout.js";
import { writePlanToStream } from "../archive/write-stream.js";
import { changedWhileConverting, ConvertBlobs } from "./convert-blobs.js";
import { passedOverTagNotes } from "./archive-names.js";
import { CONVERT_DROPPED_WORDS, droppedIndexFieldWarnings } from "./dropped-index-fields.js";
import { bareTagsByImage, planConversion, type GraphBlob } from "./convert-plan.js";
import { fileTarWriter, outputFileOf, writePlanDirect, type DirectBlobSource, type OutputFile } from "./save-file.js";
import { loadArchive, loadWarnings, unusedNameWarning, type LoadOptions } from "./load.js";
import { saveSelection, selectAll, type SaveOptions, type SaveResult } from "./save.js";
import { Store } from "../store/store.js";
import { scratchDirectory } from "../store/exit-cleanup.js";

export interface ConvertResult {
  /** What the input was. */
  inputFormat: ArchiveFormat | null;
  saved: SaveResult;
  /**
   * What the input holds that the output leaves out: as load says it (loadWarnings), then each
   * field of index.json and of the entries of the roots written that the output does not carry.
   */
  warnings: string[];
}

export interface ConvertOptions extends SaveOptions {
  load?: LoadOptions;
  /**
   * The path `source` was opened from, when it is a file: an uncompressed tar file's blobs are
   * then read from it again rather than spooled.
   */
  inputFile?: string;
}

/** Runs `work` with a store in a fresh temporary directory, removed afterwards whatever happens. */
export async function withTemporaryStore<T>(work: (store: Store) => Promise<T>, parent = tmpdir()): Promise<T> {
  const root = await scratchDirectory("lading-tmp-store-", parent);
  try {
    return await work(await Store.open(root.path, { scratch: true }));
  } catch (error) {
    throw root.claim(error);
  } finally {
    await root.remove();
  }
}

/** Converts `source` into `sink` (which it ends). */
export async function convertArchive(source: OpenedSource, sink: Writable, options: ConvertOptions = {}): Promise<ConvertResult> {
  // Selecting platforms is load's and save's business; the streaming path does not repeat it.
  if ((options.platforms?.length ?? 0) > 0 || (options.load?.platforms?.length ?? 0) > 0) return convertViaStore(source, sink, options);
  const format = options.format ?? "docker";
  let blobs: ConvertBlobs;
  try {
    blobs = await ConvertBlobs.open(source.compression === "none" ? options.inputFile : undefined);
  } catch (error) {
    source.close();
    throw error;
  }
  try {
    const { name, platforms: _platforms, ...limits } = options.load ?? {};
    const graph = await readArchive(source, { ...limits, openWriter: (entry, size) => blobs.openWriter(entry, size) });
    const plan = await planConversion(graph, name, (blob) => blobs.checkSupplied(blob));
    const layout = planArchive(plan.images, format);
    const progress = options.progress ?? { done: 0, total: undefined };
    progress.total = layout.entries.reduce((sum, entry) => sum + (entry.kind === "blob" ? entry.size : 0), 0);
    const bytesOf = (digest: string): GraphBlob | undefined => graph.blobs.get(digest);
    // A new file saveToFile made: an uncompressed archive goes straight to its descriptor, and the sink is only ended.
    const file = options.compress === undefined ? outputFileOf(sink) : undefined;
    if (file !== undefined) {
      await writeToFile(layout, file, blobs, bytesOf, { mtime: options.mtime ?? 0, progress });
      sink.end();
      await finished(sink);
    } else {
      await writeToStream(layout, sink, blobs, bytesOf, { ...options, progress });
    }
    return { inputFormat: graph.format, saved: { format, images: plan.saved }, warnings: convertWarnings(graph, plan.roots, name, format) };
  } finally {
    await blobs.close();
  }
}

/** The archive into `file` from offset 0, as save-file.ts's writePlanToFile writes a save. */
async function writeToFile(
  layout: ArchivePlan,
  file: OutputFile,
  blobs: ConvertBlobs,
  bytesOf: (digest: string) => GraphBlob | undefined,
  options: { mtime: number; progress: { done: number } },
): Promise<void> {
  const source: DirectBlobSource = {
    open: async (blob, buffers) => {
      const { source: bytes, entry } = await blobs.openSource(blob, bytesOf, buffers);
      return {
        source: bytes,
        check: (actual) => {
          const failure = changedWhileConverting(entry, blob.digest, actual);
          if (failure) throw failure;
        },
      };
    },
  };
  await writePlanDirect(layout, fileTarWriter(file, options.mtime), source, options.progress);
}

/** The archive through TarWriter's stream (compressed if asked) into `sink`, which it ends. */
async function writeToStream(
  layout: ArchivePlan,
  sink: Writable,
  blobs: ConvertBlobs,
  bytesOf: (digest: string) => GraphBlob | undefined,
  options: { mtime?: number; compress?: SaveOptions["compress"]; progress: { done: number } },
): Promise<void> {
  await writePlanToStream(layout, sink, (blob) => blobs.openBlob(blob, bytesOf, options.progress), { mtime: options.mtime ?? 0, compress: options.compress });
}

/**
 * What the input holds that the output leaves out, as load says it (less the bare tags, which the
 * oci layout carries as they are), the tags an image is written without as a later image took
 * them, and the index.json fields of the `written` roots.
 */
function convertWarnings(graph: ArchiveGraph, written: readonly ResolvedRoot[], name: string | undefined, format: LayoutFormat): string[] {
  const passedOver = passedOverTagNotes(written, name);
  if (format === "docker") return [...loadWarnings(graph, name), ...passedOver, ...droppedIndexFieldWarnings(graph, written, CONVERT_DROPPED_WORDS)];
  const roots = graph.roots.map((root) => ({ ...root, bareTag: undefined }));
  const unused = unusedNameWarning(graph, name);
  return [...loadWarnings({ ...graph, roots }, undefined), ...(unused !== undefined ? [unused] : []), ...passedOver, ...droppedIndexFieldWarnings(graph, written, CONVERT_DROPPED_WORDS)];
}

/** The store path: load into a temporary store, save everything from it. The reference for convertArchive. */
export async function convertViaStore(source: OpenedSource, sink: Writable, options: SaveOptions & { load?: LoadOptions } = {}): Promise<ConvertResult> {
  try {
    return await withTemporaryStore(async (store) => (await convertThroughStore(store, source, sink, options)).result);
  } finally {
    source.close(); // when the temporary store could not be made, the archive was never read
  }
}

/**
 * Loads `source` into `store` (an empty one) and saves every image from it into `sink`, with the
 * input's bare tags where the layout carries them; also gives the input's graph, as loaded.
 */
export async function convertThroughStore(
  store: Store,
  source: OpenedSource,
  sink: Writable,
  options: SaveOptions & { load?: LoadOptions },
): Promise<{ result: ConvertResult; input: ArchiveGraph }> {
  let input: ArchiveGraph | undefined;
  let stored: readonly ResolvedRoot[] = [];
  const load = options.load ?? {};
  await loadArchive(store, source, {
    ...load,
    onLoaded: (graph, roots) => {
      input = graph;
      stored = roots;
    },
  });
  const loadedGraph = input as ArchiveGraph;
  const bareTags = bareTagsByImage(loadedGraph.roots, load.name);
  const selections = (await selectAll(store)).map((selection) => {
    const tags = bareTags.get(selection.record.id);
    return tags ? { ...selection, bareTags: tags } : selection;
  });
  const saved = await saveSelection(store, selections, sink, options);
  const format = options.format ?? "docker";
  return { result: { inputFormat: loadedGraph.format, saved, warnings: convertWarnings(loadedGraph, stored, load.name, format) }, input: loadedGraph };
}
