/**
 * The plan of an archive lading writes: which small documents and which blobs, in which order,
 * under which names. Two layouts:
 *
 * - "docker": Docker 25+'s combined layout, an OCI image layout (`oci-layout`, `index.json`,
 *   `blobs/<alg>/<hex>`) that also carries Docker's `manifest.json` (paths into `blobs/`) and a
 *   `repositories` file, so that old and new docker, containerd, podman and skopeo all load it.
 * - "oci": a pure OCI image layout.
 *
 * Only lading's own documents are serialised here, compactly and in a fixed key order; every blob
 * is written as stored. The same images give the same plan whatever order they were named in.
 */
import type { Readable } from "node:stream";
import { parseDigest } from "../core/digest.js";
import { unsupported } from "../core/errors.js";
import { MediaType } from "../core/media-types.js";
import { familiarName, formatReference, parseReference } from "../core/reference.js";
import type { TarWriter } from "../tar/writer.js";
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, ANNOTATION_SYNTHESIZED, explicitDigestNames } from "./names.js";

export type LayoutFormat = "docker" | "oci";

export interface BlobToWrite {
  digest: string;
  size: number;
}

/** One image to write: its root object, its names, and every blob it brings. */
export interface ImageToWrite {
  /** The image's root descriptor: a manifest, or an index for a multi-platform image. */
  root: { mediaType: string; digest: string; size: number };
  /** Full references with a tag (`docker.io/library/busybox:latest`); empty for an untagged image. */
  names: string[];
  /** Full references by the root's own digest (`docker.io/library/busybox@sha256:…`): index.json only. */
  digestNames?: string[];
  /**
   * Tags the input gave the image with no repository (a bare ref.name, `1.0`, as skopeo writes):
   * only the oci layout can carry them, as ref.name alone. None from a store.
   */
  bareTags?: string[];
  /**
   * The platform image `manifest.json` lists (config and layers in order, a layer the archive
   * does not carry too); none for an image with no runnable platform. `layerSources`: Docker's
   * LayerSources, the descriptors of foreign layers by diff ID.
   */
  dockerImage: { config: string; layers: string[]; layerSources?: Record<string, LayerSource> } | undefined;
  /** Every blob to carry, the root included. */
  blobs: BlobToWrite[];
  /** The root manifest was synthesised by lading (from a manifest.json-only archive), not a registry's. */
  synthesized?: boolean;
}

/** A foreign layer's descriptor as Docker's manifest.json LayerSources holds it. */
export interface LayerSource {
  mediaType: string;
  size: number;
  digest: string;
  urls?: string[];
}

export interface ArchivePlan {
  /** Small documents, in the order they are written (first in the archive). */
  documents: { name: string; content: Buffer }[];
  /** Directory entries and blobs, sorted by path, each blob once. */
  entries: ({ kind: "directory"; name: string } | { kind: "blob"; name: string; digest: string; size: number })[];
}

export const OCI_LAYOUT_DOCUMENT = '{"imageLayoutVersion":"1.0.0"}';

/** `blobs/<alg>/<encoded>`, from a validated digest. */
export function blobPath(digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `blobs/${algorithm}/${encoded}`;
}

/** Images in a stable order (by root digest), names sorted and merged when an image appears twice. */
export function orderImages(images: readonly ImageToWrite[]): ImageToWrite[] {
  const byRoot = new Map<string, ImageToWrite>();
  for (const image of images) {
    const known = byRoot.get(image.root.digest);
    if (!known) {
      byRoot.set(image.root.digest, { ...image, names: sortedSet(image.names), digestNames: sortedSet(image.digestNames ?? []), bareTags: sortedSet(image.bareTags ?? []) });
      continue;
    }
    const blobs = new Map([...known.blobs, ...image.blobs].map((blob) => [blob.digest, blob]));
    byRoot.set(image.root.digest, {
      ...known,
      names: sortedSet([...known.names, ...image.names]),
      digestNames: sortedSet([...(known.digestNames ?? []), ...(image.digestNames ?? [])]),
      bareTags: sortedSet([...(known.bareTags ?? []), ...(image.bareTags ?? [])]),
      blobs: [...blobs.values()],
    });
  }
  return [...byRoot.values()].sort((a, b) => compare(a.root.digest, b.root.digest));
}

export function planArchive(images: readonly ImageToWrite[], format: LayoutFormat): ArchivePlan {
  const ordered = orderImages(images);
  const documents = [
    { name: "oci-layout", content: Buffer.from(OCI_LAYOUT_DOCUMENT, "utf8") },
    { name: "index.json", content: indexDocument(ordered, format) },
  ];
  if (format === "docker") {
    refuseNamedArtifacts(ordered);
    documents.push({ name: "manifest.json", content: dockerManifestDocument(ordered) });
    const repositories = repositoriesDocument(ordered);
    if (repositories) documents.push({ name: "repositories", content: repositories });
  }
  return { documents, entries: blobEntries(ordered) };
}

/**
 * manifest.json lists container images only, and docker's loader reads nothing else: a name that
 * index.json gave an artifact would be a name docker never sees (which verify refuses as one
 * archive with two meanings). An untagged artifact is carried in the OCI layout alone.
 */
function refuseNamedArtifacts(images: readonly ImageToWrite[]): void {
  const artifact = images.find((image) => image.dockerImage === undefined && image.names.length > 0);
  if (artifact === undefined) return;
  const name = formatReference(parseReference(artifact.names[0]!), "familiar");
  throw unsupported(`${name} is not a container image (${artifact.root.digest} has no image config), so docker's manifest.json cannot list it: save it with --format oci`, name);
}

