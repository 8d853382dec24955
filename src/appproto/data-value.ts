/**
 * The value model of the binary data formats (msgpack, CBOR): JSON's values plus what JSON lacks
 * (byte strings, maps with any keys, tags, extension types, big integers, `undefined`), and its
 * renderings as a tree and as JSON.
 */
import type { JsonValue } from '../replay/json-path.js';
import type { TreeNode } from './types.js';

export type DataValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'undefined' }
  | { readonly kind: 'array'; readonly items: readonly DataValue[] }
  | { readonly kind: 'map'; readonly entries: ReadonlyArray<readonly [DataValue, DataValue]> }
  | { readonly kind: 'tag'; readonly tag: number | bigint; readonly value: DataValue }
  | { readonly kind: 'ext'; readonly type: number; readonly bytes: Uint8Array; readonly note?: string }
  | { readonly kind: 'simple'; readonly value: number };

/** Bytes shown in a tree before `…`. */
const HEX_SHOWN = 64;

export function hexOf(bytes: Uint8Array, max = HEX_SHOWN): string {
  const shown = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, max)).toString('hex');
  return `<${shown.replace(/(..)(?!$)/g, '$1 ')}${bytes.length > max ? ' …' : ''}>`;
}

/** A scalar as one short string (strings JSON-quoted, so control characters stay escaped). */
export function scalarText(v: DataValue): string | null {
  if (v === null) return 'null';
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  switch (v.kind) {
    case 'bytes':
      return `bytes(${v.bytes.length}) ${hexOf(v.bytes)}`;
    case 'undefined':
      return 'undefined';
    case 'ext':
      return v.note ?? `ext(${v.type}) ${hexOf(v.bytes)}`;
    case 'simple':
      return `simple(${v.value})`;
    default:
      return null;
  }
}

/** The key of a map entry as a tree label. */
function keyLabel(k: DataValue): string {
  if (typeof k === 'string') return k;
  return scalarText(k) ?? `(${describeData(k)})`;
}

export function dataToTree(v: DataValue, label: string): TreeNode {
  const s = scalarText(v);
  if (s !== null) return { label, value: s };
  const c = v as Exclude<DataValue, null | boolean | number | bigint | string>;
  switch (c.kind) {
    case 'array':
      return { label, value: `array(${c.items.length})`, children: c.items.map((x, i) => dataToTree(x, `[${i}]`)) };
    case 'map':
      return { label, value: `map(${c.entries.length})`, children: c.entries.map(([k, x]) => dataToTree(x, keyLabel(k))) };
    case 'tag':
      return { label, value: `tag(${c.tag})`, children: [dataToTree(c.value, 'value')] };
    default:
      return { label, value: '?' };
  }
}

/** `map{3}`, `array[2]`, `string`, … for summaries. */
export function describeData(v: DataValue): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v === 'bigint' ? 'integer' : typeof v;
  switch (v.kind) {
    case 'array':
      return `array[${v.items.length}]`;
    case 'map': {
      const keys = v.entries.slice(0, 4).map(([k]) => keyLabel(k));
      return `{${keys.join(', ')}${v.entries.length > 4 ? ', …' : ''}}`;
    }
    case 'tag':
      return `tag(${v.tag})`;
    default:
      return v.kind;
  }
}

/** JSON for pairing paths and `--ignore`: maps with non-string keys use the key's rendering. */
export function dataToJson(v: DataValue): JsonValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return String(v);
  switch (v.kind) {
    case 'array':
      return v.items.map(dataToJson);
    case 'map': {
      const out: Record<string, JsonValue> = {};
      for (const [k, x] of v.entries) out[keyLabel(k)] = dataToJson(x);
      return out;
    }
    case 'tag':
      return dataToJson(v.value);
    default:
      return scalarText(v);
  }
}

/** A JSON value as a tree. */
export function jsonToTree(v: JsonValue, label: string): TreeNode {
  if (v === null || typeof v !== 'object') return { label, value: typeof v === 'string' ? JSON.stringify(v) : String(v) };
  if (Array.isArray(v)) {
    const list = v as readonly JsonValue[];
    return { label, value: `array(${list.length})`, children: list.map((x, i) => jsonToTree(x, `[${i}]`)) };
  }
  const rec = v as { readonly [k: string]: JsonValue };
  const keys = Object.keys(rec);
  return { label, value: `object(${keys.length})`, children: keys.map((k) => jsonToTree(rec[k]!, k)) };
}

/**
 * `d` with the tree of `value` built when first read, then kept: a JSON tree costs more to build
 * than the parse, and most decoded messages are only summarized (a log line, a dashboard row) or
 * paired, never shown as a tree. Spreading the result builds the tree.
 */
export function withJsonTree<T extends object>(d: T, value: JsonValue, label: string): T & { readonly tree: TreeNode } {
  let tree: TreeNode | undefined;
  return Object.defineProperty({ ...d }, 'tree', { enumerable: true, get: () => (tree ??= jsonToTree(value, label)) }) as T & { readonly tree: TreeNode };
}

/** A short rendering of a JSON value for summaries: `{"a":1,…}` cut at `max` characters. */
export function jsonBrief(v: JsonValue | undefined, max = 40): string {
  if (v === undefined) return '';
  const s = JSON.stringify(v) ?? '';
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
