/**
 * `--format` of `images` and `inspect`: docker's Go templates (core/go-template.ts) run on what
 * docker's CLI runs them on. For `images`, docker's image format context (docker/cli
 * formatter.imageContext: `.ID`, `.Repository`, `.Tag`, `.Digest`, `.CreatedSince`, `.CreatedAt`,
 * `.Size`, `.SharedSize`, `.UniqueSize`, `.VirtualSize`, `.Containers`), one per row as docker
 * makes its rows, `table` formats with docker's headers and column alignment, and docker's `table`,
 * `raw` and `json` shorthands. For `inspect`, each document `lading inspect` prints, read as
 * docker's CLI reads an inspect document (objects are structs, whose missing fields fail the
 * template; labels and other maps give `<no value>` for a missing key).
 */
import { ZERO_TIME_SECONDS } from "../core/docker-image-fields.js";
import { invalid, usage, type LadingError } from "../core/errors.js";
import { GoTemplate, TemplateExecError, TemplateParseError } from "../core/go-template.js";
import { formatFloat, goJson, GoFloat, GoInt, GoMap, GoSlice, GoStruct, type GoValue } from "../core/go-values.js";
import { familiarName, parseReference } from "../core/reference.js";
import { createdTime, type ImageSummary } from "../ops/images.js";
import { humanDuration, shortId } from "./output.js";
import { tabulate } from "./tab-writer.js";

const TABLE = "table";
const DEFAULT_TABLE = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";
const DEFAULT_TABLE_WITH_DIGEST = "table {{.Repository}}\\t{{.Tag}}\\t{{.Digest}}\\t{{.ID}}\\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\\t{{.Size}}";
const RAW = "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
const RAW_WITH_DIGEST = "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\nimage_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";

/** docker's image table headers (formatter.newImageContext). */
const IMAGE_HEADERS: Record<string, string> = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

export interface ImageFormatOptions {
  quiet: boolean;
  digests: boolean;
  trunc: boolean;
  /** The time CreatedSince counts from, in milliseconds since the epoch. */
  now?: number;
}

/** The template a `--format` value stands for (docker's NewImageFormat). */
function imageFormat(source: string, options: ImageFormatOptions): string {
  if (source === TABLE) return options.quiet ? "{{.ID}}" : options.digests ? DEFAULT_TABLE_WITH_DIGEST : DEFAULT_TABLE;
  if (source === "raw") return options.quiet ? "image_id: {{.ID}}" : options.digests ? RAW_WITH_DIGEST : RAW;
  if (source.startsWith(TABLE) && options.digests && !source.includes("{{.Digest}}")) return `${source}\\t{{.Digest}}`;
  return source;
}

/** docker's formatter.Context.preFormat: `table` taken off, `json` for `{{json .}}`, `\t` and `\n` spelt out made tabs and newlines. */
function finalFormat(format: string): string {
  let text = format.startsWith(TABLE) ? format.slice(TABLE.length) : format === "json" ? "{{json .}}" : format;
  text = text.replace(/^ +| +$/g, "");
  return text.replace(/\\t|\\n/g, (escape) => (escape === "\\t" ? "\t" : "\n"));
}

function parse(text: string): GoTemplate {
  try {
    return GoTemplate.parse(text);
  } catch (error) {
    if (error instanceof TemplateParseError) throw usage(`template parsing error: ${error.message}`);
    throw error;
  }
}

function executionError(error: unknown): LadingError {
  if (error instanceof TemplateExecError) return invalid(`template parsing error: ${error.message}`);
  throw error;
}

/**
 * `lading images --format`, the template parsed at once (a bad one is a usage error before any
 * work): a function from the images to the whole output, rows in docker's order. A template that
 * fails on a row prints nothing, as docker's.
 */
export function imagesFormatter(source: string, options: ImageFormatOptions): (images: readonly ImageSummary[]) => string {
  const format = imageFormat(source, options);
  const template = parse(finalFormat(format));
  return (images) => formatImages(images, format, template, options);
}

function formatImages(images: readonly ImageSummary[], format: string, template: GoTemplate, options: ImageFormatOptions): string {
  const digestRows = options.digests || format.includes("{{.Digest}}");
  const now = options.now ?? Date.now();
  let rows = "";
  for (const image of images) {
    for (const row of imageRows(image, digestRows, options.digests)) {
      try {
        rows += `${template.execute(imageContext(image, row, options.trunc, now))}\n`;
      } catch (error) {
        throw executionError(error);
      }
    }
  }
  if (!format.startsWith(TABLE)) return rows;
  let header: string;
  try {
    header = template.execute(new GoMap(new Map(Object.entries(IMAGE_HEADERS)), "formatter.SubHeaderContext", false, ""), { headerFunctions: true });
  } catch (error) {
    // docker ignores an error of the header row and keeps what it wrote.
    if (!(error instanceof TemplateExecError)) throw error;
    header = error.partial;
  }
  return tabulate(`${header}\n${rows}`);
}