/**
 * The OCI index of the archive: one entry per name (and, in the oci layout, per bare tag), or one
 * bare entry for an untagged image.
 */
export function indexDocument(images: readonly ImageToWrite[], format: LayoutFormat): Buffer {
  const manifests = images.flatMap((image) => {
    const descriptor = { mediaType: image.root.mediaType, digest: image.root.digest, size: image.root.size };
    const marker = image.synthesized ? { [ANNOTATION_SYNTHESIZED]: "true" } : {};
    const digestNames = explicitDigestNames(image.names, image.digestNames ?? [], image.synthesized ? "synthesized" : "archive");
    // The docker layout leaves bare tags out: its manifest.json could not name the image by them.
    const bareTags = format === "oci" ? (image.bareTags ?? []) : [];
    if (image.names.length === 0 && digestNames.length === 0 && bareTags.length === 0) return [image.synthesized ? { ...descriptor, annotations: marker } : descriptor];
    return [
      ...image.names.map((name) => ({
        ...descriptor,
        annotations: { [ANNOTATION_CONTAINERD_NAME]: name, [ANNOTATION_REF_NAME]: tagOf(name), ...marker },
      })),
      ...digestNames.map((name) => ({ ...descriptor, annotations: { [ANNOTATION_CONTAINERD_NAME]: name, ...marker } })),
      ...bareTags.map((tag) => ({ ...descriptor, annotations: { [ANNOTATION_REF_NAME]: tag, ...marker } })),
    ];
  });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }), "utf8");
}

/** Docker's manifest.json: familiar RepoTags (null when untagged), paths into blobs/. */
export function dockerManifestDocument(images: readonly ImageToWrite[]): Buffer {
  const items = images.flatMap((image) => {
    if (!image.dockerImage) return [];
    const repoTags = image.names.map((name) => formatReference(parseReference(name), "familiar"));
    return [
      {
        Config: blobPath(image.dockerImage.config),
        RepoTags: repoTags.length > 0 ? repoTags : null,
        Layers: image.dockerImage.layers.map(blobPath),
        ...(image.dockerImage.layerSources ? { LayerSources: image.dockerImage.layerSources } : {}),
      },
    ];
  });
  return Buffer.from(`${JSON.stringify(items)}\n`, "utf8");
}

/**
 * The legacy `repositories` file: familiar repository -> tag -> hex of the image's top layer file,
 * as Docker 25 writes it (there the top layer's blob name; lading's may be a compressed blob).
 * Only loaders without manifest.json support read it. Undefined when no image is tagged.
 */
export function repositoriesDocument(images: readonly ImageToWrite[]): Buffer | undefined {
  const repositories = new Map<string, Map<string, string>>();
  for (const image of images) {
    const top = image.dockerImage?.layers.at(-1);
    if (top === undefined) continue;
    for (const name of image.names) {
      const ref = parseReference(name);
      if (ref.tag === undefined) continue;
      const repository = familiarName(ref);
      const tags = repositories.get(repository) ?? new Map<string, string>();
      tags.set(ref.tag, parseDigest(top).encoded);
      repositories.set(repository, tags);
    }
  }
  if (repositories.size === 0) return undefined;
  const document: Record<string, Record<string, string>> = {};
  for (const repository of [...repositories.keys()].sort(compare)) {
    const tags = repositories.get(repository) as Map<string, string>;
    document[repository] = Object.fromEntries([...tags.keys()].sort(compare).map((tag) => [tag, tags.get(tag) as string]));
  }
  return Buffer.from(`${JSON.stringify(document)}\n`, "utf8");
}

function blobEntries(images: readonly ImageToWrite[]): ArchivePlan["entries"] {
  const blobs = new Map<string, BlobToWrite>();
  for (const image of images) for (const blob of image.blobs) blobs.set(blob.digest, blob);
  const entries: ArchivePlan["entries"] = [];
  const directories = new Set<string>();
  for (const blob of blobs.values()) {
    const name = blobPath(blob.digest);
    directories.add(name.slice(0, name.lastIndexOf("/")));
    entries.push({ kind: "blob", name, digest: blob.digest, size: blob.size });
  }
  if (directories.size > 0) directories.add("blobs");
  for (const name of directories) entries.push({ kind: "directory", name });
  // A directory sorts before its contents: compare with the trailing slash a tar gives it.
  const key = (entry: ArchivePlan["entries"][number]): string => (entry.kind === "directory" ? `${entry.name}/` : entry.name);
  return entries.sort((a, b) => compare(key(a), key(b)));
}

/** Writes the plan; `openBlob` gives each blob's bytes (checked by the caller's stream). */
export async function writePlan(plan: ArchivePlan, writer: TarWriter, openBlob: (blob: BlobToWrite) => Readable): Promise<void> {
  for (const document of plan.documents) await writer.addFile(document.name, document.content);
  for (const entry of plan.entries) {
    if (entry.kind === "directory") await writer.addDirectory(entry.name);
    else await writer.addFileStream(entry.name, entry.size, openBlob(entry));
  }
  await writer.finish();
}

function tagOf(name: string): string {
  return parseReference(name).tag ?? "latest";
}

function sortedSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compare);
}

/** Code-unit order, the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
