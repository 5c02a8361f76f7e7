import { formatReference, parseReference } from "../core/reference.js";

/** A stored full name shown the way docker shows it. */
export function familiarNameOf(fullReference: string): string {
  try {
    return formatReference(parseReference(fullReference), "familiar");
  } catch {
    return fullReference;
  }
}
