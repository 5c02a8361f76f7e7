import { invalid } from "../core/errors.js";
import type { Compression } from "../tar/compression.js";
import type { TarBody } from "../tar/reader.js";
import { safeEntryName } from "../tar/entry-name.js";
import type { ScannedArchive, ScannedFile, ScannedLink } from "./model.js";
import { probeFile, type BlobWriter, type ProbeLimits } from "./probe.js";

/** An entry of an archive, from a tar stream or from a directory on disk. */
export interface ArchiveEntry {
  name: string; // already passed through safeEntryName
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  size: number;
  /** For links: the target resolved inside the archive's namespace. */
  resolvedTarget?: string;
  /** The bytes of a file; each chunk is valid only until the next step (copy to keep). Unread bytes are skipped. */
  body: TarBody;
}

export interface ScanOptions extends ProbeLimits {
  /** Opens a writer for a file's bytes (the content store's ingest, for a load). */
  openWriter?: (name: string, size: number) => Promise<BlobWriter | undefined>;
}

/**
 * Reads every entry once. Files are probed (hashed, decompressed, sniffed); links are recorded
 * for resolution at the end. One rule for duplicate names: the same content again is accepted,
 * different content is refused. Nothing may be written "through" a link: an entry below a
 * path that is a link is refused, whichever comes first.
 */
export async function scanEntries(
  entries: AsyncIterable<ArchiveEntry>,
  compression: Compression,
  options: ScanOptions,
): Promise<ScannedArchive> {
  const files = new Map<string, ScannedFile>();
  const links = new Map<string, ScannedLink>();
  const byDigest = new Map<string, ScannedFile>();
  const parentDirs = new Set<string>();

  for await (const entry of entries) {
    const { name } = entry;
    if (name === "") continue;
    if (entry.type === "directory") continue;
    if (entry.type === "other") throw invalid(`entry ${JSON.stringify(name)}: unsupported entry type (device, FIFO or similar)`, name);

    for (const ancestor of ancestorsOf(name)) {
      if (links.has(ancestor)) throw invalid(`entry ${JSON.stringify(name)} is beneath the link ${JSON.stringify(ancestor)}`, name);
      if (files.has(ancestor)) throw invalid(`entry ${JSON.stringify(name)} is beneath the file ${JSON.stringify(ancestor)}`, name);
    }

    if (entry.type === "symlink" || entry.type === "hardlink") {
      const target = entry.resolvedTarget;
      if (target === undefined) throw invalid(`entry ${JSON.stringify(name)}: link without a target`, name);
      if (parentDirs.has(name)) throw invalid(`link ${JSON.stringify(name)} replaces a directory of earlier entries`, name);
      const earlier = links.get(name);
      if (files.has(name) || (earlier && earlier.target !== target)) {
        throw invalid(`duplicate entry ${JSON.stringify(name)} with different content`, name);
      }
      links.set(name, { name, kind: entry.type, target });
      continue;
    }

    // The body is pulled, so nothing is read (and nothing can fail) until probeFile asks.
    const writer = options.openWriter ? await options.openWriter(name, entry.size) : undefined;
    const file = await probeFile(name, entry.body, options, writer);
    if (file.size !== entry.size) throw invalid(`entry ${JSON.stringify(name)}: size ${file.size} does not match its header (${entry.size})`, name);
    const earlier = files.get(name);
    if (earlier || links.has(name)) {
      if (earlier?.digest !== file.digest) throw invalid(`duplicate entry ${JSON.stringify(name)} with different content`, name);
      continue;
    }
    files.set(name, file);
    for (const ancestor of ancestorsOf(name)) parentDirs.add(ancestor);
    if (!byDigest.has(file.digest)) byDigest.set(file.digest, file);
    if (file.sha512 && !byDigest.has(file.sha512)) byDigest.set(file.sha512, file);
  }
  return { files, links, byDigest, compression };
}

function ancestorsOf(name: string): string[] {
  const parts = name.split("/");
  const ancestors: string[] = [];
  for (let i = 1; i < parts.length; i++) ancestors.push(parts.slice(0, i).join("/"));
  return ancestors;
}

const MAX_LINK_DEPTH = 16;

/**
 * Finds the file a path names, following links of the final component only (a path that climbs
 * through a linked directory is refused), with a depth limit against chains and loops.
 */
export function lookupFile(archive: ScannedArchive, path: string, field: string): ScannedFile {
  let current: string;
  try {
    current = safeEntryName(path);
  } catch (error) {
    throw invalid(`${field}: unsafe path ${JSON.stringify(path)}: ${(error as Error).message}`, field);
  }
  for (let depth = 0; depth <= MAX_LINK_DEPTH; depth++) {
    const file = archive.files.get(current);
    if (file) return file;
    const link = archive.links.get(current);
    if (!link) {
      const through = ancestorsOf(current).find((ancestor) => archive.links.has(ancestor));
      if (through) throw invalid(`${field}: ${JSON.stringify(path)} reaches a file through the link ${JSON.stringify(through)}`, field);
      throw invalid(`${field}: ${JSON.stringify(path)} is not in the archive`, field);
    }
    current = link.target;
  }
  throw invalid(`${field}: ${JSON.stringify(path)} is a chain of more than ${MAX_LINK_DEPTH} links (or a loop)`, field);
}
