// xz streams made by the real xz, and the crafted ones whose block header asks for another
// dictionary than the one the data was compressed with.
import { execFileSync } from "node:child_process";
import { crc32 } from "node:zlib";

/** `xz -c -T1 ARGS` of `input` (one block, as single-threaded xz writes it, unless ARGS say otherwise). */
export const xzOf = (input: Buffer, args: readonly string[] = []): Buffer => execFileSync("xz", ["-c", "-T1", ...args], { input, maxBuffer: 1 << 30 });

/** The LZMA2 properties byte of a dictionary of `bytes` (2^n or 3 * 2^n, from 4 KiB). */
function dictionaryProps(bytes: number): number {
  for (let props = 0; props < 40; props++) {
    if ((2 | (props & 1)) * 2 ** (Math.floor(props / 2) + 11) === bytes) return props;
  }
  throw new Error(`no LZMA2 dictionary size of exactly ${bytes} bytes`);
}

/**
 * A single-block xz stream (`xzOf` with one filter, LZMA2) whose block header asks for a
 * dictionary of `bytes`, its CRC32 made again. Data compressed with a smaller dictionary decodes
 * with any larger one, so liblzma reads it once it has the dictionary the header asks for.
 */
export function withDictionary(stream: Buffer, bytes: number): Buffer {
  const crafted = Buffer.from(stream);
  const header = 12;
  const headerSize = (crafted[header]! + 1) * 4;
  const flags = crafted[header + 1]!;
  // xz -T1 writes neither size in the block header: the filter flags (ID 0x21, one byte of
  // properties) come right after the block flags.
  if (flags !== 0 || crafted[header + 2] !== 0x21 || crafted[header + 3] !== 1) throw new Error("not a one-filter LZMA2 block without sizes");
  crafted[header + 4] = dictionaryProps(bytes);
  crafted.writeUInt32LE(crc32(crafted.subarray(header, header + headerSize - 4)), header + headerSize - 4);
  return crafted;
}
