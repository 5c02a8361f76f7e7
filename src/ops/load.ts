import { checkStorableRoot } from "./storable-root.js";
import { readArchive, type ReadOptions } from "../archive/read.js";
import type { ArchiveGraph, ResolvedImage, ResolvedRoot, ScannedFile } from "../archive/model.js";
import type { BlobWriter } from "../archive/probe.js";
import type { FileLocation, KnownDiffId } from "../archive/scan.js";
import type { OpenedSource } from "../archive/source.js";
import { blobPathFor, contentDigest } from "../archive/blob-lookup.js";
import { firstProblem, noImageWarning } from "../archive/graph.js";
import { validDigestNamedBy } from "../archive/names.js";
import { sharedNameWarnings } from "../archive/shared-names.js";
import { parseDigest } from "../core/digest.js";
import { invalid, notFound, usage } from "../core/errors.js";
import { formatPlatform, platformMatches, type Platform } from "../core/platform.js";
import { isForeignLayerType } from "../core/media-types.js";
import { familiarName, formatReference, parseReference, parseRepository } from "../core/reference.js";
import { namesByImage } from "./archive-names.js";
import { withBlobsLeft } from "./blobs-left.js";
import { droppedIndexFieldWarnings, LOAD_DROPPED_WORDS } from "./dropped-index-fields.js";
import type { Ingest } from "../store/content-store.js";
import { diffIdRecordFor } from "../store/diff-id-records.js";
import { eachFile } from "../store/file-batches.js";
import { namingOpenFileLimit } from "../store/open-file-limit.js";
import { HeldEntries } from "./held-entries.js";
import { readFileRangeSync } from "../tar/chunk-source.js";
import { blobsOfRecord, layerRecordOf, type ImageRecord } from "../store/image-records.js";
import type { ReferenceTxn } from "../store/reference-store.js";
import type { Store } from "../store/store.js";

export interface LoadOptions extends ReadOptions {
  /** Keep only these platforms (index bytes stay intact; other children are recorded absent). */
  platforms?: Platform[];
  /** Repository for images that an archive names only by a bare tag (`1.0`). */
  name?: string;
  /**
   * Given the archive's graph once the load has succeeded, and the roots it stored (with
   * `platforms`, not all of them): what the input held, for convert and round trips.
   */
  onLoaded?: (graph: ArchiveGraph, storedRoots: readonly ResolvedRoot[]) => void;
}

export interface LoadedImage {
  id: string;
  origin: "archive" | "synthesized";
  /**
   * Where the archive lists the image: in index.json (whose entry may still mark its manifest as
   * synthesised by lading), or in manifest.json alone, which keeps no manifest.
   */
  listedIn: "index.json" | "manifest.json";
  /** Familiar names now pointing at the image. */
  tags: string[];
  /** Familiar `repo@digest` references recorded (archive digests only). */
  digests: string[];
  /** The config of its first platform image; null for a root that holds none (an artifact, an index whose platforms were all absent). */
  configDigest: string | null;
  /** Its platform images in the store once loaded: a platform stored before counts, as does one the load brought. */
  platforms: string[];
  /** The platforms (else digests) its index lists that the store still lacks: a sparse image's. */
  absent: string[];
}

export interface LoadResult {
  images: LoadedImage[];
  /** Tags that moved from another image: Docker's "renaming the old one" notice. */
  moved: { reference: string; previousId: string }[];
  format: ArchiveGraph["format"];
  /**
   * What the archive holds that this load leaves out: entries of unknown types, names it cannot
   * use, fields of index.json and of its stored entries that the store does not keep.
   */
  warnings: string[];
}

/** Entries from this size are flushed as soon as they are written (see writeToIngest). */
const FLUSH_AHEAD_MIN_BYTES = 1024 * 1024;

const METADATA_NAMES = /^(manifest\.json|index\.json|oci-layout|repositories|[^/]+\/(VERSION|json))$/;

