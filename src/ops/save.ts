/**
 * `save`: images from the store to an archive stream. Blobs stream from the content store into
 * the tar one at a time, each re-hashed on the way (a blob that changed on disk fails the save);
 * only lading's own small documents are built in memory.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { open, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type Writable } from "node:stream";
import { finished } from "node:stream/promises";
import { createDigester, parseDigest } from "../core/digest.js";
import { invalid, isSystemError, LadingError, notFound, systemReason, usage } from "../core/errors.js";
import { isForeignLayerType } from "../core/media-types.js";
import { formatPlatform, parsePlatform, platformMatches, type Platform } from "../core/platform.js";
import { formatReference, parseReference, withDefaultTag } from "../core/reference.js";
import { planArchive, type ArchivePlan, type BlobToWrite, type ImageToWrite, type LayerSource, type LayoutFormat } from "../archive/write-layout.js";
import type { ImageRecord, PlatformImage } from "../store/image-records.js";
import { removeOnExit } from "../store/exit-cleanup.js";
import { OWNER_TAG, ownerTag, parseOwnerTag, removeFilesOfDeadProcesses } from "../store/process-alive.js";
import type { Store } from "../store/store.js";
import { layersListedInStore, listingVouchesFor } from "./vouched-layers.js";
import { writePlanToStream } from "../archive/write-stream.js";
import { primaryImage } from "./images.js";
import { danglingLinkTarget } from "./link-target.js";
import { markOutputFile, outputFileOf, writePlanToFile, writePlanToSink, type DirectSaveOptions } from "./save-file.js";
import { lookupReference, missingRecord, resolveImage } from "./resolve-image.js";
import { wrongDigestOf } from "../store/reference-store.js";

export interface SaveOptions {
  format?: LayoutFormat;
  /** Keep only these platforms' manifests (the index bytes stay intact: the archive is then sparse). */
  platforms?: Platform[];
  /** Compress the whole archive stream. */
  compress?: "gzip" | "zstd";
  /** mtime of every entry, seconds since the epoch (SOURCE_DATE_EPOCH); default 0. */
  mtime?: number;
  /** Filled in while saving, for a progress bar: bytes of blobs written so far, and in all. */
  progress?: { done: number; total: number | undefined };
}

export interface SavedImage {
  id: string;
  /** Familiar tags written for the image. */
  tags: string[];
  /** Familiar names by digest (`repo@sha256:…`) written for the image, in index.json. */
  digestNames: string[];
  origin: "archive" | "synthesized";
  /** The root manifest's (or index's) media type: a Docker one in an OCI layout is read by containerd and lading, not by skopeo, podman or umoci. */
  mediaType: string;
  platforms: string[];
  /** Platforms (or digests) of index children the archive does not carry. */
  absent: string[];
  /**
   * Digests of the layers written whose diff ID is the config's, taken on trust: layers the store
   * does not vouch for (see vouched-layers.ts), such as compressed ones no load or pull
   * decompressed (`load`/`pull --skip-diff-id-check`, a pull by an earlier lading) or a foreign
   * layer a pull fetched, compressed or not, that no `fsck` has checked since.
   */
  uncheckedLayers: string[];
}

export interface SaveResult {
  format: LayoutFormat;
  images: SavedImage[];
}

/** An image chosen for a save: its record and the full tagged names to write. */
export interface Selection {
  record: ImageRecord;
  /** Full tag references to write. */
  names: Set<string>;
  /** Full `repo@digest` references to write (index.json only: manifest.json holds tags). */
  digestNames?: Set<string>;
  /** Bare tags to write where the layout can (convert's, from the input; see ImageToWrite). */
  bareTags?: string[];
}

/**
 * Resolves IMAGE arguments as `docker save` does: a repository name alone means all its tags;
 * name:tag that tag; an ID, an ID prefix or name@digest the image without any tag. A name by
 * the image's own digest (name@digest, or a repository's digest reference) is also written to
 * index.json, so that a load on the far side keeps the pinned reference.
 */
