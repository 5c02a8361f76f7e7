import { isManifestType } from "../core/media-types.js";
import { formatPlatform, normalizePlatform } from "../core/platform.js";
import type { Descriptor } from "../core/schemas.js";
import type { ArchiveGraph, Problem, RootEntry } from "../archive/model.js";
import { validDigestNamedBy } from "../archive/names.js";
import { readArchive, type ReadOptions } from "../archive/read.js";
import type { OpenedSource } from "../archive/source.js";
import { isLadingError, type LadingError } from "../core/errors.js";

export interface VerifiedLayer {
  digest: string;
  size: number;
  mediaType: string;
  compression: string;
  diffId: string | null;
  uncompressedSize: number | null;
  /** Set only for a foreign layer the archive does not carry: its diff ID is the config's, unchecked. */
  absent?: true;
}

export interface VerifiedImage {
  names: string[];
  /** The `listedAt` of its root in `roots`: which root it is an image of. */
  listedAt: string;
  rootDigest: string;
  rootMediaType: string;
  manifestDigest: string;
  manifestMediaType: string;
  manifestOrigin: "archive" | "synthesized";
  configDigest: string;
  platform: string;
  layers: VerifiedLayer[];
}

/** The shape of the report (`--json`): raised when a field changes meaning or goes away, not when one is added. */
export const VERIFY_SCHEMA_VERSION = 1;

export type Status = "ok" | "invalid";

/** A problem that concerns one root: its entry, and for a mismatch the digest, what was compared and both values. */
export interface RootProblem {
  entry: string;
  message: string;
  digest?: string;
  compared?: "digest" | "size" | "diffId";
  expected?: string | number;
  actual?: string | number;
}

/**
 * One platform image of a root, fine or not: manifestDigest is null for a manifest.json item that
 * failed (its manifest is synthesised from sound layers only), configDigest when it is unknown.
 */
export interface ImageStatus {
  manifestDigest: string | null;
  platform: string | null;
  configDigest: string | null;
  status: Status;
  problems: RootProblem[];
}

/** One entry of index.json (or, without one, manifest.json), whatever became of it. */
export interface VerifiedRoot {
  /** Where the archive lists it: `index.json manifests[0]`, `manifest.json[1]`. */
  listedAt: string;
  /** Null when it could not be read far enough to have one (a manifest.json item's synthesised manifest). */
  digest: string | null;
  mediaType: string | null;
  names: string[];
  status: Status;
  /** Everything found wrong with it, its images' problems included. */
  problems: RootProblem[];
  images: ImageStatus[];
}

/** A manifest that is no runnable image (an attestation, an artifact), or another blob an index lists. */
export interface VerifiedArtifact {
  rootDigest: string;
  digest: string;
  mediaType: string;
  /** The manifest's artifactType, else its config's media type; the descriptor's for a plain blob. */
  artifactType: string | null;
  platform: string | null;
  /** What it refers to: its subject, or Docker's vnd.docker.reference.digest annotation. */
  subject: string | null;
  /** The annotations of its descriptor (BuildKit's `vnd.docker.reference.type: attestation-manifest`). */
  annotations: Record<string, string>;
  /** Its config and layers. */
  blobs: { digest: string; mediaType: string; size: number }[];
  status: Status;
  problems: RootProblem[];
}

export interface VerifyReport {
  schemaVersion: typeof VERIFY_SCHEMA_VERSION;
  format: ArchiveGraph["format"];
  compression: string | null;
  valid: boolean;
  images: VerifiedImage[];
  /** Index children the archive does not carry (a sparse index), by root. */
  absent: { rootDigest: string; digest: string; platform: string | null }[];
  /**
   * Everything wrong with the archive, whether it concerns one root (then also under roots) or the
   * whole archive; a blob a root's problem names is said there alone.
   */
  problems: { entry: string; message: string }[];
  warnings: string[];
  roots: VerifiedRoot[];
  artifacts: VerifiedArtifact[];
}

/** Reads an archive once and reports what it holds and everything wrong with it. */
export async function verifyArchive(source: OpenedSource, options: ReadOptions = {}): Promise<VerifyReport> {
  let graph: ArchiveGraph;
  try {
    graph = await readArchive(source, options);
  } catch (error) {
    if (!isLadingError(error)) throw error;
    return unreadableReport(error, "(archive)", source.compression);
  } finally {
    source.close();
  }
  return reportOf(graph);
}

/** The report of an archive that could not be read (or opened) at all: its one problem. */
export function unreadableReport(error: LadingError, entry: string, compression: string | null): VerifyReport {
  return {
    schemaVersion: VERIFY_SCHEMA_VERSION,
    format: null,
    compression,
    valid: false,
    images: [],
    absent: [],
    problems: [{ entry: error.subject ?? entry, message: error.message }],
    warnings: [],
    roots: [],
    artifacts: [],
  };
}

