import { lstat, readFile, rm } from "node:fs/promises";
import { removeIfPresent } from "../store/atomic-file.js";
import { isSystemError, LadingError, systemReason } from "../core/errors.js";
import { diffIdRecordFor, type VerifiedDiffId } from "../store/diff-id-records.js";
import type { NotABlobFile } from "../store/content-store.js";
import { blobsOfRecord, type ImageRecord } from "../store/image-records.js";
import type { ForeignMarker, ForeignOwners, SettledMarker } from "../store/pending-records.js";
import { LEASE_STALE_MS } from "../store/gc-lock.js";
import { configDigestOf, digestDiffers } from "./resolve-image.js";
import { probeStoredLayer, type StoredLayerRead } from "./stored-layer.js";
import { layersListedByImages, listingVouchesFor } from "./vouched-layers.js";
import { wrongDigestOf, type ReferenceEntry } from "../store/reference-store.js";
import { redundantCopies, removeRedundantCopy, salvageReferences, validEntries, type SalvagedReferences } from "../store/references-repair.js";
import { abandonedLock, datedAhead, DEFAULT_STALE_MS, removeAbandonedLock } from "../store/lock.js";
import type { Leftovers } from "../store/process-alive.js";
import type { Store } from "../store/store.js";
import { checkMissingReferences } from "./missing-references.js";

export interface FsckProblem {
  kind:
    | "corrupt-blob"
    | "unreadable-blob"
    | "missing-blob"
    | "diff-id-mismatch"
    | "bad-layer"
    | "wrong-diff-id-record"
    | "unreadable-record"
    | "unreadable-references"
    | "missing-references"
    | "dangling-reference"
    | "wrong-digest-reference"
    | "stray-ingest"
    | "stray-temporary"
    | "stray-lease"
    | "stray-lock"
    | "blocked-lock"
    | "stray-references-copy"
    | "interrupted-command"
    | "foreign-command";
  subject: string;
  message: string;
  repaired: boolean;
}

export interface FsckReport {
  blobsChecked: number;
  imagesChecked: number;
  referencesChecked: number;
  /** Layers the store did not vouch for (see vouched-layers.ts), decompressed here to check them. */
  layersDecompressed: number;
  /** Of those, the ones whose diff ID matched and is now recorded (none on a store that cannot be written). */
  diffIdsRecorded: number;
  problems: FsckProblem[];
}

/**
 * Checks the whole store: every blob against its digest, every layer against the diff IDs its
 * images claim (see DiffIdCheck), every image record (readable, and against the blobs it needs),
 * every reference against the image records (and a reference by digest against its image's: see
 * wrongDigestOf). With repair, removes corrupt blobs, unreadable records, references to images
 * that are gone or by a digest not their image's, and leftovers of killed
 * loads; an image whose blobs are missing is reported but kept (its blobs may still arrive, e.g.
 * copied in by hand). A blob or record that cannot be read at all (a file this user may not open)
 * is reported in the system's words and kept, as are the references to such a record: its
 * content may be sound. A repair that fails (a store fsck cannot write) leaves its problem reported
 * as not repaired, saying why, and the check goes on. Safe beside running commands: the references are read before the records
 * (a load writes its records first), and a reference is removed only if, under the reference
 * store's lock, its image's record is still missing.
 */
