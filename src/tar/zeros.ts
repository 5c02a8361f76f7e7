/** Zero bytes: a tar's end-of-archive marker and the padding after it. */
const ZEROS = new Uint8Array(64 * 1024);

/** Whether every byte is zero, compared a piece at a time against zeros (memcmp), not byte by byte. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const piece = bytes.subarray(at, at + ZEROS.length);
    if (Buffer.compare(piece, ZEROS.subarray(0, piece.length)) !== 0) return false;
  }
  return true;
}
