/**
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification): requests (`method` + `id`), notifications
 * (`method`, no `id`), responses (`result` or `error` + `id`), and batches (§6). Either side may
 * send requests, so pairing keys carry the id only and the tracker takes the sides into account.
 */
import type { JsonValue } from '../replay/json-path.js';
import { jsonBrief, withJsonTree } from './data-value.js';
import { parseJsonBounded } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type Decoded, type DecodeResult, guard, type PairMark, stop } from './types.js';

type Obj = Readonly<Record<string, JsonValue>>;

function isObj(v: JsonValue): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether a JSON value is a JSON-RPC 2.0 message or a batch of them (for sniffing). */
export function isJsonRpc(v: JsonValue): boolean {
  if (Array.isArray(v)) return v.length > 0 && (v as readonly JsonValue[]).every((x) => isObj(x) && x.jsonrpc === '2.0');
  return isObj(v) && v.jsonrpc === '2.0';
}

function idText(id: JsonValue | undefined): string | null {
  return typeof id === 'string' ? JSON.stringify(id) : typeof id === 'number' ? String(id) : null;
}

interface One {
  readonly summary: string;
  readonly fields: Record<string, string>;
  readonly pair?: PairMark;
}

function one(m: JsonValue): One {
  if (!isObj(m) || m.jsonrpc !== '2.0') stop('not a JSON-RPC 2.0 object (no "jsonrpc": "2.0")');
  const id = idText(m.id);
  if (typeof m.method === 'string') {
    const fields: Record<string, string> = { type: id === null ? 'notification' : 'request', method: m.method };
    if (id === null) return { summary: `jsonrpc notify ${m.method}`, fields };
    fields.id = id;
    return { summary: `jsonrpc ${m.method} #${id}`, fields, pair: { role: 'request', key: `id:${id}` } };
  }
  if ('result' in m || 'error' in m) {
    const fields: Record<string, string> = { type: 'error' in m ? 'error' : 'result' };
    if (id !== null) fields.id = id;
    const what = 'error' in m && isObj(m.error) ? `error ${jsonBrief(m.error.code)} ${typeof m.error.message === 'string' ? JSON.stringify(m.error.message.slice(0, 40)) : ''}`.trimEnd() : 'result';
    const out = { summary: `jsonrpc ${what} #${id ?? 'null'}`, fields };
    return id === null ? out : { ...out, pair: { role: 'reply', key: `id:${id}` } };
  }
  return stop('neither a request (method) nor a response (result/error)');
}

export function decodeJsonRpcJson(value: JsonValue): Decoded {
  if (Array.isArray(value)) {
    const list = value as readonly JsonValue[];
    if (list.length === 0) stop('empty batch');
    const items = list.map(one);
    // A batch pairs as a whole, by its first id (§6: the server answers with one array).
    const firstPaired = items.find((x) => x.pair);
    const out = {
      ok: true,
      view: 'jsonrpc',
      summary: `jsonrpc batch(${items.length}) ${items.slice(0, 3).map((x) => x.summary.replace(/^jsonrpc /, '')).join(', ')}${items.length > 3 ? ', …' : ''}`,
      fields: { type: 'batch', method: items.map((x) => x.fields.method).filter(Boolean).join(' ') },
      json: value,
    } as const;
    return withJsonTree(firstPaired?.pair ? { ...out, pair: firstPaired.pair } : out, value, 'jsonrpc batch');
  }
  const x = one(value);
  const out = { ok: true, view: 'jsonrpc', summary: x.summary, fields: x.fields, json: value } as const;
  return withJsonTree(x.pair ? { ...out, pair: x.pair } : out, value, 'jsonrpc');
}

export function decodeJsonRpc(text: string, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('jsonrpc', () => decodeJsonRpcJson(parseJsonBounded(text, limits)));
}
