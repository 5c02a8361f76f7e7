/**
 * What `convert` writes, decided from an archive's graph alone: the same images, names and blobs
 * that loading the archive into an empty store and saving everything from it would give, checked
 * in the same order with the same messages. The rules mirrored here live in load.ts
 * (loadOnce, commitBlobs, recordFor, recordImages) and save.ts (selectAll); the names come from
 * archive-names.ts, as load's do; what each image writes is save.ts's imageToWrite itself, asked
 * about the graph's blobs.
 */
import { blobPathFor } from "../archive/blob-lookup.js";
import { firstProblem } from "../archive/graph.js";
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import type { ImageToWrite } from "../archive/write-layout.js";
import { invalid } from "../core/errors.js";
import { formatPlatform } from "../core/platform.js";
import { namesByImage, tagOwners } from "./archive-names.js";
import { blobsOfRecord, layerRecordOf, type ImageRecord } from "../store/image-records.js";
import { imageToWrite, type SavedImage } from "./save.js";

export interface ConvertPlan {
  /** The roots it writes: every one but those of unknown media type, as load stores them. */
  roots: ResolvedRoot[];
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
export async function planConversion(graph: ArchiveGraph, name: string | undefined, checkSupplied: (blob: GraphBlob) => void): Promise<ConvertPlan> {
  const failure = firstProblem(graph);
  if (failure) throw failure;
  const selected = graph.roots.filter((root) => root.kind !== "unknown");
  const records = selected.map(recordFor);
  const needed = [...new Set(records.flatMap(blobsOfRecord))];
  for (const digest of needed) {
    const blob = graph.blobs.get(digest);
    if (!blob) throw invalid(`blob ${digest} is needed but not in the archive`, blobPathFor(digest));
    checkSupplied(blob);
  }
  const byId = namesByImage(selected, records, name);
  // A tag two images claim ends with the last one to record it, as in the reference store.
  const owner = tagOwners(byId);
  const bareTags = bareTagsByImage(selected, name);
  const images: ImageToWrite[] = [];
  const saved: SavedImage[] = [];
  for (const { record, digestNames } of byId.values()) {
    const names = new Set([...owner].filter(([, id]) => id === record.id).map(([full]) => full));
    const planned = await imageToWrite(async (digest) => graph.blobs.get(digest), { record, names, digestNames: new Set(digestNames) }, []);
    const tags = bareTags.get(record.id);
    images.push(tags ? { ...planned.image, bareTags: tags } : planned.image);
    saved.push(planned.saved);
  }
  saved.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { roots: selected, images, saved };
}

/**
 * The bare tags (ref.name `1.0`, no repository) the roots give each image, by image ID, for the oci
 * layout to carry as they are; none when `name` (--name) makes them full names. A bare tag two
 * images claim stays with the last, as a full name does.
 */
export function bareTagsByImage(roots: readonly ResolvedRoot[], name: string | undefined): Map<string, string[]> {
  const byImage = new Map<string, string[]>();
  if (name !== undefined) return byImage;
  const owner = new Map<string, string>();
  for (const root of roots) if (root.kind !== "unknown" && root.bareTag !== undefined) owner.set(root.bareTag, root.descriptor.digest);
  for (const [tag, id] of owner) byImage.set(id, [...(byImage.get(id) ?? []), tag]);
  return byImage;
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
      layers: image.layers.map(layerRecordOf),
    })),
    absent: root.absent.map((child) => ({ digest: child.digest, mediaType: child.mediaType, platform: child.platform ? formatPlatform(child.platform) : null })),
    otherBlobs: [...root.indexes.keys(), ...root.artifacts],
  };
}
