/**
 * capture-format "Order": a connection's events in wire order across both directions. An inflate in
 * flight on one direction holds back the other direction's later events (never the relay), so `t`
 * never decreases and `end.initiator` is whoever's close frame arrived first — at every chunking.
 */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/session/event-bus.js';
import { Session, type HandshakeInput } from '../../src/session/session.js';
import { computeAccept } from '../../src/protocol/handshake.js';
import { encodeClosePayload, encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';
import { cap, type CapturedEvent } from '../helpers/captured.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

function deflateHandshake(): HandshakeInput {
  return {
    request: {
      method: 'GET', target: '/', httpVersion: '1.1',
      headers: [['Host', 'h'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', KEY], ['Sec-WebSocket-Extensions', 'permessage-deflate']],
    },
    response: {
      status: 101, reason: 'Switching Protocols', httpVersion: '1.1',
      headers: [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', computeAccept(KEY)], ['Sec-WebSocket-Extensions', 'permessage-deflate']],
    },
  };
}

/** A text of `n` bytes that deflates well but takes zlib real work to inflate. */
function bulkyText(n: number, seed: number): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
  let x = seed;
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const w = `${words[x % words.length]}${x % 97} `;
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('').slice(0, n));
}

async function compressedMessages(count: number, size: number): Promise<Buffer> {
  const c = new MessageCompressor({ noContextTakeover: false });
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await c.compress(bulkyText(size, i + 1)) }));
  c.close();
  return Buffer.concat(frames);
}

function chunked(bytes: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

async function run(serverBytes: Buffer, chunk: number): Promise<CapturedEvent[]> {
  const bus = new EventBus((name, error) => {
    throw new Error(`${name}: ${String(error)}`);
  });
  const events: CapturedEvent[] = [];
  bus.subscribe('test', (e) => events.push(cap(e)));
  let clock = 1000;
  const session = new Session({ conn: 1, bus, maxPayload: 1 << 20, now: () => (clock += 0.001) });
  session.open('c', 'ws://u/');
  session.handshake(deflateHandshake());
  let t = 2000;
  // The server's compressed messages and its close 1001, then the client's answer 1000: all pushed
  // synchronously, so every inflate is still in flight when the client's close is read.
  for (const piece of chunked(serverBytes, chunk)) session.push('server', piece, (t += 0.01));
  session.push('client', encodeFrame({ opcode: 8, mask: MASK, payload: encodeClosePayload(1000, 'ok') }), (t += 0.01));
  await session.endOf('server', (t += 0.01), 'fin');
  await session.endOf('client', (t += 0.01), 'fin');
  await session.finish();
  return events;
}

describe('wire order across directions', () => {
  it('the server closes after large compressed messages: its events come first, initiator server, code 1001, t never decreases — at every chunking', async () => {
    const messages = await compressedMessages(6, 200_000);
    const serverBytes = Buffer.concat([messages, encodeFrame({ opcode: 8, payload: encodeClosePayload(1001, 'going away') })]);
    for (const chunk of [1 << 20, 65_536, 1000, 7]) {
      const events = await run(serverBytes, chunk);
      const times = events.filter((e) => e.type !== 'end').map((e) => (e as { t: number }).t);
      for (let i = 1; i < times.length; i++) expect(times[i], `chunk ${chunk}, event ${i}`).toBeGreaterThanOrEqual(times[i - 1]!);
      const order = events.filter((e) => e.type === 'message' || e.type === 'close').map((e) => `${e.type}:${(e as { from: string }).from}`);
      expect(order, `chunk ${chunk}`).toEqual([...Array(6).fill('message:server'), 'close:server', 'close:client']);
      expect(events.at(-1), `chunk ${chunk}`).toMatchObject({ type: 'end', initiator: 'server', code: 1001, reason: 'going away', clean: true, tcp: { client: 'fin', server: 'fin' } });
      const texts = events.filter((e) => e.type === 'message').map((e) => (e as { text: string }).text);
      expect(texts).toEqual(Array.from({ length: 6 }, (_, i) => bulkyText(200_000, i + 1).toString()));
    }
  });

  it('events of the idle direction are not held when nothing is in flight (same tick)', async () => {
    const bus = new EventBus();
    const events: CapturedEvent[] = [];
    bus.subscribe('test', (e) => events.push(cap(e)));
    const session = new Session({ conn: 1, bus, maxPayload: 1024 });
    session.handshake(deflateHandshake());
    session.push('client', encodeFrame({ opcode: 1, mask: MASK, payload: Buffer.from('hi') }), 10);
    // Published synchronously: no inflate anywhere.
    expect(events.map((e) => e.type)).toEqual(['handshake', 'frame', 'message']);
  });
});
