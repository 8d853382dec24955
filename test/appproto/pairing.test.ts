import { describe, expect, it } from 'vitest';
import { AppViews, ConnectionApp } from '../../src/appproto/connection-app.js';
import { parsePairPath } from '../../src/appproto/json-path-get.js';
import { formatPairStats, PairTracker, quantile } from '../../src/appproto/pairing.js';
import { UsageError } from '../../src/errors.js';
import type { SessionEvent } from '../../src/session/events.js';
import { graphqlVectors, jsonRpcVectors, mqttSession, socketIoVectors, stompVectors, type Vector } from './vectors.js';

/** Feeds vectors 10 ms apart; returns each message's summary line. */
function feed(app: ConnectionApp, vectors: readonly Vector[]): string[] {
  return vectors.map((v, i) => app.message(v.from, v.opcode, v.bytes, 1000 + i * 10).summary ?? '(raw)');
}

describe('pairing by the protocols\' ids', () => {
  it('socket.io ack ids, also for binary acks', () => {
    const app = new ConnectionApp({}, { target: '/socket.io/?EIO=4&transport=websocket' });
    const lines = feed(app, socketIoVectors().flat());
    expect(lines).toContain('socket.io ack 12 (reply in 10.0 ms)');
    // BINARY_EVENT with ack 3 at its header, BINARY_ACK 3 two messages (one attachment) later.
    expect(lines).toContain('socket.io ack 3 (awaiting 1 attachment) (reply in 30.0 ms)');
    expect(lines).toContain('socket.io connect / (reply in 20.0 ms)');
    const s = app.stats();
    // connect / and /admin (answered by connect_error), chat ack 12, upload ack 3.
    expect(s).toMatchObject({ requests: 4, replies: 4, unmatched: 0, unanswered: 0, open: 0 });
  });

  it('MQTT packet identifiers per exchange (QoS 1, QoS 2 in two steps, subscribe, ping)', () => {
    const app = new ConnectionApp({}, { protocol: 'mqtt' });
    const lines = feed(app, mqttSession(5));
    expect(lines.filter((l) => l.includes('reply in'))).toEqual([
      'MQTT CONNACK accepted (reply in 10.0 ms)',
      'MQTT SUBACK id 1 (reply in 10.0 ms)',
      'MQTT PUBACK id 2 (reply in 10.0 ms)',
      'MQTT PUBREC id 3 (reply in 10.0 ms)',
      'MQTT PUBCOMP id 3 (reply in 10.0 ms)',
      'MQTT UNSUBACK id 4 (reply in 10.0 ms)',
      'MQTT PINGRESP (reply in 10.0 ms)',
    ]);
    expect(app.stats()).toMatchObject({ requests: 7, replies: 7, unmatched: 0, open: 0, p50: 10, p99: 10 });
  });

  it('STOMP receipts, graphql operation ids (first answer only), JSON-RPC ids', () => {
    const stomp = new ConnectionApp({}, { protocol: 'v12.stomp' });
    expect(feed(stomp, stompVectors())).toContain('STOMP RECEIPT receipt-id 77 (reply in 10.0 ms)');
    const gql = new ConnectionApp({}, { protocol: 'graphql-transport-ws' });
    const g = feed(gql, graphqlVectors());
    expect(g[1]).toBe('graphql connection_ack (reply in 10.0 ms)');
    expect(g[3]).toBe('graphql next a1 (reply in 10.0 ms)');
    // `complete` after the first `next` is part of the stream, not a second reply.
    expect(g[5]).toBe('graphql complete a1');
    expect(g[8]).toBe('graphql data 1 (reply in 10.0 ms)');
    const rpc = new ConnectionApp({}, {});
    expect(feed(rpc, jsonRpcVectors())).toEqual([
      'jsonrpc subtract #1',
      'jsonrpc result #1 (reply in 10.0 ms)',
      'jsonrpc notify update',
      'jsonrpc error -32601 "Method not found" #"1"',
      'jsonrpc batch(2) sum #"1", notify notify_hello',
    ]);
    expect(rpc.stats()).toMatchObject({ requests: 2, replies: 1, unmatched: 1 });
  });

  it("--pair '$.id' on plain JSON, either side asking", () => {
    const app = new ConnectionApp({ pairPath: parsePairPath('$.req.id') });
    const m = (from: 'client' | 'server', s: string, t: number) => app.message(from, 1, Buffer.from(s), t).summary;
    expect(m('client', '{"req":{"id":5},"op":"get"}', 0)).toBe('json {req, op}');
    expect(m('server', '{"req":{"id":6}}', 2)).toBe('json {req}');
    expect(m('client', '{"req":{"id":6},"ok":1}', 5)).toBe('json {req, ok} (reply in 3.00 ms)');
    expect(m('server', '{"req":{"id":5},"ok":1}', 40)).toBe('json {req, ok} (reply in 40.0 ms)');
    expect(() => parsePairPath('id')).toThrow(UsageError);
    expect(() => parsePairPath('id')).toThrow(/bad --pair path/);
  });
});