export async function selectImages(store: Store, queries: readonly string[]): Promise<Selection[]> {
  if (queries.length === 0) throw usage("save needs at least one image");
  const selected = new Map<string, Selection>();
  const add = (record: ImageRecord, name?: string): void => {
    const entry = selected.get(record.id) ?? { record, names: new Set<string>(), digestNames: new Set<string>() };
    const ref = name === undefined ? undefined : parseReference(name);
    if (ref?.digest === undefined && name !== undefined) entry.names.add(name);
    else if (ref?.digest === record.id) entry.digestNames?.add(formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest }, "full"));
    selected.set(record.id, entry);
  };
  for (const query of queries) {
    const repositoryTags = await tagsOfRepository(store, query);
    if (repositoryTags.length > 0) {
      for (const { name, id } of repositoryTags) add(await recordOf(store, id, query), name);
      continue;
    }
    const key = await lookupReference(store, query);
    // docker save names a missing image as it was given.
    const record = await resolveImage(store, query, query);
    add(record, key === undefined ? undefined : formatReference(withDefaultTag(parseReference(query)), "full"));
  }
  return [...selected.values()];
}

/** Every image in the store with all its tags and its names by its own digest (what `convert` and round trips save). */
export async function selectAll(store: Store): Promise<Selection[]> {
  const references = await store.references.references();
  return (await store.records.list()).map((record) => {
    const own = references.filter((entry) => entry.id === record.id).map((entry) => parseReference(entry.reference));
    return {
      record,
      names: new Set(own.filter((ref) => ref.digest === undefined).map((ref) => formatReference(ref, "full"))),
      digestNames: new Set(own.filter((ref) => ref.digest === record.id).map((ref) => formatReference(ref, "full"))),
    };
  });
}

/**
 * The references of a bare repository name (`busybox`, not `busybox:latest`); empty for anything
 * else. As in docker's save, a digest reference selects its image without naming it.
 */
async function tagsOfRepository(store: Store, query: string): Promise<{ name: string; id: string }[]> {
  let ref;
  try {
    ref = parseReference(query);
  } catch {
    return [];
  }
  if (ref.tag !== undefined || ref.digest !== undefined) return [];
  const tags: { name: string; id: string }[] = [];
  for (const entry of await store.references.references()) {
    if (wrongDigestOf(entry) !== undefined) continue;
    const known = parseReference(entry.reference);
    if (known.domain !== ref.domain || known.path !== ref.path) continue;
    tags.push({ name: formatReference(known, "full"), id: entry.id });
  }
  return tags;
}

async function recordOf(store: Store, id: string, query: string): Promise<ImageRecord> {
  const record = await store.records.get(id);
  if (!record) throw await missingRecord(store, query, id);
  return record;
}

/**
 * What saving one selected image writes, and what the save reports of it. `sizeOf` answers the
 * size of a blob the output can take its bytes from (the store's; convert's archive graph);
 * `diffIdChecked` whether a layer's diff ID is known to be true (by default every one is: convert
 * checked them as it read its input).
 */
export async function imageToWrite(
  sizeOf: (digest: string) => Promise<{ size: number } | undefined>,
  selection: Selection,
  platforms: readonly Platform[],
  diffIdChecked: (layer: { digest: string; diffId: string }) => Promise<boolean> = () => Promise.resolve(true),
): Promise<{ image: ImageToWrite; saved: SavedImage }> {
  const { record } = selection;
  const label = [...selection.names][0] ?? record.id;
  const kept = keptImages(record, platforms, label);
  const dockerImage = platforms.length > 0 ? firstWanted(kept, platforms) : primaryOf(record, kept);
  const blobs = new Map<string, BlobToWrite>();
  const need = async (digest: string, expectedSize: number | undefined, optional = false): Promise<void> => {
    if (blobs.has(digest)) return;
    const found = await sizeOf(digest);
    if (!found) {
      if (optional) return;
      throw notFound(`image ${label} is incomplete: blob ${digest} is not in the store`, digest);
    }
    if (expectedSize !== undefined && found.size !== expectedSize) {
      throw invalid(`image ${label}: blob ${digest} has ${found.size} bytes in the store, ${expectedSize} expected`, digest);
    }
    blobs.set(digest, { digest, size: found.size });
  };
  await need(record.id, record.size);
  for (const digest of record.otherBlobs) await need(digest, undefined);
  for (const image of kept) {
    await need(image.manifest.digest, image.manifest.size);
    await need(image.config.digest, image.config.size);
    // An absent foreign layer came without its blob: the image does not carry it, whatever else the store holds.
    for (const layer of image.layers) if (!layer.absent) await need(layer.digest, layer.size, isForeignLayerType(layer.mediaType));
  }
  const dropped = record.images.filter((image) => !kept.includes(image)).map((image) => image.platform);
  const unchecked = new Set<string>();
  for (const layer of kept.flatMap((image) => image.layers)) {
    if (layer.absent || layer.diffId === null || !blobs.has(layer.digest) || unchecked.has(layer.digest)) continue;
    if (!(await diffIdChecked({ digest: layer.digest, diffId: layer.diffId }))) unchecked.add(layer.digest);
  }
  return {
    image: {
      root: { mediaType: record.mediaType, digest: record.id, size: record.size },
      names: [...selection.names],
      digestNames: [...(selection.digestNames ?? [])],
      ...(selection.bareTags ? { bareTags: selection.bareTags } : {}),
      dockerImage: dockerImage ? dockerImageOf(dockerImage) : undefined,
      blobs: [...blobs.values()],
      synthesized: record.origin === "synthesized",
    },
    saved: {
      id: record.id,
      tags: [...selection.names].sort().map((name) => formatReference(parseReference(name), "familiar")),
      digestNames: [...(selection.digestNames ?? [])].sort().map((name) => formatReference(parseReference(name), "familiar")),
      origin: record.origin,
      mediaType: record.mediaType,
      platforms: kept.map((image) => image.platform),
      absent: [...record.absent.map((child) => child.platform ?? child.digest), ...dropped],
      uncheckedLayers: [...unchecked].sort(),
    },
  };
}

