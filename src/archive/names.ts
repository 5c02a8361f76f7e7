import { digestProblem, parseDigest } from "../core/digest.js";
import { invalid } from "../core/errors.js";
import { safeEntryName } from "../tar/entry-name.js";
import { familiarName, formatReference, fullName, parseReference, withDefaultTag, type ImageReference } from "../core/reference.js";
import type { DigestOrigin } from "./model.js";

export const ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name";
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
/**
 * lading's own mark on an index.json entry whose manifest lading synthesised from a
 * manifest.json-only archive. It can only lower trust: a reader that sees it never reports the
 * digest as a registry's, so a synthesised digest stays marked through save and load. It takes
 * no name away: the entry's manifest bytes are in the archive, whatever the mark says.
 */
export const ANNOTATION_SYNTHESIZED = "dev.lading.manifest.synthesized";

/** Docker's normalisation of a name found in an archive: full form, `:latest` when bare. */
export function normalizeImageName(value: string, field: string): string {
  const ref = withDefaultTag(parseName(value, field));
  refuseDigestRepository(ref, value, field);
  // Docker's load refuses it too, but only once the layers are in: a name here must be a tag.
  if (ref.digest !== undefined) throw invalid(`${field}: ${JSON.stringify(value)} carries a digest; an image's name in an archive must be a tag`, field);
  return formatReference(ref, "full");
}

/**
 * A RepoTags name: a tag (normalised as normalizeImageName does), or `repo@digest` with its
 * digest. `ctr export` writes an image pulled by digest so. manifest.json keeps no manifest for a
 * digest to pin: only an index.json entry of that digest can vouch for such a name (graph.ts).
 */
export function repoTagName(value: string, field: string): { name: string; digest: string | undefined } {
  const ref = parseName(value, field);
  if (ref.digest === undefined || ref.tag !== undefined) return { name: normalizeImageName(value, field), digest: undefined };
  refuseDigestRepository(ref, value, field);
  return { name: formatReference(ref, "full"), digest: ref.digest };
}

/** Docker refuses "sha256:<tag>": read back, it would be ambiguous with an image ID. */
function refuseDigestRepository(ref: ImageReference, value: string, field: string): void {
  if (familiarName(ref) === "sha256") throw invalid(`${field}: ${JSON.stringify(value)} uses the digest algorithm "sha256" as a repository name`, field);
}

function parseName(value: string, field: string): ImageReference {
  try {
    return parseReference(value);
  } catch (error) {
    throw invalid(`${field}: ${(error as Error).message}`, field);
  }
}

export interface AnnotatedNames {
  /** Full tag references. */
  names: string[];
  bareTag: string | undefined;
  /** Full `repo@digest` references naming the entry by its own digest. */
  digestNames: string[];
}

/**
 * Names an index.json entry (whose digest is `digest`): the containerd name when present, else a
 * ref.name that is a full reference. A bare tag (`1.0`, as skopeo and ctr write) cannot name an
 * image alone. A containerd name may be `repo@digest` (an image saved or exported by digest),
 * but only with the entry's own digest: any other would name one image by another's digest.
 */
export function namesFromAnnotations(annotations: Record<string, string> | null | undefined, field: string, digest: string): AnnotatedNames {
  const containerdName = annotations?.[ANNOTATION_CONTAINERD_NAME];
  const refName = annotations?.[ANNOTATION_REF_NAME];
  if (containerdName !== undefined) {
    const containerdField = `${field}.annotations["${ANNOTATION_CONTAINERD_NAME}"]`;
    const ref = parseName(containerdName, containerdField);
    if (ref.digest !== undefined && ref.tag === undefined) {
      if (ref.digest !== digest) throw invalid(`${containerdField}: ${JSON.stringify(containerdName)} names the digest ${ref.digest}, not the entry's own ${digest}`, containerdField);
      refuseDigestRepository(ref, containerdName, containerdField);
      return { names: [], bareTag: undefined, digestNames: [formatReference(ref, "full")] };
    }
    const names = [normalizeImageName(containerdName, containerdField)];
    if (refName !== undefined) checkRefName(refName, `${field}.annotations["${ANNOTATION_REF_NAME}"]`);
    return { names, bareTag: undefined, digestNames: [] };
  }
  if (refName === undefined) return { names: [], bareTag: undefined, digestNames: [] };
  const refField = `${field}.annotations["${ANNOTATION_REF_NAME}"]`;
  if (isBareTag(refName)) return { names: [], bareTag: refName, digestNames: [] };
  return { names: [normalizeImageName(refName, refField)], bareTag: undefined, digestNames: [] };
}

