import { digestOf, parseDigest } from "../core/digest.js";
import { invalid } from "../core/errors.js";
import type { Descriptor, Index, Manifest } from "../core/schemas.js";

/** RFC 4648 standard base64 with its padding, which the image-spec requires of `data`. */
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * A descriptor's `data` (OCI 1.1: the content embedded in the descriptor) must be the content
 * its size and digest name: a consumer that reads the embedded bytes instead of the blob would
 * otherwise see other content than the one verified. `subject` is the document holding it.
 */
export function checkEmbeddedData(descriptor: Descriptor, field: string, subject: string): void {
  const data = descriptor.data;
  if (data === undefined || data === null) return;
  if (!STANDARD_BASE64.test(data)) throw invalid(`${field}: data is not standard base64`, subject);
  const bytes = Buffer.from(data, "base64");
  if (bytes.length !== descriptor.size) {
    throw invalid(`${field}: data decodes to ${bytes.length} bytes but size is ${descriptor.size}`, subject);
  }
  const actual = digestOf(bytes, parseDigest(descriptor.digest, field).algorithm);
  if (actual !== descriptor.digest) {
    throw invalid(`${field}: data does not match digest ${descriptor.digest} (it decodes to content with digest ${actual})`, subject);
  }
}

/** Checks the embedded data of every descriptor in an index; `what` names the document. */
export function checkIndexData(index: Index, what: string): void {
  index.manifests.forEach((child, position) => checkEmbeddedData(child, `${what} manifests[${position}]`, what));
  if (index.subject) checkEmbeddedData(index.subject, `${what} subject`, what);
}

/** Checks the embedded data of every descriptor in a manifest; `what` names the document. */
export function checkManifestData(manifest: Manifest, what: string): void {
  checkEmbeddedData(manifest.config, `${what} config`, what);
  manifest.layers.forEach((layer, position) => checkEmbeddedData(layer, `${what} layers[${position}]`, what));
  if (manifest.subject) checkEmbeddedData(manifest.subject, `${what} subject`, what);
}
