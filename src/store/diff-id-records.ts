/**
 * What decompressing a stored, compressed layer blob showed: its diff ID (sha256 of the
 * decompressed bytes) and decompressed size, one file per blob under diffids/<alg>/<hex>, written
 * by a load or an fsck that computed them (fsck also records an uncompressed blob addressed by
 * sha512: the sha256 of its bytes). They are facts about the blob's bytes, so a record
 * never goes stale: a later load of the same blob, whose digest it checks as always, can take the
 * diff ID from here instead of decompressing the layer again, and save and fsck know the layer's
 * diff ID was checked. A record is only an optimisation: one that is missing, unreadable or
 * malformed is not used, and one that cannot be written is skipped.
 *
 * A record written now also says the layer passed a load's tar checks (" layer-checked"). One
 * without that mark was written by an earlier lading, whose fsck recorded layers without checking
 * their tar: its diff ID is a fact, so save counts the layer's diff ID as checked, but load, pull
 * and fsck read the layer again before they rely on it, and then rewrite the record.
 */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { isValidDigest, parseDigest } from "../core/digest.js";
import { removeIfPresent, writeFileAtomic } from "./atomic-file.js";

export interface VerifiedDiffId {
  /** sha256 of the decompressed bytes. */
  diffId: string;
  /** Size of the decompressed bytes. */
  size: number;
}

/**
 * The record a layer's diff ID, computed from its bytes by a read that passed load's checks, is
 * worth. None when the diff ID is the layer's own digest (an uncompressed layer addressed by
 * sha256) and an image lists it as a layer: that listing vouches for it (see
 * ops/vouched-layers.ts). One rule for load, pull and fsck, so that save counts a layer as checked
 * whichever checked it.
 */
export function diffIdRecordFor(
  layerDigest: string,
  computed: { diffId: string | undefined; size: number | undefined },
  { vouchedByListing }: { vouchedByListing: boolean },
): VerifiedDiffId | undefined {
  if (computed.diffId === undefined || computed.size === undefined) return undefined;
  if (computed.diffId === layerDigest && vouchedByListing) return undefined;
  return { diffId: computed.diffId, size: computed.size };
}

/** A record as read back: `layerChecked` false for one an earlier lading wrote (see above). */
export interface StoredDiffId extends VerifiedDiffId {
  layerChecked: boolean;
}

const LAYER_CHECKED = " layer-checked";

/** The file's whole content: "<diff ID> <decompressed size> layer-checked\n" (without the mark: an earlier lading's). */
const RECORD = /^(sha256:[0-9a-f]{64}) (0|[1-9][0-9]{0,15})( layer-checked)?\n$/;

export class DiffIdRecords {
  constructor(private readonly dir: string) {}

  /** The record of a blob, if one was written and reads back well-formed. */
  async get(blobDigest: string): Promise<StoredDiffId | undefined> {
    const file = this.recordPath(blobDigest);
    if (file === undefined) return undefined;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      return undefined;
    }
    const match = RECORD.exec(text);
    if (match === null) return undefined;
    const size = Number(match[2]);
    return Number.isSafeInteger(size) ? { diffId: match[1] as string, size, layerChecked: match[3] !== undefined } : undefined;
  }

  /** Whether the blob's record says its diff ID is `diffId` (a load, pull or fsck decompressed it; an earlier lading's record counts). */
  async confirm(blobDigest: string, diffId: string): Promise<boolean> {
    return (await this.get(blobDigest))?.diffId === diffId;
  }

  /**
   * Records what decompressing the blob showed, by a read that passed a load's checks of the
   * layer (the record says so); false when it could not be written (a store on
   * read-only media, or one this user may only read). Visible whole or not at all; not fsynced,
   * as losing it in a crash only costs a decompression. Never throws.
   */
  async put(blobDigest: string, fact: VerifiedDiffId): Promise<boolean> {
    const file = this.recordPath(blobDigest);
    const text = `${fact.diffId} ${fact.size}${LAYER_CHECKED}\n`;
    if (file === undefined || !RECORD.test(text)) return false;
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, text, 0o600, { durable: false });
      return true;
    } catch {
      // An optimisation only: the next load decompresses the layer again.
      return false;
    }
  }

  /** Drops a blob's record (the blob was pruned, or the record is wrong); false when it is still there. Never throws. */
  async remove(blobDigest: string): Promise<boolean> {
    const file = this.recordPath(blobDigest);
    if (file === undefined) return true;
    return removeIfPresent(file).then(
      () => true,
      () => false,
    );
  }

  /** Where a blob's record is (undefined for a malformed digest). */
  recordPath(blobDigest: string): string | undefined {
    if (!isValidDigest(blobDigest)) return undefined;
    const { algorithm, encoded } = parseDigest(blobDigest);
    return path.join(this.dir, algorithm, encoded);
  }
}
