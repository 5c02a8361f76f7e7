/**
 * The image documents of the Engine API (v1.41 shapes), built from the store: the list entries of
 * `GET /images/json`, `docker image inspect`'s document and `docker history`'s rows.
 *
 * An image whose record or blobs are not in the store yet (say, repositories.json copied before
 * the blobs) is listed with size 0 and a `lading.incomplete` label saying what is missing; every
 * other use of it fails with one clear 404 until the missing pieces arrive.
 */
import { configString, inspectConfig, inspectContainerConfig, ZERO_TIME_SECONDS, ZERO_TIME_TEXT } from "../core/docker-image-fields.js";
import { invalid, notFound } from "../core/errors.js";
import { isValidGlob } from "../core/glob.js";
import type { ImageConfig } from "../core/schemas.js";
import type { ImageRecord, PlatformImage } from "../store/image-records.js";
import type { ReferenceEntry } from "../store/reference-store.js";
import type { Store } from "../store/store.js";
import { commentOf, createdTime, primaryImage, readConfig, referenceMatchesPattern, summarize, type ImageSummary } from "../ops/images.js";
import { lookupReference, resolveImage } from "../ops/resolve-image.js";
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

/** Parsed `filters` of GET /images/json: the ones lading can apply (dockerd 20.10's set). */
export interface ImageFilters {
  reference: string[];
  dangling: boolean | undefined;
  /** `KEY` or `KEY=VALUE`: the config's Labels must have every one. */
  label: string[];
  /** Images (names or IDs) that a listed image must be older than. */
  before: string[];
  /** Images (names or IDs) that a listed image must be newer than. */
  since: string[];
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

/** Parses the `filters` query parameter: `{"reference":{"x":true}}` or the older `{"reference":["x"]}`. */
export function parseImageFilters(text: string | null): ImageFilters {
  const filters: ImageFilters = { reference: [], dangling: undefined, label: [], before: [], since: [] };
  if (text === null || text === "") return filters;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw invalid(`filters: invalid JSON: ${(error as Error).message}`, "filters");
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) throw invalid("filters: expected a JSON object", "filters");
  for (const [key, value] of Object.entries(document)) {
    const terms = Array.isArray(value) ? value.map(String) : typeof value === "object" && value !== null ? Object.keys(value) : [];
    if (key === "reference") {
      const malformed = terms.find((term) => !isValidGlob(term));
      if (malformed !== undefined) throw invalid(`filters: invalid reference pattern ${JSON.stringify(malformed)}`, "filters");
    }
    if (key === "reference" || key === "label" || key === "before" || key === "since") filters[key].push(...terms);
    else if (key === "dangling") {
      const term = terms[0];
      if (terms.length !== 1 || (term !== "true" && term !== "false" && term !== "1" && term !== "0")) {
        throw invalid(`filters: invalid dangling filter ${JSON.stringify(terms)} (want true or false)`, "filters");
      }
      filters.dangling = term === "true" || term === "1";
    } else throw invalid(`filters: lading serve does not support the image filter '${key}'`, "filters");
  }
  return filters;
}

/**
 * GET /images/json's body. Its inputs (the reference state, the records, their missing blobs)
 * come from caches that hand back the same objects while nothing changed on disk, so an unchanged
 * store answers with the body built last time for the same filters.
 */
