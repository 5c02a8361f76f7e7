import { invalid } from "../core/errors.js";
import { quoteName as quote, shortName } from "../core/quoted-name.js";

/** Longest entry name accepted, in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_ENTRY_NAME_BYTES = 4096;
/** Longest single path component accepted, in UTF-8 bytes (Linux NAME_MAX). */
export const MAX_COMPONENT_BYTES = 255;

function refuseName(raw: string, reason: string): never {
  throw invalid(`unsafe entry name ${quote(raw)}: ${reason}`, shortName(raw));
}

/** Checks the characters every name or link target must avoid; returns the reason, if any. */
function forbiddenCharacters(text: string): string | undefined {
  if (text.includes("\0")) return "contains a NUL byte";
  if (text.includes("\\")) return "contains a backslash";
  return undefined;
}

/**
 * Validates and normalises an archive entry name: strips leading "./" and trailing "/", collapses
 * "//" and "." components. Refuses absolute names, ".." components anywhere, NUL bytes,
 * backslashes, empty names, names longer than 4096 bytes and components longer than 255 bytes.
 * "." and "./" name the archive root and return "" (callers skip it).
 */
export function safeEntryName(raw: string): string {
  if (raw === "") refuseName(raw, "empty name");
  const badCharacters = forbiddenCharacters(raw);
  if (badCharacters !== undefined) refuseName(raw, badCharacters);
  if (raw.startsWith("/")) refuseName(raw, "absolute path");
  if (Buffer.byteLength(raw) > MAX_ENTRY_NAME_BYTES) refuseName(raw, `longer than ${MAX_ENTRY_NAME_BYTES} bytes`);
  const components: string[] = [];
  for (const component of raw.split("/")) {
    if (component === "" || component === ".") continue;
    if (component === "..") refuseName(raw, '".." component');
    if (Buffer.byteLength(component) > MAX_COMPONENT_BYTES) {
      refuseName(raw, `component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
    components.push(component);
  }
  return components.join("/");
}

/**
 * Resolves a symlink's target inside the archive's own namespace, relative to the directory of
 * the link, and returns the normalised path ("" for the archive root). The resolution is lexical:
 * if the result names another symlink, the caller resolves again (with a bound, against loops).
 * Throws LadingError invalid for absolute targets, targets that climb above the root, and
 * targets with NUL bytes or backslashes.
 */
export function resolveLinkTarget(linkName: string, target: string): string {
  const link = safeEntryName(linkName);
  const refuseTarget = (reason: string): never => {
    throw invalid(`symlink ${quote(link)} -> ${quote(target)}: ${reason}`, linkName);
  };
  if (target === "") refuseTarget("empty target");
  const badCharacters = forbiddenCharacters(target);
  if (badCharacters !== undefined) refuseTarget(`target ${badCharacters}`);
  if (target.startsWith("/")) refuseTarget("absolute target");

  const resolved = link.split("/").slice(0, -1);
  for (const component of target.split("/")) {
    if (component === "" || component === ".") continue;
    if (component === "..") {
      if (resolved.length === 0) refuseTarget("target escapes the archive");
      resolved.pop();
      continue;
    }
    if (Buffer.byteLength(component) > MAX_COMPONENT_BYTES) {
      refuseTarget(`target component longer than ${MAX_COMPONENT_BYTES} bytes`);
    }
    resolved.push(component);
  }
  const path = resolved.join("/");
  if (Buffer.byteLength(path) > MAX_ENTRY_NAME_BYTES) refuseTarget(`target longer than ${MAX_ENTRY_NAME_BYTES} bytes`);
  return path;
}
