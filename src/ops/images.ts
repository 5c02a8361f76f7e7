import { parseRfc3339 } from "../core/rfc3339.js";
import { configString, inspectConfig, inspectContainerConfig, inspectCreated } from "../core/docker-image-fields.js";
import { parseDocument, imageConfigSchema, type ImageConfig } from "../core/schemas.js";
import { conflict, isLadingError, notFound } from "../core/errors.js";
import { formatPlatform, hostPlatform, platformMatches, parsePlatform, type Platform } from "../core/platform.js";
import { familiarName, formatReference, parseReference, withDefaultTag } from "../core/reference.js";
import { blobsOfRecord, type ImageRecord, type PlatformImage } from "../store/image-records.js";
import type { Store } from "../store/store.js";
import { addLeftovers, type Leftovers } from "../store/process-alive.js";
import { artifactFields, type ArtifactFields } from "./inspect-artifact.js";
import { idsOf, lookupReference, missingImageName, resolveImage } from "./resolve-image.js";
import { wrongDigestOf } from "../store/reference-store.js";
import { matchingNames, needsConfig, referencesById, NO_BOUNDS, NO_IMAGE_FILTERS, passesConfigFilters, ZERO_TIME_MS, type CreationBounds, type ImageFilters } from "./image-filters.js";

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

export interface ImageSummary {
  id: string;
  /** The config of its primary platform image; null for a root that holds none (an artifact, an index whose platforms were all absent). */
  configDigest: string | null;
  origin: "archive" | "synthesized";
  repoTags: string[];
  repoDigests: string[];
  created: string | null;
  size: number;
  platforms: string[];
  absent: string[];
  incomplete: string[];
}

/** The platform image shown for a multi-platform image: the host's, else the first. */
export function primaryImage(record: ImageRecord): PlatformImage | undefined {
  const host = hostPlatform();
  return record.images.find((image) => platformMatches(host, parsePlatform(image.platform))) ?? record.images[0];
}

/** What a platform image weighs: its manifest, config and layers. */
function sizeOf(image: PlatformImage): number {
  return image.config.size + image.manifest.size + image.layers.reduce((sum, layer) => sum + layer.size, 0);
}

export async function readConfig(store: Store, image: PlatformImage): Promise<ImageConfig> {
  const bytes = await store.content.readBuffer(image.config.digest, MAX_CONFIG_BYTES);
  return parseDocument(imageConfigSchema, bytes, `config ${image.config.digest}`);
}

export async function summarize(store: Store, record: ImageRecord, references: { reference: string; id: string }[]): Promise<ImageSummary> {
  const mine = references.filter((entry) => entry.id === record.id && wrongDigestOf(entry) === undefined).map((entry) => entry.reference);
  const image = primaryImage(record);
  const missing: string[] = [];
  for (const digest of blobsOfRecord(record)) if (!(await store.content.has(digest))) missing.push(digest);
  let created: string | null = null;
  if (image && !missing.includes(image.config.digest)) created = (await readConfig(store, image)).created ?? null;
  return {
    id: record.id,
    configDigest: image?.config.digest ?? null,
    origin: record.origin,
    repoTags: mine.filter((reference) => !reference.includes("@")),
    repoDigests: mine.filter((reference) => reference.includes("@")),
    created,
    size: image ? sizeOf(image) : record.size,
    platforms: record.images.map((entry) => entry.platform),
    absent: record.absent.map((child) => child.platform ?? child.digest),
    incomplete: missing,
  };
}

/**
 * The images `lading images` lists, newest first, each with the references that pass the filters
 * (`docker images --filter`, see image-filters.ts).
 */
export async function listImages(store: Store, filters: ImageFilters = NO_IMAGE_FILTERS): Promise<ImageSummary[]> {
  const references = await store.references.references();
  const records = await store.records.list();
  const bounds = await creationBounds(store, filters, (image) => readConfig(store, image));
  const byId = referencesById(references);
  const listed = await Promise.all(
    records.map(async (record) => {
      const own = byId.get(record.id) ?? [];
      const names = matchingNames(own.map((entry) => entry.reference), filters);
      if (names === undefined) return undefined;
      const passing = new Set([...names.tags, ...names.digests]);
      const summary = await summarize(store, record, own.filter((entry) => passing.has(entry.reference)));
      if (!needsConfig(filters)) return summary;
      const image = primaryImage(record);
      const config = image && !summary.incomplete.includes(image.config.digest) ? await readConfig(store, image) : undefined;
      return passesConfigFilters(filters, bounds, config, createdTime(summary.created)) ? summary : undefined;
    }),
  );
  // Each time parsed once, not once per comparison.
  const keyed = listed.filter((summary) => summary !== undefined).map((summary) => ({ summary, seconds: createdSeconds(summary) }));
  keyed.sort((a, b) => newestFirst(a.seconds, b.seconds) || a.summary.id.localeCompare(b.summary.id));
  return keyed.map(({ summary }) => summary);
}

