import type { Compression } from "../tar/compression.js";
import type { Descriptor, ImageConfig, Index } from "../core/schemas.js";
import type { Platform } from "../core/platform.js";

/** What one pass over an archive learned about one regular file. */
export interface ScannedFile {
  /** Normalised entry name (first occurrence). */
  name: string;
  digest: string; // sha256 of the bytes as stored
  sha512?: string; // only for entries named blobs/sha512/...
  size: number;
  compression: Compression;
  /** sha256 and size of the decompressed bytes; for uncompressed files the same as digest/size. */
  diffId?: string;
  uncompressedSize?: number;
  /** Set when diffId was not computed here but known beforehand (a store's record of the blob). */
  diffIdSource?: string;
  /** Why this file cannot be used as a layer (corrupt compression, unsafe names inside, not a tar). */
  layerProblem?: string;
  looksLikeTar: boolean;
  /** The bytes, kept only for small files that look like JSON. */
  json?: Buffer;
  /** Set when the file looked like JSON but was larger than the cap. */
  jsonTooLarge?: boolean;
}

export interface ScannedLink {
  name: string;
  kind: "symlink" | "hardlink";
  /** Target resolved inside the archive's namespace. */
  target: string;
}

/** Everything a scan keeps: files by name, links by name; blobs are looked up by digest. */
export interface ScannedArchive {
  files: Map<string, ScannedFile>;
  links: Map<string, ScannedLink>;
  byDigest: Map<string, ScannedFile>;
  /** The whole-stream compression of the archive itself. */
  compression: Compression;
  /** How many files were probed in worker threads (the others on the main thread). */
  workerProbes: number;
}

export type DigestOrigin = "archive" | "synthesized";

export interface ResolvedLayer {
  digest: string;
  size: number;
  mediaType: string;
  compression: Compression;
  diffId: string | undefined;
  uncompressedSize: number | undefined;
  /** The archive entry the layer came from; undefined for an absent layer. */
  entry: string | undefined;
  /**
   * A foreign (non-distributable) layer the archive does not carry: size and media type are its
   * descriptor's, the diff ID the config's, taken on trust.
   */
  absent?: true;
  /** Where a foreign layer may be fetched from, as its descriptor says. */
  urls?: string[];
}

/** One platform image: a manifest, its config and its layers. */
export interface ResolvedImage {
  manifest: { digest: string; mediaType: string; size: number; origin: DigestOrigin; bytes: Buffer };
  config: { digest: string; mediaType: string; size: number; bytes: Buffer; parsed: ImageConfig };
  platform: Platform;
  layers: ResolvedLayer[];
  /** Digests of the indexes between the root and this manifest. */
  indexChain: string[];
}

/** A child of an index that the archive does not carry (a sparse index). */
export interface AbsentManifest {
  digest: string;
  mediaType: string;
  platform: Platform | undefined;
  indexDigest: string;
}

/** A manifest or index under a root that could not be resolved, and why. */
export interface FailedDescriptor {
  descriptor: Descriptor;
  problem: Problem;
  /** How many of the root's images resolved before it: where it stands among them. */
  imagesBefore: number;
}

/** A manifest that is no runnable image (attestation, artifact), or another blob an index lists. */
export interface ArtifactManifest {
  descriptor: Descriptor;
  /** The manifest's artifactType, else its config's media type (as the referrers API gives it). */
  artifactType: string | undefined;
  /** What it refers to: its subject, or Docker's vnd.docker.reference.digest annotation. */
  subject: string | undefined;
  /** Its config and layers, as the manifest lists them. */
  blobs: { digest: string; mediaType: string; size: number }[];
}

/** A top-level object of the archive: an index.json entry or a manifest.json item. */
export interface ResolvedRoot {
  descriptor: Descriptor;
  kind: "manifest" | "index" | "unknown";
  origin: DigestOrigin;
  /** Full normalised references (docker.io/library/x:tag); empty for an untagged image. */
  names: string[];
  /** A bare tag from org.opencontainers.image.ref.name that cannot name an image by itself. */
  bareTag: string | undefined;
  /**
   * Full `repo@digest` names whose digest is the entry's own: an image saved (or exported by
   * containerd) by digest. In manifest.json only a combined archive's RepoTags carry them (as
   * `ctr export` writes them), held to index.json's entry; docker's loader leaves it untagged.
   */
  digestNames: string[];
  images: ResolvedImage[];
  absent: AbsentManifest[];
  /** Other (non-image) manifests in the tree: attestations, artifacts. Kept and carried, not unpacked. */
  artifacts: string[];
  /** The same artifacts, described (manifests and other blobs an index lists, not their config and layers). */
  artifactManifests: ArtifactManifest[];
  /** Children that could not be resolved; a root with any is not in ArchiveGraph.roots. */
  failures: FailedDescriptor[];
  /** Exact bytes of every index in the tree, by digest. */
  indexes: Map<string, Buffer>;
  source: "index.json" | "manifest.json";
  /** What reading it found worth saying but not worth refusing. */
  warnings: string[];
}

export type ArchiveFormat = "oci-layout" | "docker-archive" | "docker-archive+oci-layout";

export interface Problem {
  /** The archive entry (or document) at fault. */
  entry: string;
  /** The field within it, when there is one. */
  field?: string;
  message: string;
  /** The digest in question and, for a mismatch, what was claimed against what the content is. */
  digest?: string;
  compared?: "digest" | "size" | "diffId";
  expected?: string | number;
  actual?: string | number;
}

/** One entry of index.json (or, without one, manifest.json) and what became of it. */
export interface RootEntry {
  /** Where it is listed: `index.json manifests[0]`, `manifest.json[1]`. */
  listedAt: string;
  /** The descriptor index.json gives, or the one lading synthesised for a manifest.json item; undefined when it failed first. */
  descriptor: Descriptor | undefined;
  /** The full names it carries, as far as they could be read. */
  names: string[];
  /** For a manifest.json item that failed: the digest of the config file it names, when the archive has that file. */
  configDigest?: string;
  /** As far as it resolved: whole (and in ArchiveGraph.roots) when it has no problems. */
  root: ResolvedRoot | undefined;
  /** What was found wrong while resolving it; each is in ArchiveGraph.problems too. */
  problems: Problem[];
}

export interface ArchiveGraph {
  /** Null when the input is no image archive at all. */
  format: ArchiveFormat | null;
  compression: Compression;
  roots: ResolvedRoot[];
  /** Every blob the roots reach and the archive carries, by digest: what a load stores. */
  blobs: Map<string, { digest: string; size: number; mediaType: string; bytes?: Buffer; file?: ScannedFile }>;
  problems: Problem[];
  /** Every listed root, resolved or not, in the order of the document that lists it. */
  entries: RootEntry[];
  /** index.json as read (its own annotations and fields), when the archive has a readable one. */
  layoutIndex?: Index;
  warnings: string[];
  /**
   * What is said of how the archive was read: entries ignored (files under blobs/<alg>/ not named
   * for a digest), index.json's `"manifests": null` read as an empty list; in `warnings` too, and load's.
   */
  readingWarnings: string[];
}
