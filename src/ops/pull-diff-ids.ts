/**
 * The diff-ID check of a pull, as load does it: each layer a pulled image lists (but a foreign
 * one, which a pull carries as it is) is read through load's probe, which inflates a compressed
 * layer on libuv's thread pool as it downloads and hashes what comes out, and is held to the diff
 * ID its config lists at the layer's position, in load's words. A layer the store already holds
 * is not downloaded: what the store vouches for settles it (see vouched-layers.ts), and any other
 * is read from the store once, as its download would be. What a pull decompressed is recorded,
 * as load records it, only once its blobs are committed.
 */
import { createHash, type Hash } from "node:crypto";
import { checkLayer, checkLayerCompression } from "../archive/image-check.js";
import type { ScannedFile } from "../archive/model.js";
import { ContentProbe, plainOverLimit, withOwnDiffId, type ProbeLimits } from "../archive/probe.js";
import { parseDigest } from "../core/digest.js";
import { invalid } from "../core/errors.js";
import { isForeignLayerType } from "../core/media-types.js";
import type { PlatformImage } from "../store/image-records.js";
import { diffIdRecordFor, type VerifiedDiffId } from "../store/diff-id-records.js";
import type { Store } from "../store/store.js";
import type { Compression } from "../tar/compression.js";
import { overLimit } from "../tar/guarded-decoder.js";
import { storedBlobCompression } from "./stored-compression.js";
import { probeStoredLayer, STORED_LAYER_LIMITS } from "./stored-layer.js";
import { layersListedInStore, listingVouchesFor } from "./vouched-layers.js";

/** Where an image lists a layer, and the diff ID its config gives it there. */
interface LayerClaim {
  mediaType: string;
  diffId: string | undefined;
  index: number;
  /** `manifest <digest> of <reference> layers[<index>]`, as load names `<manifest file> layers[<index>]`. */
  field: string;
  configName: string;
}

export class PullDiffIdCheck {
  private readonly claims = new Map<string, LayerClaim[]>();
  /** What this pull decompressed, to record once the blobs are committed. */
  private readonly found = new Map<string, VerifiedDiffId>();
  private readonly limits: ProbeLimits;

  /** `decompress` false: compressed layers are taken on the config's word (--skip-diff-id-check). */
  constructor(
    private readonly store: Store,
    private readonly decompress: boolean,
  ) {
    this.limits = { ...STORED_LAYER_LIMITS, decompress };
  }

  /** Notes every layer of a pulled image but a foreign one. */
  claimLayers(image: PlatformImage, reference: string): void {
    image.layers.forEach((layer, index) => {
      if (isForeignLayerType(layer.mediaType)) return;
      const claims = this.claims.get(layer.digest) ?? [];
      claims.push({
        mediaType: layer.mediaType,
        diffId: layer.diffId ?? undefined,
        index,
        field: `manifest ${image.manifest.digest} of ${reference} layers[${index}]`,
        configName: `config ${image.config.digest}`,
      });
      this.claims.set(layer.digest, claims);
    });
  }

  /** A probe for a blob about to be downloaded, or undefined when it is no layer to check. */
  probe(digest: string): LayerProbe | undefined {
    const claims = this.claims.get(digest);
    if (claims === undefined) return undefined;
    return new LayerProbe(this.limits, digest, (compression) => {
      for (const claim of claims) checkLayerCompression(claim.field, claim.mediaType, digest, compression);
    });
  }

  /** Checks a downloaded layer, whose digest and size the client has checked, against every claim. */
  async checkDownloaded(blob: { digest: string; size: number }, probe: LayerProbe): Promise<void> {
    const file = await probe.finish(blob);
    this.check(blob.digest, file);
    this.keep(blob.digest, file);
  }

  /**
   * Checks the layers the store already holds as a download of them would be checked: by what the
   * store vouches for (see vouched-layers.ts), else by reading them as a load reads a layer. With
   * `decompress` false a compressed layer is taken on its config's word, as a download of it
   * would be; an uncompressed one is still read unless vouched for.
   */
  async checkStored(digests: Iterable<string>): Promise<void> {
    let listed: Set<string> | undefined;
    for (const digest of digests) {
      if (!this.claims.has(digest)) continue;
      const compression = await storedBlobCompression(this.store, digest);
      if (compression !== "none" && !this.decompress) continue;
      const record = await this.store.diffIds.get(digest);
      if (record?.layerChecked) {
        this.check(digest, await this.described(digest, compression, record, `the store's record ${this.store.diffIds.recordPath(digest) ?? ""}`));
        continue;
      }
      listed ??= await layersListedInStore(this.store);
      if (await listingVouchesFor(this.store, listed, digest, compression)) {
        this.check(digest, await this.described(digest, compression, undefined, undefined));
        continue;
      }
      const file = await this.readStored(digest);
      this.check(digest, file);
      this.keep(digest, file);
    }
  }