/**
 * The creation times `before` and `since` name, as dockerd resolves them: an image that does not
 * exist (or is incomplete) fails the whole list.
 */
export async function creationBounds(store: Store, filters: ImageFilters, configOf: (image: PlatformImage) => Promise<ImageConfig>): Promise<CreationBounds> {
  if (filters.before.length === 0 && filters.since.length === 0) return NO_BOUNDS;
  const createdOf = async (name: string): Promise<number> => {
    const { image } = await resolveComplete(store, name);
    return createdTime((await configOf(image)).created ?? null) ?? ZERO_TIME_MS;
  };
  return { before: await Promise.all(filters.before.map(createdOf)), since: await Promise.all(filters.since.map(createdOf)) };
}

/**
 * The image a name or ID stands for, with every blob present. A reference whose record is missing
 * fails as resolveImage says (see missingRecord); one whose blobs are missing gives
 * `image NAME is incomplete: ...`.
 */
export async function resolveComplete(store: Store, name: string): Promise<{ record: ImageRecord; summary: ImageSummary; image: PlatformImage }> {
  const record = await resolveImage(store, name);
  const summary = await summarize(store, record, await store.references.references(record.id));
  const missing = summary.incomplete[0];
  if (missing !== undefined) throw notFound(`image ${name} is incomplete: blob ${missing} is missing`, name);
  const image = primaryImage(record);
  if (!image) throw notFound(`image ${name} holds no platform image in this store`, name);
  return { record, summary, image };
}

/** An image's creation time in milliseconds since the epoch, or undefined when its config has none or one that is no RFC 3339 time (which docker cannot read). */
export function createdTime(created: string | null): number | undefined {
  return created === null ? undefined : parseRfc3339(created);
}

/** What docker orders its image list by: the creation time in whole seconds (its API's `Created`). */
function createdSeconds(summary: ImageSummary): number | undefined {
  const time = createdTime(summary.created);
  return time === undefined ? undefined : Math.floor(time / 1000);
}

/** Newest first; an image without a (valid) creation time after every image with one. */
function newestFirst(a: number | undefined, b: number | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return 1;
  if (b === undefined) return -1;
  return b - a;
}

/**
 * The (repository, tag) pairs an image's references give, as docker's image table has its rows:
 * its tags, then `<none>` for each repository that names it only by digest.
 */
export function referenceRows(summary: ImageSummary): { repository: string; tag: string }[] {
  const tagged = summary.repoTags.map((reference) => {
    const ref = parseReference(reference);
    return { repository: familiarName(ref), tag: ref.tag ?? "<none>" };
  });
  const digestOnly = [...new Set(summary.repoDigests.map(repositoryOf))].filter((repository) => !tagged.some((row) => row.repository === repository));
  return [...tagged, ...digestOnly.map((repository) => ({ repository, tag: "<none>" }))];
}

/**
 * An image's Comment as moby's inspect gives it (daemon/images/image_inspect.go): the config's
 * `comment`, else the last history entry's (what `docker commit -m` and `docker import` leave).
 */
export function commentOf(config: ImageConfig): string {
  const own = (config as { comment?: unknown }).comment;
  if (typeof own === "string" && own !== "") return own;
  return config.history?.at(-1)?.comment ?? "";
}

export interface InspectOptions {
  /** The platform image to show (`--platform`); by default the host's, else the first. */
  platform?: Platform;
}

/**
 * The platform image of `wanted`, as `docker image inspect --platform` picks it. A platform the
 * image's index lists but the store does not hold (a sparse image) is said to be so, apart from
 * one the image does not have at all (docker's message, with what it has).
 */
export function imageForPlatform(record: ImageRecord, wanted: Platform, query: string): PlatformImage {
  const image = record.images.find((candidate) => platformMatches(wanted, parsePlatform(candidate.platform)));
  if (image) return image;
  const absent = record.absent.find((child) => child.platform !== null && platformMatches(wanted, parsePlatform(child.platform)));
  if (absent) throw notFound(`image ${query} lists platform ${absent.platform} (${absent.digest}), but it is not in this store`, "--platform");
  const has = record.images.map((candidate) => candidate.platform).join(", ") || "no platform image";
  throw notFound(`image with reference ${query} was found but does not provide the specified platform (${formatPlatform(wanted)}); it has ${has}`, "--platform");
}

/**
 * `docker image inspect`'s shape, plus the root descriptor, the config digest and the origin. An
 * artifact (no platform image) shows its identity and its root document's fields instead.
 */
