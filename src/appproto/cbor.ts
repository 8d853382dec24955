/**
 * CBOR (RFC 8949), decoded with bounds: lengths checked against the bytes left before anything is
 * allocated, depth and item counts limited, indefinite-length items supported (§3.2).
 */
import { ByteReader, intOf, utf8 } from './byte-reader.js';
import { type DataValue, dataToJson, dataToTree, describeData } from './data-value.js';
import { Budget, type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, guard, stop } from './types.js';

const BREAK = Symbol('break');

export function decodeCborValue(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DataValue {
  if (bytes.length > limits.maxBytes) stop(`${bytes.length} bytes (limit ${limits.maxBytes})`);
  if (bytes.length === 0) stop('empty payload');
  const r = new ByteReader(bytes);
  const v = readItem(r, new Budget(limits), 0);
  if (v === BREAK) stop('a "break" outside an indefinite-length item at byte 0');
  if (r.left > 0) stop(`${r.left} bytes after the item at byte ${r.pos}`);
  return v;
}

export function decodeCbor(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('cbor', () => {
    const v = decodeCborValue(bytes, limits);
    return { ok: true, view: 'cbor', summary: `cbor ${describeData(v)}`, tree: dataToTree(v, 'cbor'), fields: {}, json: dataToJson(v) };
  });
}

/** The argument of an initial byte (§3): 0-23 inline, 24-27 in 1-8 following bytes. */
function argument(r: ByteReader, info: number, at: number): number | bigint {
  if (info < 24) return info;
  if (info === 24) return r.u8();
  if (info === 25) return r.u16();
  if (info === 26) return r.u32();
  if (info === 27) return intOf(r.u64());
  return stop(`reserved additional information ${info} at byte ${at}`);
}

/** A length or count; anything above the bytes left is a lie. */
function count(r: ByteReader, info: number, at: number, per: number, what: string): number {
  const n = argument(r, info, at);
  if (typeof n === 'bigint' || n * per > r.left) stop(`${what} at byte ${at} claims ${n}, ${r.left} bytes left`);
  return n;
}

function readItem(r: ByteReader, budget: Budget, depth: number): DataValue | typeof BREAK {
  if (!budget.take()) stop(`more than ${budget.limits.maxItems} items`);
  const at = r.pos;
  const ib = r.u8('initial byte');
  const major = ib >> 5;
  const info = ib & 0x1f;
  if (info === 31) return readIndefinite(r, major, budget, depth, at);
  switch (major) {
    case 0:
      return argument(r, info, at);
    case 1: {
      const n = argument(r, info, at);
      return typeof n === 'bigint' ? -1n - n : intOf(-1n - BigInt(n));
    }
    case 2:
      return { kind: 'bytes', bytes: r.take(count(r, info, at, 1, 'byte string'), 'byte string') };
    case 3:
      return utf8(r.take(count(r, info, at, 1, 'text string'), 'text string'), `text string at byte ${at}`);
    case 4: {
      const n = count(r, info, at, 1, 'array');
      return { kind: 'array', items: readItems(r, n, budget, depth) };
    }
    case 5: {
      const n = count(r, info, at, 2, 'map');
      const flat = readItems(r, n * 2, budget, depth);
      const entries: Array<readonly [DataValue, DataValue]> = [];
      for (let i = 0; i < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
      return { kind: 'map', entries };
    }
    case 6: {
      if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
      const tag = argument(r, info, at);
      const value = readItem(r, budget, depth + 1);
      if (value === BREAK) stop(`a "break" as the content of tag ${tag} at byte ${at}`);
      return { kind: 'tag', tag, value };
    }
    default:
      return readSimple(r, info, at);
  }
}

function readItems(r: ByteReader, n: number, budget: Budget, depth: number): DataValue[] {
  if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
  const out: DataValue[] = [];
  for (let i = 0; i < n; i++) {
    const v = readItem(r, budget, depth + 1);
    if (v === BREAK) stop(`a "break" inside a definite-length item before byte ${r.pos}`);
    out.push(v);
  }
  return out;
}

function readSimple(r: ByteReader, info: number, at: number): DataValue {
  // §3.3: simple values and floats.
  if (info < 20) return { kind: 'simple', value: info };
  switch (info) {
    case 20:
      return false;
    case 21:
      return true;
    case 22:
      return null;
    case 23:
      return { kind: 'undefined' };
    case 24: {
      const v = r.u8();
      if (v < 32) stop(`simple value ${v} in two bytes at byte ${at} (§3.3: not well-formed)`);
      return { kind: 'simple', value: v };
    }
    case 25:
      return r.f16();
    case 26:
      return r.f32();
    case 27:
      return r.f64();
    default:
      return stop(`reserved additional information ${info} at byte ${at}`);
  }
}

function readIndefinite(r: ByteReader, major: number, budget: Budget, depth: number, at: number): DataValue | typeof BREAK {
  if (major === 7) return BREAK;
  if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
  if (major === 2 || major === 3) {
    // §3.2.3: chunks are definite-length strings of the same major type.
    const parts: Uint8Array[] = [];
    for (;;) {
      if (!budget.take()) stop(`more than ${budget.limits.maxItems} items`);
      const cat = r.pos;
      const ib = r.u8('string chunk');
      if (ib === 0xff) break;
      if (ib >> 5 !== major) stop(`chunk of major type ${ib >> 5} in an indefinite string at byte ${cat}`);
      parts.push(r.take(count(r, ib & 0x1f, cat, 1, 'string chunk'), 'string chunk'));
    }
    const all = Buffer.concat(parts);
    return major === 2 ? { kind: 'bytes', bytes: all } : utf8(all, `text string at byte ${at}`);
  }
  if (major === 4 || major === 5) {
    const flat: DataValue[] = [];
    for (;;) {
      const v = readItem(r, budget, depth + 1);
      if (v === BREAK) break;
      flat.push(v);
    }
    if (major === 4) return { kind: 'array', items: flat };
    if (flat.length % 2 !== 0) stop(`indefinite map at byte ${at} has an odd number of items`);
    const entries: Array<readonly [DataValue, DataValue]> = [];
    for (let i = 0; i < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
    return { kind: 'map', entries };
  }
  return stop(`indefinite length for major type ${major} at byte ${at}`);
}
