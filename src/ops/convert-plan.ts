/**
 * What `convert` writes, decided from an archive's graph alone: the same images, names and blobs
 * that loading the archive into an empty store and saving everything from it would give, checked
 * in the same order with the same messages. The rules mirrored here live in load.ts
 * (loadOnce, commitBlobs, recordFor, recordImages) and save.ts (selectAll, imageToWrite).
 */
import { blobPathFor } from "../archive/blob-lookup.js";
import { firstProblem } from "../archive/graph.js";
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import type { BlobToWrite, ImageToWrite } from "../archive/write-layout.js";
import { invalid, notFound } from "../core/errors.js";
import { isForeignLayerType } from "../core/media-types.js";
import { formatPlatform } from "../core/platform.js";
import { formatReference, parseReference, parseRepository } from "../core/reference.js";
import { blobsOfRecord, type ImageRecord } from "../store/image-records.js";
import { primaryImage } from "./images.js";
import type { SavedImage } from "./save.js";

export interface ConvertPlan {
  images: ImageToWrite[];
  /** What `save` reports for them, sorted by image ID. */
  saved: SavedImage[];
}

/** A blob of the graph, as the caller is asked whether it can supply its bytes. */
export type GraphBlob = ArchiveGraph["blobs"] extends Map<string, infer Blob> ? Blob : never;

/**
 * Refuses what load would refuse, then plans what save would write. `name`: load's --name.
 * `checkSupplied` throws when the caller holds no bytes for a needed blob (load's "was not stored
 * while reading"); it is asked in load's order, so the first failure is load's first failure.
 */
export function planConversion(graph: ArchiveGraph, name: string | undefined, checkSupplied: (blob: GraphBlob) => void): ConvertPlan {
  const failure = firstProblem(graph);
  if (failure) throw failure;
  if (graph.roots.length === 0) throw invalid("the archive holds no image", "index.json");
  const selected = graph.roots.filter((root) => root.kind !== "unknown");
  const records = selected.map(recordFor);
  const needed = [...new Set(records.flatMap(blobsOfRecord))];
  for (const digest of needed) {
    const blob = graph.blobs.get(digest);
    if (!blob) throw invalid(`blob ${digest} is needed but not in the archive`, blobPathFor(digest));
    checkSupplied(blob);
  }
  const byId = new Map<string, { record: ImageRecord; names: Set<string> }>();
  selected.forEach((root, position) => {
    const record = records[position] as ImageRecord;
    const entry = byId.get(record.id) ?? { record, names: new Set<string>() };
    for (const full of root.names) entry.names.add(full);
    if (root.bareTag !== undefined && name !== undefined) entry.names.add(formatReference({ ...parseRepository(name), tag: root.bareTag }, "full"));
    byId.set(record.id, entry);
  });
  // A tag two images claim ends with the last one to record it, as in the reference store.
  const owner = new Map<string, string>();
  for (const { record, names } of byId.values()) {
    for (const full of [...names].sort()) owner.set(formatReference(parseReference(full), "full"), record.id);
  }
  const images: ImageToWrite[] = [];
  const saved: SavedImage[] = [];
  for (const { record } of byId.values()) {
    const names = new Set([...owner].filter(([, id]) => id === record.id).map(([full]) => full));
    const planned = imageToWrite(graph, record, names);
    images.push(planned.image);
    saved.push(planned.saved);
  }
  saved.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { images, saved };
}

function recordFor(root: ResolvedRoot): ImageRecord {
  return {
    id: root.descriptor.digest,
    mediaType: root.descriptor.mediaType,
    size: root.descriptor.size,
    origin: root.origin,
    loadedAt: "",
    images: root.images.map((image) => ({
      platform: formatPlatform(image.platform),
      manifest: { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size },
      config: { mediaType: image.config.mediaType, digest: image.config.digest, size: image.config.size },
      layers: image.layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size, diffId: layer.diffId ?? null })),
    })),
    absent: root.absent.map((child) => ({ digest: child.digest, mediaType: child.mediaType, platform: child.platform ? formatPlatform(child.platform) : null })),
    otherBlobs: [...root.indexes.keys(), ...root.artifacts],
  };
}

function imageToWrite(graph: ArchiveGraph, record: ImageRecord, names: Set<string>): { image: ImageToWrite; saved: SavedImage } {
  const label = [...names][0] ?? record.id;
  const dockerImage = primaryImage(record);
  const blobs = new Map<string, BlobToWrite>();
  const need = (digest: string, expectedSize: number | undefined, optional = false): void => {
    if (blobs.has(digest)) return;
    const found = graph.blobs.get(digest);
    if (!found) {
      if (optional) return;
      throw notFound(`image ${label} is incomplete: blob ${digest} is not in the store`, digest);
    }
    if (expectedSize !== undefined && found.size !== expectedSize) {
      throw invalid(`image ${label}: blob ${digest} has ${found.size} bytes in the store, ${expectedSize} expected`, digest);
    }
    blobs.set(digest, { digest, size: found.size });
  };
  need(record.id, record.size);
  for (const digest of record.otherBlobs) need(digest, undefined);
  for (const image of record.images) {
    need(image.manifest.digest, image.manifest.size);
    need(image.config.digest, image.config.size);
    for (const layer of image.layers) need(layer.digest, layer.size, isForeignLayerType(layer.mediaType));
  }
  return {
    image: {
      root: { mediaType: record.mediaType, digest: record.id, size: record.size },
      names: [...names],
      dockerImage: dockerImage ? { config: dockerImage.config.digest, layers: dockerImage.layers.filter((layer) => blobs.has(layer.digest)).map((layer) => layer.digest) } : undefined,
      blobs: [...blobs.values()],
      synthesized: record.origin === "synthesized",
    },
    saved: {
      id: record.id,
      tags: [...names].sort().map((full) => formatReference(parseReference(full), "familiar")),
      origin: record.origin,
      platforms: record.images.map((image) => image.platform),
      absent: record.absent.map((child) => child.platform ?? child.digest),
    },
  };
}
