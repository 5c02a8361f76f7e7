import type { RootEntry } from "./model.js";

/** An image a name is given to, by its ID and where the archive first lists it. */
interface NamedImage {
  id: string;
  listedAt: string;
}

/**
 * A tag the archive gives two or more different images. docker load gives it to the last it
 * reads, leaving the earlier ones without it ("renaming the old one"), and so does lading's; skopeo
 * refuses such an OCI archive for a lookup by name. Not refused, as docker loads it, but said:
 * which image ends up with the name hangs on the order of a document. The images are taken in
 * the order a load names them (the first listing of each), from the entries that resolved.
 */
export function sharedNameWarnings(entries: readonly RootEntry[]): string[] {
  const imagesByName = new Map<string, NamedImage[]>();
  for (const { root, listedAt, problems } of entries) {
    if (root === undefined || problems.length > 0 || root.kind === "unknown") continue;
    for (const name of root.names) {
      const images = imagesByName.get(name) ?? [];
      if (!images.some((image) => image.id === root.descriptor.digest)) images.push({ id: root.descriptor.digest, listedAt });
      imagesByName.set(name, images);
    }
  }
  const warnings: string[] = [];
  for (const [name, images] of imagesByName) {
    if (images.length < 2) continue;
    const described = images.map(({ id, listedAt }) => `${id} (${listedAt})`);
    const passedOver = images.slice(0, -1).map(({ id }) => id);
    warnings.push(`${name} names ${images.length} images, ${listing(described)}: a load gives it to the last, as docker load does, and leaves ${listing(passedOver)} without it`);
  }
  return warnings;
}

/** `a`, `a and b`, `a, b and c`. */
export function listing(items: readonly string[]): string {
  return items.length < 2 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
