import { invalid } from "../core/errors.js";
import { formatReference, parseReference, withDefaultTag } from "../core/reference.js";

export const ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name";
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

/** Docker's normalisation of a name found in an archive: full form, `:latest` when bare. */
export function normalizeImageName(value: string, field: string): string {
  try {
    return formatReference(withDefaultTag(parseReference(value)), "full");
  } catch (error) {
    throw invalid(`${field}: ${(error as Error).message}`, field);
  }
}

/**
 * Names an index.json entry: the containerd name when present, else a ref.name that is a full
 * reference. A bare tag (`1.0`, as skopeo and ctr write) cannot name an image alone.
 */
export function namesFromAnnotations(
  annotations: Record<string, string> | null | undefined,
  field: string,
): { names: string[]; bareTag: string | undefined } {
  const containerdName = annotations?.[ANNOTATION_CONTAINERD_NAME];
  const refName = annotations?.[ANNOTATION_REF_NAME];
  if (containerdName !== undefined) {
    const names = [normalizeImageName(containerdName, `${field}.annotations["${ANNOTATION_CONTAINERD_NAME}"]`)];
    if (refName !== undefined) checkRefName(refName, `${field}.annotations["${ANNOTATION_REF_NAME}"]`);
    return { names, bareTag: undefined };
  }
  if (refName === undefined) return { names: [], bareTag: undefined };
  const refField = `${field}.annotations["${ANNOTATION_REF_NAME}"]`;
  if (isBareTag(refName)) return { names: [], bareTag: refName };
  return { names: [normalizeImageName(refName, refField)], bareTag: undefined };
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
