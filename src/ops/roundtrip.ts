/**
 * `verify --roundtrip`: load the archive into a temporary store, save every image again (as
 * convert's store path does), read the result back, and compare it with the input archive itself,
 * not with what the store recorded: whatever the load drops or relabels is a difference. Compared
 * per root: digest, media type, size, origin (a manifest lading synthesised for a manifest.json-only
 * input survives the trip, but it is lading's, not a registry's), names; per platform: manifest,
 * config, layer digests and diff IDs; children the index lists but the archive does not carry;
 * other manifests (artifacts) and nested indexes; every other field of the root's index.json entries
 * (platform, artifactType, annotations) and index.json's own annotations (roundtrip-entries.ts).
 *
 * A name the output layout cannot carry (a bare ref.name tag in the docker layout, whose
 * manifest.json names images only as repository:tag) is a note, not a difference: every digest is
 * still proved, the report stays valid, but it is not `exact` and the summary says what was left out.
 */
import path from "node:path";
import { bareTagWarning, unknownRootWarning } from "../archive/graph.js";
import type { ArchiveGraph, ResolvedRoot } from "../archive/model.js";
import { readArchive, type ReadOptions } from "../archive/read.js";
import { openArchivePath, type OpenedSource } from "../archive/source.js";
import { formatPlatform } from "../core/platform.js";
import type { LayoutFormat } from "../archive/write-layout.js";
import { convertThroughStore, withTemporaryStore } from "./convert.js";
import { saveToFile } from "./save.js";
import { scratchDirectory } from "../store/exit-cleanup.js";
import { explicitDigestNames } from "../archive/names.js";
import { compareEntryFields, compareIndexFields } from "./roundtrip-entries.js";
import { LadingError } from "../core/errors.js";

export interface RoundtripPlatform {
  platform: string;
  manifest: string;
  config: string;
  /** In the manifest's order; diffId null when the input gives none (a layer it does not carry). */
  layers: { digest: string; diffId: string | null }[];
}

/** One root of the input, as the input has it, and what the trip did to it. */
export interface RoundtripImage {
  id: string;
  mediaType: string;
  /** Full names the input gives the image. */
  names: string[];
  /** Tags the input gives the image without a repository (a bare ref.name). */
  bareTags: string[];
  origin: "archive" | "synthesized";
  platforms: RoundtripPlatform[];
  /** Children the input's index lists but does not carry. */
  absent: { digest: string; platform: string | null }[];
  /** What differs after the trip; empty when the image came back the same. */
  differences: string[];
  /** Names the output layout cannot carry, left out: said, not failed. */
  notes: string[];
}

/** The version of the round-trip report's JSON document; it goes up when a field changes meaning or goes away. */
export const ROUNDTRIP_SCHEMA_VERSION = 1;

export interface RoundtripReport {
  schemaVersion: typeof ROUNDTRIP_SCHEMA_VERSION;
  /** No differences and no problems: every digest came back. */
  valid: boolean;
  /** Valid, and nothing left out either (no notes). */
  exact: boolean;
  format: LayoutFormat;
  images: RoundtripImage[];
  problems: string[];
  /** What reading the input warned of, as `verify` says it (a tag naming two images, a file under blobs/ named no digest). */
  warnings: string[];
}

export type RoundtripOptions = ReadOptions & { format?: LayoutFormat };

/**
 * The round trip's report. An archive lading refuses (a diff ID that does not match, a named
 * artifact the docker layout cannot list) gives a report of that one problem, `valid: false`, as
 * verifyArchive gives one for an archive it cannot read; a failure of the machine's rejects.
 */
export async function verifyRoundtrip(source: OpenedSource, options: RoundtripOptions = {}): Promise<RoundtripReport> {
  const outcome = await tryRoundtrip(source, options);
  return "report" in outcome ? outcome.report : failedRoundtrip(outcome.refusal, options.format ?? "docker");
}

/** The trip's report, or lading's refusal of the archive that stopped the trip before it had one. */
export type RoundtripOutcome = { report: RoundtripReport } | { refusal: LadingError };

/**
 * The round trip, its refusal of the archive kept apart from its report (the CLI says it as any
 * command says a refusal). A failure that is not about the archive rejects: the file system's (an
 * archive the system will not read, EIO) and lading's "io" ones (the temporary store or the saved
 * archive cannot be written: a full TMPDIR).
 */