/**
 * Loads an archive into the store in one pass: every file streams into the ingest area while it
 * is hashed and checked; nothing becomes visible until the whole archive has verified. Then,
 * under the reference store's lock, blobs are committed, then image records, then the references.
 */
export async function loadArchive(store: Store, source: OpenedSource, options: LoadOptions = {}): Promise<LoadResult> {
  try {
    return await loadFrom(store, source, options);
  } finally {
    // A load refused before its read (a store it cannot write) must not leave the archive open.
    source.close();
  }
}

async function loadFrom(store: Store, source: OpenedSource, options: LoadOptions): Promise<LoadResult> {
  if (options.name !== undefined) checkRepositoryOption(options.name);
  await store.restoreLayout();
  // The references are updated last, under their lock; a file that cannot be read then would
  // fail the load only after the whole archive was read: find out now.
  await store.references.snapshot();
  await store.refuseLostReferences();
  return store.gc.withLease(async () => {
    // Recognising stored blobs among unnamed entries may, rarely, need a second read of the
    // archive (see StoredBlobMatcher): only when the source can be opened again.
    // The same holds for an entry named by the digest of a stored blob whose bytes turn out to
    // be other bytes; from a source read once, that is an error.
    const reopen = source.reopen;
    if (reopen === undefined) return loadOnce(store, source, options, { matchStored: false, trustNames: true });
    try {
      return await loadOnce(store, source, options, { matchStored: true, trustNames: true });
    } catch (error) {
      if (!(error instanceof StoredBlobMismatch)) throw error;
      return loadOnce(store, await reopen(), options, { matchStored: false, trustNames: false });
    }
  });
}

/**
 * How a read may skip writing an entry the store seems to hold already: `matchStored`, an
 * unnamed entry whose first bytes equal a stored blob's (the read can be repeated if the rest
 * differs); `trustNames`, an entry named by a stored blob's digest (checked when hashed).
 */
interface StoredShortcuts {
  matchStored: boolean;
  trustNames: boolean;
}

