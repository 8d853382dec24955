/**
 * Protocol Buffers without a schema, as `protoc --decode_raw` does it
 * (https://protobuf.dev/programming-guides/encoding/): field numbers and wire types; a
 * length-delimited field is shown as a nested message when its bytes parse as one, else as text
 * when they are UTF-8, else as bytes. Lengths are checked against the bytes left before use.
 */
import { ByteReader, utf8OrNull } from './byte-reader.js';
import { hexOf } from './data-value.js';
import { Budget, type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, DecodeStop, guard, stop, type TreeNode } from './types.js';

export type RawField =
  | { readonly field: number; readonly wire: 'varint'; readonly value: bigint }
  | { readonly field: number; readonly wire: 'i64'; readonly value: bigint }
  | { readonly field: number; readonly wire: 'i32'; readonly value: number }
  | { readonly field: number; readonly wire: 'len'; readonly bytes: Uint8Array; readonly message?: readonly RawField[]; readonly text?: string }
  | { readonly field: number; readonly wire: 'group'; readonly message: readonly RawField[] };

/** Reads a base-128 varint (at most 10 bytes). */
export function readVarint(r: ByteReader): bigint {
  let v = 0n;
  for (let i = 0; i < 10; i++) {
    const b = r.u8('varint');
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return v;
  }
  return stop(`varint longer than 10 bytes before byte ${r.pos}`);
}

export function parseRawMessage(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): RawField[] {
  if (bytes.length > limits.maxBytes) stop(`${bytes.length} bytes (limit ${limits.maxBytes})`);
  if (bytes.length === 0) stop('empty payload');
  return readFields(new ByteReader(bytes), new Budget(limits), 0, null);
}

function readFields(r: ByteReader, budget: Budget, depth: number, group: number | null): RawField[] {
  if (depth >= budget.limits.maxDepth) stop(`nested deeper than ${budget.limits.maxDepth}`);
  const out: RawField[] = [];
  while (r.left > 0) {
    if (!budget.take()) stop(`more than ${budget.limits.maxItems} fields`);
    const at = r.pos;
    const key = readVarint(r);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0 || field > 536_870_911) stop(`field number ${field} at byte ${at} is out of range`);
    switch (wire) {
      case 0:
        out.push({ field, wire: 'varint', value: readVarint(r) });
        break;
      case 1:
        out.push({ field, wire: 'i64', value: bytesLE(r.take(8, `fixed64 field ${field}`)) });
        break;
      case 5: {
        const b = r.take(4, `fixed32 field ${field}`);
        out.push({ field, wire: 'i32', value: (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0 });
        break;
      }
      case 2: {
        const len = readVarint(r);
        if (len > BigInt(r.left)) stop(`field ${field} at byte ${at} claims ${len} bytes, ${r.left} left`);
        const bytes = r.take(Number(len), `field ${field}`);
        out.push(lengthDelimited(field, bytes, budget, depth));
        break;
      }
      case 3:
        out.push({ field, wire: 'group', message: readFields(r, budget, depth + 1, field) });
        break;
      case 4:
        if (group !== field) stop(`end of group ${field} at byte ${at} without its start`);
        return out;
      default:
        stop(`wire type ${wire} at byte ${at} does not exist`);
    }
  }
  if (group !== null) stop(`group ${group} not ended`);
  return out;
}

/** A nested message when the bytes parse as one (the guess decode_raw makes), else text or bytes. */
function lengthDelimited(field: number, bytes: Uint8Array, budget: Budget, depth: number): RawField {
  // Most length-delimited fields are not messages: when a scan shows that the nested parse would
  // fail at its own top level before recursing, skip it (and its thrown DecodeStop, the largest
  // cost of sniffing binary payloads, bench/relay.ts) but spend the budget it would have spent.
  const takes = bytes.length > 0 && depth + 1 < budget.limits.maxDepth ? fieldsBeforeFailure(bytes) : -1;
  if (takes >= 0) {
    for (let i = 0; i < takes; i++) if (!budget.take()) stop(`more than ${budget.limits.maxItems} fields`);
  } else if (bytes.length > 0) {
    try {
      const message = readFields(new ByteReader(bytes), budget, depth + 1, null);
      // Printable text that also happens to parse as fields (e.g. "hi") reads better as text.
      const text = utf8OrNull(bytes);
      if (text !== null && isPrintable(text)) return { field, wire: 'len', bytes, text };
      return { field, wire: 'len', bytes, message };
    } catch (error) {
      if (!(error instanceof DecodeStop)) throw error;
      if (/deeper than|more than/.test(error.reason)) throw error;
    }
  }
  const text = utf8OrNull(bytes);
  return text !== null && isPrintable(text) ? { field, wire: 'len', bytes, text } : { field, wire: 'len', bytes };
}

