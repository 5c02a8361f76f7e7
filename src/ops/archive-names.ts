/**
 * The names an archive gives each of its images, as a load records them and as convert writes
 * them: one rule for both, so that a convert equals a load followed by a save.
 */
import type { ResolvedRoot } from "../archive/model.js";
import { formatReference, parseReference, parseRepository } from "../core/reference.js";
import type { ImageRecord } from "../store/image-records.js";

/** What the naming rule reads of an image's record: its ID, and whether a registry could know its digest. */
export type NamedRecord = Pick<ImageRecord, "id" | "origin">;

export interface ImageNames<R extends NamedRecord = ImageRecord> {
  record: R;
  /** Full tag references, sorted: the roots' names, and bare tags made `REPO:TAG` by --name. */
  tags: string[];
  /**
   * Full `repo@digest` references, in the order a load records them: each tag's repository at the
   * image's own digest, then the roots' names by digest. A tag implies none for a synthesised
   * digest, which is never taken for a registry's; but a name by digest that an index.json entry
   * gives its own digest is kept whatever the entry's synthesised mark: the archive carries the
   * manifest's bytes, and a push of that image puts the digest in a registry.
   */
  digestNames: string[];
}

/** By image ID, in the roots' order; `records[i]` is the record of `roots[i]`; `repository`: --name. */
export function namesByImage<R extends NamedRecord>(roots: readonly ResolvedRoot[], records: readonly R[], repository: string | undefined): Map<string, ImageNames<R>> {
  const collected = new Map<string, { record: R; tags: Set<string>; byDigest: Set<string> }>();
  roots.forEach((root, position) => {
    const record = records[position] as R;
    const entry = collected.get(record.id) ?? { record, tags: new Set<string>(), byDigest: new Set<string>() };
    for (const name of root.names) entry.tags.add(name);
    for (const name of root.digestNames) entry.byDigest.add(name);
    if (root.bareTag !== undefined && repository !== undefined) entry.tags.add(formatReference({ ...parseRepository(repository), tag: root.bareTag }, "full"));
    collected.set(record.id, entry);
  });
  const result = new Map<string, ImageNames<R>>();
  for (const [id, { record, tags, byDigest }] of collected) {
    const sortedTags = [...tags].sort();
    const impliedByTags =
      record.origin === "archive"
        ? sortedTags.map((tag) => {
            const ref = parseReference(tag);
            return formatReference({ domain: ref.domain, path: ref.path, digest: id }, "full");
          })
        : [];
    const digestNames = [...new Set([...impliedByTags, ...byDigest])];
    result.set(id, { record, tags: sortedTags, digestNames });
  }
  return result;
}

/** Each tag (full form) and the image that ends with it: the last given it, as the reference store keeps it. */
export function tagOwners(byId: ReadonlyMap<string, ImageNames<NamedRecord>>): Map<string, string> {
  const owner = new Map<string, string>();
  for (const { record, tags } of byId.values()) {
    for (const full of tags) owner.set(formatReference(parseReference(full), "full"), record.id);
  }
  return owner;
}

/**
 * What convert says of an image written without a tag the archive gives it, as a later image
 * took that tag: the names it is written with instead, or that it is written untagged.
 */
export function passedOverTagNotes(roots: readonly ResolvedRoot[], repository: string | undefined): string[] {
  const byId = namesByImage(
    roots,
    roots.map((root) => ({ id: root.descriptor.digest, origin: root.origin })),
    repository,
  );
  const owner = tagOwners(byId);
  const notes: string[] = [];
  for (const { record, tags, digestNames } of byId.values()) {
    const kept = tags.filter((tag) => owner.get(tag) === record.id);
    const instead = [...kept, ...digestNames];
    for (const tag of tags) {
      const taker = owner.get(tag);
      if (taker === undefined || taker === record.id) continue;
      const written = instead.length > 0 ? `named ${instead.join(", ")} instead` : "untagged";
      notes.push(`${record.id} is written without ${tag}, which goes to ${taker}: ${written}`);
    }
  }
  return notes;
}