export function reportOf(graph: ArchiveGraph): VerifyReport {
  const images: VerifiedImage[] = [];
  const absent: VerifyReport["absent"] = [];
  const sound = new Set(graph.roots);
  for (const { root, listedAt } of graph.entries) {
    if (!root || !sound.has(root)) continue;
    for (const image of root.images) {
      images.push({
        names: [...root.names, ...root.digestNames],
        listedAt,
        rootDigest: root.descriptor.digest,
        rootMediaType: root.descriptor.mediaType,
        manifestDigest: image.manifest.digest,
        manifestMediaType: image.manifest.mediaType,
        manifestOrigin: image.manifest.origin,
        configDigest: image.config.digest,
        platform: formatPlatform(image.platform),
        layers: image.layers.map((layer) => ({
          digest: layer.digest,
          size: layer.size,
          mediaType: layer.mediaType,
          compression: layer.compression,
          diffId: layer.diffId ?? null,
          uncompressedSize: layer.uncompressedSize ?? null,
          ...(layer.absent ? { absent: true as const } : {}),
        })),
      });
    }
  }
  for (const root of graph.roots) {
    for (const child of root.absent) {
      absent.push({ rootDigest: root.descriptor.digest, digest: child.digest, platform: child.platform ? formatPlatform(child.platform) : null });
    }
  }
  return {
    schemaVersion: VERIFY_SCHEMA_VERSION,
    format: graph.format,
    compression: graph.compression,
    valid: graph.problems.length === 0,
    images,
    absent,
    problems: problemsOnce(graph),
    warnings: graph.warnings,
    roots: graph.entries.map(rootStatus),
    artifacts: graph.entries.flatMap(artifactStatuses),
  };
}

/**
 * The graph's problems with each bad blob said once: a problem about a blob (an entry named for a
 * digest) that is no root's own is left out when a root's problem names that blob, which says
 * which descriptor and image use it and what was compared. That drops the archive-wide "content
 * does not match its name" of a blob a root uses, and in a combined archive manifest.json's word
 * on the same blob (graph.ts leaves out docker-save names so; load reports the graph's first).
 */
function problemsOnce(graph: ArchiveGraph): VerifyReport["problems"] {
  const keyOf = (problem: { entry: string; message: string }): string => `${problem.entry}\n${problem.message}`;
  const ofRoots = new Map<string, number>();
  const blobsOfRoots = new Set<string>();
  for (const problem of graph.entries.flatMap((entry) => entry.problems)) {
    ofRoots.set(keyOf(problem), (ofRoots.get(keyOf(problem)) ?? 0) + 1);
    blobsOfRoots.add(problem.entry);
  }
  const kept = graph.problems.filter((problem) => {
    const left = ofRoots.get(keyOf(problem)) ?? 0;
    if (left > 0) {
      ofRoots.set(keyOf(problem), left - 1);
      return true;
    }
    // A name that is no valid digest is a problem of its own, never a root's blob.
    return !(blobsOfRoots.has(problem.entry) && validDigestNamedBy(problem.entry) !== undefined);
  });
  return kept.map(({ entry, message }) => ({ entry, message }));
}

const statusOf = (problems: readonly unknown[]): Status => (problems.length === 0 ? "ok" : "invalid");
const rootProblem = ({ field: _field, ...problem }: Problem): RootProblem => problem;
const platformOf = (descriptor: Descriptor): string | null => (descriptor.platform ? formatPlatform(normalizePlatform(descriptor.platform)) : null);

/** The artifacts' digests of a root, to tell their failures from its images'. */
const artifactDigests = (entry: RootEntry): Set<string> => new Set(entry.root?.artifactManifests.map((artifact) => artifact.descriptor.digest));

function rootStatus(entry: RootEntry): VerifiedRoot {
  const images: ImageStatus[] = [];
  const root = entry.root;
  if (root) {
    const artifacts = artifactDigests(entry);
    // A failed manifest stands where the walk met it among the images that resolved.
    const failedImages = root.failures.filter((failure) => isManifestType(failure.descriptor.mediaType) && !artifacts.has(failure.descriptor.digest));
    root.images.forEach((image, position) => {
      for (const failure of failedImages) if (failure.imagesBefore === position) images.push(failedImage(failure.descriptor, failure.problem));
      images.push({ manifestDigest: image.manifest.digest, platform: formatPlatform(image.platform), configDigest: image.config.digest, status: "ok", problems: [] });
    });
    for (const failure of failedImages) if (failure.imagesBefore >= root.images.length) images.push(failedImage(failure.descriptor, failure.problem));
  } else if (entry.descriptor && isManifestType(entry.descriptor.mediaType)) {
    images.push({ ...failedImage(entry.descriptor, entry.problems[0]!), problems: entry.problems.map(rootProblem) });
  } else if (entry.configDigest !== undefined) {
    images.push({ manifestDigest: null, platform: null, configDigest: entry.configDigest, status: "invalid", problems: entry.problems.map(rootProblem) });
  }
  return {
    listedAt: entry.listedAt,
    digest: entry.descriptor?.digest ?? null,
    mediaType: entry.descriptor?.mediaType ?? null,
    names: entry.names,
    status: statusOf(entry.problems),
    problems: entry.problems.map(rootProblem),
    images,
  };
}

function failedImage(descriptor: Descriptor, problem: Problem): ImageStatus {
  return { manifestDigest: descriptor.digest, platform: platformOf(descriptor), configDigest: null, status: "invalid", problems: [rootProblem(problem)] };
}

function artifactStatuses(entry: RootEntry): VerifiedArtifact[] {
  const root = entry.root;
  if (!root) return [];
  return root.artifactManifests.map((artifact) => {
    const problems = root.failures.filter((failure) => failure.descriptor.digest === artifact.descriptor.digest).map((failure) => rootProblem(failure.problem));
    return {
      rootDigest: root.descriptor.digest,
      digest: artifact.descriptor.digest,
      mediaType: artifact.descriptor.mediaType,
      artifactType: artifact.artifactType ?? null,
      platform: platformOf(artifact.descriptor),
      subject: artifact.subject ?? null,
      annotations: artifact.descriptor.annotations ?? {},
      blobs: artifact.blobs,
      status: statusOf(problems),
      problems,
    };
  });
}
