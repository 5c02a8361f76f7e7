/**
 * A streamed file's bytes handed to a probe worker through shared memory: the main thread copies
 * the body into a ring of page-aligned slots, and the worker hashes and checks each slot and
 * writes it into the ingest file around the page cache, as it does for a file of an archive on
 * disk. Before, the main thread wrote the body into the ingest file through the page cache and
 * the worker read it back from there: on the 2-CPU bench VM, putting 1 GiB into the page cache
 * took ~0.6 s of system time in the thread pool, the most of what a `docker load` through
 * `lading serve` cost beyond `lading load -i` of the same archive.
 *
 * One producer (the main thread), one consumer (the worker). The control words after the slots:
 * PUBLISHED and RELEASED count slots, STATE says how the producer or the consumer ended, SIGNAL
 * changes with every publish, end and abort (what the consumer waits on), and each slot's length
 * is kept beside them. A slot is the producer's again once released: the consumer
 * releases one when it asks for the next (a chunk is valid until the next read, see ChunkSource).
 */
import { LadingError } from "../core/errors.js";
import type { ChunkSource } from "../tar/chunk-source.js";

/** The bytes of a slot: as large as a file source's reads, and whole pages (O_DIRECT writes). */
export const RING_SLOT_BYTES = 1024 * 1024;
/** Slots per ring: one the worker holds, the others filled ahead of it. */
export const RING_SLOTS = 4;

const PUBLISHED = 0;
const RELEASED = 1;
const STATE = 2;
/**
 * Bumped after each publish, end and abort. The consumer reads it before it looks at the others
 * and waits on it: an end that publishes nothing more (a body of whole slots) leaves PUBLISHED as
 * it was, and a wait on PUBLISHED would sleep through it.
 */
const SIGNAL = 3;
const LENGTHS = 4;
const CONTROL_WORDS = LENGTHS + RING_SLOTS;

// STATE is 0 while the producer is writing.
/** Set by the producer after its last slot. */
const ENDED = 1;
/** Set by the producer when its body failed: the consumer fails at its next read. */
const ABORTED = 2;
/** Set by the consumer when it stops reading (done, failed or stopped): the producer stops waiting. */
const CONSUMER_DONE = 3;

/** A WebAssembly page: the unit a WebAssembly memory is sized in. */
const WASM_PAGE_BYTES = 64 * 1024;

// Node has shared WebAssembly memories; the TypeScript libraries this project compiles against declare only their types.
declare const WebAssembly: { Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } };

/** Atomics.waitAsync (Node 16 and later), which the TypeScript libraries this project compiles against do not declare. */
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeout: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** Slots and control words in one shared memory (page aligned, as a WebAssembly memory is). */
export type RingMemory = SharedArrayBuffer;

/**
 * A new ring, or undefined when the process may not have one: V8 reserves gigabytes of address
 * space for every WebAssembly memory, which a limit such as `ulimit -v 16000000` refuses.
 */
function newRing(): RingMemory | undefined {
  const pages = (RING_SLOTS * RING_SLOT_BYTES) / WASM_PAGE_BYTES + 1;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
  } catch {
    return undefined;
  }
}

function controlOf(ring: RingMemory): Int32Array {
  return new Int32Array(ring, RING_SLOTS * RING_SLOT_BYTES, CONTROL_WORDS);
}

function slotsOf(ring: RingMemory): Buffer[] {
  return Array.from({ length: RING_SLOTS }, (_, index) => Buffer.from(ring, index * RING_SLOT_BYTES, RING_SLOT_BYTES));
}

/** Rings no job uses, kept for the next streamed file (a server loads one archive after another). */
const spareRings: RingMemory[] = [];
/**
 * How many spare rings are kept. A load streams its files one after another, so it uses one ring
 * at a time: two spares serve a server's loads one after another. More, made for loads that ran
 * at once, are let go, so a server does not keep its busiest moment's memory and address space.
 */
const MAX_SPARE_RINGS = 2;
/**
 * The outcomes of the files whose producers have ended but whose workers may still be reading the
 * last slots. A new file waits for one of those rings rather than take memory for another: its
 * worker is most often the same, busy with that file until then (each ring held at once is
 * 4 MiB more resident memory: on a 1 GiB docker load, the server's peak was up to 106 MB with a
 * ring for each file still draining, up to 101 MB with one ring, 95-100 MB before the rings).
 */
const draining = new Set<Promise<void>>();

/** The producer's end of a ring, for one file. */
export interface RingProducer {
  /** Copies `chunk` into the ring, waiting for free slots (the chunk may be reused once settled). */
  write(chunk: Buffer): Promise<void>;
  /** Publishes what is left: the consumer's next read after the last slot ends the file. */
  end(): void;
  /** Tells the consumer the file is cut short. */
  abort(): void;
}

