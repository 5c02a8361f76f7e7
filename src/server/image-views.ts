/**
 * The image documents of the Engine API (v1.41 shapes), built from the store: the list entries of
 * `GET /images/json`, `docker image inspect`'s document and `docker history`'s rows.
 *
 * An image whose record or blobs are not in the store yet (say, repositories.json copied before
 * the blobs) is listed with size 0 and a `lading.incomplete` label saying what is missing; every
 * other use of it fails with one clear 404 until the missing pieces arrive.
 */
import { configString, inspectConfig, inspectContainerConfig, inspectCreated, ZERO_TIME_SECONDS } from "../core/docker-image-fields.js";
import { invalid } from "../core/errors.js";
import { goTimeText } from "../core/rfc3339.js";
import type { ImageConfig } from "../core/schemas.js";
import type { ImageRecord, PlatformImage } from "../store/image-records.js";
import type { ReferenceEntry } from "../store/reference-store.js";
import type { Store } from "../store/store.js";
import { commentOf, createdTime, creationBounds, primaryImage, readConfig, resolveComplete } from "../ops/images.js";
import { addFilterArg, imageFiltersOf, matchingNames, referencesById, NO_BOUNDS, passesConfigFilters, type CreationBounds, type FilterArgs, type ImageFilters } from "../ops/image-filters.js";
import type { StoreListing } from "./store-listing.js";

export const INCOMPLETE_LABEL = "lading.incomplete";

export interface ImageListEntry {
  Id: string;
  ParentId: string;
  RepoTags: string[];
  RepoDigests: string[];
  Created: number;
  Size: number;
  VirtualSize: number;
  SharedSize: number;
  Labels: Record<string, string> | null;
  Containers: number;
}

/** Configs are content-addressed, so a parsed one never goes stale; the least recently used goes first. */
export class ConfigCache {
  private readonly byDigest = new Map<string, ImageConfig>();

  constructor(private readonly capacity = 16_384) {}

  async get(store: Store, image: PlatformImage): Promise<ImageConfig> {
    const digest = image.config.digest;
    const known = this.byDigest.get(digest);
    if (known) {
      this.byDigest.delete(digest);
      this.byDigest.set(digest, known);
      return known;
    }
    const config = await readConfig(store, image);
    if (this.byDigest.size >= this.capacity) this.byDigest.delete(this.byDigest.keys().next().value as string);
    this.byDigest.set(digest, config);
    return config;
  }
}

/**
 * Parses the `filters` query parameter, `{"reference":{"x":true}}` or the older
 * `{"reference":["x"]}`, into docker's filter arguments, and checks them as dockerd does.
 */
export function filtersFromQuery(text: string | null): ImageFilters {
  const args: FilterArgs = new Map();
  if (text !== null && text !== "") {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      throw invalid(`filters: invalid JSON: ${(error as Error).message}`, "filters");
    }
    if (typeof document !== "object" || document === null || Array.isArray(document)) throw invalid("filters: expected a JSON object", "filters");
    for (const [key, value] of Object.entries(document)) {
      if (Array.isArray(value)) for (const term of value) addFilterArg(args, key, String(term));
      else if (typeof value === "object" && value !== null) {
        args.set(key, args.get(key) ?? new Map());
        for (const [term, set] of Object.entries(value)) addFilterArg(args, key, term, set === true);
      } else throw invalid(`filters: the value of '${key}' must be an object or an array`, "filters");
    }
  }
  return imageFiltersOf(args);
}

/**
 * GET /images/json's body. Its inputs (the reference state, the records, their missing blobs)
 * come from caches that hand back the same objects while nothing changed on disk, so an unchanged
 * store answers with the body built last time for the same filters.
 */
export async function listImagesBody(store: Store, configs: ConfigCache, listing: StoreListing, filtersText: string): Promise<string> {
  const filters = filtersFromQuery(filtersText);
  const state = await store.references.state();
  const records = await listing.records(store);
  const missing = await listing.missingBlobs(store, records);
  return listing.remember(filtersText, [state, records, missing], async () => {
    const bounds = await creationBounds(store, filters, (image) => configs.get(store, image));
    const entries = await listImageEntries(store, configs, state.entries, records, missing, filters, bounds);
    return `${JSON.stringify(entries)}\n`;
  });
}

/** The list itself: one pass over the references (grouped by image) and over the records. */
export async function listImageEntries(
  store: Store,
  configs: ConfigCache,
  references: readonly ReferenceEntry[],
  records: readonly ImageRecord[],
  missing: ReadonlyMap<string, string | null>,
  filters: ImageFilters,
  bounds: CreationBounds = NO_BOUNDS,
): Promise<ImageListEntry[]> {
  const byId = referencesById(references);
  const namesOf = (entries: readonly { reference: string }[] = []): string[] => entries.map((entry) => entry.reference);
  const listed = await Promise.all(
    records.map(async (record) => {
      const names = matchingNames(namesOf(byId.get(record.id)), filters);
      if (names === undefined) return undefined;
      const listed = await listEntry(store, configs, record, names, missing.get(record.id) ?? undefined);
      return passesConfigFilters(filters, bounds, listed.config, listed.createdMs) ? listed : undefined;
    }),
  );
  const complete = listed.filter((item) => item !== undefined);
  // dockerd orders by Created in whole seconds, newest first (its ties come in map order: here by ID).
  complete.sort((a, b) => b.entry.Created - a.entry.Created || compareStrings(a.entry.Id, b.entry.Id));

  const recorded = new Set(records.map((record) => record.id));
  const unrecorded = [...byId].filter(([id]) => !recorded.has(id));
  const incomplete: ImageListEntry[] = [];
  for (const [id, refs] of unrecorded.sort(([a], [b]) => compareStrings(a, b))) {
    const names = matchingNames(namesOf(refs), filters);
    if (names === undefined || !passesConfigFilters(filters, bounds, undefined, undefined)) continue;
    incomplete.push(entryOf(id, names, ZERO_TIME_SECONDS, 0, { [INCOMPLETE_LABEL]: `missing image record ${id}` }));
  }
  return [...complete.map(({ entry }) => entry), ...incomplete];
}