interface ImageRow {
  repository: string;
  tag: string;
  digest: string;
}

/**
 * docker's rows for an image (formatter.imageFormatTaggedAndDigest): one per tag, or per tag and
 * digest of its repository when digests are shown; then each repository that names it by digest
 * only (one row per digest with `--digests`, else one with no digest); `<none>` for an image
 * without names. docker walks Go maps, in no fixed order; lading keeps the order of the names.
 */
function imageRows(image: ImageSummary, digestRows: boolean, showDigests: boolean): ImageRow[] {
  if (image.repoTags.length === 0 && image.repoDigests.length === 0) return [{ repository: "<none>", tag: "<none>", digest: "<none>" }];
  const tags = new Map<string, string[]>();
  const digests = new Map<string, string[]>();
  for (const reference of image.repoTags) {
    const parsed = parseReference(reference);
    if (parsed.tag === undefined) continue;
    const repository = familiarName(parsed);
    tags.set(repository, [...(tags.get(repository) ?? []), parsed.tag]);
  }
  for (const reference of image.repoDigests) {
    const parsed = parseReference(reference);
    if (parsed.digest === undefined) continue;
    const repository = familiarName(parsed);
    digests.set(repository, [...(digests.get(repository) ?? []), parsed.digest]);
  }
  const rows: ImageRow[] = [];
  for (const [repository, repositoryTags] of tags) {
    const repositoryDigests = digestRows ? (digests.get(repository) ?? []) : [];
    digests.delete(repository);
    for (const tag of repositoryTags) {
      if (repositoryDigests.length === 0) rows.push({ repository, tag, digest: "<none>" });
      for (const digest of repositoryDigests) rows.push({ repository, tag, digest });
    }
  }
  for (const [repository, repositoryDigests] of digests) {
    if (showDigests) for (const digest of repositoryDigests) rows.push({ repository, tag: "<none>", digest });
    else rows.push({ repository, tag: "<none>", digest: "" });
  }
  return rows;
}

