import { createHash } from "node:crypto";
import { unlink } from "node:fs/promises";
import type { Readable } from "node:stream";
import { LadingError } from "../core/errors.js";
import { blobsOfRecord, type ImageRecord } from "../store/image-records.js";
import { openDecompressed } from "../tar/compression.js";
import type { ReferenceEntry } from "../store/reference-store.js";
import { salvageReferences } from "../store/references-repair.js";
import type { Leftovers } from "../store/process-alive.js";
import type { Store } from "../store/store.js";

export interface FsckProblem {
  kind:
    | "corrupt-blob"
    | "missing-blob"
    | "diff-id-mismatch"
    | "unreadable-record"
    | "unreadable-references"
    | "dangling-reference"
    | "stray-ingest"
    | "stray-temporary";
  subject: string;
  message: string;
  repaired: boolean;
}

export interface FsckReport {
  blobsChecked: number;
  imagesChecked: number;
  referencesChecked: number;
  problems: FsckProblem[];
}

/**
 * Checks the whole store: every blob against its digest, every image record (readable, and
 * against the blobs it needs), every reference against the image records. With repair, removes
 * corrupt blobs, unreadable records, references to images that are gone, and leftovers of killed
 * loads; an image whose blobs are missing is reported but kept (its blobs may still arrive, e.g.
 * copied in by hand). Safe beside running commands: the references are read before the records
 * (a load writes its records first), and a reference is removed only if, under the reference
 * store's lock, its image's record is still missing.
 */
export async function fsckStore(store: Store, repair = false): Promise<FsckReport> {
  const problems: FsckProblem[] = [];
  const references = await readReferences(store, repair, problems);
  const { records, unreadable } = await store.records.scan();
  for (const bad of unreadable) {
    const repaired = repair ? await unlink(bad.file).then(() => true, () => false) : false;
    problems.push({ kind: "unreadable-record", subject: bad.id, message: bad.message, repaired });
  }
  let blobsChecked = 0;
  const corrupt = new Set<string>();
  for await (const blob of store.content.list()) {
    blobsChecked++;
    if (await store.content.verifyBlob(blob.digest)) continue;
    corrupt.add(blob.digest);
    const repaired = repair ? await store.content.delete(blob.digest) : false;
    problems.push({ kind: "corrupt-blob", subject: blob.digest, message: `blob ${blob.digest}: content does not match its digest`, repaired });
  }
  for (const record of records) {
    for (const digest of blobsOfRecord(record)) {
      if (!corrupt.has(digest) && (await store.content.has(digest))) continue;
      problems.push({ kind: "missing-blob", subject: record.id, message: `image ${record.id}: blob ${digest} is ${corrupt.has(digest) ? "corrupt" : "missing"}`, repaired: false });
    }
  }
  problems.push(...(await uncheckedDiffIdProblems(store, records, corrupt)));
  const known = new Set(records.map((record) => record.id));
  const dangling: ReferenceEntry[] = [];
  for (const entry of references) {
    // A record written since the listing (a load that has just finished) is no problem.
    if (!known.has(entry.id) && (await store.records.get(entry.id).catch(() => undefined)) === undefined) dangling.push(entry);
  }
  const removed = new Set<string>();
  if (repair && dangling.length > 0) {
    await store.references.update(async (txn) => {
      for (const entry of dangling) {
        if (txn.get(entry.reference) !== entry.id || (await store.records.get(entry.id).catch(() => undefined)) !== undefined) continue;
        txn.delete(entry.reference);
        removed.add(entry.reference);
      }
    });
  }
  for (const entry of dangling) {
    problems.push({ kind: "dangling-reference", subject: entry.reference, message: `reference ${entry.reference} points at ${entry.id}, which is not in the store`, repaired: removed.has(entry.reference) });
  }
  const ingest = await store.content.cleanIngest({ remove: repair, foreignOwnerGone: await store.gc.foreignOwnerGone() });
  if (ingest.files > 0) problems.push({ kind: "stray-ingest", subject: "ingest/", message: `${leftoverCount(ingest, "ingest file")} of interrupted loads`, repaired: repair });
  const temporaries = await store.cleanTemporaries({ remove: repair });
  if (temporaries.files > 0) {
    problems.push({ kind: "stray-temporary", subject: store.paths.root, message: `${leftoverCount(temporaries, "temp file")} of interrupted record or reference writes`, repaired: repair });
  }
  return { blobsChecked, imagesChecked: records.length, referencesChecked: references.length, problems };
}

