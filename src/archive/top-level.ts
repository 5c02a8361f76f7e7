/**
 * What the names at an archive's top level say of it, before or after its files are read:
 * resolveGraph decides with it once a scan is done, and a directory is refused with it before
 * any of its files is read (source.ts).
 */
export interface TopLevelNames {
  /** `index.json` or `oci-layout`: an OCI layout. */
  index: boolean;
  manifestJson: boolean;
  repositories: boolean;
}

/** Docker before 1.10 (2016) wrote `repositories` and `<v1id>/json` only: no image config by digest, so no digest to keep. */
const LEGACY_REPOSITORIES_ONLY =
  "not an image archive lading reads: it has repositories but no manifest.json, as docker save wrote before Docker 1.10; its images have no content-addressed config to check (docker load then docker save with Docker 1.10 or later writes one lading reads)";

const NO_IMAGE_METADATA = "not an image archive: it has neither manifest.json nor oci-layout and index.json";

/** Why an archive with these top-level names is no image archive lading reads; undefined when it may be one. */
export function notAnImageArchive(top: TopLevelNames): string | undefined {
  if (top.index || top.manifestJson) return undefined;
  return top.repositories ? LEGACY_REPOSITORIES_ONLY : NO_IMAGE_METADATA;
}
