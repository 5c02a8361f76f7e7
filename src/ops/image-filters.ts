/**
 * `docker images --filter` as dockerd 20.10 applies it (daemon/images/images.go), for both
 * `lading images -f` and `GET /images/json?filters=` of `lading serve`.
 *
 * Keys: `reference` (a glob; an image shows the references any pattern matches), `dangling`,
 * `label` (`KEY` or `KEY=VALUE`; the config's Labels must have every one), `before` and `since`
 * (an image older than every `before` and newer than every `since`). Different keys must all pass.
 */
import { ZERO_TIME_SECONDS } from "../core/docker-image-fields.js";
import { usage } from "../core/errors.js";
import { globMatch, isValidGlob } from "../core/glob.js";
import { familiarName, parseReference } from "../core/reference.js";
import type { ImageConfig } from "../core/schemas.js";
import { wrongDigestOf, type ReferenceEntry } from "../store/reference-store.js";

export interface ImageFilters {
  /** Glob patterns (Go's path.Match) on the familiar reference or its repository. */
  reference: string[];
  /** true: only images without a tag; false: only images with a reference; undefined: both. */
  dangling: boolean | undefined;
  /** `KEY` or `KEY=VALUE`: the config's Labels must have every one. */
  label: string[];
  /** Images (names or IDs) that a listed image must be older than. */
  before: string[];
  /** Images (names or IDs) that a listed image must be newer than. */
  since: string[];
}

export const NO_IMAGE_FILTERS: ImageFilters = { reference: [], dangling: undefined, label: [], before: [], since: [] };

/**
 * docker's filters.Args: each key's values, in the order given, each with whether it is set (the
 * API's `{"dangling":{"true":false}}` names a value that is not).
 */
export type FilterArgs = Map<string, Map<string, boolean>>;

const IMAGE_FILTER_KEYS = new Set(["dangling", "label", "before", "since", "reference"]);

export function addFilterArg(args: FilterArgs, key: string, value: string, set = true): void {
  const values = args.get(key) ?? new Map<string, boolean>();
  values.set(value, set);
  args.set(key, values);
}

/**
 * Validates the arguments in dockerd's words: `Invalid filter 'foo'` for a key it does not know,
 * `Invalid filter 'dangling=[maybe]'` for a dangling value that is neither true nor false. A
 * malformed pattern, which dockerd reports only once it meets a reference, is refused up front.
 */
export function imageFiltersOf(args: FilterArgs): ImageFilters {
  for (const key of args.keys()) if (!IMAGE_FILTER_KEYS.has(key)) throw usage(`Invalid filter '${key}'`);
  const values = (key: string): string[] => [...(args.get(key)?.keys() ?? [])];
  const reference = values("reference");
  const malformed = reference.find((pattern) => !isValidGlob(pattern));
  if (malformed !== undefined) throw usage(`invalid reference pattern ${JSON.stringify(malformed)}: syntax error in pattern`);
  return { reference, dangling: danglingOf(args.get("dangling")), label: values("label"), before: values("before"), since: values("since") };
}

/** dockerd's test: `true` among the values wins, else `false` must be among them. */
function danglingOf(values: ReadonlyMap<string, boolean> | undefined): boolean | undefined {
  if (values === undefined) return undefined;
  if (values.get("true") === true) return true;
  if (values.get("false") === true) return false;
  throw usage(`Invalid filter 'dangling=[${[...values.keys()].join(" ")}]'`);
}

/**
 * The filters of `lading images [PATTERN] -f KEY=VALUE...`, read as the docker CLI reads its
 * `--filter` values: the key trimmed and lower-cased, the value trimmed, an empty flag ignored;
 * PATTERN is one more `reference`.
 */
export function parseImageFilters(flags: readonly string[], pattern?: string): ImageFilters {
  const args: FilterArgs = new Map();
  for (const flag of flags) {
    if (flag === "") continue;
    const equals = flag.indexOf("=");
    if (equals === -1) throw usage(`invalid argument ${JSON.stringify(flag)} for "-f, --filter" flag: bad format of filter (expected name=value)`);
    addFilterArg(args, flag.slice(0, equals).trim().toLowerCase(), flag.slice(equals + 1).trim());
  }
  if (pattern !== undefined) addFilterArg(args, "reference", pattern);
  return imageFiltersOf(args);
}

/** The filter of `lading images PATTERN`. */
export function parseImageFilter(pattern: string): ImageFilters {
  return parseImageFilters([], pattern);
}

/**
 * moby's FamiliarMatch: the pattern matches the familiar reference (`fixture/app:1.0`,
 * `fixture/app@sha256:…`), or its repository (`fixture/app`). A full name (`docker.io/x`) matches
 * nothing; a pattern with a tag and a digest names no stored reference, since Docker stores a
 * digest reference without its tag.
 */
export function referenceMatchesPattern(pattern: string, reference: string): boolean {
  return globMatch(pattern, reference) || globMatch(pattern, familiarName(parseReference(reference)));
}

/**
 * The reference entries grouped by the image ID they name, each group in the entries' order; a
 * reference by a digest that is not its image's (see wrongDigestOf) is left out, as no image has it.
 */
export function referencesById<T extends ReferenceEntry>(entries: readonly T[]): Map<string, T[]> {
  const byId = new Map<string, T[]>();
  for (const entry of entries) {
    if (wrongDigestOf(entry) !== undefined) continue;
    const known = byId.get(entry.id);
    if (known) known.push(entry);
    else byId.set(entry.id, [entry]);
  }
  return byId;
}

/**
 * The references an image shows after the reference and dangling filters (empty lists for an
 * image with none, which docker shows as `<none>`); undefined when the image is filtered out.
 * Dangling is dockerd's: an image that keeps no tag (digest references do not count); with
 * `dangling=false` an image that keeps no reference at all is left out.
 */
export function matchingNames(references: readonly string[], filters: ImageFilters): { tags: string[]; digests: string[] } | undefined {
  const shown = filters.reference.length === 0 ? references : references.filter((ref) => filters.reference.some((pattern) => referenceMatchesPattern(pattern, ref)));
  if (filters.reference.length > 0 && shown.length === 0) return undefined;
  const tags = shown.filter((ref) => !ref.includes("@"));
  if (filters.dangling === true && tags.length > 0) return undefined;
  if (filters.dangling === false && shown.length === 0) return undefined;
  return { tags, digests: shown.filter((ref) => ref.includes("@")) };
}

/** The creation times (ms; Go's zero time for none) that `before` and `since` name. */
export interface CreationBounds {
  before: number[];
  since: number[];
}

export const NO_BOUNDS: CreationBounds = { before: [], since: [] };

/** Go's zero time in milliseconds since the epoch: the creation time of an image without one. */
export const ZERO_TIME_MS = ZERO_TIME_SECONDS * 1000;

/** Whether the filters test an image's config or creation time. */
export function needsConfig(filters: ImageFilters): boolean {
  return filters.label.length > 0 || filters.before.length > 0 || filters.since.length > 0;
}

/**
 * dockerd 20.10's label, before and since filters. An image whose config is not in the store
 * (incomplete) passes none of them: what they test is unknown.
 */
export function passesConfigFilters(filters: ImageFilters, bounds: CreationBounds, config: ImageConfig | undefined, createdMs: number | undefined): boolean {
  if (!needsConfig(filters)) return true;
  if (config === undefined) return false;
  const created = createdMs ?? ZERO_TIME_MS;
  if (bounds.before.some((limit) => created >= limit) || bounds.since.some((limit) => created <= limit)) return false;
  return filters.label.length === 0 || labelsMatch(filters.label, config.config?.Labels ?? null);
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
