import { formatPlatform } from "../core/platform.js";
import type { ArchiveGraph } from "../archive/model.js";
import { readArchive, type ReadOptions } from "../archive/read.js";
import type { OpenedSource } from "../archive/source.js";
import { isLadingError, type LadingError } from "../core/errors.js";

export interface VerifiedLayer {
  digest: string;
  size: number;
  mediaType: string;
  compression: string;
  diffId: string | null;
  uncompressedSize: number | null;
  /** Set only for a foreign layer the archive does not carry: its diff ID is the config's, unchecked. */
  absent?: true;
}

export interface VerifiedImage {
  names: string[];
  rootDigest: string;
  rootMediaType: string;
  manifestDigest: string;
  manifestMediaType: string;
  manifestOrigin: "archive" | "synthesized";
  configDigest: string;
  platform: string;
  layers: VerifiedLayer[];
}

export interface VerifyReport {
  format: ArchiveGraph["format"];
  compression: string | null;
  valid: boolean;
  images: VerifiedImage[];
  /** Index children the archive does not carry (a sparse index), by root. */
  absent: { rootDigest: string; digest: string; platform: string | null }[];
  problems: { entry: string; message: string }[];
  warnings: string[];
}

/** Reads an archive once and reports what it holds and everything wrong with it. */
export async function verifyArchive(source: OpenedSource, options: ReadOptions = {}): Promise<VerifyReport> {
  let graph: ArchiveGraph;
  try {
    graph = await readArchive(source, options);
  } catch (error) {
    if (!isLadingError(error)) throw error;
    return unreadableReport(error, "(archive)", source.compression);
  }
  return reportOf(graph);
}

/** The report of an archive that could not be read (or opened) at all: its one problem. */
export function unreadableReport(error: LadingError, entry: string, compression: string | null): VerifyReport {
  return { format: null, compression, valid: false, images: [], absent: [], problems: [{ entry: error.subject ?? entry, message: error.message }], warnings: [] };
}

export function reportOf(graph: ArchiveGraph): VerifyReport {
  const images: VerifiedImage[] = [];
  const absent: VerifyReport["absent"] = [];
  for (const root of graph.roots) {
    for (const image of root.images) {
      images.push({
        names: [...root.names, ...root.digestNames],
        rootDigest: root.descriptor.digest,
        rootMediaType: root.descriptor.mediaType,
        manifestDigest: image.manifest.digest,
        manifestMediaType: image.manifest.mediaType,
        manifestOrigin: image.manifest.origin,
        configDigest: image.config.digest,
        platform: formatPlatform(image.platform),
        layers: image.layers.map((layer) => ({
          digest: layer.digest,
          size: layer.size,
          mediaType: layer.mediaType,
          compression: layer.compression,
          diffId: layer.diffId ?? null,
          uncompressedSize: layer.uncompressedSize ?? null,
          ...(layer.absent ? { absent: true as const } : {}),
        })),
      });
    }
    for (const child of root.absent) {
      absent.push({ rootDigest: root.descriptor.digest, digest: child.digest, platform: child.platform ? formatPlatform(child.platform) : null });
    }
  }
  return {
    format: graph.format,
    compression: graph.compression,
    valid: graph.problems.length === 0,
    images,
    absent,
    problems: graph.problems.map((problem) => ({ entry: problem.entry, message: problem.message })),
    warnings: graph.warnings,
  };
}