export async function fsckStore(store: Store, repair = false): Promise<FsckReport> {
  const problems: FsckProblem[] = [];
  const missing = await checkMissingReferences(store, repair);
  if (missing !== undefined) problems.push(missing);
  const references = await readReferences(store, repair, problems);
  await settleInterrupted(store, repair, problems);
  const { records, unreadable } = await store.records.scan();
  // A record this user may not read is kept, and so are the references to it.
  const kept = new Set<string>();
  for (const bad of unreadable) {
    if (bad.readError !== undefined) {
      kept.add(bad.id);
      problems.push({ kind: "unreadable-record", subject: bad.id, message: withFailure(bad.message, keptUnread(repair)), repaired: false });
      continue;
    }
    const outcome = await attemptRepair(repair, () => removeIfPresent(bad.file));
    problems.push({ kind: "unreadable-record", subject: bad.id, message: withFailure(bad.message, outcome), repaired: outcome.repaired });
  }
  const claims = claimedDiffIds(records);
  const diffIds = new DiffIdCheck(store, layersListedByImages(records));
  let blobsChecked = 0;
  const corrupt = new Set<string>();
  const notFiles: NotABlobFile[] = [];
  for await (const blob of store.content.list((entry) => notFiles.push(entry))) {
    blobsChecked++;
    const claimed = claims.get(blob.digest);
    let intact: boolean;
    try {
      intact = await removedMeanwhileIsIntact(store, blob.digest, () => (claimed !== undefined ? diffIds.checkBlob(blob.digest, claimed) : store.content.verifyBlob(blob.digest)));
    } catch (error) {
      const file = store.content.blobPath(blob.digest);
      if (!isSystemError(error) || error.path !== file) throw error;
      problems.push({ kind: "unreadable-blob", subject: blob.digest, message: withFailure(`blob ${blob.digest}: ${file}: ${systemReason(error)}`, keptUnread(repair)), repaired: false });
      continue;
    }
    if (intact) continue;
    corrupt.add(blob.digest);
    const outcome = await attemptRepair(repair, () => store.content.delete(blob.digest));
    problems.push({ kind: "corrupt-blob", subject: blob.digest, message: withFailure(`blob ${blob.digest}: content does not match its digest`, outcome), repaired: outcome.repaired });
  }
  // No blob can be stored where one of these is (the image that needs it reports the blob missing).
  for (const entry of notFiles) {
    const outcome = await attemptRepair(repair, () => store.content.delete(entry.digest));
    problems.push({ kind: "corrupt-blob", subject: entry.digest, message: withFailure(`blob ${entry.digest}: ${entry.path} is ${entry.what}, not a file`, outcome), repaired: outcome.repaired });
  }
  for (const record of records) {
    for (const digest of blobsOfRecord(record)) {
      if (!corrupt.has(digest) && (await store.content.has(digest))) continue;
      problems.push({ kind: "missing-blob", subject: record.id, message: `image ${record.id}: blob ${digest} is ${corrupt.has(digest) ? "corrupt" : "missing"}`, repaired: false });
    }
  }
  problems.push(...diffIds.problems);
  const known = new Set([...records.map((record) => record.id), ...kept]);
  const dangling: ReferenceEntry[] = [];
  const wrongDigest: ReferenceEntry[] = [];
  for (const entry of references) {
    // A record written since the listing (a load that has just finished) is no problem.
    if (!known.has(entry.id) && (await store.records.get(entry.id).catch(() => undefined)) === undefined) dangling.push(entry);
    else if (wrongDigestOf(entry) !== undefined) wrongDigest.push(entry);
  }
  const removed = new Set<string>();
  const update = await attemptRepair(repair && dangling.length + wrongDigest.length > 0, async () => {
    await store.references.update(async (txn) => {
      for (const entry of dangling) {
        if (txn.get(entry.reference) !== entry.id || (await store.records.get(entry.id).catch(() => undefined)) !== undefined) continue;
        txn.delete(entry.reference);
        removed.add(entry.reference);
      }
      for (const entry of wrongDigest) {
        if (txn.get(entry.reference) !== entry.id) continue;
        txn.delete(entry.reference);
        removed.add(entry.reference);
      }
    });
    return true;
  });
  for (const entry of dangling) {
    const config = configDigestOf(records, entry.id);
    const message = `reference ${entry.reference} points at ${entry.id}, which is not in the store${config === undefined ? "" : `: ${config}`}`;
    problems.push({ kind: "dangling-reference", subject: entry.reference, message: withFailure(message, update), repaired: removed.has(entry.reference) && update.repaired });
  }
  for (const entry of wrongDigest) {
    const message = `reference ${entry.reference} points at ${digestDiffers(entry.id)}`;
    problems.push({ kind: "wrong-digest-reference", subject: entry.reference, message: withFailure(message, update), repaired: removed.has(entry.reference) && update.repaired });
  }
  const ingest = await removeLeftovers(repair, (remove) => store.content.cleanIngest({ remove, foreignOwners: () => store.gc.foreignOwnerGone() }));
  if (ingest.found.files > 0) {
    problems.push({ kind: "stray-ingest", subject: "ingest/", message: withFailure(`${leftoverCount(ingest.found, "ingest file")} of interrupted loads`, ingest), repaired: ingest.repaired });
  }
  const leases = await removeLeftovers(repair, (remove) => store.gc.cleanDeadLeases({ remove }));
  if (leases.found.files > 0) {
    problems.push({ kind: "stray-lease", subject: "leases/", message: withFailure(`${leftoverCount(leases.found, "lease")} of killed commands`, leases), repaired: leases.repaired });
  }
  const temporaries = await removeLeftovers(repair, (remove) => store.cleanTemporaries({ remove }));
  if (temporaries.found.files > 0) {
    const message = `${leftoverCount(temporaries.found, "temp file")} of interrupted record or reference writes`;
    problems.push({ kind: "stray-temporary", subject: store.paths.root, message: withFailure(message, temporaries), repaired: temporaries.repaired });
  }
  await checkStrayLocks(store, repair, problems);
  await checkRedundantCopies(store, repair, problems);
  return {
    blobsChecked,
    imagesChecked: records.length,
    referencesChecked: references.length,
    layersDecompressed: diffIds.decompressed,
    diffIdsRecorded: diffIds.recorded,
    problems,
  };
}

