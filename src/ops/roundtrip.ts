/**
 * `verify --roundtrip`: load the archive into a temporary store, save it again, read the result
 * back, and prove it carries the same images: the same root (manifest or index) digests, the
 * same manifest and config digests per platform, the same names. A manifest that lading had to
 * synthesise (manifest.json-only input) is reported as such: it survives the trip, but it is
 * lading's, not a registry's.
 */
import path from "node:path";
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { readArchive, type ReadOptions } from "../archive/read.js";
import { openArchivePath, type OpenedSource } from "../archive/source.js";
import { formatPlatform } from "../core/platform.js";
import type { LayoutFormat } from "../archive/write-layout.js";
import type { ImageRecord } from "../store/image-records.js";
import { withTemporaryStore } from "./convert.js";
import { loadArchive } from "./load.js";
import { saveSelection, saveToFile, selectAll } from "./save.js";
import { scratchDirectory } from "../store/exit-cleanup.js";

export interface RoundtripImage {
  id: string;
  mediaType: string;
  names: string[];
  origin: "archive" | "synthesized";
  platforms: { platform: string; manifest: string; config: string }[];
  /** What differs after the trip; empty when the image came back the same. */
  differences: string[];
}

export interface RoundtripReport {
  valid: boolean;
  format: LayoutFormat;
  images: RoundtripImage[];
  problems: string[];
}

export async function verifyRoundtrip(source: OpenedSource, options: ReadOptions & { format?: LayoutFormat } = {}): Promise<RoundtripReport> {
  const format = options.format ?? "docker";
  const scratchDir = await scratchDirectory("lading-roundtrip-");
  const scratch = scratchDir.path;
  try {
    return await withTemporaryStore(async (store) => {
      await loadArchive(store, source, options);
      const selections = await selectAll(store);
      const saved = path.join(scratch, "saved.tar");
      await saveToFile(saved, (sink) => saveSelection(store, selections, sink, { format }));
      const graph = await readArchive(await openArchivePath(saved), options);
      const images = selections.map(({ record, names }) => compareImage(record, [...names].sort(), graph));
      const problems = graph.problems.map((problem) => `${problem.entry}: ${problem.message}`);
      return { valid: problems.length === 0 && images.every((image) => image.differences.length === 0), format, images, problems };
    }, scratch);
  } finally {
    await scratchDir.remove();
  }
}

function compareImage(record: ImageRecord, names: string[], graph: ArchiveGraph): RoundtripImage {
  const roots = graph.roots.filter((root) => root.descriptor.digest === record.id);
  const differences: string[] = [];
  const report: RoundtripImage = {
    id: record.id,
    mediaType: record.mediaType,
    names,
    origin: record.origin,
    platforms: record.images.map((image) => ({ platform: image.platform, manifest: image.manifest.digest, config: image.config.digest })),
    differences,
  };
  if (roots.length === 0) {
    differences.push(`root ${record.id} is not in the saved archive`);
    return report;
  }
  const first = roots[0] as ResolvedRoot;
  if (first.descriptor.mediaType !== record.mediaType) differences.push(`root media type ${first.descriptor.mediaType}, was ${record.mediaType}`);
  if (first.descriptor.size !== record.size) differences.push(`root size ${first.descriptor.size}, was ${record.size}`);
  const savedNames = [...new Set(roots.flatMap((root) => root.names))].sort();
  if (savedNames.join(",") !== names.join(",")) differences.push(`names ${savedNames.join(", ") || "(none)"}, were ${names.join(", ") || "(none)"}`);
  for (const image of record.images) {
    const back = first.images.find((candidate) => candidate.manifest.digest === image.manifest.digest);
    if (!back) {
      differences.push(`${image.platform}: manifest ${image.manifest.digest} is missing`);
      continue;
    }
    if (back.config.digest !== image.config.digest) differences.push(`${image.platform}: config ${back.config.digest}, was ${image.config.digest}`);
    if (formatPlatform(back.platform) !== image.platform) differences.push(`${image.platform}: platform came back as ${formatPlatform(back.platform)}`);
    const layers = back.layers.map((layer) => layer.digest).join(",");
    if (layers !== image.layers.map((layer) => layer.digest).join(",")) differences.push(`${image.platform}: layers differ`);
  }
  const indexes = new Set(first.indexes.keys());
  for (const digest of record.otherBlobs) {
    if (record.id !== digest && !indexes.has(digest) && !first.artifacts.includes(digest)) differences.push(`blob ${digest} is missing`);
  }
  return report;
}
