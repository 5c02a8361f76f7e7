import { invalid, type LadingError } from "../core/errors.js";
import type { ArchiveGraph } from "./model.js";
import { scanEntries, type ScanOptions } from "./scan.js";
import type { OpenedSource } from "./source.js";
import { begunEntries } from "./begun-entries.js";

export interface ReadLimits {
  /** Largest manifest, index or config kept in memory. */
  maxJsonBytes: number;
  /** Largest manifest.json (containerd uses 20 MiB). */
  maxManifestJsonBytes: number;
  /** Largest decompressed layer. */
  maxLayerBytes: number;
}

export const DEFAULT_LIMITS: ReadLimits = {
  maxJsonBytes: 8 * 1024 * 1024,
  maxManifestJsonBytes: 20 * 1024 * 1024,
  maxLayerBytes: 256 * 1024 ** 3,
};

export interface ReadOptions extends Partial<ReadLimits> {
  openWriter?: ScanOptions["openWriter"];
  knownDiffId?: ScanOptions["knownDiffId"];
  /** Probe large uncompressed files of an archive on disk in worker threads (default true). */
  parallel?: boolean;
  /**
   * False: do not decompress compressed layers to check their diff IDs (nor the names inside
   * them); the config's diff IDs are taken on trust. Blob digests are checked all the same.
   */
  checkCompressedLayers?: boolean;
}

/**
 * One pass over an archive, then its graph resolved and checked. A source read before (verify,
 * then load) is opened again from its start, or refused when it cannot be (see OpenedSource).
 */
export async function readArchive(opened: OpenedSource, options: ReadOptions = {}): Promise<ArchiveGraph> {
  const source = await unreadSource(opened);
  const limits: ReadLimits = {
    maxJsonBytes: options.maxJsonBytes ?? DEFAULT_LIMITS.maxJsonBytes,
    maxManifestJsonBytes: options.maxManifestJsonBytes ?? DEFAULT_LIMITS.maxManifestJsonBytes,
    maxLayerBytes: options.maxLayerBytes ?? DEFAULT_LIMITS.maxLayerBytes,
  };
  // The graph module and its schemas load once the entries are read and this thread has probed
  // its share, while any worker finishes its own. (All of zod, ~15 MB, loaded that early added
  // 5-8 MB to the peak; the bundle of the part lading uses is what loads now.)
  let graphModule: Promise<typeof import("./graph.js")> | undefined;
  const scanned = await scanEntries(source.entries, source.compression, {
    onEntriesRead: () => {
      graphModule = import("./graph.js").then((graph) => {
        graph.buildGraphSchemas();
        return graph;
      });
      graphModule.catch(() => undefined); // awaited below; if the scan fails first, it must not go unhandled
    },
    maxJsonBytes: Math.max(limits.maxJsonBytes, limits.maxManifestJsonBytes),
    maxLayerBytes: limits.maxLayerBytes,
    ...(source.deferred ? { deferred: source.deferred } : {}),
    ...(options.openWriter ? { openWriter: options.openWriter } : {}),
    ...(options.knownDiffId ? { knownDiffId: options.knownDiffId } : {}),
    ...(options.parallel === false ? { parallel: false } : {}),
    ...(options.checkCompressedLayers === false ? { decompress: false } : {}),
  });
  const { resolveGraph } = await (graphModule ?? import("./graph.js"));
  return resolveGraph(scanned, limits, source.path);
}


/** `source` when no read has begun on it, else the same archive opened again from its start. */
async function unreadSource(source: OpenedSource): Promise<OpenedSource> {
  if (!begunEntries.has(source.entries)) {
    begunEntries.add(source.entries);
    return source;
  }
  // Left to read its entries again, the scan would find none: "not an image archive".
  if (source.reopen === undefined) throw alreadyRead(source.path);
  const reopened = await source.reopen();
  begunEntries.add(reopened.entries);
  return reopened;
}

function alreadyRead(path: string | undefined): LadingError {
  if (path !== undefined) return invalid(`${path}: the archive was already read, and a pipe cannot be read again from its start`, path);
  return invalid("the archive was already read, and standard input or a stream cannot be read again from its start");
}
