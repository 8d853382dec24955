/**
 * GraphQL over WebSocket, both protocols:
 * - `graphql-transport-ws` (the graphql-ws library, https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
 *   connection_init/ack, ping/pong, subscribe → next… → complete, error;
 * - `graphql-ws` (the older subscriptions-transport-ws, https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md):
 *   connection_init/ack/error, ka, start → data… → complete, stop, connection_terminate.
 * An operation's `id` pairs the request (subscribe/start) with its first answer.
 */
import type { JsonValue } from '../replay/json-path.js';
import { withJsonTree } from './data-value.js';
import { parseJsonBounded } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type Decoded, type DecodeResult, guard, type PairMark, stop } from './types.js';

const TRANSPORT_WS = new Set(['connection_init', 'connection_ack', 'ping', 'pong', 'subscribe', 'next', 'error', 'complete']);
const SUBSCRIPTIONS_WS = new Set(['connection_init', 'connection_ack', 'connection_error', 'ka', 'start', 'data', 'error', 'complete', 'stop', 'connection_terminate']);
/** Every `type` of either protocol (a message of neither has none of them as a string). */
export const GRAPHQL_TYPES: ReadonlySet<string> = new Set([...TRANSPORT_WS, ...SUBSCRIPTIONS_WS]);

/** Whether a JSON value is a message of either protocol (for sniffing). */
export function isGraphqlMessage(v: JsonValue): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const m = v as Record<string, JsonValue>;
  const type = m.type;
  if (typeof type !== 'string' || !(TRANSPORT_WS.has(type) || SUBSCRIPTIONS_WS.has(type))) return false;
  // Both protocols' messages have only these fields; operation messages carry a string id.
  if (!Object.keys(m).every((k) => k === 'type' || k === 'id' || k === 'payload')) return false;
  const needsId = ['subscribe', 'next', 'complete', 'start', 'data', 'stop'].includes(type);
  return !needsId || typeof m.id === 'string' || typeof m.id === 'number';
}

/** `operationName`, else the first words of the query (`subscription OnChat`). */
function operationOf(payload: JsonValue | undefined): string | null {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return null;
  const p = payload as Record<string, JsonValue>;
  if (typeof p.operationName === 'string') return p.operationName;
  if (typeof p.query === 'string') {
    const m = /^\s*(query|mutation|subscription)\s*([A-Za-z_]\w*)?/.exec(p.query);
    if (m) return m[2] ? `${m[1]} ${m[2]}` : m[1]!;
    return p.query.trim().slice(0, 30);
  }
  return null;
}

export function decodeGraphqlJson(value: JsonValue): Decoded {
  if (!isGraphqlMessage(value)) stop('not a graphql-ws message (no known "type")');
  const m = value as Record<string, JsonValue>;
  const type = m.type as string;
  const id = typeof m.id === 'string' || typeof m.id === 'number' ? String(m.id) : null;
  const fields: Record<string, string> = { type };
  if (id !== null) fields.id = id;
  const parts = [`graphql ${type}`];
  if (id !== null) parts.push(id);
  const op = operationOf(m.payload);
  if (op !== null && (type === 'subscribe' || type === 'start')) {
    parts.push(op);
    fields.operation = op;
  }
  if (type === 'error' || type === 'connection_error') {
    const errs = Array.isArray(m.payload) ? (m.payload as readonly JsonValue[]) : [m.payload];
    const first = errs[0];
    const msg = first !== null && typeof first === 'object' && !Array.isArray(first) ? (first as Record<string, JsonValue>).message : undefined;
    if (typeof msg === 'string') parts.push(JSON.stringify(msg.slice(0, 40)));
  }
  let pair: PairMark | undefined;
  if (id !== null) {
    if (type === 'subscribe' || type === 'start') pair = { role: 'request', key: `op:${id}` };
    else if (type === 'next' || type === 'data' || type === 'error' || type === 'complete') pair = { role: 'reply-stream', key: `op:${id}` };
  } else if (type === 'connection_init') pair = { role: 'request', key: 'init' };
  else if (type === 'connection_ack' || type === 'connection_error') pair = { role: 'reply', key: 'init' };
  const out = { ok: true, view: 'graphql', summary: parts.join(' '), fields, json: value } as const;
  return withJsonTree(pair ? { ...out, pair } : out, value, `graphql ${type}`);
}

export function decodeGraphql(text: string, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('graphql', () => decodeGraphqlJson(parseJsonBounded(text, limits)));
}