export async function tryRoundtrip(source: OpenedSource, options: RoundtripOptions = {}): Promise<RoundtripOutcome> {
  try {
    return { report: await roundtrip(source, options) };
  } catch (error) {
    if (error instanceof LadingError && error.kind !== "io") return { refusal: error };
    throw error;
  } finally {
    source.close(); // a trip stopped before the load (no scratch space) never read it
  }
}

/** The report of a trip that failed before it had one (the archive did not open, or did not load): its one problem. */
export function failedRoundtrip(error: LadingError, format: LayoutFormat): RoundtripReport {
  return { schemaVersion: ROUNDTRIP_SCHEMA_VERSION, valid: false, exact: false, format, images: [], problems: [error.message], warnings: [] };
}

async function roundtrip(source: OpenedSource, options: RoundtripOptions): Promise<RoundtripReport> {
  const { format = "docker", ...limits } = options;
  const scratchDir = await scratchDirectory("lading-roundtrip-");
  const scratch = scratchDir.path;
  try {
    return await withTemporaryStore(async (store) => {
      const saved = path.join(scratch, "saved.tar");
      let input: ArchiveGraph | undefined;
      await saveToFile(saved, async (sink) => {
        const trip = await convertThroughStore(store, source, sink, { format, load: limits });
        input = trip.input;
        return trip.result.saved;
      });
      const output = await readArchive(await openArchivePath(saved), limits);
      return compareArchives(input as ArchiveGraph, output, format);
    }, scratch);
  } catch (error) {
    throw scratchDir.claim(error);
  } finally {
    await scratchDir.remove();
  }
}

/**
 * What reading the input warned of, as `verify` says it, but for what the trip reports in its
 * own words: a bare tag (a note, or carried by the oci layout) and a root of unknown type (a difference).
 */
function tripWarnings(input: ArchiveGraph): string[] {
  const saidByTheTrip = new Set(input.roots.flatMap((root) => [...(root.kind === "unknown" ? [unknownRootWarning(root)] : []), ...(root.bareTag !== undefined ? [bareTagWarning(root.bareTag)] : [])]));
  return input.warnings.filter((warning) => !saidByTheTrip.has(warning));
}

/** The input's roots against the saved archive's, by root digest. */
export function compareArchives(input: ArchiveGraph, output: ArchiveGraph, format: LayoutFormat): RoundtripReport {
  const before = rootsByDigest(input.roots);
  const after = rootsByDigest(output.roots);
  const images = [...before.values()].map((roots) => {
    const saved = after.get(roots[0]!.descriptor.digest) ?? [];
    const image = compareRoot(roots, saved, format);
    if (saved.length > 0) image.differences.push(...compareEntryFields(input, roots, output, saved));
    return image;
  });
  images.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const problems = output.problems.map((problem) => `${problem.entry}: ${problem.message}`);
  problems.push(...compareIndexFields(input, output));
  for (const digest of after.keys()) if (!before.has(digest)) problems.push(`the saved archive has root ${digest}, which the input does not`);
  const valid = problems.length === 0 && images.every((image) => image.differences.length === 0);
  const exact = valid && images.every((image) => image.notes.length === 0);
  return { schemaVersion: ROUNDTRIP_SCHEMA_VERSION, valid, exact, format, images, problems, warnings: tripWarnings(input) };
}

/**
 * Whether a root of the report is an artifact rather than an image: it holds no platform image and
 * its index lists none it lacks (a sparse image's), as `lading inspect` tells one.
 */
export function isArtifact(image: Pick<RoundtripImage, "platforms" | "absent">): boolean {
  return image.platforms.length === 0 && image.absent.every((child) => child.platform === null);
}

/** Index entries (or manifest.json items) naming the same root, grouped, in the archive's order. */
function rootsByDigest(roots: readonly ResolvedRoot[]): Map<string, ResolvedRoot[]> {
  const grouped = new Map<string, ResolvedRoot[]>();
  for (const root of roots) grouped.set(root.descriptor.digest, [...(grouped.get(root.descriptor.digest) ?? []), root]);
  return grouped;
}