function leftoverCount(found: Leftovers, what: string): string {
  return `${found.files} leftover ${what}${found.files === 1 ? "" : "s"} (${found.bytes} bytes)`;
}

/** Leftovers of killed commands take space but break nothing: reported, not a reason to fail. */
export function isLeftover(problem: FsckProblem): boolean {
  return problem.kind === "stray-ingest" || problem.kind === "stray-temporary";
}

/**
 * The references, or none when repositories.json cannot be read: then that is the first problem,
 * and --repair rewrites the file from its valid entries (keeping the old one beside it).
 */
async function readReferences(store: Store, repair: boolean, problems: FsckProblem[]): Promise<ReferenceEntry[]> {
  try {
    return await store.references.references();
  } catch (error) {
    if (!(error instanceof LadingError) || error.kind !== "invalid") throw error;
    const subject = store.references.filePath;
    if (!repair) {
      problems.push({ kind: "unreadable-references", subject, message: `${error.message} (--repair keeps its valid entries)`, repaired: false });
      return [];
    }
    const salvaged = await salvageReferences(store.references);
    const outcome = salvaged === undefined ? "it reads now" : `kept ${salvaged.kept} valid entries, dropped ${salvaged.dropped}; the file as it was is ${salvaged.backup}`;
    problems.push({ kind: "unreadable-references", subject, message: `${error.message}: ${outcome}`, repaired: true });
    return store.references.references();
  }
}

/**
 * A compressed layer that no load decompressed (loaded with --skip-diff-id-check, or pulled) has
 * the diff ID its config claims, taken on trust; the diff-ID records hold the ones a load did
 * compute. Those without a record are decompressed here and compared with the claim.
 */
async function uncheckedDiffIdProblems(store: Store, records: readonly ImageRecord[], corrupt: ReadonlySet<string>): Promise<FsckProblem[]> {
  const claimed = new Map<string, { diffId: string; image: string }>();
  for (const record of records) {
    for (const image of record.images) {
      for (const layer of image.layers) {
        if (layer.absent || layer.diffId === null || corrupt.has(layer.digest) || claimed.has(layer.digest)) continue;
        claimed.set(layer.digest, { diffId: layer.diffId, image: record.id });
      }
    }
  }
  const problems: FsckProblem[] = [];
  for (const [digest, { diffId, image }] of claimed) {
    if (!(await store.content.has(digest)) || (await store.diffIds.get(digest)) !== undefined) continue;
    let actual: string | undefined;
    try {
      actual = await decompressedDigest(store.content.readStream(digest));
    } catch (error) {
      problems.push({ kind: "diff-id-mismatch", subject: image, message: `image ${image}: layer ${digest} does not decompress: ${(error as Error).message}`, repaired: false });
      continue;
    }
    if (actual === undefined || actual === diffId) continue;
    problems.push({ kind: "diff-id-mismatch", subject: image, message: `image ${image}: layer ${digest} decompresses to ${actual}, but its config gives the diff ID ${diffId}`, repaired: false });
  }
  return problems;
}

/** sha256 of what a compressed blob decompresses to; undefined for a blob that is not compressed. */
async function decompressedDigest(blob: Readable): Promise<string | undefined> {
  const { compression, stream } = await openDecompressed(blob);
  if (compression === "none") {
    stream.destroy();
    return undefined;
  }
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}