/**
 * What manifest.json says of the image: every layer, one the archive does not carry too (the
 * config lists its diff ID), and, as Docker writes them, the descriptors of its foreign layers.
 */
function dockerImageOf(image: PlatformImage): ImageToWrite["dockerImage"] {
  const sources = image.layers.flatMap((layer): [string, LayerSource][] =>
    isForeignLayerType(layer.mediaType) && layer.diffId !== null
      ? [[layer.diffId, { mediaType: layer.mediaType, size: layer.size, digest: layer.digest, ...(layer.urls ? { urls: layer.urls } : {}) }]]
      : [],
  );
  return {
    config: image.config.digest,
    layers: image.layers.map((layer) => layer.digest),
    ...(sources.length > 0 ? { layerSources: Object.fromEntries(sources) } : {}),
  };
}

function keptImages(record: ImageRecord, platforms: readonly Platform[], label: string): PlatformImage[] {
  if (platforms.length === 0) return record.images;
  const kept = record.images.filter((image) => platforms.some((wanted) => platformMatches(wanted, parsePlatform(image.platform))));
  if (kept.length === 0) {
    const has = record.images.map((image) => image.platform).join(", ") || "no runnable platform";
    const wanted = platforms.map(formatPlatform).join(", ");
    throw notFound(`image ${familiar(label)} has no ${wanted} manifest (it has ${has})`, "--platform");
  }
  return kept;
}

function firstWanted(kept: readonly PlatformImage[], platforms: readonly Platform[]): PlatformImage | undefined {
  for (const wanted of platforms) {
    const match = kept.find((image) => platformMatches(wanted, parsePlatform(image.platform)));
    if (match) return match;
  }
  return kept[0];
}

function primaryOf(record: ImageRecord, kept: readonly PlatformImage[]): PlatformImage | undefined {
  const primary = primaryImage(record);
  return primary && kept.includes(primary) ? primary : kept[0];
}

function familiar(name: string): string {
  try {
    return formatReference(parseReference(name), "familiar");
  } catch {
    return name;
  }
}

/**
 * Writes the selected images as one archive into `sink` (which it ends). Holds a lease so that a
 * concurrent prune cannot delete a blob half way through.
 */
