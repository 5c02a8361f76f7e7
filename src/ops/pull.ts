/**
 * `pull`: images from a registry into the store, byte for byte. The root manifest or index is
 * fetched by tag or digest and kept exactly as served; by default only the host platform's
 * manifest of an index is fetched (the index stays whole, the other children are recorded
 * absent, as a load with --platform does). Every blob streams into the ingest area while the
 * client checks its digest; nothing is committed and no reference changes until every blob of
 * every reference has arrived, and then the store commits them again against the expected
 * digests (all or nothing, under the gc lease so a prune cannot race). Every layer is also held
 * to the diff ID its config lists, as load holds it (see PullDiffIdCheck). A foreign layer the
 * registry does not hold is recorded absent, as load records one an archive does not carry; its
 * `urls` are never fetched.
 */
import { checkStorableRoot } from "./storable-root.js";
import { open } from "node:fs/promises";
import { parseImageConfig, platformOfConfig } from "../archive/image-check.js";
import { invalid, isLadingError, notFound } from "../core/errors.js";
import { isForeignLayerType, isIndexType, isManifestType, isSchema1Type } from "../core/media-types.js";
import { formatPlatform, hostPlatform, normalizePlatform, platformMatches, type Platform } from "../core/platform.js";
import { formatReference, parseReference, withDefaultTag, type ImageReference } from "../core/reference.js";
import type { Descriptor, Index, Manifest } from "../core/schemas.js";
import type { Ingest } from "../store/content-store.js";
import { layerRecordOf, type ImageRecord, type PlatformImage } from "../store/image-records.js";
import type { Store } from "../store/store.js";
import { withBlobsLeft } from "./blobs-left.js";
import { PullDiffIdCheck, type LayerProbe } from "./pull-diff-ids.js";
import { forEachLimited, isImageManifest, parseRegistryDocument, type RegistryAccess, type RegistryClientFactory, type RegistryDocument } from "./registry-access.js";

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MAX_INDEX_DEPTH = 8;
const BLOB_ATTEMPTS = 3;