/**
 * Runs a blob's check; a blob removed since the listing (a prune running beside fsck) is no
 * problem, as if it had not been listed.
 */
async function removedMeanwhileIsIntact(store: Store, digest: string, check: () => Promise<boolean>): Promise<boolean> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof LadingError && error.kind === "not-found" && !(await store.content.has(digest))) return true;
    throw error;
  }
}

/** What a repair did; `failure` says why it did not. */
interface RepairOutcome {
  repaired: boolean;
  failure?: string;
}

/**
 * Runs one repair (when `repair`). One that fails on a store fsck cannot write (read-only media, a
 * user who may only read it) or whose lock it cannot take leaves its problem reported as not
 * repaired, saying why, and fsck goes on to the next.
 */
export async function attemptRepair(repair: boolean, act: () => Promise<boolean>): Promise<RepairOutcome> {
  if (!repair) return { repaired: false };
  try {
    return { repaired: await act() };
  } catch (error) {
    if (!(error instanceof LadingError) && !isSystemError(error)) throw error;
    return { repaired: false, failure: failureText(error) };
  }
}

/** The leftovers there are, removed with `repair`: those still there after (a store fsck cannot write) are reported as not repaired. */
async function removeLeftovers(repair: boolean, clean: (remove: boolean) => Promise<Leftovers>): Promise<RepairOutcome & { found: Leftovers }> {
  let removed: Leftovers | undefined;
  const outcome = await attemptRepair(repair, async () => {
    removed = await clean(true);
    return true;
  });
  const left = await clean(false);
  if (removed !== undefined && left.files === 0) return { found: removed, repaired: true };
  return { found: left, repaired: false, ...(repair ? { failure: outcome.failure ?? "they could not be removed" } : {}) };
}

/** What --repair does of a blob or record that could not be read: nothing, as its content may be sound (this user may not read it). */
function keptUnread(repair: boolean): RepairOutcome {
  return repair ? { repaired: false, failure: "it could not be read, so it is kept: it may be sound" } : { repaired: false };
}

export function withFailure(message: string, { failure }: RepairOutcome): string {
  return failure === undefined ? message : `${message} (not repaired: ${failure})`;
}

