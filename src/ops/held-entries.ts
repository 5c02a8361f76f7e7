/**
 * Small archive entries kept in memory while a load reads the archive, up to a budget, instead of
 * each going to an ingest file. Which entries an image uses is known only at the end (the
 * metadata may come last); an unused small entry then costs no file, write, close and unlink,
 * which for an archive of thousands of small entries was most of a load's time.
 */
import { invalid } from "../core/errors.js";
import type { BlobWriter } from "../archive/probe.js";

/** Largest entry held in memory; larger ones go to an ingest file as they are read. */
export const HELD_ENTRY_MAX_BYTES = 256 * 1024;
/** Most bytes held at once by one load; entries met once it is spent go to ingest files. */
export const HELD_BUDGET_BYTES = 16 * 1024 * 1024;

export class HeldEntries {
  readonly #bytes = new Map<string, Buffer>();
  #reserved = 0;

  constructor(
    private readonly maxEntryBytes = HELD_ENTRY_MAX_BYTES,
    private readonly budgetBytes = HELD_BUDGET_BYTES,
  ) {}

  /** A writer that keeps the entry's bytes, or undefined when it is too large or the budget is spent. */
  writer(name: string, size: number): BlobWriter | undefined {
    if (size > this.maxEntryBytes || this.#reserved + size > this.budgetBytes) return undefined;
    this.#reserved += size;
    const kept = Buffer.allocUnsafe(size);
    let filled = 0;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#reserved -= size;
    };
    return {
      write: (chunk) => {
        if (filled + chunk.length > size) throw invalid(`entry ${JSON.stringify(name)}: more bytes than its declared size ${size}`, name);
        // The chunk's buffer is reused once this returns: the bytes are copied.
        chunk.copy(kept, filled);
        filled += chunk.length;
      },
      close: async () => {
        if (filled !== size) {
          release();
          throw invalid(`entry ${JSON.stringify(name)}: ${filled} bytes where its header declares ${size}`, name);
        }
        // A duplicate entry's bytes were compared with the first's by the scan: one copy is enough.
        if (this.#bytes.has(name)) release();
        else this.#bytes.set(name, kept);
      },
      abort: async () => release(),
    };
  }

  /** The bytes of an entry read whole, once: a taken entry is no longer held. */
  take(name: string): Buffer | undefined {
    const bytes = this.#bytes.get(name);
    if (bytes === undefined) return undefined;
    this.#bytes.delete(name);
    this.#reserved -= bytes.length;
    return bytes;
  }
}