function compareRoot(inputRoots: ResolvedRoot[], savedRoots: ResolvedRoot[], format: LayoutFormat): RoundtripImage {
  const root = inputRoots[0] as ResolvedRoot;
  const differences: string[] = [];
  const notes: string[] = [];
  const report: RoundtripImage = {
    id: root.descriptor.digest,
    mediaType: root.descriptor.mediaType,
    names: namesOf(inputRoots),
    bareTags: bareTagsOf(inputRoots),
    origin: root.origin,
    platforms: root.images.map((image) => ({
      platform: formatPlatform(image.platform),
      manifest: image.manifest.digest,
      config: image.config.digest,
      layers: image.layers.map((layer) => ({ digest: layer.digest, diffId: layer.diffId ?? null })),
    })),
    absent: root.absent.map((child) => ({ digest: child.digest, platform: child.platform ? formatPlatform(child.platform) : null })),
    differences,
    notes,
  };
  const saved = savedRoots[0];
  if (saved === undefined) {
    const why = root.kind === "unknown" ? ` (load leaves out a root of unknown media type ${root.descriptor.mediaType})` : "";
    differences.push(`root ${root.descriptor.digest} is not in the saved archive${why}`);
    return report;
  }
  if (saved.descriptor.mediaType !== root.descriptor.mediaType) differences.push(`root media type ${saved.descriptor.mediaType}, was ${root.descriptor.mediaType}`);
  if (saved.descriptor.size !== root.descriptor.size) differences.push(`root size ${saved.descriptor.size}, was ${root.descriptor.size}`);
  if (saved.origin !== root.origin) differences.push(`manifest origin ${saved.origin}, was ${root.origin}`);
  differences.push(...compareSets("name", report.names, namesOf(savedRoots)));
  const savedBareTags = bareTagsOf(savedRoots);
  const leftOut = format === "docker" ? report.bareTags.filter((tag) => !savedBareTags.includes(tag)) : [];
  for (const tag of leftOut) notes.push(`bare tag ${tag} is left out: the docker layout names an image only as repository:tag`);
  differences.push(...compareSets("bare tag", report.bareTags.filter((tag) => !leftOut.includes(tag)), savedBareTags));
  differences.push(...comparePlatforms(root, saved));
  differences.push(...compareSets("absent child", root.absent.map((child) => child.digest), saved.absent.map((child) => child.digest)));
  differences.push(...compareSets("other manifest", root.artifacts, saved.artifacts));
  differences.push(...compareSets("index", [...root.indexes.keys()], [...saved.indexes.keys()]));
  return report;
}

/** Each platform image of the input against the saved root's image with the same manifest digest. */
function comparePlatforms(root: ResolvedRoot, saved: ResolvedRoot): string[] {
  const differences: string[] = [];
  for (const image of root.images) {
    const platform = formatPlatform(image.platform);
    const back = saved.images.find((candidate) => candidate.manifest.digest === image.manifest.digest);
    if (!back) {
      differences.push(`${platform}: manifest ${image.manifest.digest} is not in the saved archive`);
      continue;
    }
    if (formatPlatform(back.platform) !== platform) differences.push(`${platform}: platform came back as ${formatPlatform(back.platform)}`);
    if (back.config.digest !== image.config.digest) differences.push(`${platform}: config ${back.config.digest}, was ${image.config.digest}`);
    if (back.layers.length !== image.layers.length) {
      differences.push(`${platform}: ${back.layers.length} layers, were ${image.layers.length}`);
      continue;
    }
    image.layers.forEach((layer, position) => {
      const other = back.layers[position]!;
      if (other.digest !== layer.digest) differences.push(`${platform}: layer ${position} ${other.digest}, was ${layer.digest}`);
      if (other.diffId !== layer.diffId) differences.push(`${platform}: layer ${position} diff ID ${other.diffId ?? "(none)"}, was ${layer.diffId ?? "(none)"}`);
    });
  }
  for (const image of saved.images) {
    if (!root.images.some((candidate) => candidate.manifest.digest === image.manifest.digest)) {
      differences.push(`${formatPlatform(image.platform)}: manifest ${image.manifest.digest} is in the saved archive, not in the input`);
    }
  }
  return differences;
}

/** One line per value only one side has. */
function compareSets(what: string, input: readonly string[], saved: readonly string[]): string[] {
  return [
    ...input.filter((value) => !saved.includes(value)).map((value) => `${what} ${value}: in the input, not in the saved archive`),
    ...saved.filter((value) => !input.includes(value)).map((value) => `${what} ${value}: in the saved archive, not in the input`),
  ];
}

function namesOf(roots: readonly ResolvedRoot[]): string[] {
  const names = roots.flatMap((root) => root.names);
  return [...new Set([...names, ...explicitDigestNames(names, roots.flatMap((root) => root.digestNames), roots[0]!.origin)])].sort();
}

function bareTagsOf(roots: readonly ResolvedRoot[]): string[] {
  return [...new Set(roots.flatMap((root) => (root.bareTag === undefined ? [] : [root.bareTag])))].sort();
}