/** One line naming the file: "<path>: read-only file system" rather than "EROFS: read-only file system, unlink '<path>'". */
function failureText(error: unknown): string {
  // A write lading names by the file it was writing (the temp file it used is gone).
  if (error instanceof LadingError && error.subject !== undefined && isSystemError(error.cause)) return `${error.subject}: ${systemReason(error.cause)}`;
  const cause = error instanceof LadingError && systemErrorPath(error.cause) !== undefined ? error.cause : error;
  const file = systemErrorPath(cause);
  const message = (cause as Error).message;
  return file === undefined ? message : `${file}: ${systemReason(cause)}`;
}

function systemErrorPath(error: unknown): string | undefined {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  return typeof code === "string" && typeof path === "string" ? path : undefined;
}

function leftoverCount(found: Leftovers, what: string): string {
  return `${found.files} leftover ${what}${found.files === 1 ? "" : "s"} (${found.bytes} byte${found.bytes === 1 ? "" : "s"})`;
}

/** Leftovers of killed commands take space but break nothing: reported, not a reason to fail. */
export function isLeftover(problem: FsckProblem): boolean {
  return problem.kind === "stray-ingest" || problem.kind === "stray-temporary" || problem.kind === "stray-lease" || problem.kind === "stray-lock" || problem.kind === "stray-references-copy" || problem.kind === "interrupted-command" || problem.kind === "foreign-command";
}

/**
 * Whether --repair (and prune) remove what a leftover problem reports: not a marker whose owner
 * may be running in another pid namespace. A copy of repositories.json, which prune leaves, says
 * in its own message what --repair does of it.
 */
export function removedByRepair(problem: FsckProblem): boolean {
  return problem.kind !== "foreign-command" && problem.kind !== "stray-references-copy";
}

/**
 * Reports the lock directories of killed commands: stale by the rule every command taking the lock
 * goes by, so never a live holder's. With `repair`, removes them.
 */
async function checkStrayLocks(store: Store, repair: boolean, problems: FsckProblem[]): Promise<void> {
  for (const target of [store.references.filePath, store.gc.lockTarget]) {
    const lockPath = `${target}.lock`;
    const found = await lstat(lockPath).catch(() => undefined);
    if (found !== undefined && !found.isDirectory()) {
      // Locks are directories (mkdir is the atomic step): in its place, anything else fails every command that takes it.
      const outcome = await attemptRepair(repair, async () => {
        await rm(lockPath, { force: true });
        return true;
      });
      const message = `${lockPath}: not a directory, so every command that takes this lock fails (ENOTDIR) until it is removed`;
      problems.push({ kind: "blocked-lock", subject: lockPath, message: withFailure(message, outcome), repaired: outcome.repaired });
      continue;
    }
    if ((await abandonedLock(target)) === undefined) continue;
    const outcome = await attemptRepair(repair, async () => {
      await removeAbandonedLock(target);
      return true;
    });
    const ahead = found !== undefined && datedAhead(found);
    const message = ahead
      ? `${lockPath}: a lock dated over ${DEFAULT_STALE_MS / 1000} s ahead of the clock, which no live command refreshes so`
      : `${lockPath}: the lock of a killed command, not refreshed for over ${DEFAULT_STALE_MS / 1000} s`;
    problems.push({ kind: "stray-lock", subject: lockPath, message: withFailure(message, outcome), repaired: outcome.repaired });
  }
}

/**
 * Reports the copies of repositories.json that a repair killed before its rewrite left, the same
 * bytes as the file (see redundantCopies); with `repair`, removes them. While the file cannot be
 * read, such a copy is kept: the repair that rewrites the file keeps it as the file as it was,
 * rather than make a second.
 */
async function checkRedundantCopies(store: Store, repair: boolean, problems: FsckProblem[]): Promise<void> {
  const file = store.references.filePath;
  const copies = await redundantCopies(file);
  if (copies.length === 0) return;
  const readable = await store.references.references().then(
    () => true,
    () => false,
  );
  for (const copy of copies) {
    const message = `${copy}: a copy of repositories.json, the same bytes, left by an fsck --repair killed before its rewrite`;
    if (!readable) {
      problems.push({ kind: "stray-references-copy", subject: copy, message: `${message} (--repair keeps it as the file as it was, rather than make a second)`, repaired: false });
      continue;
    }
    const outcome = await attemptRepair(repair, () => removeRedundantCopy(file, copy));
    // Not removed, and no failure: it differs from the file by now (rewritten beside), so it is kept.
    if (repair && !outcome.repaired && outcome.failure === undefined) continue;
    problems.push({ kind: "stray-references-copy", subject: copy, message: repair ? withFailure(message, outcome) : `${message} (--repair removes it)`, repaired: outcome.repaired });
  }
}

