/**
 * What index.json says beyond each root's identity and names: an entry's `platform`,
 * `artifactType`, `urls`, annotations other than the names, any other field, and index.json's own
 * annotations and fields. lading's store records none of it (nor does skopeo copy keep it):
 * verify --roundtrip names each field a trip drops, and load each field it does not keep.
 */
import type { ArchiveGraph, ResolvedRoot, RootEntry } from "../archive/model.js";
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SYNTHESIZED } from "../archive/names.js";
import { shortened } from "../core/quoted-name.js";
import type { Descriptor } from "../core/schemas.js";

/** Kept as the root's digest, media type and size. */
const ENTRY_IDENTITY: ReadonlySet<string> = new Set(["mediaType", "digest", "size"]);
/** Kept as the root's names, bare tags and origin. */
const NAME_ANNOTATIONS: ReadonlySet<string> = new Set([ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SYNTHESIZED]);
/** index.json's own structure, which every layout writes its own way. */
const INDEX_STRUCTURE: ReadonlySet<string> = new Set(["schemaVersion", "mediaType", "manifests"]);
const NO_ANNOTATIONS: ReadonlySet<string> = new Set();

/** An index.json entry that resolved to one of the given roots. */
export interface EntryOfRoot {
  listedAt: string;
  descriptor: Descriptor;
  root: ResolvedRoot;
}

/** The index.json entries (in their order) that resolved to one of `roots`. */
export function entriesOfRoots(graph: ArchiveGraph, roots: readonly ResolvedRoot[]): EntryOfRoot[] {
  return graph.entries.flatMap((entry: RootEntry) =>
    entry.root !== undefined && entry.descriptor !== undefined && roots.includes(entry.root) ? [{ listedAt: entry.listedAt, descriptor: entry.descriptor, root: entry.root }] : [],
  );
}

/**
 * An entry's fields but its identity and names: `platform`, `annotations["org.example.note"]`, ...
 * to the value's JSON. An image manifest's `platform` that only repeats its config's is no field
 * of the entry's own: Docker 25+ `docker save` writes it on every entry, and the config, which the
 * store keeps byte for byte, says all of it.
 */
export function entryFields({ descriptor, root }: Pick<EntryOfRoot, "descriptor" | "root">): Map<string, string> {
  const fields = fieldsOf(descriptor, ENTRY_IDENTITY, NAME_ANNOTATIONS);
  if (platformIsItsConfigs(descriptor, root)) fields.delete("platform");
  return fields;
}

/** index.json's own annotations and fields but its structure; none without an index.json. */
export function indexFields(graph: ArchiveGraph): Map<string, string> {
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

/** The fields of Docker's `image.Platform()`, each left out when empty (Go's omitempty). */
const CONFIG_PLATFORM_FIELDS: readonly string[] = ["architecture", "os", "os.version", "os.features", "variant"];

/** Whether the entry's platform says nothing but what its image's config says (see entryFields). */
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

/** A field and its value (its JSON) as a one-line message shows them: `platform {"os":"linux",...}`. */
export function shownField(field: string, json: string): string {
  return `${shownText(field)} ${shownText(json)}`;
}

/**
 * Line and paragraph separators that JSON leaves raw escaped, and of a long text (an annotation
 * can be megabytes) only its start and its length in UTF-8 bytes: a string's own, without the
 * quotes and escapes JSON adds, another value's as JSON.
 */
function shownText(json: string): string {
  const escaped = json.replace(/[\u0085\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return shortened(escaped, json.startsWith('"') ? (JSON.parse(json) as string) : json);
}
