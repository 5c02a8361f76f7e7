/**
 * verify --roundtrip's view of what index.json says beyond each root's identity and names (see
 * index-entry-fields.ts): each field that one side's entries or index.json give and the other's do not.
 */
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { entriesOfRoots, entryFields, indexFields, shownField } from "./index-entry-fields.js";

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
    ...missingFrom(before, after).map(({ listedAt, field, value }) => `${listedAt}: ${shownField(field, value)} is not in the saved archive`),
    ...missingFrom(after, before).map(({ listedAt, field, value }) => `${listedAt} of the saved archive: ${shownField(field, value)} is not in the input`),
  ];
}

/** index.json's own annotations and fields that the other side's index.json does not have. */
export function compareIndexFields(input: ArchiveGraph, output: ArchiveGraph): string[] {
  const before = [{ listedAt: "index.json", fields: indexFields(input) }];
  const after = [{ listedAt: "index.json", fields: indexFields(output) }];
  return [
    ...missingFrom(before, after).map(({ field, value }) => `index.json: ${shownField(field, value)} is not in the saved archive`),
    ...missingFrom(after, before).map(({ field, value }) => `index.json of the saved archive: ${shownField(field, value)} is not in the input`),
  ];
}

function missingFrom(entries: readonly EntryFields[], others: readonly EntryFields[]): { listedAt: string; field: string; value: string }[] {
  const kept = (field: string, value: string): boolean => others.some((other) => other.fields.get(field) === value);
  return entries.flatMap(({ listedAt, fields }) => [...fields].filter(([field, value]) => !kept(field, value)).map(([field, value]) => ({ listedAt, field, value })));
}

function entriesOf(graph: ArchiveGraph, roots: readonly ResolvedRoot[]): EntryFields[] {
  return entriesOfRoots(graph, roots).map((entry) => ({ listedAt: entry.listedAt, fields: entryFields(entry) }));
}
