/**
 * AppProtocolContext.redecoder: what the dashboard decodes later (ui/app-view.ts appOf) must be what
 * decoding in order gives now, and what it leaves for later must not pair.
 */
import { describe, expect, it } from 'vitest';
import { AppProtocolContext, plainJsonBytes } from '../../src/appproto/app-context.js';
import type { AppMessage } from '../../src/appproto/types.js';
import { cborVectors, graphqlVectors, jsonRpcVectors, mqttSession, msgpackVectors, protobufVectors, socketIoVectors, stompVectors, type Vector } from './vectors.js';

const text = (s: string, from: 'client' | 'server' = 'client'): Vector => ({ name: s, from, opcode: 1, bytes: Buffer.from(s, 'utf8'), summary: '' });

/** Text sniffing meets: plain JSON, JSON that only looks plain, JSON-RPC / GraphQL nested or escaped, not JSON. */
const JSONISH = [
  '{"seq":1,"data":"abc"}',
  '  \n[1,2,{"a":null}]',
  '{oops',
  '[',
  '{"\\u0074ype":"ka"}',
  '{"typ\\u0065":"connection_init"}',
  '{"type":"ticker","price":"1.5"}',
  '{"type":"data","price":"1.5"}',
  '{"outer":{"jsonrpc":"2.0","method":"m","id":1}}',
  '[{"jsonrpc":"2.0","method":"m","id":7}]',
  '{"s":"a \\"type\\": b","t":"\\n"}',
  '\uFEFF{"bom":true}',
  '\u00a0{"nbsp":true}',
  'hello, not json',
  '',
  '{"a":' + '['.repeat(80) + ']'.repeat(80) + '}',
];

