import { isJsonObject, parseJsonStrict } from "../core/json.js";

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
