/**
 * The Internet checksum (RFC 1071): the one's complement of the one's complement sum of 16-bit
 * big-endian words. `sum16` returns the folded partial sum so a pseudo-header, a header and a
 * payload can be summed separately and combined.
 */

/** Unfolded-then-folded 16-bit one's complement sum of `bytes` (an odd last byte is padded with 0). */
export function sum16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  let i = start;
  // Eight bytes per turn; the partial sum stays far below 2^53 for any segment (≤ 64 KiB).
  const even = start + ((end - start) & ~7);
  for (; i < even; i += 8) {
    sum += ((bytes[i]! << 8) | bytes[i + 1]!) + ((bytes[i + 2]! << 8) | bytes[i + 3]!)
      + ((bytes[i + 4]! << 8) | bytes[i + 5]!) + ((bytes[i + 6]! << 8) | bytes[i + 7]!);
  }
  for (; i + 1 < end; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < end) sum += bytes[i]! << 8;
  return fold(sum);
}

/** Folds carries back in (RFC 1071 §4.1) until the sum fits 16 bits. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a folded sum. */
export function checksumOf(sum: number): number {
  return ~fold(sum) & 0xffff;
}