async function loadOnce(store: Store, source: OpenedSource, options: LoadOptions, { matchStored, trustNames }: StoredShortcuts): Promise<LoadResult> {
  const ingests = new Map<string, Ingest>(); // by entry name
  const spare: Ingest[] = [];
  const held = new HeldEntries();
  let storedBySize: Promise<Map<number, string[]>> | undefined;
  const storedHeads = new Map<string, Promise<Buffer | undefined>>();
  const writeToIngest = async (name: string): Promise<BlobWriter> => {
    // A blob named under blobs/sha512/ is addressed by its sha512, which the scan computes for it.
    const algorithm = validDigestNamedBy(name)?.startsWith("sha512:") ? "sha512" : "sha256";
    const ingest = await namingOpenFileLimit(`entry ${JSON.stringify(name)}`, name, () => store.content.openIngest({ algorithm, digestedByCaller: true }));
    return {
      write: (chunk) => ingest.write(chunk),
      close: async (file: ScannedFile) => {
        ingest.setDigest(algorithm === "sha512" ? (file.sha512 ?? "") : file.digest);
        // A small entry may turn out to be unused (which entries are needed is known only at the
        // end): one fsync each would cost an archive of many small files seconds. Commit fsyncs it.
        if (file.size >= FLUSH_AHEAD_MIN_BYTES) ingest.flushAhead();
        // Its file descriptor is closed now, not at commit: an archive may have more entries
        // than the process may have open files. Commit renames (and fsyncs) by path.
        await ingest.finish();
        if (ingests.has(file.name)) spare.push(ingest);
        else ingests.set(file.name, ingest);
      },
      abort: () => ingest.abort(),
      delegate: { path: ingest.path, wrote: (size) => ingest.wroteElsewhere(size) },
    };
  };
  const openWriter = async (name: string, size: number, location?: FileLocation): Promise<BlobWriter | undefined> => {
    if (METADATA_NAMES.test(name)) return undefined;
    // A sha256 name only: the scan computes every entry's sha256, which expectNamed compares.
    const named = validDigestNamedBy(name);
    if (named?.startsWith("sha256:")) {
      if (trustNames && (await store.content.has(named, size))) return expectNamed(name, named, matchStored);
    } else if (matchStored && size > 0) {
      storedBySize ??= store.content.digestsBySize();
      const candidates = (await storedBySize).get(size) ?? [];
      if (candidates.length > 0 && location !== undefined) {
        const matched = await matchingPrefix(store, storedHeads, candidates, size, location);
        if (matched.length > 0) return expectStored(matched, () => new StoredBlobMismatch(`${name} is not the stored blob its first bytes matched`));
      } else if (candidates.length > 0) return new StoredBlobMatcher(store, candidates, size, () => writeToIngest(name));
    }
    return held.writer(name, size) ?? writeToIngest(name);
  };
  // A compressed layer whose diff ID an earlier load computed is not decompressed again. The
  // record is a fact about the blob's bytes, so it holds whenever the entry turns out to be that
  // blob (the scan checks), whether or not the blob is still stored.
  const knownDiffId = async (name: string): Promise<KnownDiffId | undefined> => {
    const digest = validDigestNamedBy(name);
    if (!digest?.startsWith("sha256:")) return undefined;
    const verified = await store.diffIds.get(digest);
    // An earlier lading's record does not vouch for the layer's tar: the layer is decompressed again.
    if (verified === undefined || !verified.layerChecked) return undefined;
    return { digest, diffId: verified.diffId, size: verified.size, source: `the store's record ${store.diffIds.recordPath(digest)}` };
  };
  try {
    const graph = await readArchive(source, { ...options, openWriter, knownDiffId });
    const failure = firstProblem(graph);
    if (failure) throw failure;
    const selected = selectPlatforms(graph, options.platforms);
    for (const { root } of selected) checkStorableRoot(root.descriptor.digest, root.source);
    // Everything is committed under the reference store's lock, which reads (and so validates)
    // repositories.json first: a file that cannot be updated fails the load before anything is
    // committed, and no rmi can delete a record between its write and the tags that name it.
    const committed: string[] = [];
    let referencesWritten = false;
    const value = await store
      .updateWithRecords(
        async (txn, addRecords) => {
          const records = selected.map(({ root, images }) => recordFor(root, images));
          // The references change first, in memory only: one the file refuses fails the load here.
          const named = nameImages(txn, graph, selected, records, options.name);
          await commitBlobs(store, graph, records, ingests, held, committed);
          await recordDiffIds(store, graph, selected);
          const writes = await addRecords(named.records);
          return withStoredPlatforms(named.result, writes.changes.map((change) => change.stored));
        },
        () => (referencesWritten = true),
      )
      .catch(async (error: unknown) => Promise.reject(referencesWritten ? error : await withBlobsLeft(store, committed, error)));
    options.onLoaded?.(graph, selected.map(({ root }) => root));
    return value;
  } finally {
    await Promise.all([...ingests.values(), ...spare].map((ingest) => ingest.abort()));
  }
}

/**
 * The result with each image's platforms as the store now holds them: a load of one platform of
 * an image whose other platforms were stored before leaves it whole, not sparse.
 */
function withStoredPlatforms(result: LoadResult, stored: readonly ImageRecord[]): LoadResult {
  const byId = new Map(stored.map((record) => [record.id, record]));
  const images = result.images.map((image) => {
    const record = byId.get(image.id);
    if (record === undefined) return image;
    // Those the load brought first, in the archive's order, then those stored before.
    const platforms = [...new Set([...image.platforms, ...record.images.map((entry) => entry.platform)])];
    return { ...image, platforms, absent: record.absent.map((child) => child.platform ?? child.digest) };
  });
  return { ...result, images };
}

/** Thrown when an entry matched a stored blob on its first bytes but not as a whole. */
class StoredBlobMismatch extends Error {}

/** How much of an unnamed entry must equal a stored blob of the same size before it is not written. */
const MATCH_PREFIX_BYTES = 256 * 1024;

