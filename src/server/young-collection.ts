/**
 * The server's pace for transferred()'s young-generation collections: every 8 MiB streamed, not
 * transferred()'s own 4 MiB. A load's socket buffers die at once; a save's 1 MiB read buffers live
 * through a few MiB of pipeline (hashing, tar framing, the socket's queue), and a buffer that
 * survives two young collections is promoted, after which only a full collection frees it.
 * Measured on 1 GiB through `lading serve`: a save spent 3.4-3.9 s of server CPU with no such
 * collections (about 90 full ones started by V8's external-memory trigger), 4+ s at every 4 MiB,
 * ~2.2 s at every 8 MiB, no better at 32 MiB; a load 6 s with none, ~3.6 s at 4 MiB, ~3.2 s at 8.
 */
import { transferred } from "../tar/transfer-garbage.js";

/** transferred() collects every 4 MiB it is told of: telling it half makes that every 8 MiB. */
const COUNTED_SHARE = 2;

export function streamed(bytes: number): void {
  transferred(Math.floor(bytes / COUNTED_SHARE));
}