/**
 * Reports the pending-records markers of loads and pulls killed before they wrote their
 * references (see pending-records.ts), and with `repair` settles them under the references'
 * lock: the records they left uncommitted (which no command lists) are removed. A marker of
 * another pid namespace's process counts as left by a killed one once that process holds no
 * live lease (every load and pull holds one while its marker exists); while it does, the marker
 * is reported and kept. Nothing to judge by while repositories.json cannot be read.
 */
async function settleInterrupted(store: Store, repair: boolean, problems: FsckProblem[]): Promise<void> {
  let found: SettledMarker[];
  let foreign: ForeignMarker[];
  try {
    const current = await store.references.snapshot();
    // One look at the leases for both listings, taken after the first.
    let leases: ReturnType<ForeignOwners> | undefined;
    const foreignOwners: ForeignOwners = () => (leases ??= store.gc.foreignOwnerGone());
    found = await store.records.settleInterrupted(current, { remove: false, foreignOwners });
    foreign = await store.records.pendingInOtherNamespaces(current, foreignOwners);
  } catch {
    return;
  }
  for (const marker of foreign) problems.push({ kind: "foreign-command", subject: marker.file, message: foreignMessage(marker), repaired: false });
  if (found.length === 0) return;
  let settled: SettledMarker[] = [];
  const outcome = await attemptRepair(repair, async () => {
    ({ value: settled } = await store.references.update((txn) => store.records.settleInterrupted(txn.base)));
    return true;
  });
  for (const marker of found) {
    const repaired = outcome.repaired && settled.some((done) => done.file === marker.file);
    problems.push({ kind: "interrupted-command", subject: marker.file, message: withFailure(interruptedMessage(marker, repaired), outcome), repaired });
  }
}

/**
 * A marker of a command in another pid namespace that still holds a lease: it may be running.
 * Removing the marker by hand would list its records untagged, and fail that command when it
 * comes to remove the marker itself.
 */
function foreignMessage({ file, owner, hidden, problem }: ForeignMarker): string {
  const whose = `a load or pull in another pid namespace (pid ${owner.pid} there), whose lease was refreshed in the last ${LEASE_STALE_MS / 1000} s`;
  const one = hidden.length === 1;
  const found =
    problem !== undefined
      ? `${problem}; it hides no image record, and was written by ${whose}`
      : hidden.length === 0
        ? `${file}: written by ${whose}; it hides no image record`
        : `${file}: written by ${whose}, before its references; its image record${one ? "" : "s"} ${hidden.join(", ")}, not committed, ${one ? "is" : "are"} not listed`;
  return `${found}. If that command is gone, fsck --repair settles the marker once its lease is older, or at once from its own pid namespace; do not remove the marker by hand`;
}

function interruptedMessage({ file, removed, problem }: SettledMarker, repaired: boolean): string {
  if (problem !== undefined) return `${problem}; it hides no image record`;
  if (removed.length === 0) return `${file}: left by a killed load or pull; it hides no image record`;
  const one = removed.length === 1;
  const outcome = repaired ? (one ? "was removed" : "were removed") : `${one ? "is" : "are"} not listed`;
  return `${file}: a load or pull was killed before it wrote its references; its image record${one ? "" : "s"} ${removed.join(", ")}, never committed, ${outcome}`;
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
      problems.push({ kind: "unreadable-references", subject, message: `${error.message} (${await repairPromise(subject)})`, repaired: false });
      return [];
    }
    let salvaged: SalvagedReferences | undefined;
    const attempt = await attemptRepair(true, async () => {
      salvaged = await salvageReferences(store.references);
      return true;
    });
    if (!attempt.repaired) {
      problems.push({ kind: "unreadable-references", subject, message: withFailure(error.message, attempt), repaired: false });
      return [];
    }
    const outcome = salvaged === undefined ? "it reads now" : `${salvageOutcome(salvaged)}; the file as it was is ${salvaged.backup}`;
    problems.push({ kind: "unreadable-references", subject, message: `${error.message}: ${outcome}`, repaired: true });
    return store.references.references();
  }
}

