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
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a folded sum. */
export function checksumOf(sum: number): number {
  return ~fold(sum) & 0xffff;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A WebAssembly function `sum(ptr, len): i64` adding the 32-bit halves of each 8-byte little-endian
 * word of its memory (two 64 KiB pages) — JavaScript sums about 1 GB/s, this about 7 (measured
 * in bench/relay.ts's pcapng target, where checksumming every relayed byte twice was the cost).
 * Hand-assembled; its text form:
 *
 *   (func (export "sum") (param $ptr i32) (param $len i32) (result i64)
 *     (local $acc i64) (local $w i64) (local $end i32)
 *     (local.set $end (i32.add (local.get $ptr) (local.get $len)))
 *     (block (loop
 *       (br_if 1 (i32.ge_u (local.get $ptr) (local.get $end)))
 *       (local.set $w (i64.load (local.get $ptr)))
 *       (local.set $acc (i64.add (local.get $acc)
 *         (i64.add (i64.and (local.get $w) (i64.const 0xffffffff)) (i64.shr_u (local.get $w) (i64.const 32)))))
 *       (local.set $ptr (i32.add (local.get $ptr) (i32.const 8)))
 *       (br 0)))
 *     (local.get $acc))
 *   (memory (export "mem") 2)
 */
const SUM_WASM = Buffer.from(
  '0061736d01000000' + '01070160027f7f017e' + '03020100' + '0503010002' + '070d020373756d0000036d656d0200' +
    '0a40013e02027e017f' + '200020016a2104' + '02400340' + '200020044f0d01' + '20002903002203' + '42ffffffff0f83' +
    '20034220887c' + '20027c2102' + '200041086a21000c00' + '0b0b20020b',
  'hex',
);

interface WasmSum {
  readonly sum: (ptr: number, len: number) => bigint;
  readonly mem: Uint8Array;
}

interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => {
    readonly exports: { readonly sum: (ptr: number, len: number) => bigint; readonly mem: { readonly buffer: ArrayBuffer } };
  };
}

let wasmSum: WasmSum | null | undefined;

function loadWasmSum(): WasmSum | null {
  if (wasmSum !== undefined) return wasmSum;
  // The project's TypeScript lib has no WebAssembly declarations: the few members used, typed here.
  const wa = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    if (wa === undefined) throw new Error('no WebAssembly');
    const exports = new wa.Instance(new wa.Module(SUM_WASM), {}).exports;
    wasmSum = { sum: exports.sum, mem: new Uint8Array(exports.mem.buffer) };
  } catch {
    wasmSum = null;
  }
  return wasmSum;
}

/**
 * `sum16` for long runs. RFC 1071 §2(B): the one's complement sum does not depend on byte order,
 * so little-endian 32-bit words are summed (in WebAssembly, else in JavaScript where the bytes are
 * 4-aligned) and the folded result byte-swapped. `start` must be even in the checksummed sequence.
 */
export function sum16Fast(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (!LITTLE_ENDIAN || length < 256) return sum16(bytes, start, end);
  const wasm = loadWasmSum();
  let swapped = 0;
  let at = start;
  if (wasm !== null) {
    const room = wasm.mem.length & ~7;
    while (end - at >= 8) {
      const n = Math.min(room, (end - at) & ~7);
      wasm.mem.set(bytes.subarray(at, at + n), 0);
      // Below 2^46 for 64 KiB: exact as a Number.
      swapped = fold(swapped + fold(Number(wasm.sum(0, n))));
      at += n;
    }
  } else if ((bytes.byteOffset + start) % 4 === 0) {
    const count = length >>> 2;
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset + start, count);
    let sum = 0;
    // Each word is < 2^32; 2^20 of them stay exact below 2^53.
    for (let i = 0; i < count; i++) {
      sum += words[i]!;
      if ((i & 0xfffff) === 0xfffff) sum = fold(sum);
    }
    swapped = fold(sum);
    at = start + count * 4;
  } else return sum16(bytes, start, end);
  const folded = ((swapped & 0xff) << 8) | (swapped >>> 8);
  return fold(folded + (at < end ? sum16(bytes, at, end) : 0));
}
