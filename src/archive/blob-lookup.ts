import { parseDigest } from "../core/digest.js";
import { invalid, notFound } from "../core/errors.js";
import type { Descriptor } from "../core/schemas.js";
import type { ScannedArchive, ScannedFile } from "./model.js";
import { layoutBlobNameProblem, validDigestNamedBy } from "./names.js";
import { lookupFile } from "./scan.js";

export const blobPathFor = (digest: string): string => {
  const { algorithm, encoded } = parseDigest(digest);
  return `blobs/${algorithm}/${encoded}`;
};

/** True when the layout carries the blob a descriptor names (its digest validated first). */
export function hasBlob(archive: ScannedArchive, descriptor: Descriptor): boolean {
  const path = blobPathFor(descriptor.digest);
  return archive.files.has(path) || archive.links.has(path);
}

/** The file behind a descriptor in an OCI layout, checked for size first, then digest. */
export function blobForDescriptor(archive: ScannedArchive, descriptor: Descriptor, field: string): ScannedFile {
  const path = blobPathFor(descriptor.digest);
  if (!hasBlob(archive, descriptor)) throw notFound(`${field}: blob ${descriptor.digest} is missing (${path})`, path, { digest: descriptor.digest });
  const file = lookupFile(archive, path, field);
  checkBlobMatches(file, descriptor, field, path);
  return file;
}

export function checkBlobMatches(file: ScannedFile, descriptor: { digest: string; size: number }, field: string, path: string): void {
  if (file.size !== descriptor.size) {
    throw invalid(`${field}: size ${descriptor.size} does not match ${path} (${file.size} bytes)`, path, { digest: descriptor.digest, compared: "size", expected: descriptor.size, actual: file.size });
  }
  const actual = contentDigest(file, descriptor.digest);
  if (actual !== descriptor.digest) {
    throw invalid(`${field}: digest ${descriptor.digest} does not match the content of ${path} (${actual ?? "not hashed with sha512"})`, path, {
      digest: descriptor.digest,
      compared: "digest",
      expected: descriptor.digest,
      ...(actual !== undefined ? { actual } : {}),
    });
  }
}

/** The bytes of a small JSON blob, or a clear error if it was not kept. */
export function jsonBytes(file: ScannedFile, field: string, maxJsonBytes: number): Buffer {
  if (file.json && file.json.length <= maxJsonBytes) return file.json;
  if (file.json || file.jsonTooLarge) throw invalid(`${field}: ${file.name} is larger than the JSON size cap of ${maxJsonBytes} bytes`, file.name);
  throw invalid(`${field}: ${file.name} is not a JSON object or array`, file.name);
}

/**
 * Every entry named for a digest must hold content matching its name, referenced or not: a
 * one-pass load trusts such a name when the store already holds that digest. `layout: true` checks
 * `blobs/<alg>/<encoded>` names; `layout: false` docker-save's (`<hex>.tar`, `<hex>.tar.gz`,
 * `<hex>.json`, `sha256:<hex>`, in any directory). A name that is no digest is no blob's (see
 * strayBlobWarnings).
 */
export function checkBlobNames(archive: ScannedArchive, { layout }: { layout: boolean }): { entry: string; message: string }[] {
  const problems: { entry: string; message: string }[] = [];
  for (const file of archive.files.values()) {
    const named = validDigestNamedBy(file.name);
    if (named === undefined || (blobPathFor(named) === file.name) !== layout) continue;
    const actual = contentDigest(file, named);
    if (actual !== named) problems.push({ entry: file.name, message: `${file.name}: content does not match its name (content is ${actual})` });
  }
  return problems;
}

/**
 * Files under `blobs/<alg>/` whose name is no digest lading reads (macOS's `.DS_Store` and
 * `._<hex>`, left by a copy to a USB stick; an algorithm such as md5): no descriptor lading accepts
 * can name one, so each is ignored with a word, as skopeo and umoci ignore them.
 */
export function strayBlobWarnings(archive: ScannedArchive): string[] {
  const warnings: string[] = [];
  for (const file of archive.files.values()) {
    const problem = layoutBlobNameProblem(file.name);
    if (problem !== undefined) warnings.push(`${file.name}: ignored, as its name is no digest: ${problem}`);
  }
  return warnings;
}

/** The digest of a file's content with the algorithm of `digest` (sha512 only when the scan computed it). */
export function contentDigest(file: ScannedFile, digest: string): string | undefined {
  return digest.startsWith("sha512:") ? file.sha512 : file.digest;
}