/**
 * The writer of an unnamed entry (a legacy `<id>/layer.tar`) when the store holds blobs of its
 * size: a second load of the same archive should write nothing. The entry's first bytes are
 * compared with each candidate's (and held, copied); once they differ from all, an ingest opens
 * and writes them and everything after. Once the first MATCH_PREFIX_BYTES equal a candidate's,
 * nothing more is written and the entry's digest (computed by the scan anyway) must turn out to
 * be that candidate's; if it does not, the bytes are gone and loadArchive reads the archive again
 * without matching.
 */
class StoredBlobMatcher implements BlobWriter {
  private candidates: string[];
  private held: Buffer[] = [];
  private offset = 0;
  private ingest: BlobWriter | undefined;
  private readonly prefix: number;
  private scratch: Buffer | undefined;

  constructor(
    private readonly store: Store,
    candidates: string[],
    size: number,
    private readonly openIngest: () => Promise<BlobWriter>,
  ) {
    this.candidates = [...candidates];
    this.prefix = Math.min(size, MATCH_PREFIX_BYTES);
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.ingest) return this.ingest.write(chunk);
    if (this.offset >= this.prefix) return; // matched: not written
    const compared = chunk.subarray(0, this.prefix - this.offset);
    const still: string[] = [];
    for (const digest of this.candidates) {
      if (this.scratch === undefined || this.scratch.length < compared.length) this.scratch = Buffer.allocUnsafe(Math.max(compared.length, 64 * 1024));
      const theirs = this.scratch.subarray(0, compared.length);
      const got = await this.store.content.readAt(digest, this.offset, theirs).catch(() => -1);
      if (got === compared.length && theirs.equals(compared)) still.push(digest);
    }
    this.candidates = still;
    if (still.length === 0) {
      this.ingest = await this.openIngest();
      for (const bytes of this.held) await this.ingest.write(bytes);
      this.held = [];
      await this.ingest.write(chunk);
      return;
    }
    this.offset += chunk.length;
    if (this.offset < this.prefix) this.held.push(Buffer.from(chunk));
    else {
      this.held = [];
      this.scratch = undefined;
    }
  }

  async close(file: ScannedFile): Promise<void> {
    if (this.ingest) return this.ingest.close(file);
    if (!this.candidates.includes(file.digest)) throw new StoredBlobMismatch(`${file.name} is not the stored blob its first bytes matched`);
  }

  async abort(): Promise<void> {
    await this.ingest?.abort();
  }
}

/** How many first bytes of a stored blob are kept to rule it out before reading MATCH_PREFIX_BYTES of it. */
const MATCH_HEAD_BYTES = 4096;

/**
 * The stored blobs among `candidates` whose first bytes equal those of the file at `location`.
 * Each candidate's first few KiB are read once per load (`heads`): the layers of an image often
 * have the same size (every one a candidate for every other), and their first bytes differ.
 */
async function matchingPrefix(store: Store, heads: Map<string, Promise<Buffer | undefined>>, candidates: string[], size: number, location: FileLocation): Promise<string[]> {
  const ours = Buffer.alloc(Math.min(size, MATCH_PREFIX_BYTES));
  if (readFileRangeSync(location.path, location.offset, ours) < ours.length) return [];
  const ourHead = ours.subarray(0, MATCH_HEAD_BYTES);
  const theirs = Buffer.alloc(ours.length);
  const matched: string[] = [];
  // Every candidate's head is asked for at once, then compared in turn.
  const candidateHeads = candidates.map((digest) => {
    let head = heads.get(digest);
    if (head === undefined) {
      const bytes = Buffer.alloc(ourHead.length);
      head = store.content.readAt(digest, 0, bytes).then((got) => (got === bytes.length ? bytes : undefined), () => undefined);
      heads.set(digest, head);
    }
    return head;
  });
  for (const [index, digest] of candidates.entries()) {
    if (!(await candidateHeads[index])?.equals(ourHead)) continue;
    const got = await store.content.readAt(digest, 0, theirs).catch(() => -1);
    if (got === theirs.length && theirs.equals(ours)) matched.push(digest);
  }
  return matched;
}

