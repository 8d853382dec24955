/**
 * MessagePack (https://github.com/msgpack/msgpack/blob/master/spec.md), decoded with bounds:
 * a claimed array/map/string length larger than the bytes left stops before anything is allocated,
 * depth and item counts are limited.
 */
import { ByteReader, intOf, utf8 } from './byte-reader.js';
import { type DataValue, dataToJson, dataToTree, describeData } from './data-value.js';
import { Budget, type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, guard, stop } from './types.js';

/** Decodes exactly one msgpack value filling the whole payload. */
export function decodeMsgpackValue(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DataValue {
  if (bytes.length > limits.maxBytes) stop(`${bytes.length} bytes (limit ${limits.maxBytes})`);
  if (bytes.length === 0) stop('empty payload');
  const r = new ByteReader(bytes);
  const v = readValue(r, new Budget(limits), 0);
  if (r.left > 0) stop(`${r.left} bytes after the value at byte ${r.pos}`);
  return v;
}

export function decodeMsgpack(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('msgpack', () => {
    const v = decodeMsgpackValue(bytes, limits);
    return { ok: true, view: 'msgpack', summary: `msgpack ${describeData(v)}`, tree: dataToTree(v, 'msgpack'), fields: {}, json: dataToJson(v) };
  });
}

function readValue(r: ByteReader, budget: Budget, depth: number): DataValue {
  if (!budget.take()) stop(`more than ${budget.limits.maxItems} values`);
  const at = r.pos;
  const b = r.u8('type byte');
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  if (b >= 0x80 && b <= 0x8f) return readMap(r, b & 0x0f, budget, depth);
  if (b >= 0x90 && b <= 0x9f) return readArray(r, b & 0x0f, budget, depth);
  if (b >= 0xa0 && b <= 0xbf) return utf8(r.take(b & 0x1f, 'fixstr'), `string at byte ${at}`);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xc4:
      return { kind: 'bytes', bytes: r.take(r.u8(), 'bin 8') };
    case 0xc5:
      return { kind: 'bytes', bytes: r.take(r.u16(), 'bin 16') };
    case 0xc6:
      return { kind: 'bytes', bytes: r.take(r.u32(), 'bin 32') };
    case 0xc7:
      return readExt(r, r.u8());
    case 0xc8:
      return readExt(r, r.u16());
    case 0xc9:
      return readExt(r, r.u32());
    case 0xca:
      return r.f32();
    case 0xcb:
      return r.f64();
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf:
      return intOf(r.u64());
    case 0xd0:
      return r.i8();
    case 0xd1:
      return r.i16();
    case 0xd2:
      return r.i32();
    case 0xd3:
      return intOf(r.i64());
    case 0xd4:
      return readExt(r, 1);
    case 0xd5:
      return readExt(r, 2);
    case 0xd6:
      return readExt(r, 4);
    case 0xd7:
      return readExt(r, 8);
    case 0xd8:
      return readExt(r, 16);
    case 0xd9:
      return utf8(r.take(r.u8(), 'str 8'), `string at byte ${at}`);
    case 0xda:
      return utf8(r.take(r.u16(), 'str 16'), `string at byte ${at}`);
    case 0xdb:
      return utf8(r.take(r.u32(), 'str 32'), `string at byte ${at}`);
    case 0xdc:
      return readArray(r, r.u16(), budget, depth);
    case 0xdd:
      return readArray(r, r.u32(), budget, depth);
    case 0xde:
      return readMap(r, r.u16(), budget, depth);
    case 0xdf:
      return readMap(r, r.u32(), budget, depth);
    default:
      // 0xc1 is "never used" in the spec.
      return stop(`type byte 0x${b.toString(16)} at byte ${at} is never used`);
  }
}

function readArray(r: ByteReader, n: number, budget: Budget, depth: number): DataValue {
  if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
  // Every element takes at least one byte: a larger count is a lie, caught before allocating.
  if (n > r.left) stop(`array at byte ${r.pos} claims ${n} elements, ${r.left} bytes left`);
  const items: DataValue[] = [];
  for (let i = 0; i < n; i++) items.push(readValue(r, budget, depth + 1));
  return { kind: 'array', items };
}

function readMap(r: ByteReader, n: number, budget: Budget, depth: number): DataValue {
  if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
  if (n * 2 > r.left) stop(`map at byte ${r.pos} claims ${n} entries, ${r.left} bytes left`);
  const entries: Array<readonly [DataValue, DataValue]> = [];
  for (let i = 0; i < n; i++) {
    const k = readValue(r, budget, depth + 1);
    entries.push([k, readValue(r, budget, depth + 1)]);
  }
  return { kind: 'map', entries };
}

function readExt(r: ByteReader, size: number): DataValue {
  const type = r.i8();
  const bytes = r.take(size, 'ext data');
  // Type -1 is the predefined timestamp extension (32, 64 and 96-bit forms).
  if (type === -1) {
    const note = timestampNote(bytes);
    if (note !== null) return { kind: 'ext', type, bytes, note };
  }
  return { kind: 'ext', type, bytes };
}

function timestampNote(b: Uint8Array): string | null {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let sec: number;
  let nsec = 0;
  if (b.length === 4) sec = v.getUint32(0);
  else if (b.length === 8) {
    const hi = v.getUint32(0);
    nsec = hi >>> 2;
    sec = (hi & 0x3) * 2 ** 32 + v.getUint32(4);
  } else if (b.length === 12) {
    nsec = v.getUint32(0);
    sec = Number(v.getBigInt64(4));
  } else return null;
  const ms = sec * 1000 + Math.floor(nsec / 1e6);
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? `timestamp ${sec}s` : `timestamp ${d.toISOString()}`;
}
