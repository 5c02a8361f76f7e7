/**
 * What index.json says beyond each root's identity and names: an entry's `platform`,
 * `artifactType`, `urls`, annotations other than the names, any other field, and index.json's own
 * annotations and fields. lading's store records none of it (nor does skopeo copy keep it), so a
 * trip through the store drops it; verify --roundtrip names each field the saved archive lacks.
 */
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SYNTHESIZED } from "../archive/names.js";

/** Compared elsewhere: as the root's digest, media type and size. */
const ENTRY_IDENTITY: ReadonlySet<string> = new Set(["mediaType", "digest", "size"]);
/** Compared elsewhere: as the root's names, bare tags and origin. */
const NAME_ANNOTATIONS: ReadonlySet<string> = new Set([ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SYNTHESIZED]);
/** index.json's own structure, which every layout writes its own way. */
const INDEX_STRUCTURE: ReadonlySet<string> = new Set(["schemaVersion", "mediaType", "manifests"]);
const NO_ANNOTATIONS: ReadonlySet<string> = new Set();

/** One entry's fields: `platform`, `annotations["org.example.note"]`, ... to the value's JSON. */
interface EntryFields {
  listedAt: string;
  fields: Map<string, string>;
}

/**
 * Every field an index.json entry of the input gives a root that no entry of the saved root gives
 * with the same value, and the reverse, each naming the entry and the field.
 */
export function compareEntryFields(input: ArchiveGraph, inputRoots: readonly ResolvedRoot[], output: ArchiveGraph, savedRoots: readonly ResolvedRoot[]): string[] {
  const before = entriesOf(input, inputRoots);
  const after = entriesOf(output, savedRoots);
  return [
    ...missingFrom(before, after).map(({ listedAt, field, value }) => `${listedAt}: ${field} ${value} is not in the saved archive`),
    ...missingFrom(after, before).map(({ listedAt, field, value }) => `${listedAt} of the saved archive: ${field} ${value} is not in the input`),
  ];
}

/** index.json's own annotations and fields that the other side's index.json does not have. */
export function compareIndexFields(input: ArchiveGraph, output: ArchiveGraph): string[] {
  const before = [{ listedAt: "index.json", fields: indexFields(input) }];
  const after = [{ listedAt: "index.json", fields: indexFields(output) }];
  return [
    ...missingFrom(before, after).map(({ field, value }) => `index.json: ${field} ${value} is not in the saved archive`),
    ...missingFrom(after, before).map(({ field, value }) => `index.json of the saved archive: ${field} ${value} is not in the input`),
  ];
}

function missingFrom(entries: readonly EntryFields[], others: readonly EntryFields[]): { listedAt: string; field: string; value: string }[] {
  const kept = (field: string, value: string): boolean => others.some((other) => other.fields.get(field) === value);
  return entries.flatMap(({ listedAt, fields }) => [...fields].filter(([field, value]) => !kept(field, value)).map(([field, value]) => ({ listedAt, field, value })));
}

function entriesOf(graph: ArchiveGraph, roots: readonly ResolvedRoot[]): EntryFields[] {
  return graph.entries.flatMap((entry) =>
    entry.root !== undefined && entry.descriptor !== undefined && roots.includes(entry.root)
      ? [{ listedAt: entry.listedAt, fields: fieldsOf(entry.descriptor, ENTRY_IDENTITY, NAME_ANNOTATIONS) }]
      : [],
  );
}

function indexFields(graph: ArchiveGraph): Map<string, string> {
  return graph.layoutIndex ? fieldsOf(graph.layoutIndex, INDEX_STRUCTURE, NO_ANNOTATIONS) : new Map();
}

/** Each field but the skipped ones, as JSON; annotations one by one. A null field is no field. */
function fieldsOf(object: Record<string, unknown>, skipped: ReadonlySet<string>, skippedAnnotations: ReadonlySet<string>): Map<string, string> {
  const fields = new Map<string, string>();
  for (const [key, value] of Object.entries(object)) {
    if (skipped.has(key) || value === undefined || value === null) continue;
    if (key !== "annotations") {
      fields.set(key, JSON.stringify(value));
      continue;
    }
    // The schemas read annotations as a map of strings.
    for (const [name, text] of Object.entries(value as Record<string, string>)) {
      if (!skippedAnnotations.has(name)) fields.set(`annotations[${JSON.stringify(name)}]`, JSON.stringify(text));
    }
  }
  return fields;
}
