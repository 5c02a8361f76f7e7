/**
 * Sequential output to a file through two page-aligned stages written around the page cache (see
 * direct-io.ts): the bytes given are copied into the stage being filled, and each full stage is
 * written while the other fills. A tar's data chunks start anywhere (after a 512-byte header), so
 * they cannot go to a direct descriptor as they are; one copy makes every write whole, aligned
 * pages. The last partial page goes through the ordinary descriptor, as does everything after a
 * direct write is refused (see refusedDirect).
 */
import { closeSync } from "node:fs";
import { DIRECT_ALIGNMENT, refusedDirect } from "./direct-io.js";
import { pageAlignedBuffers } from "./page-aligned.js";
import { writeAllAt } from "./write-at.js";

export const STAGE_BYTES = 1024 * 1024;

export class DirectStages {
  readonly #fd: number;
  #direct: number | undefined;
  /** Cleared once a direct write is refused: the descriptor stays open until no write can be using it. */
  #useDirect = true;
  readonly #stages: Buffer[];
  /** The write of each stage in flight, if any. */
  readonly #writing: (Promise<void> | undefined)[] = [undefined, undefined];
  #turn = 0; // the stage being filled
  #filled = 0;
  #position: number; // where the stage being filled starts in the file
  #directBytes = 0;

  /** `direct`: a descriptor of the same file opened with openDirectSync; `position` a multiple of DIRECT_ALIGNMENT. Closes `direct` at the end. */
  constructor(fd: number, direct: number, position: number) {
    if (position % DIRECT_ALIGNMENT !== 0) throw new RangeError(`direct stages start on a page boundary, not at ${position}`);
    this.#fd = fd;
    this.#direct = direct;
    this.#position = position;
    this.#stages = pageAlignedBuffers(2, STAGE_BYTES);
  }

  /** Copies `buffers` in; resolves once they are no longer needed (a stage may have to be free first). Rejects with a failed write. */
  async write(buffers: Buffer[]): Promise<void> {
    for (const buffer of buffers) {
      for (let offset = 0; offset < buffer.length; ) {
        if (this.#filled === 0) await this.#writing[this.#turn];
        const copied = buffer.copy(this.#stages[this.#turn] as Buffer, this.#filled, offset);
        offset += copied;
        this.#filled += copied;
        if (this.#filled === STAGE_BYTES) this.#writeStage(STAGE_BYTES);
      }
    }
  }

  /** Writes what is left, waits for every write, and closes the direct descriptor. */
  async finish(): Promise<void> {
    if (this.#filled > 0) this.#writeStage(this.#filled);
    const outcomes = await Promise.allSettled(this.#writing);
    this.#closeDirect();
    for (const outcome of outcomes) if (outcome.status === "rejected") throw outcome.reason;
  }

  /** Waits for the writes in flight, whatever their outcome, and closes the direct descriptor. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.#writing);
    this.#closeDirect();
  }

  /** How many bytes went around the page cache. */
  directBytes(): number {
    return this.#directBytes;
  }

  /** Starts the write of the stage being filled (its first `length` bytes) and turns to the other. */
  #writeStage(length: number): void {
    const stage = (this.#stages[this.#turn] as Buffer).subarray(0, length);
    const written = this.#writeOut(stage, this.#position);
    written.catch(() => undefined); // awaited before the stage is filled again, or at the end
    this.#writing[this.#turn] = written;
    this.#position += length;
    this.#turn = 1 - this.#turn;
    this.#filled = 0;
  }

  async #writeOut(stage: Buffer, position: number): Promise<void> {
    const whole = stage.length - (stage.length % DIRECT_ALIGNMENT);
    let done = 0;
    if (this.#useDirect && this.#direct !== undefined && whole > 0) {
      try {
        await writeAllAt(this.#direct, [stage.subarray(0, whole)], position);
        done = whole;
        this.#directBytes += whole;
      } catch (error) {
        if (!refusedDirect(error)) throw error;
        this.#useDirect = false;
      }
    }
    if (done < stage.length) await writeAllAt(this.#fd, [stage.subarray(done)], position + done);
  }

  #closeDirect(): void {
    if (this.#direct === undefined) return;
    const direct = this.#direct;
    this.#direct = undefined;
    closeSync(direct);
  }
}