const TAG = /^[\w][\w.-]{0,127}$/;

function isBareTag(refName: string): boolean {
  return !refName.includes("/") && !refName.includes(":") && !refName.includes("@") && TAG.test(refName);
}

/** A ref.name beside a containerd name is only a tag or a reference; either must be well formed. */
function checkRefName(refName: string, field: string): void {
  if (isBareTag(refName)) return;
  normalizeImageName(refName, field);
}

/**
 * The names by digest an archive must carry itself: those of a repository in which the image has
 * no tag. A tag's `repo@digest` is recorded again by the loader on the far side from the tag, but
 * only for an original manifest (archive-names.ts): of a synthesised one, every name by digest.
 */
export function explicitDigestNames(names: readonly string[], digestNames: readonly string[], origin: DigestOrigin): string[] {
  if (origin === "synthesized") return [...digestNames];
  const tagged = new Set(names.map((name) => fullName(parseReference(name))));
  return digestNames.filter((name) => !tagged.has(fullName(parseReference(name))));
}

const LAYOUT_BLOB = /^blobs\/([^/]+)\/([^/]+)$/;

/** Whether a path has the shape of an OCI layout's blob, `blobs/<alg>/<encoded>` (not whether that is a valid digest). */
export function isLayoutBlobPath(path: string): boolean {
  return LAYOUT_BLOB.test(path);
}

/**
 * Why a `blobs/<alg>/<encoded>` path names no digest (`invalid digest "sha256:.DS_Store"`,
 * `unsupported digest algorithm "md5" in "md5:…"`), or undefined when it names one or is no such path.
 */
export function layoutBlobNameProblem(path: string): string | undefined {
  const blob = LAYOUT_BLOB.exec(path);
  return blob ? digestProblem(`${blob[1]}:${blob[2]}`) : undefined;
}

/** docker-save's names for a config or layer (formats.md, shapes 1 to 3), crane's `sha256:<hex>` among them. */
const DOCKER_SAVE_DIGEST_NAME = /^(?:sha256:)?([0-9a-f]{64})(?:\.json|\.tar|\.tar\.gz)?$/;

/**
 * The digest an archive entry's name (or a path naming one) gives its content, or undefined when
 * it gives none. `blobs/<alg>/<encoded>` gives `<alg>:<encoded>`, and throws when that is no valid
 * digest: no content could match it. A last component `<hex>`, `sha256:<hex>`, `<hex>.json`,
 * `<hex>.tar` or `<hex>.tar.gz` gives `sha256:<hex>`. `<v1id>/layer.tar` and `<v1id>/json` give
 * none: a v1 ID is no digest. An unsafe name (`..`, absolute) throws, as the scan refuses it.
 */
export function digestNamedBy(name: string): string | undefined {
  const path = safeEntryName(name);
  const blob = LAYOUT_BLOB.exec(path);
  if (blob) {
    const digest = `${blob[1]}:${blob[2]}`;
    parseDigest(digest, path);
    return digest;
  }
  const named = DOCKER_SAVE_DIGEST_NAME.exec(path.slice(path.lastIndexOf("/") + 1));
  return named ? `sha256:${named[1]}` : undefined;
}

/**
 * digestNamedBy for a name that may be no valid digest name, when that is a problem reported
 * elsewhere (by the scan or by checkBlobNames): undefined then, as for a name that gives none.
 */
export function validDigestNamedBy(name: string): string | undefined {
  try {
    return digestNamedBy(name);
  } catch {
    return undefined;
  }
}
