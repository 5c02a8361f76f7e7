import type { ImageRecord } from "../store/image-records.js";

/**
 * A second pull (or a pull after a load) of the same root may bring other platforms: the record
 * keeps the union, and a child is absent only while no platform image of it is present. Bytes
 * that came from a registry are originals, so the origin becomes "archive".
 */
export function mergeImageRecords(existing: ImageRecord, incoming: ImageRecord): ImageRecord {
  const images = [...existing.images];
  for (const image of incoming.images) {
    if (!images.some((known) => known.manifest.digest === image.manifest.digest)) images.push(image);
  }
  const present = new Set(images.map((image) => image.manifest.digest));
  const otherBlobs = [...new Set([...existing.otherBlobs, ...incoming.otherBlobs])];
  const absent = [...existing.absent, ...incoming.absent].filter(
    (child, position, all) => !present.has(child.digest) && !otherBlobs.includes(child.digest) && all.findIndex((other) => other.digest === child.digest) === position,
  );
  return { ...existing, origin: "archive", images, absent, otherBlobs };
}
