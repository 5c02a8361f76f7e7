/**
 * The names an archive gives each of its images, as a load records them and as convert writes
 * them: one rule for both, so that a convert equals a load followed by a save.
 */
import type { ResolvedRoot } from "../archive/model.js";
import { formatReference, parseReference, parseRepository } from "../core/reference.js";
import type { ImageRecord } from "../store/image-records.js";

export interface ImageNames {
  record: ImageRecord;
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
export function namesByImage(roots: readonly ResolvedRoot[], records: readonly ImageRecord[], repository: string | undefined): Map<string, ImageNames> {
  const collected = new Map<string, { record: ImageRecord; tags: Set<string>; byDigest: Set<string> }>();
  roots.forEach((root, position) => {
    const record = records[position] as ImageRecord;
    const entry = collected.get(record.id) ?? { record, tags: new Set<string>(), byDigest: new Set<string>() };
    for (const name of root.names) entry.tags.add(name);
    for (const name of root.digestNames) entry.byDigest.add(name);
    if (root.bareTag !== undefined && repository !== undefined) entry.tags.add(formatReference({ ...parseRepository(repository), tag: root.bareTag }, "full"));
    collected.set(record.id, entry);
  });
  const result = new Map<string, ImageNames>();
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