interface ListedImage {
  entry: ImageListEntry;
  /** Undefined when the config is not in the store. */
  config: ImageConfig | undefined;
  /** Milliseconds since the epoch; undefined when the config has no (valid) `created`, or is missing. */
  createdMs: number | undefined;
}

/** One listed image. */
async function listEntry(
  store: Store,
  configs: ConfigCache,
  record: ImageRecord,
  names: { tags: string[]; digests: string[] },
  missing: string | undefined,
): Promise<ListedImage> {
  const image = shownImage(record);
  const config = image && (missing === undefined || (await store.content.has(image.config.digest))) ? await configs.get(store, image) : undefined;
  const createdMs = createdTime(config?.created ?? null);
  const createdSeconds = createdMs === undefined ? ZERO_TIME_SECONDS : Math.floor(createdMs / 1000);
  if (missing !== undefined) return { entry: entryOf(record.id, names, createdSeconds, 0, { [INCOMPLETE_LABEL]: `missing blob ${missing}` }), config, createdMs };
  // The size summarize() reports: the shown platform's config, manifest and layers.
  const size = image ? image.config.size + image.manifest.size + image.layers.reduce((sum, layer) => sum + layer.size, 0) : record.size;
  return { entry: entryOf(record.id, names, createdSeconds, size, config?.config?.Labels ?? null), config, createdMs };
}

/** primaryImage, remembered per record object (StoreListing keeps the objects of unchanged records). */
const shownImages = new WeakMap<ImageRecord, PlatformImage | null>();

function shownImage(record: ImageRecord): PlatformImage | undefined {
  let image = shownImages.get(record);
  if (image === undefined) shownImages.set(record, (image = primaryImage(record) ?? null));
  return image ?? undefined;
}

/** Code-unit order: hex IDs sort correctly, and without a collator's cost. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A list entry; docker shows an image without references as `<none>:<none>`. */
function entryOf(id: string, names: { tags: string[]; digests: string[] }, created: number, size: number, labels: Record<string, string> | null): ImageListEntry {
  const unnamed = names.tags.length === 0 && names.digests.length === 0;
  return {
    Id: id,
    ParentId: "",
    RepoTags: unnamed ? ["<none>:<none>"] : names.tags,
    RepoDigests: unnamed ? ["<none>@<none>"] : names.digests,
    Created: created,
    Size: size,
    VirtualSize: size,
    SharedSize: -1,
    Labels: labels,
    Containers: -1,
  };
}

/** `docker image inspect`'s document (Engine API v1.41). */
export async function inspectDocument(store: Store, configs: ConfigCache, name: string): Promise<Record<string, unknown>> {
  const { record, summary, image } = await resolveComplete(store, name);
  const config = await configs.get(store, image);
  return {
    Id: record.id,
    RepoTags: summary.repoTags,
    RepoDigests: summary.repoDigests,
    Parent: "",
    Comment: commentOf(config),
    Created: inspectCreated(config.created),
    Container: configString(config, "container"),
    ContainerConfig: inspectContainerConfig(config.container_config),
    DockerVersion: configString(config, "docker_version"),
    Author: config.author ?? "",
    Config: inspectConfig(config.config),
    Architecture: config.architecture,
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os,
    ...(configString(config, "os.version") ? { OsVersion: configString(config, "os.version") } : {}),
    Size: summary.size,
    VirtualSize: summary.size,
    GraphDriver: { Data: null, Name: "lading" }, // Go's struct order
    RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: goTimeText(record.loadedAt) ?? record.loadedAt },
  };
}

export interface HistoryRow {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

/** `docker history`'s rows, newest first: the top row carries the image ID and its tags. */
export async function historyRows(store: Store, configs: ConfigCache, name: string): Promise<HistoryRow[]> {
  const { record, summary, image } = await resolveComplete(store, name);
  const config = await configs.get(store, image);
  const history: NonNullable<ImageConfig["history"]> = config.history ?? image.layers.map(() => ({}));
  const rows: HistoryRow[] = [];
  let layer = 0;
  for (const step of history) {
    const size = step.empty_layer === true ? 0 : (image.layers[layer++]?.size ?? 0);
    const created = step.created === undefined ? 0 : Math.floor(Date.parse(step.created) / 1000);
    rows.unshift({
      Id: "<missing>",
      Created: Number.isFinite(created) ? created : 0,
      CreatedBy: step.created_by ?? "",
      Tags: null,
      Size: size,
      Comment: step.comment ?? "",
    });
  }
  const top = rows[0];
  if (top) {
    top.Id = record.id;
    top.Tags = summary.repoTags;
  }
  return rows;
}