/**
 * The writer of an entry the store seems to hold already: it keeps nothing, and the entry's
 * digest must turn out to be one of `matched`, else `mismatch` says why not.
 */
function expectStored(matched: string[], mismatch: (file: ScannedFile) => Error): BlobWriter {
  return {
    write: () => undefined,
    close: async (file) => {
      if (!matched.includes(file.digest)) throw mismatch(file);
    },
    abort: async () => undefined,
    delegate: { wrote: () => undefined },
  };
}

/** An entry named by a stored blob's digest: a mismatch reads the archive again if it can be (`retryable`). */
function expectNamed(name: string, digest: string, retryable: boolean): BlobWriter {
  return expectStored([digest], (file) => {
    const message = `${name} is named for the stored blob ${digest}, but its content is ${file.digest}`;
    return retryable ? new StoredBlobMismatch(message) : invalid(message, name);
  });
}

interface SelectedRoot {
  root: ResolvedRoot;
  images: ResolvedImage[];
}

function selectPlatforms(graph: ArchiveGraph, platforms: Platform[] | undefined): SelectedRoot[] {
  const selected = graph.roots
    .filter((root) => root.kind !== "unknown")
    .map((root) => ({
      root,
      images: platforms && platforms.length > 0 ? root.images.filter((image) => platforms.some((wanted) => platformMatches(wanted, image.platform))) : root.images,
    }));
  for (const wanted of platforms ?? []) {
    if (!selected.some(({ images }) => images.some((image) => platformMatches(wanted, image.platform)))) {
      throw notFound(`platform ${formatPlatform(wanted)} is not in the archive (it has ${listPlatforms(graph)})`, "--platform");
    }
  }
  return selected.filter(({ images, root }) => images.length > 0 || root.images.length === 0);
}

function listPlatforms(graph: ArchiveGraph): string {
  const all = new Set(graph.roots.flatMap((root) => root.images.map((image) => formatPlatform(image.platform))));
  return [...all].join(", ") || "no runnable image";
}

/** Commits the blobs the records need that the store lacks, listing them in `committed` first. */
async function commitBlobs(store: Store, graph: ArchiveGraph, records: ImageRecord[], ingests: Map<string, Ingest>, held: HeldEntries, committed: string[]): Promise<void> {
  const needed = [...new Set(records.flatMap(blobsOfRecord))].map((digest) => {
    const blob = graph.blobs.get(digest);
    if (!blob) throw invalid(`blob ${digest} is needed but not in the archive`, blobPathFor(digest));
    return { digest, blob };
  });
  // Looked up all at once: in turn, a load of many layers would wait on each lookup's round trip.
  const alreadyStored = await Promise.all(needed.map(({ digest, blob }) => store.content.has(digest, blob.size)));
  const toCommit: { ingest: Ingest; expected: { digest: string; size: number } }[] = [];
  const inMemory: { digest: string; bytes: Buffer; expected: { digest: string; size: number } }[] = [];
  try {
    for (const [index, { digest, blob }] of needed.entries()) {
      if (alreadyStored[index]) continue;
      const ingest = blob.file ? ingests.get(blob.file.name) : undefined;
      const bytes = ingest ? undefined : (blob.bytes ?? (blob.file ? held.take(blob.file.name) : undefined));
      if (ingest) {
        ingests.delete(blob.file?.name ?? "");
        toCommit.push({ ingest, expected: { digest, size: blob.size } });
      } else if (bytes) {
        inMemory.push({ digest, bytes, expected: { digest, size: blob.size } });
      } else {
        throw invalid(`blob ${digest} was not stored while reading (${blob.file?.name ?? "no entry"})`, blob.file?.name ?? digest);
      }
    }
    // Written a few at once, each closed when written (commit renames and fsyncs by path).
    await eachFile(inMemory, async ({ digest, bytes, expected }) => {
      const { algorithm } = parseDigest(digest);
      const fresh = await namingOpenFileLimit(`blob ${digest}`, digest, () => store.content.openIngest({ algorithm }));
      toCommit.push({ ingest: fresh, expected });
      await fresh.write(bytes);
      await fresh.finish();
    });
  } catch (error) {
    // Ingests taken from the load's list are no longer aborted with it.
    await Promise.all(toCommit.map(({ ingest }) => ingest.abort()));
    throw error;
  }
  committed.push(...toCommit.map(({ expected }) => expected.digest));
  await store.content.commitAll(toCommit);
  const present = await Promise.all(needed.map(({ digest }) => store.content.has(digest)));
  const gone = needed.find((_, index) => !present[index])?.digest;
  if (gone !== undefined) throw notFound(`blob ${gone} disappeared from the store during the load`, gone);
}