/** What --repair would do of the unreadable file at `path`, as far as reading it now tells. */
async function repairPromise(path: string): Promise<string> {
  const bytes = await readFile(path).catch(() => undefined);
  if (bytes !== undefined && validEntries(bytes).dropped !== undefined) return "--repair keeps its valid entries";
  return "--repair replaces it with an empty one, keeping it beside as it is: no entry can be read from it";
}

function salvageOutcome({ kept, dropped }: SalvagedReferences): string {
  return dropped === undefined ? "no entry could be read from it, so none was kept" : `kept ${kept} valid entries, dropped ${dropped}`;
}

/** The diff IDs image records claim for each layer blob they have: blob digest -> diff ID -> the first image claiming it. */
function claimedDiffIds(records: readonly ImageRecord[]): Map<string, Map<string, string>> {
  const claims = new Map<string, Map<string, string>>();
  for (const record of records) {
    for (const image of record.images) {
      for (const layer of image.layers) {
        if (layer.absent || layer.diffId === null) continue;
        const claimed = claims.get(layer.digest) ?? new Map<string, string>();
        if (!claimed.has(layer.diffId)) claimed.set(layer.diffId, record.id);
        claims.set(layer.digest, claimed);
      }
    }
  }
  return claims;
}

/**
 * Checks the diff IDs image records claim for a layer blob, in the read that checks its digest.
 * A blob with a diff-ID record is not decompressed: the record settles every claim. An
 * uncompressed sha256 blob that an image lists as a layer (not a foreign one) is its own diff ID,
 * and its tar was checked when it came (see vouched-layers.ts). Any other (a compressed layer
 * loaded or pulled with --skip-diff-id-check, a foreign layer pulled, a blob stored as an
 * artifact's and listed only as a foreign layer) is read as a load reads a layer: hashed for
 * its digest, decompressed and its tar checked as it passes. A diff ID that matches a claim, of a
 * layer whose tar a load would take, is recorded as a checking load records it, so that no later
 * fsck decompresses it again and save no longer calls it unchecked; a later load of the same blob
 * trusts the record, so a layer a load would refuse gets none. On a store that cannot be written
 * the record is simply not written.
 */
class DiffIdCheck {
  readonly problems: FsckProblem[] = [];
  decompressed = 0;
  recorded = 0;

  /** `listed`: the blobs an image lists as a layer that is not foreign (see vouched-layers.ts). */
  constructor(
    private readonly store: Store,
    private readonly listed: ReadonlySet<string>,
  ) {}

