import { invalid } from "../core/errors.js";
import { isJsonObject, parseJsonStrict } from "../core/json.js";
import { dockerManifestJsonSchema, parseDocument, type DockerManifestItem } from "../core/schemas.js";

/**
 * Whether manifest.json holds one image manifest (a JSON object with a schemaVersion), as the
 * dir: transport of containers/image writes it, not docker save's list of images.
 */
export function isImageManifest(bytes: Uint8Array): boolean {
  try {
    const document = parseJsonStrict(bytes, "manifest.json");
    return isJsonObject(document) && "schemaVersion" in document;
  } catch {
    return false;
  }
}

/** manifest.json's bytes as docker save's list of images; a containers/image dir: layout's image manifest is refused saying what it is. */
export function parseDockerManifestJson(bytes: Buffer): DockerManifestItem[] {
  try {
    return parseDocument(dockerManifestJsonSchema, bytes, "manifest.json");
  } catch (error) {
    if (isImageManifest(bytes)) throw invalid(DIR_LAYOUT_MANIFEST, "manifest.json");
    throw error;
  }
}

const DIR_LAYOUT_MANIFEST =
  "manifest.json: an image manifest, not docker save's list of images: this is a dir: layout (skopeo copy dir:, podman save --format docker-dir), which lading does not read; skopeo copy dir:DIR docker-archive:FILE makes an archive of it";
