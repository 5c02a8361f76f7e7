/**
 * Per-image records: images/<alg>/<hex>.json, one per image ID (the digest of the image's root
 * object). A record says how the image came in and what it holds, so listing and inspecting
 * need no walk of the blob graph, and so that a synthesised manifest is never mistaken for a
 * registry's. Written atomically, after the blobs and before the references.
 */
import { readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { parseDigest } from "../core/digest.js";
import { parseDocument } from "../core/schemas.js";
import { writeFileAtomic } from "./atomic-file.js";

const platformImageSchema = z.object({
  platform: z.string(),
  manifest: z.object({ mediaType: z.string(), digest: z.string(), size: z.number() }),
  config: z.object({ mediaType: z.string(), digest: z.string(), size: z.number() }),
  layers: z.array(z.object({ mediaType: z.string(), digest: z.string(), size: z.number(), diffId: z.string().nullable() })),
});

export const imageRecordSchema = z.object({
  id: z.string(),
  mediaType: z.string(),
  size: z.number(),
  /** "archive": the root object's bytes came from an archive or registry; "synthesized": lading made them. */
  origin: z.enum(["archive", "synthesized"]),
  loadedAt: z.string(),
  images: z.array(platformImageSchema),
  /** Index children the store does not hold (a sparse image). */
  absent: z.array(z.object({ digest: z.string(), mediaType: z.string(), platform: z.string().nullable() })),
  /** Every other blob the image needs besides manifests, configs and layers: indexes, attestations. */
  otherBlobs: z.array(z.string()),
});
export type ImageRecord = z.infer<typeof imageRecordSchema>;
export type PlatformImage = z.infer<typeof platformImageSchema>;

export class ImageRecords {
  constructor(private readonly directory: string) {}

  private pathOf(id: string): string {
    const { algorithm, encoded } = parseDigest(id, "image ID");
    return path.join(this.directory, `${algorithm}-${encoded}.json`);
  }

  async get(id: string): Promise<ImageRecord | undefined> {
    try {
      return parseDocument(imageRecordSchema, await readFile(this.pathOf(id)), `image record ${id}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  async put(record: ImageRecord): Promise<void> {
    await writeFileAtomic(this.pathOf(record.id), JSON.stringify(record), 0o644);
  }

  async delete(id: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(id));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  async list(): Promise<ImageRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const records: ImageRecord[] = [];
    for (const name of names.sort()) {
      const match = /^(sha256|sha512)-([0-9a-f]+)\.json$/.exec(name);
      if (!match) continue;
      const record = await this.get(`${match[1]}:${match[2]}`);
      if (record) records.push(record);
    }
    return records;
  }
}

/** Every blob digest an image record needs. */
export function blobsOfRecord(record: ImageRecord): string[] {
  const digests = new Set<string>([record.id, ...record.otherBlobs]);
  for (const image of record.images) {
    digests.add(image.manifest.digest);
    digests.add(image.config.digest);
    for (const layer of image.layers) digests.add(layer.digest);
  }
  return [...digests];
}