/** What `lading inspect` shows of every root: its names and descriptor, and where its manifest came from. */
type InspectedRootFields = {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Descriptor: { mediaType: string; digest: string; size: number };
  ManifestOrigin: ImageRecord["origin"];
  /** Its platform images in the store (`os/arch[/variant]`). */
  Platforms: string[];
  /** The children its index lists that the store lacks: their platforms, else their digests. */
  AbsentPlatforms: string[];
};

/**
 * `lading inspect` of an image: the keys of `docker image inspect` in its order, as dockerd 20.10
 * derives them from the config, then lading's own. (Types, not interfaces, so that a document is
 * also a `Record<string, unknown>`, as a template reads it.)
 */
export type InspectedImage = Omit<InspectedRootFields, "Descriptor" | "ManifestOrigin" | "Platforms" | "AbsentPlatforms"> & {
  Parent: "";
  Comment: string;
  Created: string;
  Container: string;
  ContainerConfig: Record<string, unknown>;
  DockerVersion: string;
  Author: string;
  /** null for a config without one, as dockerd shows it. */
  Config: Record<string, unknown> | null;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  /** The stored (compressed) blobs of the image, not dockerd's unpacked size. */
  Size: number;
  VirtualSize: number;
  RootFS: { Type: "layers"; Layers: string[] };
  Descriptor: InspectedRootFields["Descriptor"];
  ConfigDigest: string;
  ManifestDigest: string;
  ManifestOrigin: InspectedRootFields["ManifestOrigin"];
  Platforms: string[];
  AbsentPlatforms: string[];
};

/** `lading inspect` of an artifact (no image config, so none of docker's image fields). */
export type InspectedArtifact = InspectedRootFields & ArtifactFields;

/** Tells the two documents apart: only an image's has `RootFS`. */
export function isInspectedImage(document: InspectedImage | InspectedArtifact): document is InspectedImage {
  return "RootFS" in document;
}

export async function inspectImage(store: Store, query: string, options: InspectOptions = {}): Promise<InspectedImage | InspectedArtifact> {
  const record = await resolveImage(store, query);
  const summary = await summarize(store, record, await store.references.references(record.id));
  const image = options.platform ? imageForPlatform(record, options.platform, query) : primaryImage(record);
  // A root whose index lists platform images, none of them stored, is a sparse image, not an artifact.
  if (!image && record.absent.some((child) => child.platform !== null)) throw notFound(`image ${query} holds no platform image in this store`, query);
  if (summary.incomplete.length > 0) throw notFound(`image ${query} is incomplete: blob ${summary.incomplete[0]} is missing`, query);
  if (!image) {
    return {
      Id: record.id,
      RepoTags: summary.repoTags,
      RepoDigests: summary.repoDigests,
      Descriptor: { mediaType: record.mediaType, digest: record.id, size: record.size },
      ...(await artifactFields(store, record)),
      ManifestOrigin: record.origin,
      Platforms: summary.platforms,
      AbsentPlatforms: summary.absent,
    };
  }
  const config = await readConfig(store, image);
  const size = sizeOf(image);
  // docker image inspect's keys in its order, as dockerd 20.10 derives them from the config.
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
    Size: size,
    VirtualSize: size,
    RootFS: { Type: "layers", Layers: config.rootfs.diff_ids },
    Descriptor: { mediaType: record.mediaType, digest: record.id, size: record.size },
    ConfigDigest: image.config.digest,
    ManifestDigest: image.manifest.digest,
    ManifestOrigin: record.origin,
    Platforms: summary.platforms,
    AbsentPlatforms: summary.absent,
  };
}

/** `docker tag`: points TARGET at SOURCE's image, moving TARGET if it named another image. */
export async function tagImage(store: Store, source: string, target: string): Promise<{ reference: string; previousId?: string }> {
  // Before the name is looked up: on a lost file every name is missing, and "No such image" would hide why.
  await store.refuseLostReferences();
  const record = await resolveImage(store, source);
  const ref = withDefaultTag(parseReference(target));
  if (ref.digest !== undefined) throw conflict(`refusing to create a tag with a digest reference: ${target}`, target);
  const { value: result } = await store.references.update(async (txn) => {
    // Under the lock, where rmi deletes records: a tag must not name an image removed meanwhile.
    if ((await store.records.get(record.id)) === undefined) throw notFound(`No such image: ${missingImageName(source)}`, source);
    return txn.addTag(ref, record.id, { force: true });
  });
  return { reference: formatReference(ref, "familiar"), ...(result.replaced && result.replaced !== record.id ? { previousId: result.replaced } : {}) };
}

export interface RemoveResult {
  untagged: string[];
  deleted: string[];
}

