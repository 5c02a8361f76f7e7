/**
 * What listing images needs from the store, kept between requests so that `GET /images/json`
 * costs a few stats when nothing changed: the parsed image records, and the first missing blob
 * of each (the "incomplete" label).
 *
 * Both are keyed by directory stamps. Every record write is an atomic rename into images/ and
 * every blob commit a rename into blobs/<alg>/, and every removal an unlink there, so each change
 * moves its directory's modification time. A stamp read within RACY_WINDOW_NS of that time is not
 * trusted (a second change in the same clock tick would leave it equal): the next request checks
 * again. Within images/, a file whose own stamp (inode, size, times) is unchanged keeps its
 * parsed record.
 */
import type { BigIntStats } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { blobsOfRecord, type ImageRecord } from "../store/image-records.js";
import type { Store } from "../store/store.js";

type Stamp = { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint };

interface KnownRecord {
  stamp: Stamp;
  racy: boolean;
  record: ImageRecord | undefined;
}

/** images/<algorithm>-<hex>.json, as ImageRecords names them. */
const RECORD_FILE = /^(sha256|sha512)-([0-9a-f]+)\.json$/;
const RACY_WINDOW_NS = 100_000_000n;
const BLOB_ALGORITHMS = ["sha256", "sha512"];
const REMEMBERED_MAX = 16;

export class StoreListing {
  private recordsCache: { stamp: Stamp; racy: boolean; byName: Map<string, KnownRecord>; records: ImageRecord[] } | undefined;
  private readonly remembered = new Map<string, { inputs: readonly unknown[]; value: unknown }>();
  private missingCache: { stamps: (Stamp | null)[]; racy: boolean; byId: Map<string, string | null> } | undefined;

  /** Every image record, in file-name order (as ImageRecords.list gives them). */
  async records(store: Store): Promise<ImageRecord[]> {
    const directory = store.paths.images;
    const dirStamp = await stampOf(directory);
    if (dirStamp === null) return [];
    const cached = this.recordsCache;
    if (cached && !cached.racy && sameStamp(cached.stamp, dirStamp)) return cached.records;

    const now = nowNs();
    const names = (await readdir(directory)).filter((name) => RECORD_FILE.test(name)).sort();
    const known = await Promise.all(
      names.map(async (name): Promise<[string, KnownRecord] | undefined> => {
        const file = path.join(directory, name);
        const fileStamp = await stampOf(file);
        if (fileStamp === null) return undefined;
        const previous = cached?.byName.get(name);
        if (previous && !previous.racy && sameStamp(previous.stamp, fileStamp)) return [name, previous];
        const match = RECORD_FILE.exec(name) as RegExpExecArray;
        const record = await store.records.get(`${match[1]}:${match[2]}`);
        return [name, { stamp: fileStamp, racy: isRacy(fileStamp, nowNs()), record }];
      }),
    );
    const byName = new Map(known.filter((entry) => entry !== undefined));
    const records = [...byName.values()].flatMap((entry) => (entry.record ? [entry.record] : []));
    this.recordsCache = { stamp: dirStamp, racy: isRacy(dirStamp, now), byName, records };
    return records;
  }

  /**
   * For each of `records` (at least), the first of its blobs in blobsOfRecord's order that the
   * content store lacks, or null. The same map object comes back until the blob directories change.
   */
  async missingBlobs(store: Store, records: readonly ImageRecord[]): Promise<ReadonlyMap<string, string | null>> {
    const cache = await this.currentMissingCache(store);
    const unknown = records.filter((record) => !cache.byId.has(record.id));
    await Promise.all(unknown.map(async (record) => cache.byId.set(record.id, await firstMissing(store, record))));
    return cache.byId;
  }

  /**
   * A value computed from `inputs`, reused while every input is the same object as last time
   * (for `key`). The inputs must determine the value: here, the reference state, the records
   * and the missing-blob map, all replaced by new objects when anything under them changes.
   */
  async remember<T>(key: string, inputs: readonly unknown[], compute: () => Promise<T>): Promise<T> {
    const known = this.remembered.get(key);
    if (known && known.inputs.length === inputs.length && known.inputs.every((input, i) => input === inputs[i])) return known.value as T;
    const value = await compute();
    if (this.remembered.size >= REMEMBERED_MAX) this.remembered.delete(this.remembered.keys().next().value as string);
    this.remembered.set(key, { inputs, value });
    return value;
  }

  private async currentMissingCache(store: Store): Promise<{ byId: Map<string, string | null> }> {
    const now = nowNs();
    const stamps = await Promise.all(BLOB_ALGORITHMS.map((algorithm) => stampOf(path.join(store.paths.blobs, algorithm))));
    const cached = this.missingCache;
    if (cached && !cached.racy && stamps.every((stamp, i) => sameOptionalStamp(stamp, cached.stamps[i] ?? null))) return cached;
    const fresh = { stamps, racy: stamps.some((stamp) => stamp !== null && isRacy(stamp, now)), byId: new Map<string, string | null>() };
    this.missingCache = fresh;
    return fresh;
  }
}

async function firstMissing(store: Store, record: ImageRecord): Promise<string | null> {
  for (const digest of blobsOfRecord(record)) if (!(await store.content.has(digest))) return digest;
  return null;
}

async function stampOf(file: string): Promise<Stamp | null> {
  let info: BigIntStats;
  try {
    info = await stat(file, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  return { ino: info.ino, size: info.size, mtimeNs: info.mtimeNs, ctimeNs: info.ctimeNs };
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function isRacy(stamp: Stamp, readAtNs: bigint): boolean {
  const changed = stamp.ctimeNs > stamp.mtimeNs ? stamp.ctimeNs : stamp.mtimeNs;
  return readAtNs - changed < RACY_WINDOW_NS;
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function sameOptionalStamp(a: Stamp | null, b: Stamp | null): boolean {
  return a === null || b === null ? a === b : sameStamp(a, b);
}
