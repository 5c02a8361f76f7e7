/**
 * The image documents of the Engine API (v1.41 shapes), built from the store: the list entries of
 * `GET /images/json`, `docker image inspect`'s document and `docker history`'s rows.
 *
 * An image whose record or blobs are not in the store yet (say, repositories.json copied before
 * the blobs) is listed with size 0 and a `lading.incomplete` label saying what is missing; every
 * other use of it fails with one clear 404 until the missing pieces arrive.
 */
import { invalid, notFound } from "../core/errors.js";
import type { ImageConfig } from "../core/schemas.js";
import type { ImageRecord, PlatformImage } from "../store/image-records.js";
import type { ReferenceEntry } from "../store/reference-store.js";
import type { Store } from "../store/store.js";
import { primaryImage, readConfig, summarize, type ImageSummary } from "../ops/images.js";
import { lookupReference, resolveImage } from "../ops/resolve-image.js";

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

/** Parsed `filters` of GET /images/json: the ones lading can apply. */
export interface ImageFilters {
  reference: string[];
  dangling: boolean | undefined;
}

const EMPTY_CONTAINER_CONFIG = {
  Hostname: "",
  Domainname: "",
  User: "",
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: "",
  Volumes: null,
  WorkingDir: "",
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

/** Configs are content-addressed, so a parsed one never goes stale. */
export class ConfigCache {
  private readonly byDigest = new Map<string, ImageConfig>();

  constructor(private readonly capacity = 4096) {}

  async get(store: Store, image: PlatformImage): Promise<ImageConfig> {
    const known = this.byDigest.get(image.config.digest);
    if (known) return known;
    const config = await readConfig(store, image);
    if (this.byDigest.size >= this.capacity) this.byDigest.clear();
    this.byDigest.set(image.config.digest, config);
    return config;
  }
}

/** Parses the `filters` query parameter: `{"reference":{"x":true}}` or the older `{"reference":["x"]}`. */
export function parseImageFilters(text: string | null): ImageFilters {
  const filters: ImageFilters = { reference: [], dangling: undefined };
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
    if (key === "reference") filters.reference.push(...terms);
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

export async function listImageEntries(store: Store, configs: ConfigCache, filters: ImageFilters): Promise<ImageListEntry[]> {
  const references = await store.references.references();
  const records = await store.records.list();
  const recorded = new Set(records.map((record) => record.id));
  const complete: { entry: ImageListEntry; created: string }[] = [];
  for (const record of records) {
    const summary = await summarize(store, record, references);
    const entry = await listEntry(store, configs, record, summary, filters);
    if (entry) complete.push({ entry, created: summary.created ?? "" });
  }
  complete.sort((a, b) => b.created.localeCompare(a.created) || a.entry.Id.localeCompare(b.entry.Id));

  const unrecorded = new Map<string, ReferenceEntry[]>();
  for (const reference of references) {
    if (!recorded.has(reference.id)) unrecorded.set(reference.id, [...(unrecorded.get(reference.id) ?? []), reference]);
  }
  const incomplete: ImageListEntry[] = [];
  for (const [id, refs] of [...unrecorded].sort(([a], [b]) => a.localeCompare(b))) {
    const names = matchingNames(refs.map((ref) => ref.reference), filters);
    if (names === undefined) continue;
    incomplete.push(entryOf(id, names, 0, 0, { [INCOMPLETE_LABEL]: `missing image record ${id}` }));
  }
  return [...complete.map(({ entry }) => entry), ...incomplete];
}

async function listEntry(
  store: Store,
  configs: ConfigCache,
  record: ImageRecord,
  summary: ImageSummary,
  filters: ImageFilters,
): Promise<ImageListEntry | undefined> {
  const names = matchingNames([...summary.repoTags, ...summary.repoDigests], filters);
  if (names === undefined) return undefined;
  const created = summary.created === null ? 0 : Math.floor(Date.parse(summary.created) / 1000);
  const missing = summary.incomplete[0];
  if (missing !== undefined) return entryOf(record.id, names, created, 0, { [INCOMPLETE_LABEL]: `missing blob ${missing}` });
  const image = primaryImage(record);
  const labels = image ? ((await configs.get(store, image)).config?.Labels ?? null) : null;
  return entryOf(record.id, names, Number.isFinite(created) ? created : 0, summary.size, labels);
}

/**
 * The references an entry shows, after the filters; undefined when the image is filtered out.
 * Docker shows an image without references as `<none>:<none>`.
 */
function matchingNames(references: string[], filters: ImageFilters): { tags: string[]; digests: string[] } | undefined {
  const shown = filters.reference.length === 0 ? references : references.filter((ref) => filters.reference.some((pattern) => referenceMatches(pattern, ref)));
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

/** Docker's reference filter: a path.Match glob against the familiar reference, or its repository. */
export function referenceMatches(pattern: string, reference: string): boolean {
  const glob = globToRegExp(pattern);
  if (glob.test(reference)) return true;
  const repository = reference.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
  return glob.test(repository);
}

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) throw invalid(`filters: invalid reference pattern ${JSON.stringify(pattern)}`, "filters");
      const body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      source += `[${body.startsWith("^") ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else if (c === "\\" && i + 1 < pattern.length) source += escapeRegExp(pattern[++i] as string);
    else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
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
    Comment: stringField(config, "comment"),
    Created: config.created ?? "0001-01-01T00:00:00Z",
    Container: stringField(config, "container"),
    ContainerConfig: config.container_config ?? EMPTY_CONTAINER_CONFIG,
    DockerVersion: stringField(config, "docker_version"),
    Author: config.author ?? "",
    Config: config.config ?? null,
    Architecture: config.architecture,
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os,
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

function stringField(config: ImageConfig, key: string): string {
  const value = (config as Record<string, unknown>)[key];
  return typeof value === "string" ? value : "";
}
