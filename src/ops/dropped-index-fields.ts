/**
 * What a load says of the index.json fields the store does not keep (index-entry-fields.ts): one
 * line per field of index.json's own, then per field of each entry of a root the load stores, in
 * index.json's order; at most DROPPED_FIELD_LINES of them, then one line counting the rest.
 */
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import type { Descriptor } from "../core/schemas.js";
import { entriesOfRoots, entryFields, indexFields } from "./index-entry-fields.js";

/** An index.json of thousands of annotated entries would otherwise bury the load's other lines. */
export const DROPPED_FIELD_LINES = 20;

export function droppedIndexFieldWarnings(graph: ArchiveGraph, storedRoots: readonly ResolvedRoot[]): string[] {
  const lines = [...indexFields(graph)].map(([field, value]) => `index.json: ${field} ${value} is not kept by the store (saving writes index.json without it)`);
  for (const { listedAt, descriptor, root } of entriesOfRoots(graph, storedRoots)) {
    for (const [field, value] of entryFields(descriptor)) {
      if (field === "platform" && platformIsItsConfigs(descriptor, root)) continue;
      lines.push(`${listedAt}: ${field} ${value} is not kept by the store (saving writes the entry without it)`);
    }
  }
  if (lines.length <= DROPPED_FIELD_LINES) return lines;
  const rest = lines.length - DROPPED_FIELD_LINES;
  return [...lines.slice(0, DROPPED_FIELD_LINES), `... and ${rest} more ${rest === 1 ? "field" : "fields"} not kept`];
}

/** The fields of Docker's `image.Platform()`, each left out when empty (Go's omitempty). */
const CONFIG_PLATFORM_FIELDS: readonly string[] = ["architecture", "os", "os.version", "os.features", "variant"];

/**
 * Docker 25+ `docker save` gives each image manifest's entry the platform of the image's config:
 * the config, which the store keeps byte for byte, says all of it, so nothing is lost. A platform
 * that says more or otherwise (the index's word, which the load goes by) is the entry's own.
 */
function platformIsItsConfigs(descriptor: Descriptor, root: ResolvedRoot): boolean {
  const image = root.kind === "manifest" ? root.images[0] : undefined;
  if (image === undefined || descriptor.platform === undefined || descriptor.platform === null) return false;
  const platform: Record<string, unknown> = descriptor.platform;
  const config: Record<string, unknown> = image.config.parsed;
  const sayNothingElse = Object.keys(platform).every((key) => CONFIG_PLATFORM_FIELDS.includes(key) || platform[key] === undefined);
  return sayNothingElse && CONFIG_PLATFORM_FIELDS.every((key) => givenValue(platform[key]) === givenValue(config[key]));
}

/** A field's value as JSON, or undefined where Go's omitempty would leave it out. */
function givenValue(value: unknown): string | undefined {
  if (value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0)) return undefined;
  return JSON.stringify(value);
}
