import { invalid } from "../core/errors.js";

/**
 * The store names an image by its root's digest, and its references hold sha256 image IDs (the
 * shape of docker's repositories.json): a root addressed by another algorithm cannot be stored.
 * Refused before anything is committed, rather than stored as an image no name can reach.
 */
export function checkStorableRoot(digest: string, where: string): void {
  if (digest.startsWith("sha256:")) return;
  const algorithm = digest.slice(0, digest.indexOf(":"));
  throw invalid(`${where}: image ${digest} is addressed by ${algorithm}, but the store names images by sha256 digests, so it cannot be stored (verify and convert read it)`, where);
}