/** Keeps the diff ID of every compressed layer this load decompressed, for the next load of it. */
async function recordDiffIds(store: Store, graph: ArchiveGraph, selected: SelectedRoot[]): Promise<void> {
  const recorded = new Set<string>();
  const writes: Promise<unknown>[] = [];
  for (const layer of selected.flatMap(({ images }) => images.flatMap((image) => image.layers))) {
    const file = graph.blobs.get(layer.digest)?.file;
    if (recorded.has(layer.digest) || file === undefined || file.diffIdSource !== undefined) continue;
    // A diff ID taken on trust (--skip-diff-id-check) is the config's, not the ScannedFile's.
    if (contentDigest(file, layer.digest) !== layer.digest) continue;
    const record = diffIdRecordFor(layer.digest, { diffId: file.diffId, size: file.uncompressedSize }, { vouchedByListing: !isForeignLayerType(layer.mediaType) });
    if (record === undefined) continue;
    recorded.add(layer.digest);
    writes.push(store.diffIds.put(layer.digest, record));
  }
  await Promise.all(writes);
}

function recordFor(root: ResolvedRoot, images: ResolvedImage[]): ImageRecord {
  const kept = new Set(images.map((image) => image.manifest.digest));
  const dropped = root.images.filter((image) => !kept.has(image.manifest.digest));
  return {
    id: root.descriptor.digest,
    mediaType: root.descriptor.mediaType,
    size: root.descriptor.size,
    origin: root.origin,
    loadedAt: new Date().toISOString(),
    images: images.map((image) => ({
      platform: formatPlatform(image.platform),
      manifest: { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size },
      config: { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map(layerRecordOf),
    })),
    absent: [
      ...root.absent.map((child) => ({ digest: child.digest, mediaType: child.mediaType, platform: child.platform ? formatPlatform(child.platform) : null })),
      ...dropped.map((image) => ({ digest: image.manifest.digest, mediaType: image.manifest.mediaType, platform: formatPlatform(image.platform) })),
    ],
    otherBlobs: [...root.indexes.keys(), ...root.artifacts],
  };
}

/** `--name` is checked before anything is stored: a bad one must not leave blobs behind. */
function checkRepositoryOption(name: string): void {
  let repository;
  try {
    repository = parseRepository(name);
  } catch (error) {
    throw usage(`--name: ${(error as Error).message}`);
  }
  if (familiarName(repository) === "sha256") throw usage(`--name: "sha256" is refused as a repository name (ambiguous with an image ID)`);
}

/** Points the archive's names at the loaded images, and returns the records to store (one per image). */
function nameImages(
  txn: ReferenceTxn,
  graph: ArchiveGraph,
  selected: SelectedRoot[],
  records: ImageRecord[],
  repository: string | undefined,
): { result: LoadResult; records: ImageRecord[] } {
  const stored = selected.map(({ root }) => root);
  const byId = namesByImage(stored, records, repository);
  const inIndex = new Set(stored.flatMap((root) => (root.source === "index.json" ? [root.descriptor.digest] : [])));
  const moved: LoadResult["moved"] = [];
  const images: LoadedImage[] = [];
  for (const { record, tags, digestNames } of byId.values()) {
    const loaded: LoadedImage = {
      id: record.id,
      origin: record.origin,
      listedIn: inIndex.has(record.id) ? "index.json" : "manifest.json",
      tags: [],
      digests: [],
      configDigest: record.images[0]?.config.digest ?? null,
      platforms: record.images.map((image) => image.platform),
      absent: record.absent.map((child) => child.platform ?? child.digest),
    };
    for (const name of tags) {
      const ref = parseReference(name);
      const result = txn.addTag(ref, record.id, { force: true });
      if (result.replaced !== undefined && result.replaced !== record.id) moved.push({ reference: formatReference(ref, "familiar"), previousId: result.replaced });
      loaded.tags.push(formatReference(ref, "familiar"));
    }
    for (const name of digestNames) {
      const ref = parseReference(name);
      txn.addDigest(ref, record.id);
      loaded.digests.push(formatReference(ref, "familiar"));
    }
    images.push(loaded);
  }
  const warnings = [...loadWarnings(graph, repository), ...droppedIndexFieldWarnings(graph, stored, LOAD_DROPPED_WORDS)];
  return { result: { images, moved, format: graph.format, warnings }, records: [...byId.values()].map(({ record }) => record) };
}

/** What "Loaded image:" lines name: the tags, or for an image named only by digest, those names. */
export function loadedNames(image: LoadedImage): string[] {
  return image.tags.length > 0 ? image.tags : image.digests;
}

/**
 * docker load's lines for each image of `result` (the CLI's and `lading serve`'s), in dockerd's
 * order: each tag's renaming line, when the tag moved from another image, just before its
 * `Loaded image` line. A tag's moves come in the order the images were named, and a later image
 * taking a tag takes it from the one before, so each move is the next one's until one names
 * another tag or is the image's own. Any move left over is said after the last image.
 */
export function loadLinesByImage(result: LoadResult): { image: LoadedImage | undefined; lines: string[] }[] {
  const moves = [...result.moved];
  const renaming = (move: LoadResult["moved"][number]): string => `The image ${move.reference} already exists, renaming the old one with ID ${move.previousId} to empty string`;
  const groups = result.images.map((image) => {
    const names = loadedNames(image);
    if (names.length === 0) return { image, lines: [`Loaded image ID: ${image.id}`] };
    const lines = names.flatMap((name) => {
      const moved: string[] = [];
      for (let move = moves[0]; move !== undefined && move.reference === name && move.previousId !== image.id; move = moves[0]) moved.push(renaming(moves.shift() as typeof move));
      return [...moved, `Loaded image: ${name}`];
    });
    return { image, lines };
  });
  return moves.length === 0 ? groups : [...groups, { image: undefined, lines: moves.map(renaming) }];
}

/** docker has no --name: a user who gives it expects a name, so one that names nothing is said. */
export function unusedNameWarning(graph: ArchiveGraph, repository: string | undefined): string | undefined {
  if (repository === undefined || graph.roots.some((root) => root.bareTag !== undefined)) return undefined;
  return `--name ${repository} named no image: it names those the archive tags by a bare tag alone (an OCI ref.name such as "app"), and this archive has none; lading tag names an image afterwards`;
}

/** Said on loading as verify says it (docker loads such an image untagged, without a word). */
export function loadWarnings(graph: ArchiveGraph, repository: string | undefined): string[] {
  const warnings = [...graph.readingWarnings];
  for (const root of graph.roots) {
    if (root.kind === "unknown") warnings.push(`index.json: entry ${root.descriptor.digest} has unknown media type ${root.descriptor.mediaType}; not loaded`);
    else if (root.bareTag !== undefined && repository === undefined) {
      warnings.push(`index.json: ref.name ${JSON.stringify(root.bareTag)} is a bare tag without a repository; image ${root.descriptor.digest} is left untagged (--name REPOSITORY tags it)`);
    }
    warnings.push(...root.warnings);
  }
  warnings.push(...sharedNameWarnings(graph.entries));
  const unused = unusedNameWarning(graph, repository);
  if (unused !== undefined) warnings.push(unused);
  const empty = noImageWarning(graph);
  if (empty !== undefined) warnings.push(empty);
  return warnings;
}