/**
 * Whether `bytes` certainly do not parse as a message: its top level is broken whatever its
 * length-delimited fields hold (nested messages can only add failures). Sniffing asks this first.
 */
export function notAMessage(bytes: Uint8Array): boolean {
  return fieldsBeforeFailure(bytes, true) >= 0;
}

/**
 * `readFields(bytes)` at the top level, without recursing or throwing: the number of fields it
 * would start (each one a `budget.take()`) when it is certain to fail before reading any nested
 * message; -1 when it might succeed or would recurse first (a non-empty length-delimited field, a
 * group), and the real parse must decide. `skipNested`: length-delimited fields are stepped over
 * (the count then says nothing of the budget; only whether the top level fails).
 */
export function fieldsBeforeFailure(bytes: Uint8Array, skipNested = false): number {
  const n = bytes.length;
  let pos = 0;
  let takes = 0;
  while (pos < n) {
    takes++;
    const key = varintAt(bytes, pos);
    if (Number.isNaN(key)) return takes;
    pos = varintEnd;
    // Beyond 2^53 the key loses precision, but its field number is out of range either way.
    const field = Math.floor(key / 8);
    if (field === 0 || field > 536_870_911) return takes;
    switch (key % 8) {
      case 0:
        if (Number.isNaN(varintAt(bytes, pos))) return takes;
        pos = varintEnd;
        break;
      case 1:
        if (n - pos < 8) return takes;
        pos += 8;
        break;
      case 5:
        if (n - pos < 4) return takes;
        pos += 4;
        break;
      case 2: {
        const len = varintAt(bytes, pos);
        if (Number.isNaN(len) || len > n - varintEnd) return takes;
        pos = varintEnd;
        if (len > 0 && !skipNested) return -1;
        pos += len;
        break;
      }
      case 3:
        return -1;
      default:
        // 4: an end of group with no group open; 6, 7: no such wire type.
        return takes;
    }
  }
  return -1;
}

/** Where the varint `varintAt` read last ended (module state: no closure per sniffed message). */
let varintEnd = 0;

/** A varint at `pos` (as readVarint: at most 10 bytes); NaN when it runs out or is longer. */
function varintAt(bytes: Uint8Array, pos: number): number {
  const n = bytes.length;
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= n) return NaN;
    const b = bytes[pos++]!;
    v += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      varintEnd = pos;
      return v;
    }
    scale *= 128;
  }
  return NaN;
}

function isPrintable(s: string): boolean {
  return !/[\u0000-\u0008\u000e-\u001f\u007f]/.test(s);
}

function asDouble(v: bigint): number {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b.readDoubleLE(0);
}

function bytesLE(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

export function rawFieldsToTree(fields: readonly RawField[], label: string): TreeNode {
  return { label, value: `message(${fields.length})`, children: fields.map(fieldNode) };
}

function fieldNode(f: RawField): TreeNode {
  const label = String(f.field);
  switch (f.wire) {
    case 'varint': {
      // Also show the zigzag (sint) reading when it differs, as a hint.
      const zz = (f.value >> 1n) ^ -(f.value & 1n);
      return { label, value: `${f.value}${zz !== f.value && f.value > 1n ? ` (sint ${zz})` : ''}` };
    }
    case 'i64':
      return { label, value: `0x${f.value.toString(16).padStart(16, '0')} (fixed64, double ${asDouble(f.value)})` };
    case 'i32':
      return { label, value: `0x${f.value.toString(16).padStart(8, '0')} (fixed32)` };
    case 'group':
      return { label, value: `group(${f.message.length})`, children: f.message.map(fieldNode) };
    case 'len':
      if (f.text !== undefined) return { label, value: JSON.stringify(f.text) };
      if (f.message !== undefined) return { label, value: `message(${f.message.length})`, children: f.message.map(fieldNode) };
      return { label, value: `bytes(${f.bytes.length}) ${hexOf(f.bytes)}` };
  }
}

export function decodeProtobufRaw(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('protobuf', () => {
    const fields = parseRawMessage(bytes, limits);
    const nums = [...new Set(fields.map((f) => f.field))].slice(0, 6);
    return {
      ok: true,
      view: 'protobuf',
      summary: `protobuf fields ${nums.join(',')}${fields.length > nums.length ? ` (${fields.length})` : ''}`,
      tree: rawFieldsToTree(fields, 'protobuf'),
      fields: {},
    };
  });
}