/** A seeded generator of integers below n (mulberry32). */
function random(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Feeds a connection's messages in order; each one redecodable must decode later to what push gave. */
function check(ctx: AppProtocolContext, messages: readonly Vector[]): { later: number; now: number } {
  let later = 0;
  let now = 0;
  messages.forEach((v, i) => {
    const m: AppMessage = { from: v.from, opcode: v.opcode, bytes: v.bytes, t: i };
    const re = ctx.redecoder(m);
    const results = ctx.push(m);
    if (re === null) {
      now++;
      return;
    }
    later++;
    // Decoded again from a copy of the bytes, after the context moved on.
    expect(re.decode(Buffer.from(v.bytes)), v.name).toEqual(results);
    if (!re.pairs) expect(results.filter((r) => r.ok && r.pair !== undefined), v.name).toEqual([]);
  });
  return { later, now };
}

describe('app-protocol decoding later (AppProtocolContext.redecoder)', () => {
  it('decoding later gives what decoding in order gave, for every protocol; stateful ones are never left for later', () => {
    const sniffed = [...graphqlVectors(), ...jsonRpcVectors(), ...msgpackVectors(), ...cborVectors(), ...protobufVectors(), ...JSONISH.map((s) => text(s))];
    expect(check(new AppProtocolContext(), sniffed).now).toBe(0);
    for (const [protocol, vectors] of [
      ['graphql-transport-ws', graphqlVectors()],
      ['jsonrpc', jsonRpcVectors()],
      ['json', JSONISH.map((s) => text(s))],
      ['msgpack', msgpackVectors()],
      ['v12.stomp', stompVectors()],
    ] as const) {
      expect(check(new AppProtocolContext({ protocol }), vectors), protocol).toEqual({ later: vectors.length, now: 0 });
    }
    // STOMP sniffed: the first frame locks the view (decoded now), the rest are stateless.
    expect(check(new AppProtocolContext(), stompVectors())).toEqual({ later: stompVectors().length - 1, now: 1 });
    // Socket.IO (attachments) and MQTT (a byte stream) keep state: always decoded in order.
    for (const conn of socketIoVectors()) expect(check(new AppProtocolContext({ target: '/socket.io/?EIO=4&transport=websocket' }), conn).later).toBe(0);
    expect(check(new AppProtocolContext(), mqttSession(5)).later).toBe(0);
    expect(check(new AppProtocolContext({ view: 'raw' }), JSONISH.map((s) => text(s))).later).toBe(0);
    // A truncated message is decoded now (it drops stream state).
    expect(new AppProtocolContext().redecoder({ from: 'client', opcode: 1, bytes: Buffer.from('{}'), t: 0, truncated: true })).toBeNull();
  });

  it('only text that cannot be JSON-RPC or GraphQL is left unpaired', () => {
    const plain = JSONISH.filter((s) => plainJsonBytes(Buffer.from(s)));
    expect(plain).toEqual(['{"seq":1,"data":"abc"}', '  \n[1,2,{"a":null}]', '{oops', '[', '{"type":"ticker","price":"1.5"}', '{"s":"a \\"type\\": b","t":"\\n"}', '{"a":' + '['.repeat(80) + ']'.repeat(80) + '}']);
    const ctx = new AppProtocolContext();
    const pairs = (s: string): boolean | undefined => ctx.redecoder({ from: 'client', opcode: 1, bytes: Buffer.from(s), t: 0 })?.pairs;
    expect(pairs('{"seq":1}')).toBe(false);
    expect(pairs('{"type":"ticker","id":"k"}')).toBe(false);
    expect(pairs('{"type":"ticker","id":"next"}')).toBe(false);
    expect(pairs('{"id":"x","type" :\n "next"}')).toBe(true);
    expect(pairs('{"a":{"type":"next"}}')).toBe(true);
    expect(pairs('{"a":"type","b":"next"}')).toBe(false);
    expect(pairs('{"\\u0074ype":"ka"}')).toBe(true);
    expect(pairs('{"jsonrpc":"2.0","method":"m","id":1}')).toBe(true);
    expect(pairs('SEND\ndestination:/q\n\n\0')).toBeUndefined();
  });

  it('random JSON-like text: never throws, and when left unpaired it decodes to no JSON-RPC / GraphQL', () => {
    const tokens = ['{', '}', '[', ']', '"type"', '"jsonrpc"', '"2.0"', '"ka"', '"next"', '"ticker"', '"payload"', '"id"', ':', ',', '1', '"\\u0074"', '"x"', ' ', '\n', 'null', '"', '\\'];
    const seed = 7;
    const rand = random(seed);
    let unpaired = 0;
    for (let i = 0; i < 3000; i++) {
      let s = '';
      for (let k = rand(12); k >= 0; k--) s += tokens[rand(tokens.length)];
      const bytes = Buffer.from(s);
      const ctx = new AppProtocolContext();
      const re = ctx.redecoder({ from: 'server', opcode: 1, bytes, t: 0 });
      const results = ctx.push({ from: 'server', opcode: 1, bytes, t: 0 });
      if (re === null) continue;
      expect(re.decode(bytes)).toEqual(results);
      if (!re.pairs) {
        unpaired++;
        expect(results.every((r) => r.view === 'json' && !(r.ok && r.pair)), s).toBe(true);
      }
    }
    expect(unpaired).toBeGreaterThan(100);
  });

  it('random JSON-RPC / GraphQL-like objects (keys, values, white space, escapes): every one that pairs is decoded now', () => {
    const keys = ['type', 'id', 'payload', 'jsonrpc', 'method', 'result', 'x', 'typ\\u0065'];
    const values = ['"next"', '"ka"', '"subscribe"', '"2.0"', '1', '"ticker"', '{"type":"next"}', '{"q":1}', '[]', 'null', '"connection_ack"'];
    const spaces = ['', ' ', '\n', '\t '];
    const seed = 11;
    const rand = random(seed);
    const sp = (): string => spaces[rand(spaces.length)]!;
    let paired = 0;
    let later = 0;
    for (let i = 0; i < 3000; i++) {
      const fields = Array.from({ length: 1 + rand(3) }, () => `${sp()}"${keys[rand(keys.length)]}"${sp()}:${sp()}${values[rand(values.length)]}${sp()}`);
      const one = `{${fields.join(',')}}`;
      const s = rand(4) === 0 ? `[${one}]` : one;
      const bytes = Buffer.from(s);
      const ctx = new AppProtocolContext();
      const re = ctx.redecoder({ from: 'client', opcode: 1, bytes, t: 0 })!;
      const results = ctx.push({ from: 'client', opcode: 1, bytes, t: 0 });
      expect(re.decode(bytes)).toEqual(results);
      const pairs = results.some((r) => r.ok && r.pair !== undefined);
      const sniffedAs = results.map((r) => r.view);
      if (pairs) paired++;
      if (!re.pairs) {
        later++;
        expect(pairs, s).toBe(false);
        expect(sniffedAs, s).toEqual(['json']);
      }
    }
    expect(paired).toBeGreaterThan(20);
    expect(later).toBeGreaterThan(100);
  });
});