describe('pair tracker', () => {
  it('unanswered after the timeout; open requests bounded in count, reported once', () => {
    const t = new PairTracker({ timeoutMs: 100, maxOutstanding: 3 });
    for (let i = 0; i < 5; i++) t.observe('client', i, { role: 'request', key: `k${i}` }, `req ${i}`);
    const dropped = [t.observe('client', 9, { role: 'request', key: 'x' })];
    expect(dropped).toEqual([{ kind: 'dropped', key: 'x', first: false }]);
    expect(t.stats()).toMatchObject({ requests: 3, dropped: 3, open: 3 });
    expect(t.expire(99)).toEqual([]);
    expect(t.expire(101).map((u) => u.request)).toEqual(['req 0', 'req 1']);
    expect(t.observe('server', 102, { role: 'reply', key: 'k2' })).toMatchObject({ kind: 'reply', latencyMs: 100, request: 'req 2' });
    expect(t.observe('server', 103, { role: 'reply', key: 'k0' })).toEqual({ kind: 'unmatched', key: 'k0' });
    // A reply from the requester's own side does not answer it.
    t.observe('client', 104, { role: 'request', key: 'same' });
    expect(t.observe('client', 105, { role: 'reply', key: 'same' }).kind).toBe('unmatched');
    expect(formatPairStats(t.stats())).toBe('4 req / 1 rep, p50 100.0 ms, p99 100.0 ms, 2 unanswered, 1 open, 3 not tracked (open-request limit)');
  });
  it('nearest-rank quantiles over a bounded window', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2);
    expect(quantile(Array.from({ length: 100 }, (_, i) => i + 1), 0.99)).toBe(99);
    const t = new PairTracker({ window: 10 });
    for (let i = 0; i < 1000; i++) {
      t.observe('client', i, { role: 'request', key: 'k' });
      t.observe('server', i + (i >= 990 ? 50 : 1), { role: 'reply', key: 'k' });
    }
    expect(t.stats()).toMatchObject({ p50: 50, p99: 50, replies: 1000 });
  });
  it('AppViews: per connection from the handshake, unanswered at the end', () => {
    const views = new AppViews({ pair: { timeoutMs: 1000 } });
    const hs = { type: 'handshake', conn: 1, t: 0, request: { method: 'GET', target: '/socket.io/?EIO=4&transport=websocket', httpVersion: '1.1', headers: [] }, response: null, upgraded: true, accept: 'ok', protocol: null, extensions: [] } as SessionEvent;
    views.observe(hs);
    const msg = (t: number, text: string): SessionEvent => ({ type: 'message', conn: 1, t, from: 'client', opcode: 1, compressed: false, frames: 1, length: text.length, data: Buffer.from(text), truncated: false });
    expect(views.observe(msg(10, '42["a"]'))).toEqual([{ kind: 'message', conn: 1, view: expect.objectContaining({ summary: 'socket.io a' }) }]);
    views.observe(msg(20, '421["slow"]'));
    views.observe(msg(30, '422["never"]'));
    expect(views.tick(1025).map((n) => n.kind === 'unanswered' && n.items.map((i) => i.request))).toEqual([['socket.io slow ack 1']]);
    const end = views.observe({ type: 'end', conn: 1, t: 1100, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 1100, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } });
    expect(end).toMatchObject([{ kind: 'end', stats: { requests: 2, unanswered: 2 }, unanswered: [{ request: 'socket.io never ack 2' }] }]);
  });
});

describe('log annotations', () => {
  it('peer-controlled text cannot reach the terminal as control characters', async () => {
    const { appLogAnnotator } = await import('../../src/sinks/app-log.js');
    const annotate = appLogAnnotator();
    const text = '42["evil\\u001b[2J\\n",1]';
    const a = annotate({ type: 'message', conn: 1, t: 0, from: 'client', opcode: 1, compressed: false, frames: 1, length: text.length, data: Buffer.from(text), truncated: false });
    expect(a.suffix).toBeNull();
    const b = appLogAnnotator({ view: 'socketio' })({ type: 'message', conn: 1, t: 0, from: 'client', opcode: 1, compressed: false, frames: 1, length: text.length, data: Buffer.from(text), truncated: false });
    expect(b.suffix).toBe('· socket.io evil\\u001b[2J\\u000a');
  });
});
