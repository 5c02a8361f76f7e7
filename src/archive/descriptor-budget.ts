import { LadingError } from "../core/errors.js";

/**
 * How many descriptors reading index.json may reach, over all its entries: index entries, and
 * each image's or artifact's config and layers. Each blob is resolved once per root, so only a
 * graph of many distinct blobs (or many roots sharing a large one) comes near it; a real archive
 * of hundreds of images with dozens of layers each stays well below.
 */
export const MAX_DESCRIPTORS_REACHED = 100_000;

/** Thrown past every per-descriptor catch: the whole reading of index.json stops. */
export class DescriptorBudgetExceeded extends LadingError {}

/** Counts the descriptors one reading of index.json reaches, refusing more than its limit. */
export class DescriptorBudget {
  private reached = 0;

  constructor(private readonly limit: number = MAX_DESCRIPTORS_REACHED) {}

  /** Counts `count` more descriptors met at `entry` (the index.json field or blob listing them). */
  get exhausted(): boolean {
    return this.reached > this.limit;
  }

  spend(count: number, entry: string): void {
    this.reached += count;
    if (this.reached <= this.limit) return;
    throw new DescriptorBudgetExceeded("invalid", `${entry}: index.json reaches more than ${this.limit} descriptors (index entries, configs and layers)`, { subject: entry });
  }
}