export async function saveSelection(store: Store, selections: readonly Selection[], sink: Writable, options: SaveOptions = {}): Promise<SaveResult> {
  const format = options.format ?? "docker";
  return store.gc.withReadLease(async () => {
    const built: { image: ImageToWrite; saved: SavedImage }[] = [];
    const sizeOf = (digest: string): Promise<{ size: number } | undefined> => store.content.stat(digest);
    // Cheap: what the store vouches for (see vouched-layers.ts). A layer with a diff-ID record that
    // confirms its diff ID; one whose config claims its own digest as its diff ID, that is
    // uncompressed (its first bytes say) and that some image lists as a layer, not a foreign one.
    // Any other is unchecked.
    let listed: Set<string> | undefined;
    const diffIdChecked = async (layer: { digest: string; diffId: string }): Promise<boolean> => {
      if (await store.diffIds.confirm(layer.digest, layer.diffId)) return true;
      if (layer.digest !== layer.diffId) return false;
      listed ??= await layersListedInStore(store);
      return listingVouchesFor(store, listed, layer.digest);
    };
    for (const selection of selections) built.push(await imageToWrite(sizeOf, selection, options.platforms ?? [], diffIdChecked));
    const plan = planArchive(
      built.map(({ image }) => image),
      format,
    );
    const progress = options.progress ?? { done: 0, total: undefined };
    progress.total = plan.entries.reduce((sum, entry) => sum + (entry.kind === "blob" ? entry.size : 0), 0);
    const images = (): SavedImage[] => built.map(({ saved }) => saved).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (options.compress === undefined) {
      await writeUncompressed(store, plan, sink, { mtime: options.mtime ?? 0, progress });
      return { format, images: images() };
    }
    await writePlanToStream(plan, sink, (blob) => verifiedBlob(store, blob, progress), { mtime: options.mtime ?? 0, compress: options.compress });
    return { format, images: images() };
  });
}

/** Resolves IMAGE arguments and saves them into `sink`. */
export async function saveImages(store: Store, queries: readonly string[], sink: Writable, options: SaveOptions = {}): Promise<SaveResult> {
  return saveSelection(store, await selectImages(store, queries), sink, options);
}

/**
 * An uncompressed archive goes straight from the store's read buffers to the output (no stream
 * layers, no buffer per chunk): to the file descriptor of a saveToFile sink nothing went through
 * yet, else through the sink's own writes. Ends the sink; destroys it on failure, as a pipeline
 * would, so that a reader never takes a cut archive for a whole one.
 */
async function writeUncompressed(store: Store, plan: ArchivePlan, sink: Writable, options: DirectSaveOptions): Promise<void> {
  const file = outputFileOf(sink);
  try {
    if (file !== undefined) await writePlanToFile(store, plan, file, options);
    else await writePlanToSink(store, plan, sink, options);
  } catch (error) {
    sink.destroy();
    throw error;
  }
  sink.end();
  await finished(sink);
}

/**
 * Saves into a temp file beside `target` and renames it into place at the end, so a failed save
 * never leaves a half archive under the requested name. The temp file is open before `save`
 * starts and closed before it is removed: a save that fails at once (a convert whose input is
 * refused) can neither race the file's creation nor leak its descriptor. Temp files that killed
 * saves to the same target left behind are removed first.
 */
export async function saveToFile(requested: string, save: (sink: Writable) => Promise<SaveResult>): Promise<SaveResult> {
  const output = await outputOf(requested);
  if (output.fifo) return saveToFifo(requested, save);
  const target = output.path;
  const prefix = `.${path.basename(target)}.lading-`;
  await removeStaleTemporaries(path.dirname(target), prefix);
  const temp = path.join(path.dirname(target), `${prefix}${ownerTag()}-${randomBytes(6).toString("hex")}`);
  const forget = removeOnExit(temp);
  const handle: FileHandle = await open(temp, "wx", 0o644).catch((error: unknown) => {
    forget();
    throw cannotWrite(requested, error, path.dirname(target));
  });
  const sink = createWriteStream(temp, { fd: handle });
  markOutputFile(sink, { fd: handle.fd, path: temp });
  try {
    const result = await save(sink);
    await finished(sink);
    const written = await open(temp, "r");
    try {
      await written.sync();
    } finally {
      await written.close();
    }
    await rename(temp, target);
    return result;
  } catch (error) {
    sink.destroy();
    await finished(sink).catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw outputFailure(requested, error, temp);
  } finally {
    forget();
  }
}

/**
 * Where `-o PATH` goes, checked before anything is written: an existing regular file is replaced
 * at its real path (a symbolic link is written through, as docker save -o does, not replaced; a
 * dangling one gets the file it names created, as there); a FIFO is written into; a directory, a
 * device or a socket is refused (docker refuses a character device too), rather than replaced by
 * a regular file at the end.
 */