  /** Whether the blob matches its digest; its diff-ID problems are kept in `problems`. */
  async checkBlob(digest: string, claimed: ReadonlyMap<string, string>): Promise<boolean> {
    const record = await this.store.diffIds.get(digest);
    // A record that disagrees with an image is not taken on its word: the layer is read again, and
    // either the image is wrong or the record is (and is rewritten). An earlier lading's record (no
    // layer-checked mark) is read again too, and rewritten if the layer passes.
    const agreed = record === undefined || [...claimed.keys()].every((diffId) => diffId === record.diffId);
    if (record?.layerChecked && agreed) {
      if (!(await this.store.content.verifyBlob(digest))) return false;
      this.compare(digest, claimed, `decompresses to ${record.diffId}`, record.diffId);
      return true;
    }
    if (agreed && (await listingVouchesFor(this.store, this.listed, digest))) {
      // Its diff ID is its digest, and its tar was checked when the image that lists it came: checking the digest is all there is to do.
      if (!(await this.store.content.verifyBlob(digest))) return false;
      this.compare(digest, claimed, `is not compressed, so its diff ID is ${digest}`, digest);
      return true;
    }
    let read: StoredLayerRead;
    try {
      read = await probeStoredLayer(this.store, digest);
    } catch (error) {
      // A blob that cannot be read through is the blob's problem, if its bytes are bad.
      if (!(await this.store.content.verifyBlob(digest))) return false;
      this.problems.push({ kind: "diff-id-mismatch", subject: firstImage(claimed), message: `image ${firstImage(claimed)}: layer ${digest} could not be read: ${(error as Error).message}`, repaired: false });
      return true;
    }
    const { file, actualDigest } = read;
    if (actualDigest !== digest) return false;
    if (file.compression !== "none") this.decompressed++;
    if (file.diffId === undefined) {
      this.problems.push({ kind: "diff-id-mismatch", subject: firstImage(claimed), message: `image ${firstImage(claimed)}: layer ${digest} does not decompress: ${file.layerProblem ?? "no output"}`, repaired: false });
      return true;
    }
    const { diffId } = file;
    this.compare(digest, claimed, file.compression === "none" ? `is not compressed, so its diff ID is ${diffId}` : `decompresses to ${diffId}`, diffId);
    // A record says the layer passed a load's checks: one whose tar a load refuses gets none, and
    // loses an earlier lading's, which save would otherwise still take as a check.
    if (file.layerProblem !== undefined) {
      if (record !== undefined) await this.store.diffIds.remove(digest);
      this.problems.push({ kind: "bad-layer", subject: firstImage(claimed), message: `image ${firstImage(claimed)}: layer ${digest}: ${file.layerProblem}`, repaired: false });
      return true;
    }
    const fact = diffIdRecordFor(digest, { diffId, size: file.uncompressedSize }, { vouchedByListing: this.listed.has(digest) });
    if (record !== undefined && (record.diffId !== diffId || record.size !== file.uncompressedSize)) {
      await this.replaceWrongRecord(digest, record, { diffId, size: file.uncompressedSize }, fact);
      if (claimed.has(diffId) && fact !== undefined) this.recorded++;
      return true;
    }
    // The record was right: the image that disagreed with it is wrong, and compare has said so.
    if (record?.layerChecked) return true;
    if (claimed.has(diffId) && fact !== undefined && (await this.store.diffIds.put(digest, fact))) this.recorded++;
    return true;
  }

  /**
   * A record that does not say what the layer decompresses to (edited or damaged on disk) would
   * have every later load and pull of the layer refused, or take a wrong size for it: it is replaced by
   * what the read showed, or removed when the layer needs none.
   */
  private async replaceWrongRecord(digest: string, record: VerifiedDiffId, found: { diffId: string; size: number | undefined }, fact: VerifiedDiffId | undefined): Promise<void> {
    const replaced = fact !== undefined ? await this.store.diffIds.put(digest, fact) : await this.store.diffIds.remove(digest);
    const recordPath = this.store.diffIds.recordPath(digest) ?? digest;
    this.problems.push({
      kind: "wrong-diff-id-record",
      subject: digest,
      message: `layer ${digest}: its diff-ID record ${recordPath} says it decompresses to ${record.diffId} (${record.size} bytes), but it decompresses to ${found.diffId} (${found.size ?? "?"} bytes)`,
      repaired: replaced,
    });
  }

  private compare(digest: string, claimed: ReadonlyMap<string, string>, found: string, actual: string): void {
    for (const [diffId, image] of claimed) {
      if (diffId === actual) continue;
      this.problems.push({ kind: "diff-id-mismatch", subject: image, message: `image ${image}: layer ${digest} ${found}, but its config gives the diff ID ${diffId}`, repaired: false });
    }
  }
}

/** The first image that claims a diff ID for a layer, to name in a problem of the layer itself. */
function firstImage(claimed: ReadonlyMap<string, string>): string {
  return claimed.values().next().value as string;
}