/**
 * A ring for one file, whose consumer `start` starts: its outcome, `consumed`, settles once the
 * consumer no longer uses the ring. A write waiting for a slot gives up
 * once `consumed` settles, with its failure, or, if it succeeded (it cannot without the end), an
 * error saying so. The ring is used again for a later file once `consumed` has succeeded; while a
 * ring whose producer has ended is still being read, a new file waits for it.
 */
export async function ringProducer<T>(start: (ring: RingMemory) => Promise<T>): Promise<(RingProducer & { consumed: Promise<T> }) | undefined> {
  while (spareRings.length === 0 && draining.size > 0) await Promise.race(draining);
  const ring = spareRings.pop() ?? newRing();
  if (ring === undefined) return undefined;
  const control = controlOf(ring);
  control.fill(0);
  const consumed = start(ring);
  const slots = slotsOf(ring);
  let settled = false;
  const done = consumed.then(
    () => undefined,
    () => undefined,
  );
  void done.then(() => (settled = true));
  // Kept for another file only once the worker has answered: a job failed by its pool's close
  // may still be running, and would touch the ring again.
  void consumed.then(
    () => {
      if (spareRings.length < MAX_SPARE_RINGS) spareRings.push(ring);
    },
    () => undefined,
  );
  let published = 0;
  let filled = 0; // bytes in the slot being filled (number `published`)
  const signal = (): void => {
    Atomics.add(control, SIGNAL, 1);
    Atomics.notify(control, SIGNAL);
  };

  const publish = (): void => {
    Atomics.store(control, LENGTHS + (published % RING_SLOTS), filled);
    published++;
    filled = 0;
    Atomics.store(control, PUBLISHED, published);
    signal();
  };
  /** Waits until the slot `published` is free (RING_SLOTS behind it released). */
  const free = async (): Promise<void> => {
    for (;;) {
      if (settled || Atomics.load(control, STATE) === CONSUMER_DONE) {
        await consumed;
        throw new LadingError("io", "the probe worker stopped reading a streamed file before its end");
      }
      const released = Atomics.load(control, RELEASED);
      if (published - released < RING_SLOTS) return;
      const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(control, RELEASED, released, 1000);
      if (wait.async) await Promise.race([wait.value, done]);
    }
  };
  return {
    consumed,
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        if (filled === 0) await free();
        const copied = chunk.copy(slots[published % RING_SLOTS] as Buffer, filled, offset);
        offset += copied;
        filled += copied;
        if (filled === RING_SLOT_BYTES) publish();
      }
    },
    end() {
      if (filled > 0) publish();
      Atomics.store(control, STATE, ENDED);
      signal();
      // Settles after the ring is back among the spares (that reaction was registered first).
      draining.add(done);
      void done.then(() => draining.delete(done));
    },
    abort() {
      Atomics.store(control, STATE, ABORTED);
      signal();
    },
  };
}

/**
 * The consumer's end: the ring's slots in order, each valid until the next read, ending once
 * the producer has ended. Reads block the calling thread (a worker's, which has nothing else to
 * do meanwhile); `stopped` is checked while waiting.
 */
export function ringChunkSource(ring: RingMemory, stopped: () => boolean, whenStopped: () => Error): ChunkSource {
  const control = controlOf(ring);
  const slots = slotsOf(ring);
  let taken = 0;
  let holding = false;
  let bytes = 0;
  let closed = false;
  const release = (): void => {
    if (!holding) return;
    holding = false;
    Atomics.add(control, RELEASED, 1);
    Atomics.notify(control, RELEASED);
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    release();
    Atomics.store(control, STATE, CONSUMER_DONE);
    Atomics.notify(control, RELEASED);
  };
  return {
    async read() {
      if (closed) return undefined;
      release();
      for (;;) {
        if (stopped()) {
          close();
          throw whenStopped();
        }
        // The signal first, then the state: once it says ended, every slot has been published.
        const signalled = Atomics.load(control, SIGNAL);
        const state = Atomics.load(control, STATE);
        const published = Atomics.load(control, PUBLISHED);
        if (published > taken) {
          const index = taken % RING_SLOTS;
          const length = Atomics.load(control, LENGTHS + index);
          taken++;
          holding = true;
          bytes += length;
          return (slots[index] as Buffer).subarray(0, length);
        }
        if (state === ENDED) {
          close();
          return undefined;
        }
        if (state === ABORTED) {
          close();
          throw new LadingError("io", "the streamed file was cut short");
        }
        Atomics.wait(control, SIGNAL, signalled, 200);
      }
    },
    close,
    bytesRead: () => bytes,
  };
}