  /** Records the diff IDs this pull decompressed; call once their blobs are committed. */
  async record(): Promise<void> {
    await Promise.all([...this.found].map(([digest, fact]) => this.store.diffIds.put(digest, fact)));
  }

  private check(digest: string, file: ScannedFile): void {
    for (const claim of this.claims.get(digest) ?? []) {
      checkLayer({ file, digest, mediaType: claim.mediaType, field: claim.field }, claim.diffId, claim.index, claim.configName);
    }
  }

  private keep(digest: string, file: ScannedFile): void {
    // A foreign layer is never probed: every layer kept here is one the pulled image lists as a layer.
    const record = diffIdRecordFor(digest, { diffId: file.diffId, size: file.uncompressedSize }, { vouchedByListing: true });
    if (record !== undefined) this.found.set(digest, record);
  }

  /**
   * A stored layer the store vouches for, as its record (`known`, from `source`) describes it, or,
   * without one, as its own diff ID and size. One larger than a download may decompress to (a load
   * with a higher --max-layer-size recorded it) is refused as the download would be.
   */
  private async described(digest: string, compression: Compression, known: VerifiedDiffId | undefined, source: string | undefined): Promise<ScannedFile> {
    const size = (await this.store.content.stat(digest))?.size ?? 0;
    const { diffId, size: uncompressedSize } = known ?? { diffId: digest, size };
    const file: ScannedFile = { name: digest, digest, size, compression, looksLikeTar: true };
    if (uncompressedSize > this.limits.maxLayerBytes) return { ...file, layerProblem: compression === "none" ? plainOverLimit(this.limits.maxLayerBytes) : overLimit(this.limits.maxLayerBytes) };
    return { ...file, diffId, uncompressedSize, ...(source !== undefined ? { diffIdSource: source } : {}) };
  }

  /** A stored layer without a record, read and decompressed as a load reads it; its digest is checked too. */
  private async readStored(digest: string): Promise<ScannedFile> {
    const { file, actualDigest } = await probeStoredLayer(this.store, digest);
    if (actualDigest !== digest) throw invalid(`blob ${digest} in the store does not match its digest (${actualDigest ?? "not computed"}): run lading fsck --repair`, digest);
    return file;
  }
}

/**
 * The probe of one layer download. The client hands over its batches while earlier ones may
 * still be in flight, so pushes are queued here to reach the probe in order, one at a time; a
 * batch's push settles only once the probe has taken what it needs of it.
 */
export class LayerProbe {
  private readonly probe: ContentProbe;
  private queue: Promise<void> = Promise.resolve();
  private size = 0;
  /** sha256 of the bytes, for an uncompressed layer addressed by another algorithm (its diff ID). */
  private readonly sha256: Hash | undefined;

  /** `sniffed`: as ContentProbe's, to refuse a layer its media type contradicts before decompressing it. */
  constructor(limits: ProbeLimits, digest: string, sniffed?: (compression: Compression) => void) {
    this.probe = new ContentProbe(limits, sniffed);
    this.sha256 = parseDigest(digest).algorithm === "sha256" ? undefined : createHash("sha256");
  }

  push(bytes: Buffer): Promise<void> {
    const pushed = this.queue.then(() => {
      this.size += bytes.length;
      this.sha256?.update(bytes);
      return this.probe.push(bytes);
    });
    this.queue = pushed.catch(() => undefined);
    return pushed;
  }

  async finish(blob: { digest: string; size: number }): Promise<ScannedFile> {
    await this.queue;
    const file: ScannedFile = { name: blob.digest, digest: blob.digest, size: this.size, ...(await this.probe.finish()) };
    withOwnDiffId(file, this.sha256 === undefined ? blob.digest : `sha256:${this.sha256.digest("hex")}`);
    return file;
  }

  destroy(): void {
    this.probe.destroy();
  }
}
