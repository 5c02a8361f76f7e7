/**
 * `push`: an image from the store to a registry, byte for byte. Blobs go first (each checked with
 * HEAD, mounted from a repository of the same registry that the image came from, else uploaded),
 * then every manifest and nested index by digest, children before their index, and last the root
 * under the tag, all with their exact stored bytes and media types. The digest the registry
 * reports for the root must be the local one.
 *
 * Once the registry has confirmed the root, the target repository's `name@digest` names the
 * image in the store, as docker records it: `images --digests` shows it, and a later push to
 * another repository of that registry mounts the blobs from it.
 *
 * A sparse image (an index some of whose children the store lacks) is pushed only when the
 * target repository already holds those children; otherwise the push fails before uploading
 * anything, naming them.
 */
import { close, openSync, read } from "node:fs";
import { Readable } from "node:stream";
import { conflict, invalid, notFound, usage } from "../core/errors.js";
import { isForeignLayerType, isIndexType, isManifestType } from "../core/media-types.js";
import { formatPlatform, normalizePlatform } from "../core/platform.js";
import { formatReference, fullName, isFullImageId, parseReference, withDefaultTag, type ImageReference } from "../core/reference.js";
import type { Descriptor } from "../core/schemas.js";
import type { ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";
import { forEachLimited, isImageManifest, parseRegistryDocument, type RegistryAccess, type RegistryClientFactory } from "./registry-access.js";
import { resolveImage } from "./resolve-image.js";

const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_INDEX_DEPTH = 8;
/** Reads of a blob consumed as a stream (the registry client reads at offsets into buffers of its own instead). */
const STREAM_READ_BYTES = 256 << 10;

export interface PushOptions {
  /** Refuse a sparse image even when the registry already holds its missing children. */
  allPlatforms?: boolean;
  client: RegistryClientFactory;
  /** Blob uploads at once (default 4). */
  parallel?: number;
  /** Bytes of blobs uploaded so far, and to upload at most. */
  onProgress?: (progress: { done: number; total: number }) => void;
}

export type BlobStatus = "Pushed" | "Layer already exists" | `Mounted from ${string}`;

export interface PushResult {
  /** Full repository name: "127.0.0.1:5000/team/app". */
  repository: string;
  /** Full target reference: "127.0.0.1:5000/team/app:v1". */
  reference: string;
  /** The tag pushed, or undefined for a push by digest. */
  tag: string | undefined;
  /** The digest the registry reported for the root (equal to the local image ID). */
  digest: string;
  size: number;
  mediaType: string;
  /** Layers of the pushed platform images in the order docker lists them (top layer first). */
  layers: { digest: string; size: number; status: BlobStatus }[];
  /** Manifests and indexes put, the root included. */
  manifests: number;
  /** Index children the store lacks that the registry already held. */
  borrowed: string[];
  uploadedBlobs: number;
  uploadedBytes: number;
}

interface PushPlan {
  /** Config, layer and artifact blobs, by digest, in first-seen order. */
  blobs: Map<string, number>;
  layers: string[];
  /** Manifests and nested indexes below the root, children before parents. */
  manifests: { digest: string; mediaType: string; bytes: Buffer }[];
  /** Index children the store does not hold. */
  missing: { digest: string; mediaType: string; platform: string | null }[];
}

export async function pushImage(store: Store, image: string, target: string | undefined, options: PushOptions): Promise<PushResult> {
  // A push ends by recording the registry's digest among the references: refused before the
  // uploads, not after them.
  await store.refuseLostReferences();
  return store.gc.withReadLease(async () => {
    const record = await resolveImage(store, image);
    const ref = targetReference(image, target, record);
    const client = options.client(ref.domain);
    const label = formatReference(ref, "full");
    const rootBytes = await store.content.readBuffer(record.id, MAX_MANIFEST_BYTES);
    const plan: PushPlan = { blobs: new Map(), layers: [], manifests: [], missing: [] };
    await walk(store, plan, { digest: record.id, mediaType: record.mediaType, size: record.size }, rootBytes, label, 0);
    plan.manifests.pop(); // the root goes last, under the tag
    const borrowed = await checkMissing(client, ref, plan, label, options.allPlatforms === true);

    const sources = await mountSources(store, record, ref);
    const statuses = new Map<string, BlobStatus>();
    const progress = { done: 0, total: [...plan.blobs.values()].reduce((sum, size) => sum + size, 0) };
    options.onProgress?.({ ...progress });
    let uploadedBlobs = 0;
    await forEachLimited([...plan.blobs], options.parallel ?? 4, async ([digest, size]) => {
      const status = await pushBlob(store, client, ref.path, { digest, size }, sources, (bytes) => {
        progress.done += bytes;
        options.onProgress?.({ ...progress });
      });
      if (status === "Pushed") uploadedBlobs++;
      else {
        progress.total -= size;
        options.onProgress?.({ ...progress });
      }
      statuses.set(digest, status);
    });

    for (const manifest of plan.manifests) {
      const reported = await client.putManifest(ref.path, manifest.digest, manifest.bytes, manifest.mediaType);
      if (reported !== manifest.digest) throw invalid(`registry ${ref.domain}: reports digest ${reported} for manifest ${manifest.digest} of ${label}`, manifest.digest);
    }
    const reported = await client.putManifest(ref.path, ref.digest ?? (ref.tag as string), rootBytes, record.mediaType);
    if (reported !== record.id) {
      throw invalid(`registry ${ref.domain}: reports digest ${reported} for ${label}, but the local digest is ${record.id}`, label);
    }
    await recordPushed(store, ref, record.id);
    return {
      repository: fullName(ref),
      reference: label,
      tag: ref.digest === undefined ? ref.tag : undefined,
      digest: reported,
      size: record.size,
      mediaType: record.mediaType,
      layers: [...plan.layers].reverse().map((digest) => ({ digest, size: plan.blobs.get(digest) ?? 0, status: statuses.get(digest) ?? "Layer already exists" })),
      manifests: plan.manifests.length + 1,
      borrowed,
      uploadedBlobs,
      uploadedBytes: progress.done,
    };
  });
}

/** Adds `repository@digest` of the target, under the references' lock. */
async function recordPushed(store: Store, ref: ImageReference, id: string): Promise<void> {
  await store.references.update(async (txn) => {
    // Under the lock, where rmi deletes records: an image removed while it was pushed gets no reference back.
    if ((await store.records.get(id)) !== undefined) txn.addDigest({ domain: ref.domain, path: ref.path, digest: id }, id);
  });
}

/** TARGET, else IMAGE itself, as a full reference with the default tag. A digest must be the image's own. */
function targetReference(image: string, target: string | undefined, record: ImageRecord): ImageReference {
  const text = target ?? image;
  if (target === undefined && (isFullImageId(image) || /^(sha256:)?[0-9a-f]{1,63}$/.test(image))) {
    throw usage(`push needs a TARGET reference: ${image} is an image ID, not a name`);
  }
  const ref = withDefaultTag(parseReference(text));
  if (ref.digest !== undefined && ref.digest !== record.id) {
    throw conflict(`cannot push ${image} as ${text}: its digest is ${record.id}`, text);
  }
  if (ref.digest !== undefined) delete ref.tag;
  return ref;
}

/** Reads the stored graph below `descriptor`: blobs to upload, manifests to put, children absent. */
async function walk(store: Store, plan: PushPlan, descriptor: { digest: string; mediaType: string; size: number }, bytes: Buffer, label: string, depth: number): Promise<void> {
  if (depth >= MAX_INDEX_DEPTH) throw invalid(`${label}: indexes nested deeper than ${MAX_INDEX_DEPTH} levels`, label);
  const what = `manifest ${descriptor.digest} of ${label}`;
  const document = parseRegistryDocument(bytes, descriptor.mediaType, what);
  if (document.kind === "index") {
    for (const child of document.index.manifests) await walkChild(store, plan, child, label, depth);
  } else {
    const { manifest } = document;
    const image = isImageManifest(manifest);
    await needBlob(store, plan, manifest.config, label, false);
    for (const layer of manifest.layers) {
      // An artifact's layers travel only when the store carries them, as a load keeps them.
      const optional = !image || isForeignLayerType(layer.mediaType);
      if ((await needBlob(store, plan, layer, label, optional)) && image && !plan.layers.includes(layer.digest)) plan.layers.push(layer.digest);
    }
  }
  if (!plan.manifests.some((known) => known.digest === descriptor.digest)) plan.manifests.push({ digest: descriptor.digest, mediaType: descriptor.mediaType, bytes });
}

async function walkChild(store: Store, plan: PushPlan, child: Descriptor, label: string, depth: number): Promise<void> {
  const known = isIndexType(child.mediaType) || isManifestType(child.mediaType);
  if (!(await store.content.has(child.digest, child.size))) {
    plan.missing.push({ digest: child.digest, mediaType: child.mediaType, platform: child.platform ? formatPlatform(normalizePlatform(child.platform)) : null });
    return;
  }
  if (!known) {
    plan.blobs.set(child.digest, child.size);
    return;
  }
  const bytes = await store.content.readBuffer(child.digest, MAX_MANIFEST_BYTES);
  await walk(store, plan, child, bytes, label, depth + 1);
}

/** True when the blob is in the store and will be pushed; a missing foreign layer is skipped. */
async function needBlob(store: Store, plan: PushPlan, blob: Descriptor, label: string, optional: boolean): Promise<boolean> {
  if (!(await store.content.has(blob.digest, blob.size))) {
    if (optional) return false;
    throw notFound(`image ${label} is incomplete: blob ${blob.digest} is not in the store`, blob.digest);
  }
  plan.blobs.set(blob.digest, blob.size);
  return true;
}

/** Children the store lacks must already be in the target repository; returns them. */
async function checkMissing(client: RegistryAccess, ref: ImageReference, plan: PushPlan, label: string, strict: boolean): Promise<string[]> {
  const describe = (child: PushPlan["missing"][number]): string => (child.platform === null ? child.digest : `${child.platform} (${child.digest})`);
  if (plan.missing.length === 0) return [];
  if (strict) {
    throw notFound(`cannot push ${label} with --all-platforms: the store lacks ${plan.missing.map(describe).join(", ")} (pull it with --all-platforms)`, label);
  }
  const lacking: PushPlan["missing"] = [];
  for (const child of plan.missing) {
    const found = isIndexType(child.mediaType) || isManifestType(child.mediaType) ? await client.headManifest(ref.path, child.digest) : (await client.hasBlob(ref.path, child.digest)) ? { digest: child.digest } : undefined;
    if (found?.digest !== child.digest) lacking.push(child);
  }
  if (lacking.length > 0) {
    throw notFound(
      `cannot push ${label}: the image is sparse and registry ${ref.domain} does not have ${lacking.map(describe).join(", ")} in ${ref.path} (pull the image with --all-platforms first)`,
      label,
    );
  }
  return plan.missing.map((child) => child.digest);
}

/** Other repositories of the target registry that the store knows this image from: candidates for a mount. */
async function mountSources(store: Store, record: ImageRecord, ref: ImageReference): Promise<string[]> {
  const sources = new Set<string>();
  for (const entry of await store.references.references(record.id)) {
    const known = parseReference(entry.reference);
    if (known.domain === ref.domain && known.path !== ref.path) sources.add(known.path);
  }
  return [...sources].sort();
}

async function pushBlob(store: Store, client: RegistryAccess, repository: string, blob: { digest: string; size: number }, sources: readonly string[], onBytes: (bytes: number) => void): Promise<BlobStatus> {
  if (await client.hasBlob(repository, blob.digest)) return "Layer already exists";
  for (const source of sources) {
    if (await client.mountBlob(repository, blob.digest, source)) return `Mounted from ${source}`;
  }
  let sent = 0;
  await client.uploadBlob(repository, blob, (): Readable => {
    // A retry starts over: take back what the failed attempt counted.
    onBytes(-sent);
    sent = 0;
    return new StoredBlobFile(store, blob.digest, (bytes) => {
      sent += bytes;
      onBytes(bytes);
    });
  });
  return "Pushed";
}

/**
 * A stored blob as a Readable that can also be read at any offset into the caller's buffer
 * (readAt: the registry client's PositionalReadable), so an upload reads into buffers it reuses
 * instead of a fresh one per read. Opened at once: a missing blob fails here, naming it.
 * `onBytes` counts every byte read, either way.
 */
class StoredBlobFile extends Readable {
  private readonly fd: number;
  private position = 0;
  /** The read in progress: the file is closed only after it. */
  private reading: Promise<unknown> = Promise.resolve();

  constructor(store: Store, digest: string, private readonly onBytes: (bytes: number) => void) {
    super({ highWaterMark: STREAM_READ_BYTES });
    try {
      this.fd = openSync(store.content.blobPath(digest), "r");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw notFound(`blob ${digest} not found in the content store`, digest);
      throw error;
    }
  }

  readAt(into: Buffer, position: number): Promise<number> {
    if (this.destroyed) return Promise.reject(new Error("read of a closed blob file"));
    const done = new Promise<number>((resolve, reject) => {
      read(this.fd, into, 0, into.length, position, (error, count) => {
        if (error !== null) reject(error);
        else {
          this.onBytes(count);
          resolve(count);
        }
      });
    });
    this.reading = done.catch(() => undefined);
    return done;
  }

  override _read(size: number): void {
    const buffer = Buffer.allocUnsafe(size);
    this.readAt(buffer, this.position).then(
      (count) => {
        this.position += count;
        this.push(count === 0 ? null : buffer.subarray(0, count));
      },
      (error: Error) => this.destroy(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    void this.reading.then(() => close(this.fd, (closeError) => callback(error ?? closeError)));
  }
}