async function outputOf(requested: string): Promise<{ path: string; fifo: boolean }> {
  if (requested === "") throw invalid("cannot write the archive to an empty path", requested);
  let info;
  try {
    info = await stat(requested);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw cannotWrite(requested, error);
    const target = await danglingLinkTarget(requested).catch((linkError: unknown) => {
      throw cannotWrite(requested, linkError);
    });
    return { path: target, fifo: false };
  }
  if (info.isFile()) return { path: await realpath(requested), fifo: false };
  if (info.isFIFO()) return { path: requested, fifo: true };
  const what = info.isDirectory() ? "a directory" : info.isCharacterDevice() ? "a character device file" : info.isBlockDevice() ? "a block device file" : "a socket";
  throw invalid(`cannot write the archive to ${requested}: it is ${what}`, requested);
}

/** A FIFO is written as standard output is: no temp file, no rename, no fsync. */
async function saveToFifo(requested: string, save: (sink: Writable) => Promise<SaveResult>): Promise<SaveResult> {
  const handle = await open(requested, "w").catch((error: unknown) => {
    throw cannotWrite(requested, error);
  });
  const sink = createWriteStream(requested, { fd: handle });
  try {
    const result = await save(sink);
    await finished(sink);
    return result;
  } catch (error) {
    sink.destroy();
    await finished(sink).catch(() => undefined);
    throw outputFailure(requested, error, requested);
  }
}

function cannotWrite(requested: string, error: unknown, directory = path.dirname(requested)): LadingError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === "ENOENT" ? `no such directory ${directory}` : code === "EACCES" || code === "EPERM" ? "permission denied" : systemReason(error);
  return new LadingError("io", `cannot write the archive to ${requested}: ${reason}`, { subject: requested, cause: error });
}

/** The system calls whose failure, when no other file claims it, is the output's: writing it, making it durable, putting it in place. */
const OUTPUT_CALLS = new Set(["write", "writev", "fsync", "fdatasync", "close", "rename"]);

/**
 * A save's failure, named by the output when it is one of writing the output (`file`: what is
 * written, the temp file or the FIFO): a write (or sync, or rename) that failed, as the file
 * target or the write stream gave it, or as the stream's target wrapped it without naming a file.
 * A failure of reading the store or the input, or a write that names its own file (the store's,
 * convert's scratch copies), is left as it is.
 */
function outputFailure(requested: string, error: unknown, file: string): unknown {
  const cause = error instanceof LadingError && error.subject === undefined && isSystemError(error.cause) ? error.cause : error;
  if (!isSystemError(cause)) return error;
  const ours = cause.path === undefined ? OUTPUT_CALLS.has(cause.syscall ?? "") : cause.path === file;
  return ours ? cannotWrite(requested, cause) : error;
}

const SAVE_TEMPORARY = new RegExp(`^(${OWNER_TAG})-[0-9a-f]{12}$`);

/** Removes temp files a killed save to the same target left behind (their process is gone). */
async function removeStaleTemporaries(dir: string, prefix: string): Promise<void> {
  await removeFilesOfDeadProcesses(dir, (name) => {
    const owner = name.startsWith(prefix) ? SAVE_TEMPORARY.exec(name.slice(prefix.length))?.[1] : undefined;
    return owner === undefined ? undefined : parseOwnerTag(owner);
  });
}

/** A blob's bytes from the store, hashed on the way: content that no longer matches its digest fails the save. */
function verifiedBlob(store: Store, blob: BlobToWrite, progress: { done: number }): Readable {
  const { algorithm } = parseDigest(blob.digest);
  const hash = createDigester(algorithm);
  const check = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      progress.done += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const actual = `${algorithm}:${hash.digest("hex")}`;
      callback(actual === blob.digest ? null : invalid(`blob ${blob.digest} in the store has content ${actual}: the store is damaged (run lading fsck)`, blob.digest));
    },
  });
  const source = store.content.readStream(blob.digest);
  source.on("error", (error) => check.destroy(error));
  check.once("close", () => source.destroy());
  return source.pipe(check);
}

/** Keeps `body` in `bodies` until it closes. */
/** SOURCE_DATE_EPOCH as the tar mtime, as reproducible-builds.org defines it; 0 when unset. */
export function mtimeFromEnvironment(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.SOURCE_DATE_EPOCH;
  if (value === undefined || value === "") return 0;
  if (!/^\d+$/.test(value)) throw usage(`SOURCE_DATE_EPOCH must be a whole number of seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}