export async function listImagesBody(store: Store, configs: ConfigCache, listing: StoreListing, filtersText: string): Promise<string> {
  const filters = parseImageFilters(filtersText);
  const state = await store.references.state();
  const records = await listing.records(store);
  const missing = await listing.missingBlobs(store, records);
  return listing.remember(filtersText, [state, records, missing], async () => {
    const bounds = await creationBounds(store, configs, filters);
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
  const referencesById = new Map<string, string[]>();
  for (const { reference, id } of references) {
    const known = referencesById.get(id);
    if (known) known.push(reference);
    else referencesById.set(id, [reference]);
  }
  const listed = await Promise.all(
    records.map(async (record) => {
      const names = matchingNames(referencesById.get(record.id) ?? [], filters);
      if (names === undefined) return undefined;
      const listed = await listEntry(store, configs, record, names, missing.get(record.id) ?? undefined);
      return passesConfigFilters(filters, bounds, listed) ? listed : undefined;
    }),
  );
  const complete = listed.filter((item) => item !== undefined);
  // dockerd orders by Created in whole seconds, newest first (its ties come in map order: here by ID).
  complete.sort((a, b) => b.entry.Created - a.entry.Created || compareStrings(a.entry.Id, b.entry.Id));

  const recorded = new Set(records.map((record) => record.id));
  const unrecorded = [...referencesById].filter(([id]) => !recorded.has(id));
  const incomplete: ImageListEntry[] = [];
  for (const [id, refs] of unrecorded.sort(([a], [b]) => compareStrings(a, b))) {
    const names = matchingNames(refs, filters);
    if (names === undefined || !passesConfigFilters(filters, bounds, { config: undefined, createdMs: undefined })) continue;
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

/** The creation times (ms; Go's zero time for none) that `before` and `since` name: a listed image must be older than every `before` and newer than every `since`. */
export interface CreationBounds {
  before: number[];
  since: number[];
}

const NO_BOUNDS: CreationBounds = { before: [], since: [] };
const ZERO_TIME_MS = ZERO_TIME_SECONDS * 1000;

/** Resolves the images `before` and `since` name, as dockerd does: an unknown one fails the whole list (404). */
async function creationBounds(store: Store, configs: ConfigCache, filters: ImageFilters): Promise<CreationBounds> {
  const createdOf = async (name: string): Promise<number> => {
    const { image } = await resolveComplete(store, name);
    return createdTime((await configs.get(store, image)).created ?? null) ?? ZERO_TIME_MS;
  };
  return { before: await Promise.all(filters.before.map(createdOf)), since: await Promise.all(filters.since.map(createdOf)) };
}

/**
 * dockerd 20.10's label, before and since filters. An image whose config is not in the store
 * (incomplete) passes none of them: what they test is unknown.
 */
function passesConfigFilters(filters: ImageFilters, bounds: CreationBounds, listed: Pick<ListedImage, "config" | "createdMs">): boolean {
  if (filters.label.length === 0 && bounds.before.length === 0 && bounds.since.length === 0) return true;
  if (listed.config === undefined) return false;
  const created = listed.createdMs ?? ZERO_TIME_MS;
  if (bounds.before.some((limit) => created >= limit) || bounds.since.some((limit) => created <= limit)) return false;
  return filters.label.length === 0 || labelsMatch(filters.label, listed.config.config?.Labels ?? null);
}

/** moby's Args.MatchKVList: every term is a key the labels have, with the value given if any. */
function labelsMatch(terms: readonly string[], labels: Record<string, string> | null): boolean {
  if (labels === null || Object.keys(labels).length === 0) return false;
  return terms.every((term) => {
    const equals = term.indexOf("=");
    const key = equals === -1 ? term : term.slice(0, equals);
    if (!Object.hasOwn(labels, key)) return false;
    return equals === -1 || labels[key] === term.slice(equals + 1);
  });
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

/**
 * The references an entry shows, after the filters; undefined when the image is filtered out.
 * Docker shows an image without references as `<none>:<none>`.
 */
function matchingNames(references: string[], filters: ImageFilters): { tags: string[]; digests: string[] } | undefined {
  const shown = filters.reference.length === 0 ? references : references.filter((ref) => filters.reference.some((pattern) => referenceMatchesPattern(pattern, ref)));
  if (filters.reference.length > 0 && shown.length === 0) return undefined;
  const tags = shown.filter((ref) => !ref.includes("@"));
  if (filters.dangling === true && tags.length > 0) return undefined;
  if (filters.dangling === false && tags.length === 0) return undefined;
  if (shown.length === 0) return { tags: ["<none>:<none>"], digests: ["<none>@<none>"] };
  return { tags, digests: shown.filter((ref) => ref.includes("@")) };
}

function entryOf(id: string, names: { tags: string[]; digests: string[] }, created: number, size: number, labels: Record<string, string> | null): ImageListEntry {
  return {
    Id: id,
    ParentId: "",
    RepoTags: names.tags,
    RepoDigests: names.digests,
    Created: created,
    Size: size,
    VirtualSize: size,
    SharedSize: -1,
    Labels: labels,
    Containers: -1,
  };
}

/**
 * The image a name or ID stands for, with every blob present. A reference whose record or blobs
 * are missing gives `image NAME is incomplete: ...` (404).
 */
export async function resolveComplete(store: Store, name: string): Promise<{ record: ImageRecord; summary: ImageSummary; image: PlatformImage }> {
  const id = await lookupReference(store, name);
  if (id !== undefined && !(await store.records.get(id))) throw notFound(`image ${name} is incomplete: image record ${id} is missing`, name);
  const record = await resolveImage(store, name);
  const summary = await summarize(store, record, await store.references.references(record.id));
  const missing = summary.incomplete[0];
  if (missing !== undefined) throw notFound(`image ${name} is incomplete: blob ${missing} is missing`, name);
  const image = primaryImage(record);
  if (!image) throw notFound(`image ${name} holds no platform image in this store`, name);
  return { record, summary, image };
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
    Created: config.created ?? ZERO_TIME_TEXT,
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
    GraphDriver: { Name: "lading", Data: null },
    RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: record.loadedAt },
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
