/**
 * What a load says of the index.json fields the store does not keep (index-entry-fields.ts): one
 * line per field of index.json's own, then per field of each entry of a root the load stores, in
 * index.json's order; at most DROPPED_FIELD_LINES of them, then one line counting the rest.
 */
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { entriesOfRoots, entryFields, indexFields, shownField } from "./index-entry-fields.js";

/** An index.json of thousands of annotated entries would otherwise bury the load's other lines. */
export const DROPPED_FIELD_LINES = 20;

export function droppedIndexFieldWarnings(graph: ArchiveGraph, storedRoots: readonly ResolvedRoot[]): string[] {
  const lines = [...indexFields(graph)].map(([field, value]) => `index.json: ${shownField(field, value)} is not kept by the store (saving writes index.json without it)`);
  for (const entry of entriesOfRoots(graph, storedRoots)) {
    for (const [field, value] of entryFields(entry)) {
      lines.push(`${entry.listedAt}: ${shownField(field, value)} is not kept by the store (saving writes the entry without it)`);
    }
  }
  if (lines.length <= DROPPED_FIELD_LINES) return lines;
  const rest = lines.length - DROPPED_FIELD_LINES;
  return [...lines.slice(0, DROPPED_FIELD_LINES), `... and ${rest} more ${rest === 1 ? "field" : "fields"} not kept`];
}
