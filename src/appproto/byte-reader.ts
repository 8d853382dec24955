/**
 * A cursor over one payload for the binary decoders. Every read checks the bytes are there first
 * and stops with the offset otherwise, so a claimed length never allocates more than the payload.
 */
import { stop } from './types.js';

export class ByteReader {
  pos = 0;
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get left(): number {
    return this.bytes.length - this.pos;
  }
  /** Stops unless `n` more bytes are there; `what` names the field for the reason. */
  need(n: number, what: string): void {
    if (n > this.left) stop(`${what} at byte ${this.pos} needs ${n} bytes, ${this.left} left`);
  }
  u8(what = 'byte'): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }
  u16(what = 'uint16'): number {
    this.need(2, what);
    const v = this.#view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what = 'uint32'): number {
    this.need(4, what);
    const v = this.#view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  u64(what = 'uint64'): bigint {
    this.need(8, what);
    const v = this.#view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }
  i8(): number {
    this.need(1, 'int8');
    return this.#view.getInt8(this.pos++);
  }
  i16(): number {
    this.need(2, 'int16');
    const v = this.#view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }
  i32(): number {
    this.need(4, 'int32');
    const v = this.#view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  i64(): bigint {
    this.need(8, 'int64');
    const v = this.#view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }
  f16(): number {
    const h = this.u16('float16');
    // RFC 8949 Appendix D: half-precision to double.
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const sign = h & 0x8000 ? -1 : 1;
    if (exp === 0) return sign * mant * 2 ** -24;
    if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
    return sign * (mant + 1024) * 2 ** (exp - 25);
  }
  f32(): number {
    this.need(4, 'float32');
    const v = this.#view.getFloat32(this.pos);
    this.pos += 4;
    return v;
  }
  f64(): number {
    this.need(8, 'float64');
    const v = this.#view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8; null for invalid sequences. */
export function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/** Strict UTF-8; stops with `what` on invalid sequences. */
export function utf8(bytes: Uint8Array, what: string): string {
  const s = utf8OrNull(bytes);
  if (s === null) stop(`${what} is not valid UTF-8`);
  return s;
}

/** A number when exact, else a bigint. */
export function intOf(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}
