/** Sum of a 512-byte tar header's bytes with the checksum field (148..155) counted as eight spaces. */
export function headerChecksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += block[i] as number;
  for (let i = 156; i < 512; i++) sum += block[i] as number;
  return sum;
}