/**
 * `docker rmi`, with docker's rules (moby's daemon/images/image_delete.go). A name removes that
 * reference; once a repository has no tag left for the image, its digest references there go
 * too; the image goes with its last reference. An ID removes the image with all its references,
 * which without force docker allows only when they hold at most one tag and are all of one
 * repository. The image's record is deleted under the reference store's lock, after the
 * references, so that no concurrent tag or load can name it in between, and a crash between
 * the two leaves an image without references (as docker's rmi can), never a reference without
 * its image. A record that cannot be deleted fails the removal with the store as it was: the
 * refusal its directory shows is found before the references are written, and the references
 * are put back if the deletion fails all the same.
 */
export async function removeImage(store: Store, query: string, force = false): Promise<RemoveResult> {
  await store.refuseLostReferences(); // as tagImage does
  const key = await lookupReference(store, query).catch(() => undefined);
  const result: RemoveResult = { untagged: [], deleted: [] };
  const deleteRecord = async (id: string | undefined): Promise<void> => {
    if (id !== undefined && (await store.records.delete(id))) result.deleted.push(id);
  };
  const removable = async (id: string | undefined): Promise<string | undefined> => {
    if (id !== undefined) await store.records.assertRemovable(id);
    return id;
  };
  const putBack = { putBackIfAfterWriteFails: true };
  if (key !== undefined) {
    const ref = withDefaultTag(parseReference(query));
    const removed = formatReference(ref, "familiar");
    const repository = repositoryOf(removed);
    await store.references.update(async (txn) => {
      const id = txn.delete(ref);
      result.untagged.push(removed);
      const left = txn.references(id);
      if (ref.digest === undefined && !left.some((entry) => isTag(entry.reference) && repositoryOf(entry.reference) === repository)) {
        for (const entry of left.filter((entry) => !isTag(entry.reference) && repositoryOf(entry.reference) === repository)) {
          txn.delete(entry.reference);
          result.untagged.push(entry.reference);
        }
      }
      return removable(txn.references(id).length === 0 ? id : undefined);
    }, deleteRecord, undefined, putBack);
    return result;
  }
  const record = await resolveImage(store, query);
  await store.references.update(
    async (txn) => {
      const references = txn.references(record.id);
      if (!force && references.length > 1 && !isSingleReference(references.map((entry) => entry.reference))) {
        throw conflict(`conflict: unable to delete ${record.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`, query);
      }
      for (const entry of references) {
        txn.delete(entry.reference);
        result.untagged.push(entry.reference);
      }
      return removable(record.id);
    },
    deleteRecord,
    undefined,
    putBack,
  );
  return result;
}

/** Docker's test for an ID-only rmi without force: at most one tag, and every reference in its repository. */
function isSingleReference(references: string[]): boolean {
  const tags = references.filter(isTag);
  if (tags.length > 1) return false;
  const repositories = new Set(references.map(repositoryOf));
  return repositories.size === 1;
}

function isTag(reference: string): boolean {
  return !reference.includes("@");
}

function repositoryOf(reference: string): string {
  return familiarName(parseReference(reference));
}

/** Removes blobs that no image record needs, and ingest and temp files of killed commands. Never races a load. */
export async function pruneBlobs(store: Store): Promise<{ deleted: string[]; reclaimed: number; leftovers: Leftovers }> {
  return store.gc.withExclusive(async (lock) => {
    await settleInterrupted(store);
    // Records a killed load left uncommitted (of another pid namespace) keep their blobs until they are settled.
    const needed = new Set((await store.records.list({ uncommitted: "include" })).flatMap(blobsOfRecord));
    const deleted: string[] = [];
    let reclaimed = 0;
    for await (const blob of store.content.list()) {
      if (needed.has(blob.digest)) continue;
      lock.assertHeld();
      if (await store.content.delete(blob.digest)) {
        await store.diffIds.remove(blob.digest);
        deleted.push(blob.digest);
        reclaimed += blob.size;
      }
    }
    // No lease is live and none can start, and every load writes its ingest files under a lease:
    // an ingest file of any other process is abandoned, whatever its pid now names.
    const leftovers = addLeftovers(await store.content.cleanIngest({ othersGone: true }), await store.cleanTemporaries());
    return { deleted, reclaimed: reclaimed + leftovers.bytes, leftovers };
  });
}

/**
 * Removes the records loads and pulls killed before their references left uncommitted (see
 * pending-records.ts), when the references can be read. Run where no lease is live, so those of
 * other pid namespaces too.
 */
async function settleInterrupted(store: Store): Promise<void> {
  await store.references.update((txn) => store.records.settleInterrupted(txn.base)).catch((error: unknown) => {
    if (!isLadingError(error)) throw error;
  });
}

export { idsOf, formatPlatform };
