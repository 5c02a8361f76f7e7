/**
 * Keeps a transfer's memory flat. Every socket read (and every file read of an upload) hands
 * JavaScript a freshly allocated buffer, which becomes garbage as soon as it is hashed and passed
 * on. V8 frees those buffers only when a young-generation collection runs, and at transfer speed
 * its own "external memory pressure" trigger lets tens of megabytes pile up first (a 160 MiB pull
 * peaked at 130 MB resident, of which ~60 MB were dead socket buffers). A minor collection of the
 * small young generation every few MiB costs about a millisecond and keeps them bounded; measured,
 * it even lowers the CPU time of a pull (less memory touched).
 */
import v8 from "node:v8";
import vm from "node:vm";

/** gc(): a full collection; gc({ type: "minor" }): a young one. */
type Collect = (options?: { type: "minor" }) => void;

const COLLECT_EVERY_BYTES = 4 << 20;

let collect: Collect | null | undefined;
let sinceLast = 0;

function collector(): Collect | null {
  if (collect === undefined) {
    try {
      // --expose-gc takes effect in contexts created afterwards: a fresh one hands out gc().
      v8.setFlagsFromString("--expose-gc");
      const gc: unknown = vm.runInNewContext("typeof gc === 'function' ? gc : undefined");
      collect = typeof gc === "function" ? (gc as Collect) : null;
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Counts bytes passed through (all transfers together) and collects their buffers every few MiB. */
export function transferred(bytes: number): void {
  sinceLast += bytes;
  if (sinceLast < COLLECT_EVERY_BYTES) return;
  sinceLast = 0;
  collector()?.({ type: "minor" });
}

/** Bytes counted between two full collections (see countForFullCollection). */
const FULL_COLLECTION_EVERY_BYTES = 256 * 1024 * 1024;
let countedSinceFull = 0;

/**
 * Counts bytes of a long job (a save, a convert, the layers a load or verify reads) and runs a
 * full collection every FULL_COLLECTION_EVERY_BYTES. Young collections (transferred()'s or V8's
 * own) free what is already dead but promote what is still in flight: decompression buffers, the
 * promises and read results of each chunk. Those then die in the old generation, which only a
 * full collection frees, and V8 runs few while the heap is small: without these, dead objects
 * and buffers pile up in proportion to the archive's size (a 4 GiB save or gzip load peaked
 * 10-14% higher than a 1 GiB one). One full collection of lading's small heap takes ~20 ms.
 */
export function countForFullCollection(bytes: number): void {
  countedSinceFull += bytes;
  if (countedSinceFull < FULL_COLLECTION_EVERY_BYTES) return;
  countedSinceFull = 0;
  collector()?.();
}
