/**
 * What a load or a convert says of the index.json fields it does not carry over
 * (index-entry-fields.ts): one line per field of index.json's own, then per field of each entry of
 * a root it stores or writes, in index.json's order; at most DROPPED_FIELD_LINES of them, then one
 * line counting the rest.
 */
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { entriesOfRoots, entryFields, indexFields, shownField } from "./index-entry-fields.js";

/** An index.json of thousands of annotated entries would otherwise bury the command's other lines. */
export const DROPPED_FIELD_LINES = 20;

/** How a command says that a field is dropped: after a field of index.json's own, of an entry, and after the count of the rest. */
export interface DroppedFieldWords {
  index: string;
  entry: string;
  rest: string;
}

export const LOAD_DROPPED_WORDS: DroppedFieldWords = {
  index: "is not kept by the store (saving writes index.json without it)",
  entry: "is not kept by the store (saving writes the entry without it)",
  rest: "not kept",
};

export const CONVERT_DROPPED_WORDS: DroppedFieldWords = {
  index: "is not carried into the converted archive",
  entry: "is not carried into the converted archive",
  rest: "not carried",
};

/** `roots`: those the command stores or writes; the fields of other roots' entries are not said. */
export function droppedIndexFieldWarnings(graph: ArchiveGraph, roots: readonly ResolvedRoot[], words: DroppedFieldWords): string[] {
  const lines = [...indexFields(graph)].map(([field, value]) => `index.json: ${shownField(field, value)} ${words.index}`);
  for (const entry of entriesOfRoots(graph, roots)) {
    for (const [field, value] of entryFields(entry)) lines.push(`${entry.listedAt}: ${shownField(field, value)} ${words.entry}`);
  }
  if (lines.length <= DROPPED_FIELD_LINES) return lines;
  const rest = lines.length - DROPPED_FIELD_LINES;
  return [...lines.slice(0, DROPPED_FIELD_LINES), `... and ${rest} more ${rest === 1 ? "field" : "fields"} ${words.rest}`];
}