/** go-units HumanSizeWithPrecision: decimal units, `%.Ng`. */
function humanSize(bytes: number, precision: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < units.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${formatFloat(size, "g", precision)}${units[unit]}`;
}

/** Go's Time.String() of a Unix time in the local time zone: `2024-01-02 15:04:05 +0000 UTC`. */
export function goTimeString(seconds: number): string {
  const date = new Date(seconds * 1000);
  const offset = -date.getTimezoneOffset();
  const two = (n: number): string => String(n).padStart(2, "0");
  const local = new Date(date.getTime() + offset * 60_000);
  const day = `${String(local.getUTCFullYear()).padStart(4, "0")}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}`;
  const time = `${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())}`;
  const sign = offset < 0 ? "-" : "+";
  const numeric = `${sign}${two(Math.floor(Math.abs(offset) / 60))}${two(Math.abs(offset) % 60)}`;
  return `${day} ${time} ${numeric} ${zoneName(date, offset)}`;
}

/**
 * The zone's abbreviation as Go prints it: `UTC`, or the name ICU gives (`EST`, `PDT`); where ICU
 * has only `GMT+1`, Go's form for a zone without an abbreviation (`+01`), which differs from the
 * tz database's own name for some zones (Go says `CET` for Europe/Berlin).
 */
function zoneName(date: Date, offset: number): string {
  const name = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(date).find((part) => part.type === "timeZoneName")?.value ?? "";
  if (offset === 0 && (name === "UTC" || name === "GMT")) return "UTC";
  if (/^[A-Z]{2,5}$/.test(name)) return name;
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0");
  const minutes = Math.abs(offset) % 60;
  return `${offset < 0 ? "-" : "+"}${hours}${minutes === 0 ? "" : String(minutes).padStart(2, "0")}`;
}

/** docker's image format context for one row, its fields what its methods return. */
function imageContext(image: ImageSummary, row: ImageRow, trunc: boolean, now: number): GoStruct {
  const createdMs = createdTime(image.created);
  const created = createdMs === undefined ? ZERO_TIME_SECONDS : Math.floor(createdMs / 1000);
  // What `lading serve` lists for the image: an incomplete one weighs 0, and nothing is shared.
  const size = image.incomplete.length > 0 ? 0 : image.size;
  const id = trunc ? shortId(image.id) : image.id;
  const fields = new Map<string, string>([
    ["ID", id],
    ["Repository", row.repository],
    ["Tag", row.tag],
    ["Digest", row.digest],
    ["CreatedSince", created === ZERO_TIME_SECONDS ? "" : `${humanDuration(now - created * 1000)} ago`],
    ["CreatedAt", goTimeString(created)],
    ["Size", humanSize(size, 3)],
    ["Containers", "N/A"],
    ["VirtualSize", humanSize(size, 4)],
    ["SharedSize", "N/A"],
    ["UniqueSize", "N/A"],
  ]);
  // MarshalJSON: every method, keys sorted, through json.Marshal (which escapes <, > and &).
  const json = goJson(new GoMap(fields), true);
  return new GoStruct("*formatter.imageContext", fields, {
    methods: true,
    json: () => json,
  });
}

/** docker's struct type names for the objects of an inspect document, for `%T` and errors. */
const STRUCT_TYPES: Record<string, string> = {
  Config: "*container.Config",
  ContainerConfig: "*container.Config",
  Healthcheck: "*container.HealthConfig",
  GraphDriver: "types.GraphDriverData",
  RootFS: "types.RootFS",
  Metadata: "types.ImageMetadata",
};

/** Objects that docker's types hold as maps, by their key: a missing key gives `<no value>`. */
const MAP_TYPES: Record<string, [type: string, zero: GoValue]> = {
  Labels: ["map[string]string", ""],
  Data: ["map[string]string", ""],
  Annotations: ["map[string]string", ""],
  annotations: ["map[string]string", ""],
  ExposedPorts: ["nat.PortSet", new GoStruct("struct {}", new Map())],
  Volumes: ["map[string]struct {}", new GoStruct("struct {}", new Map())],
};

/** Keys whose value docker's types hold as a slice: a null there is a nil slice (printed `[]`). */
const SLICE_KEYS = new Set(["RepoTags", "RepoDigests", "Env", "Cmd", "Entrypoint", "OnBuild", "Shell", "Layers", "Test", "Platforms", "AbsentPlatforms", "Manifests"]);

/**
 * Fields docker's inspect structs have that the document leaves out when empty (omitempty): a
 * template reads them as their zero values (`{{if .Variant}}` on an image without a variant).
 */
const ZERO_FIELDS: Record<string, [string, GoValue][]> = {
  "": [
    ["Variant", ""],
    ["OsVersion", ""],
  ],
  Config: [
    ["ExposedPorts", new GoMap(new Map(), "nat.PortSet", true, new GoStruct("struct {}", new Map()))],
    ["Healthcheck", null],
    ["ArgsEscaped", false],
    ["NetworkDisabled", false],
    ["MacAddress", ""],
    ["StopSignal", ""],
    ["StopTimeout", null],
    ["Shell", new GoSlice([], "strslice.StrSlice", true)],
  ],
};
ZERO_FIELDS.ContainerConfig = ZERO_FIELDS.Config!;

const missingKey = (name: string): string => `map has no entry for key ${JSON.stringify(name)}`;

/** An inspect document as docker's CLI reads it; `key` is the key it is found under ("" for the document). */
export function inspectValue(value: unknown, key = ""): GoValue {
  if (value === null || value === undefined) {
    const mapType = MAP_TYPES[key];
    if (mapType) return new GoMap(new Map(), mapType[0], true, mapType[1]);
    return SLICE_KEYS.has(key) ? new GoSlice([], "[]string", true) : null;
  }
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isInteger(value) ? new GoInt(value, "int64") : new GoFloat(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => inspectValue(item));
    return new GoSlice(items, items.every((item) => typeof item === "string") ? "[]string" : "[]interface {}");
  }
  const entries = Object.entries(value as Record<string, unknown>);
  const mapType = MAP_TYPES[key];
  if (mapType) return new GoMap(new Map(entries.map(([name, item]) => [name, inspectValue(item, key === "Volumes" || key === "ExposedPorts" ? "" : name)])), mapType[0], false, mapType[1]);
  const fields = new Map(entries.map(([name, item]) => [name, inspectValue(item, name)]));
  const zero = ZERO_FIELDS[key];
  return new GoStruct(key === "" ? "types.ImageInspect" : (STRUCT_TYPES[key] ?? "struct"), fields, {
    missingField: missingKey,
    ...(zero ? { zeroFields: new Map(zero) } : {}),
  });
}

/**
 * `lading inspect --format`, the template parsed at once, as docker's TemplateInspector: each
 * document's output and a newline, and one error for each document the template fails on (its
 * output left out); only a newline when nothing was written. `json` prints the documents as one
 * compact JSON array.
 */
export function inspectFormatter(format: string): (documents: readonly unknown[]) => { output: string; errors: LadingError[] } {
  if (format === "json") return (documents) => ({ output: `${JSON.stringify(documents)}\n`, errors: [] });
  const template = parse(format);
  return (documents) => formatInspect(documents, template);
}

function formatInspect(documents: readonly unknown[], template: GoTemplate): { output: string; errors: LadingError[] } {
  let output = "";
  const errors: LadingError[] = [];
  for (const document of documents) {
    try {
      output += `${template.execute(inspectValue(document))}\n`;
    } catch (error) {
      errors.push(executionError(error));
    }
  }
  return { output: output === "" ? "\n" : output, errors };
}