export interface PullOptions {
  /** Fetch these platforms' manifests of an index (default: the host's). */
  platforms?: Platform[];
  /** Fetch every child of an index, so that a later push recreates it completely. */
  allPlatforms?: boolean;
  client: RegistryClientFactory;
  /**
   * False to take compressed layers' diff IDs from the config without decompressing them, as
   * skopeo does (--skip-diff-id-check); every blob's digest is still checked. Default true.
   */
  checkCompressedLayers?: boolean;
  /** Blob downloads at once (default 4). */
  parallel?: number;
  /** Bytes of blobs downloaded so far, and to download in all. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

/** "Foreign layer not in the registry": a foreign layer recorded absent, as a load of an archive without it records it. */
export type LayerStatus = "Already exists" | "Pull complete" | "Foreign layer not in the registry";

export interface PulledImage {
  /** The reference as asked for, in full form with the default tag: "127.0.0.1:5000/app:v1". */
  reference: string;
  /** Repository path on the registry ("app", "library/busybox"). */
  repository: string;
  /** The tag, or the digest for a pull by digest. */
  tagOrDigest: string;
  /** The root digest: the image ID in this store. */
  id: string;
  mediaType: string;
  platforms: string[];
  /** Platforms (or digests) of index children not fetched. */
  absent: string[];
  layers: { digest: string; size: number; status: LayerStatus }[];
  /** Familiar tags and `name@digest` references now pointing at the image. */
  tags: string[];
  digests: string[];
  /** Nothing was downloaded and the reference already named this image. */
  upToDate: boolean;
}

export interface PullResult {
  images: PulledImage[];
  /** Tags that moved from another image. */
  moved: { reference: string; previousId: string }[];
  /** Blobs and bytes downloaded (manifests and indexes are not counted). */
  fetchedBlobs: number;
  fetchedBytes: number;
}

/** One reference, resolved against the registry: what to store and what to record. */
interface Plan {
  ref: ImageReference;
  label: string;
  client: RegistryAccess;
  repository: string;
  record: ImageRecord;
  /** Manifests, indexes and configs already in memory, by digest. */
  documents: Map<string, Buffer>;
  /** Blobs still to download, by digest. */
  blobs: Map<string, number>;
  /** Configs downloaded while planning (read whole, they are small). */
  configsFetched: { count: number; bytes: number };
  /** Every manifest an index lists, as its platform (or digest), selected or not: what an error says the index has. */
  listed: string[];
}

interface Selection {
  wanted: Platform[];
  all: boolean;
  /** Only the first match (the host default), as a containerd pull does. */
  firstOnly: boolean;
}

/** Pulls every reference; all of them are stored, or none. */
export async function pullImages(store: Store, refs: readonly string[], options: PullOptions): Promise<PullResult> {
  if (refs.length === 0) throw invalid("pull needs at least one image reference");
  await store.refuseLostReferences();
  const explicit = options.platforms ?? [];
  const selection: Selection = {
    wanted: explicit.length > 0 ? explicit : [hostPlatform()],
    all: options.allPlatforms === true,
    firstOnly: explicit.length === 0,
  };
  const clients = new Map<string, RegistryAccess>();
  const clientFor = (host: string): RegistryAccess => {
    let client = clients.get(host);
    if (client === undefined) {
      client = options.client(host);
      clients.set(host, client);
    }
    return client;
  };
  await store.restoreLayout();
  return store.gc.withLease(async () => {
    const plans: Plan[] = [];
    for (const text of refs) {
      const ref = withDefaultTag(parseReference(text));
      plans.push(await planReference(store, clientFor(ref.domain), ref, selection));
    }
    const diffIds = new PullDiffIdCheck(store, options.checkCompressedLayers !== false);
    for (const plan of plans) for (const image of plan.record.images) diffIds.claimLayers(image, plan.label);
    const present = await presentBlobs(store, plans);
    // Before any download: a layer the store holds that the config contradicts fails the pull now.
    await diffIds.checkStored(present);
    // What the pull stores that the store lacks: left behind, unreferenced, if it fails once they are committed.
    const committed = [...new Set(plans.flatMap((plan) => [...plan.documents.keys(), ...plan.blobs.keys()]))].filter((digest) => !present.has(digest));
    let referencesWritten = false;
    try {
      const fetched = await fetchAndCommit(store, plans, present, options, diffIds);
      await diffIds.record();
      return await recordPulls(store, plans, present, fetched, () => (referencesWritten = true));
    } catch (error) {
      throw referencesWritten ? error : await withBlobsLeft(store, committed, error);
    }
  });
}

async function planReference(store: Store, client: RegistryAccess, ref: ImageReference, selection: Selection): Promise<Plan> {
  const label = formatReference(ref, "full");
  const root = await client.getManifest(ref.path, ref.digest ?? (ref.tag as string));
  if (ref.digest !== undefined && root.digest !== ref.digest) {
    throw invalid(`manifest ${label}: the registry served content with digest ${root.digest}`, label);
  }
  checkStorableRoot(root.digest, `manifest ${label}`);
  const plan: Plan = {
    ref,
    label,
    client,
    repository: ref.path,
    record: {
      id: root.digest,
      mediaType: root.mediaType,
      size: root.bytes.length,
      origin: "archive",
      loadedAt: new Date().toISOString(),
      images: [],
      absent: [],
      otherBlobs: [],
    },
    documents: new Map([[root.digest, root.bytes]]),
    blobs: new Map(),
    configsFetched: { count: 0, bytes: 0 },
    listed: [],
  };
  const document = parseRegistryDocument(root.bytes, root.mediaType, `manifest ${label}`);
  if (document.kind === "manifest") {
    if (!isImageManifest(document.manifest)) throw invalid(`${label} is an artifact (config ${document.manifest.config.mediaType}), not an image`, label);
    const image = await planImage(store, plan, root.digest, root.mediaType, document.manifest, undefined);
    const platform = normalizePlatform(parsePlatformString(image.platform));
    if (!selection.all && !selection.firstOnly && !selection.wanted.some((wanted) => platformMatches(wanted, platform))) {
      throw notFound(`platform ${selection.wanted.map(formatPlatform).join(", ")} is not in ${label} (it has ${image.platform})`, "--platform");
    }
    plan.record.images.push(image);
    return plan;
  }
  await walkIndex(store, plan, root.digest, document.index, selection, []);
  if (!selection.all) {
    for (const wanted of selection.wanted) {
      if (plan.record.images.some((image) => platformMatches(wanted, parsePlatformString(image.platform)))) continue;
      if (selection.firstOnly) throw notFound(`no matching manifest for ${formatPlatform(wanted)} in the manifest list entries of ${label}`, label);
      const has = [...new Set(plan.listed)].join(", ") || "no runnable image";
      throw notFound(`platform ${formatPlatform(wanted)} is not in ${label} (it has ${has})`, "--platform");
    }
  }
  return plan;
}

async function walkIndex(store: Store, plan: Plan, indexDigest: string, index: Index, selection: Selection, chain: string[]): Promise<void> {
  if (chain.length >= MAX_INDEX_DEPTH) throw invalid(`index ${indexDigest} of ${plan.label}: indexes nested deeper than ${MAX_INDEX_DEPTH} levels`, plan.label);
  if (chain.includes(indexDigest)) throw invalid(`index ${indexDigest} of ${plan.label} contains itself`, plan.label);
  const inner = [...chain, indexDigest];
  for (const child of index.manifests) {
    if (isSchema1Type(child.mediaType)) throw invalid(`index ${indexDigest} of ${plan.label}: child ${child.digest} is a Docker schema 1 manifest, not supported`, plan.label);
    if (isIndexType(child.mediaType)) {
      const nested = await fetchChild(plan, child);
      if (nested.kind !== "index") throw invalid(`${child.digest} of ${plan.label}: described as an index but is a manifest`, plan.label);
      plan.record.otherBlobs.push(child.digest);
      await walkIndex(store, plan, child.digest, nested.index, selection, inner);
    } else if (isManifestType(child.mediaType)) {
      plan.listed.push(childPlatform(child) ?? child.digest);
      if (!wants(plan, selection, child)) {
        plan.record.absent.push(absentEntry(child));
        continue;
      }
      const fetched = await fetchChild(plan, child);
      if (fetched.kind !== "manifest") throw invalid(`${child.digest} of ${plan.label}: described as a manifest but is an index`, plan.label);
      if (isImageManifest(fetched.manifest)) {
        const platform = child.platform ? normalizePlatform(child.platform) : undefined;
        plan.record.images.push(await planImage(store, plan, child.digest, child.mediaType, fetched.manifest, platform));
      } else {
        planArtifact(plan, child.digest, fetched.manifest);
      }
    } else if (selection.all) {
      plan.blobs.set(child.digest, child.size);
      plan.record.otherBlobs.push(child.digest);
    }
  }
}

/** Whether an index child is wanted: everything with --all-platforms, else a platform match. */
function wants(plan: Plan, selection: Selection, child: Descriptor): boolean {
  if (selection.all) return true;
  if (!child.platform) return false;
  const platform = normalizePlatform(child.platform);
  if (!selection.wanted.some((wanted) => platformMatches(wanted, platform))) return false;
  return !(selection.firstOnly && plan.record.images.length > 0);
}

function absentEntry(child: Descriptor): ImageRecord["absent"][number] {
  return { digest: child.digest, mediaType: child.mediaType, platform: childPlatform(child) };
}

function childPlatform(child: Descriptor): string | null {
  return child.platform ? formatPlatform(normalizePlatform(child.platform)) : null;
}

/** Fetches an index child by digest, checks it against its descriptor and keeps its bytes. */
async function fetchChild(plan: Plan, child: Descriptor): Promise<RegistryDocument> {
  const fetched = await plan.client.getManifest(plan.repository, child.digest);
  const what = `manifest ${child.digest} of ${plan.label}`;
  if (fetched.digest !== child.digest) throw invalid(`${what}: the registry served content with digest ${fetched.digest}`, child.digest);
  if (fetched.bytes.length !== child.size) throw invalid(`${what}: ${fetched.bytes.length} bytes, the index says ${child.size}`, child.digest);
  plan.documents.set(child.digest, fetched.bytes);
  return parseRegistryDocument(fetched.bytes, child.mediaType, what);
}

async function planImage(store: Store, plan: Plan, digest: string, mediaType: string, manifest: Manifest, platform: Platform | undefined): Promise<PlatformImage> {
  const configBytes = await configOf(store, plan, manifest.config);
  const config = parseImageConfig(configBytes, `config ${manifest.config.digest} of ${plan.label}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw invalid(`manifest ${digest} of ${plan.label}: ${manifest.layers.length} layers but its config lists ${diffIds.length} diff IDs`, digest);
  }
  const layers: PlatformImage["layers"] = [];
  for (const [position, layer] of manifest.layers.entries()) {
    const absent = isForeignLayerType(layer.mediaType) && !(await foreignLayerAvailable(store, plan, layer));
    if (!absent) plan.blobs.set(layer.digest, layer.size);
    const urls = layer.urls ?? undefined;
    layers.push(layerRecordOf({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: diffIds[position], ...(absent ? { absent: true as const } : {}), ...(urls ? { urls } : {}) }));
  }
  return {
    platform: formatPlatform(platform ?? platformOfConfig(config)),
    manifest: { mediaType, digest, size: (plan.documents.get(digest) as Buffer).length },
    config: { mediaType: manifest.config.mediaType, digest: manifest.config.digest, size: manifest.config.size },
    layers,
  };
}

/** Whether the store or the registry holds a foreign layer's blob (it is not looked for elsewhere). */
async function foreignLayerAvailable(store: Store, plan: Plan, layer: Descriptor): Promise<boolean> {
  return (await store.content.has(layer.digest, layer.size)) || plan.client.hasBlob(plan.repository, layer.digest);
}

/** An attestation or other artifact: carried whole, never unpacked. */
function planArtifact(plan: Plan, digest: string, manifest: Manifest): void {
  plan.record.otherBlobs.push(digest, manifest.config.digest);
  plan.blobs.set(manifest.config.digest, manifest.config.size);
  for (const layer of manifest.layers) {
    plan.blobs.set(layer.digest, layer.size);
    plan.record.otherBlobs.push(layer.digest);
  }
}

/** The config bytes: from the store when it has them, else downloaded (small, checked by the client). */
async function configOf(store: Store, plan: Plan, config: Descriptor): Promise<Buffer> {
  if (config.size > MAX_CONFIG_BYTES) throw invalid(`config ${config.digest} of ${plan.label}: ${config.size} bytes, more than ${MAX_CONFIG_BYTES}`, config.digest);
  if (await store.content.has(config.digest, config.size)) return store.content.readBuffer(config.digest, MAX_CONFIG_BYTES);
  const known = plan.documents.get(config.digest);
  if (known) return known;
  const bytes = await withBlobAttempts(async () => {
    const stream = await plan.client.openBlob(plan.repository, { digest: config.digest, size: config.size });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  });
  if (bytes.length !== config.size) throw invalid(`config ${config.digest} of ${plan.label}: ${bytes.length} bytes, the manifest says ${config.size}`, config.digest);
  plan.documents.set(config.digest, bytes);
  plan.configsFetched.count++;
  plan.configsFetched.bytes += bytes.length;
  return bytes;
}

function parsePlatformString(value: string): Platform {
  const [os = "", architecture = "", variant] = value.split("/");
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Digests the store held before anything was downloaded. */
async function presentBlobs(store: Store, plans: readonly Plan[]): Promise<Set<string>> {
  const present = new Set<string>();
  for (const plan of plans) {
    for (const [digest, bytes] of plan.documents) if (await store.content.has(digest, bytes.length)) present.add(digest);
    for (const [digest, size] of plan.blobs) if (await store.content.has(digest, size)) present.add(digest);
  }
  return present;
}

interface Fetched {
  blobs: number;
  bytes: number;
}

/** Downloads what is missing into ingests, then commits everything in one barrier. */
async function fetchAndCommit(store: Store, plans: readonly Plan[], present: Set<string>, options: PullOptions, diffIds: PullDiffIdCheck): Promise<Fetched> {
  const documents = new Map<string, Buffer>();
  const downloads = new Map<string, { size: number; plan: Plan }>();
  for (const plan of plans) {
    for (const [digest, bytes] of plan.documents) if (!present.has(digest)) documents.set(digest, bytes);
    for (const [digest, size] of plan.blobs) if (!present.has(digest) && !documents.has(digest) && !downloads.has(digest)) downloads.set(digest, { size, plan });
  }
  const progress = { done: 0, total: [...downloads.values()].reduce((sum, { size }) => sum + size, 0) };
  options.onProgress?.({ ...progress });
  const ingests: { ingest: Ingest; expected: { digest: string; size: number } }[] = [];
  try {
    for (const [digest, bytes] of documents) {
      const ingest = await store.content.openIngest();
      ingests.push({ ingest, expected: { digest, size: bytes.length } });
      await ingest.write(bytes);
    }
    await forEachLimited([...downloads], options.parallel ?? 4, async ([digest, { size, plan }]) => {
      const ingest = await download(store, plan, { digest, size }, diffIds, (bytes) => {
        progress.done += bytes;
        options.onProgress?.({ ...progress });
      });
      ingests.push({ ingest, expected: { digest, size } });
    });
    await store.content.commitAll(ingests);
  } finally {
    await Promise.all(ingests.map(({ ingest }) => ingest.abort()));
  }
  for (const plan of plans) {
    for (const digest of [...plan.documents.keys(), ...plan.blobs.keys()]) {
      if (!(await store.content.has(digest))) throw notFound(`blob ${digest} disappeared from the store during the pull`, digest);
    }
  }
  const configs = plans.reduce((sum, plan) => ({ count: sum.count + plan.configsFetched.count, bytes: sum.bytes + plan.configsFetched.bytes }), { count: 0, bytes: 0 });
  return { blobs: downloads.size + configs.count, bytes: progress.done + configs.bytes };
}

/**
 * Downloads one blob into a fresh ingest, a layer through its diff-ID probe too; a broken
 * connection is tried again, a bad digest or diff ID is not.
 */
async function download(store: Store, plan: Plan, blob: { digest: string; size: number }, diffIds: PullDiffIdCheck, onBytes: (bytes: number) => void): Promise<Ingest> {
  return withBlobAttempts(async () => {
    // The client hashes every byte to check the digest, so the ingest need not hash them again.
    const ingest = await store.content.openIngest({ digestedByCaller: true });
    const probe: LayerProbe | undefined = diffIds.probe(blob.digest);
    let counted = 0;
    try {
      await plan.client.downloadBlob(plan.repository, blob, async (bytes) => {
        // The write is queued on the thread pool first; the probe's inflating joins it there.
        await Promise.all([ingest.write(bytes), probe?.push(bytes)]);
        counted += bytes.length;
        onBytes(bytes.length);
      });
      ingest.setDigest(blob.digest);
      await ingest.finish();
      await Promise.all([flushToDisk(ingest.path), probe && diffIds.checkDownloaded(blob, probe)]);
      return ingest;
    } catch (error) {
      probe?.destroy();
      await ingest.abort();
      onBytes(-counted);
      throw error;
    }
  });
}

/**
 * Runs a blob's transfer again when it fails with a connection lost half way, up to
 * BLOB_ATTEMPTS times in all, and reports the last failure as it is; a wrong digest or size is final.
 */
async function withBlobAttempts<T>(transfer: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transfer();
    } catch (error) {
      if ((isLadingError(error) && error.kind !== "io") || attempt >= BLOB_ATTEMPTS) throw error;
    }
  }
}

/**
 * fsyncs a finished ingest file now, while other blobs still download, so that the commit's own
 * fsync (which the all-or-nothing commit still does) finds nothing left to write.
 */
async function flushToDisk(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function layerStatus(layer: PlatformImage["layers"][number], present: ReadonlySet<string>): LayerStatus {
  if (layer.absent) return "Foreign layer not in the registry";
  return present.has(layer.digest) ? "Already exists" : "Pull complete";
}

async function recordPulls(store: Store, plans: readonly Plan[], present: Set<string>, fetched: Fetched, referencesWritten: () => void): Promise<PullResult> {
  const moved: PullResult["moved"] = [];
  const images: PulledImage[] = [];
  await store.updateWithRecords(async (txn, addRecords) => {
    // Under the lock, where rmi deletes records: none can go between its write and its tags.
    const { changes } = await addRecords(plans.map((plan) => plan.record));
    for (const plan of plans) {
      const { ref, record } = plan;
      // What the store holds now: an earlier pull of other platforms of the same index is merged in.
      const merged = changes.findLast((change) => change.id === record.id)?.stored ?? record;
      const digestRef: ImageReference = { domain: ref.domain, path: ref.path, digest: record.id };
      const asked: ImageReference = ref.digest !== undefined ? digestRef : ref;
      const downloadedAny = [...plan.blobs.keys(), ...plan.documents.keys()].some((digest) => !present.has(digest));
      const upToDate = !downloadedAny && txn.get(asked) === record.id;
      const tags: string[] = [];
      if (ref.digest === undefined) {
        const result = txn.addTag(ref, record.id, { force: true });
        if (result.replaced !== undefined && result.replaced !== record.id) moved.push({ reference: formatReference(ref, "familiar"), previousId: result.replaced });
        tags.push(formatReference(ref, "familiar"));
      }
      txn.addDigest(digestRef, record.id);
      const layers = new Map<string, PulledImage["layers"][number]>();
      for (const image of record.images) {
        for (const layer of image.layers) {
          if (!layers.has(layer.digest)) layers.set(layer.digest, { digest: layer.digest, size: layer.size, status: layerStatus(layer, present) });
        }
      }
      images.push({
        reference: formatReference(ref, "full"),
        repository: ref.path,
        tagOrDigest: ref.digest ?? (ref.tag as string),
        id: record.id,
        mediaType: record.mediaType,
        platforms: merged.images.map((image) => image.platform),
        absent: merged.absent.map((child) => child.platform ?? child.digest),
        layers: [...layers.values()],
        tags,
        digests: [formatReference(digestRef, "familiar")],
        upToDate,
      });
    }
  }, referencesWritten);
  return { images, moved, fetchedBlobs: fetched.blobs, fetchedBytes: fetched.bytes };
}
