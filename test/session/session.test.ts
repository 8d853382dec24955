/**
 * Session playbook (STYLE.md §12): chunks in, the exact ordered capture-form events out, with a
 * fixed clock and no sockets.
 */
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/session/event-bus.js';
import type { SessionEvent, SessionEventType } from '../../src/session/events.js';
import { cap, type CapturedEvent } from '../helpers/captured.js';
import { Session, type HandshakeInput } from '../../src/session/session.js';
import { Redactor } from '../../src/session/redact.js';
import { computeAccept } from '../../src/protocol/handshake.js';
import { encodeClosePayload, encodeFrame, MessageCompressor } from '../../src/protocol/frame-encoder.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

function playbook(options: { types?: SessionEventType[]; maxPayload?: number; redact?: string[] } = {}) {
  const bus = new EventBus((name, error) => {
    throw new Error(`${name}: ${String(error)}`);
  });
  const events: CapturedEvent[] = [];
  bus.subscribe('playbook', (e) => events.push(cap(e)), options.types);
  let clock = 1000;
  const session = new Session({
    conn: 7,
    bus,
    maxPayload: options.maxPayload ?? 1024,
    redactor: new Redactor(options.redact ?? []),
    now: () => (clock += 0.5),
  });
  return { session, events };
}

function handshake(extraRequest: Array<[string, string]> = [], extraResponse: Array<[string, string]> = [], status = 101): HandshakeInput {
  return {
    request: {
      method: 'GET',
      target: '/chat?token=abc',
      httpVersion: '1.1',
      headers: [['Host', 'example'], ['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Key', KEY], ...extraRequest],
    },
    response: {
      status,
      reason: status === 101 ? 'Switching Protocols' : 'Forbidden',
      httpVersion: '1.1',
      headers: status === 101 ? [['Upgrade', 'websocket'], ['Connection', 'Upgrade'], ['Sec-WebSocket-Accept', computeAccept(KEY)], ...extraResponse] : extraResponse,
    },
  };
}

/** Feeds `bytes` one byte at a time, each chunk stamped with its own `t`. */
function byteByByte(session: Session, from: 'client' | 'server', bytes: Buffer, t0: number): void {
  for (let i = 0; i < bytes.length; i++) session.push(from, bytes.subarray(i, i + 1), t0 + i);
}

describe('Session playbook', () => {
  it('open → handshake → a masked text frame fed byte by byte → close both ways → clean end', async () => {
    const { session, events } = playbook();
    session.open('127.0.0.1:5000', 'ws://upstream/chat?token=abc');
    session.handshake(handshake());
    const hello = encodeFrame({ opcode: 1, payload: Buffer.from('hello'), mask: MASK });
    byteByByte(session, 'client', hello, 2000);
    const serverClose = encodeFrame({ opcode: 8, payload: encodeClosePayload(1001, 'going') });
    session.push('server', serverClose, 3000);
    const clientClose = encodeFrame({ opcode: 8, payload: encodeClosePayload(1001, 'going'), mask: MASK });
    session.push('client', clientClose, 3001);
    await session.finish();
    expect(events).toEqual([
      { type: 'open', conn: 7, t: 1000.5, client: '127.0.0.1:5000', target: 'ws://upstream/chat?token=abc' },
      {
        type: 'handshake',
        conn: 7,
        t: 1001,
        request: handshake().request,
        response: handshake().response,
        upgraded: true,
        accept: 'ok',
        protocol: null,
        extensions: [],
      },
      // A frame's t is when its last byte arrived.
      { type: 'frame', conn: 7, t: 2000 + hello.length - 1, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 5, maskKey: '37fa213d', truncated: false },
      { type: 'message', conn: 7, t: 2000 + hello.length - 1, from: 'client', opcode: 1, compressed: false, frames: 1, length: 5, text: 'hello', truncated: false },
      { type: 'frame', conn: 7, t: 3000, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 8, masked: false, length: 7, payload: encodeClosePayload(1001, 'going').toString('base64'), truncated: false },
      { type: 'close', conn: 7, t: 3000, from: 'server', code: 1001, reason: 'going' },
      { type: 'frame', conn: 7, t: 3001, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 8, masked: true, length: 7, maskKey: '37fa213d', payload: encodeClosePayload(1001, 'going').toString('base64'), truncated: false },
      { type: 'close', conn: 7, t: 3001, from: 'client', code: 1001, reason: 'going' },
      {
        type: 'end',
        conn: 7,
        t: 1001.5,
        code: 1001,
        reason: 'going',
        initiator: 'server',
        clean: true,
        durationMs: 1,
        bytes: { client: hello.length + clientClose.length, server: serverClose.length },
        frames: { client: 2, server: 1 },
        tcp: { client: 'cut', server: 'cut' },
      },
    ]);
  });

  it('a frame cut off by the end of the stream: incomplete with received, end 1006 not clean', async () => {
    const { session, events } = playbook();
    session.open('c', 'ws://u/');
    session.handshake(handshake());
    const frame = encodeFrame({ opcode: 2, payload: Buffer.alloc(10, 0xab) });
    session.push('server', frame.subarray(0, 6), 5000);
    await session.endOf('server', 5001);
    await session.finish();
    expect(events.slice(2)).toEqual([
      { type: 'frame', conn: 7, t: 5001, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 2, masked: false, length: 10, payload: Buffer.alloc(4, 0xab).toString('base64'), truncated: false, incomplete: true, received: 4 },
      { type: 'end', conn: 7, t: expect.any(Number), code: 1006, reason: '', initiator: null, clean: false, durationMs: expect.any(Number), bytes: { client: 0, server: 6 }, frames: { client: 0, server: 1 }, tcp: { client: 'cut', server: 'cut' } },
    ]);
  });

  it('one close frame only: end carries its code, not clean; an empty close body is code null and 1005', async () => {
    const { session, events } = playbook({ types: ['close', 'end'] });
    session.open('c', 'ws://u/');
    session.handshake(handshake());
    session.push('client', encodeFrame({ opcode: 8, mask: MASK }), 10);
    await session.finish();
    expect(events.map((e) => ({ ...e, t: 0, ...(e.type === 'end' ? { durationMs: 0 } : {}) }))).toEqual([
      { type: 'close', conn: 7, t: 0, from: 'client', code: null, reason: '' },
      { type: 'end', conn: 7, t: 0, code: 1005, reason: '', initiator: 'client', clean: false, durationMs: 0, bytes: { client: 6, server: 0 }, frames: { client: 1, server: 0 }, tcp: { client: 'cut', server: 'cut' } },
    ]);
  });

  it('shutdown: 1006, no initiator, shutdown:true, even after a close frame', async () => {
    const { session, events } = playbook({ types: ['end'] });
    session.open('c', 'ws://u/');
    session.handshake(handshake());
    session.push('server', encodeFrame({ opcode: 8, payload: encodeClosePayload(1000) }), 10);
    await session.finish({ shutdown: true });
    await session.finish();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'end', code: 1006, reason: '', initiator: null, clean: false, shutdown: true, frames: { client: 0, server: 1 } });
  });

  it('handshake violations are the server’s; frame violations carry their offset; framing-broken frames keep their payload', async () => {
    const { session, events } = playbook({ types: ['violation', 'frame'] });
    session.handshake(handshake([], [['Sec-WebSocket-Protocol', 'chat']]));
    const ok = encodeFrame({ opcode: 2, payload: Buffer.from('ok') });
    const bad = encodeFrame({ opcode: 2, payload: Buffer.from('x'), rsv2: true });
    session.push('server', Buffer.concat([ok, bad]), 20);
    expect(events).toEqual([
      { type: 'violation', conn: 7, t: expect.any(Number), from: 'server', code: 1002, rule: 'subprotocol-not-offered', detail: expect.any(String) },
      { type: 'frame', conn: 7, t: 20, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 2, masked: false, length: 2, truncated: false },
      { type: 'violation', conn: 7, t: 20, from: 'server', code: 1002, rule: 'rsv2-rsv3-set', detail: expect.any(String), offset: ok.length },
      { type: 'frame', conn: 7, t: 20, from: 'server', fin: true, rsv1: false, rsv2: true, rsv3: false, opcode: 2, masked: false, length: 1, payload: Buffer.from('x').toString('base64'), truncated: false },
    ]);
  });

  it('inflates a compressed message; end waits for the inflater; payloads are kept to --max-payload', async () => {
    const { session, events } = playbook({ types: ['frame', 'message', 'end'], maxPayload: 8 });
    session.handshake(handshake([['Sec-WebSocket-Extensions', 'permessage-deflate']], [['Sec-WebSocket-Extensions', 'permessage-deflate']]));
    const text = 'aünïcödé text that is long';
    const compressor = new MessageCompressor({ noContextTakeover: false });
    const deflated = await compressor.compress(Buffer.from(text));
    compressor.close();
    session.push('server', encodeFrame({ opcode: 1, rsv1: true, payload: deflated }), 30);
    await session.finish();
    expect(events.map((e) => e.type)).toEqual(['frame', 'message', 'end']);
    expect(events[0]).toMatchObject({ rsv1: true, length: deflated.length, payload: deflated.subarray(0, 8).toString('base64'), truncated: deflated.length > 8 });
    // 8 bytes of the inflated text are kept; the cut falls inside 'ö', which is dropped whole.
    expect(events[1]).toMatchObject({ compressed: true, length: Buffer.byteLength(text), truncated: true, text: 'aünïc' });
  });

  it('redacts query parameters and headers in published events only', () => {
    const { session, events } = playbook({ redact: ['token', 'cookie'] });
    session.open('c', 'ws://u/chat?token=abc&room=1');
    const input = handshake([['Cookie', 'sid=1']]);
    session.handshake(input);
    expect(events[0]).toMatchObject({ target: 'ws://u/chat?token=<redacted>&room=1' });
    expect(events[1]).toMatchObject({ request: { target: '/chat?token=<redacted>' } });
    expect(events[1]!.type === 'handshake' && events[1].request.headers).toContainEqual(['Cookie', '<redacted>']);
    expect(input.request.headers).toContainEqual(['Cookie', 'sid=1']);
  });

  it('a refused upgrade inspects nothing', async () => {
    const { session, events } = playbook();
    session.open('c', 'ws://u/');
    session.handshake(handshake([], [['Content-Length', '0']], 403));
    await session.finish();
    expect(events.map((e) => e.type)).toEqual(['open', 'handshake', 'end']);
    expect(events[1]).toMatchObject({ upgraded: false, accept: 'missing', extensions: [] });
  });

  it('builds nothing for an end-only subscriber but still counts frames and bytes', async () => {
    const { session, events } = playbook({ types: ['end'] });
    session.open('c', 'ws://u/');
    session.handshake(handshake());
    const f = encodeFrame({ opcode: 1, payload: Buffer.from('a'), mask: MASK });
    session.push('client', Buffer.concat([f, f]), 1);
    await session.finish();
    expect(events).toEqual([expect.objectContaining({ type: 'end', frames: { client: 2, server: 0 }, bytes: { client: f.length * 2, server: 0 } })]);
  });

  it('publishes frame events with the capture\'s keys in the capture\'s order (optional keys in place)', async () => {
    const bus = new EventBus((name, error) => {
      throw new Error(`${name}: ${String(error)}`);
    });
    const frames: SessionEvent[] = [];
    bus.subscribe('keys', (e) => frames.push(e), ['frame']);
    const session = new Session({ conn: 1, bus, maxPayload: 1024, now: () => 1 });
    session.handshake(handshake());
    session.push('client', encodeFrame({ opcode: 9, payload: Buffer.from('hi'), mask: MASK }), 2);
    session.push('server', encodeFrame({ opcode: 2, payload: Buffer.from('whole') }), 3);
    session.push('server', encodeFrame({ opcode: 2, payload: Buffer.from('cut off') }).subarray(0, 5), 4);
    await session.finish();
    expect(frames.map((e) => Object.keys(e).join(','))).toEqual([
      'type,conn,t,from,fin,rsv1,rsv2,rsv3,opcode,masked,length,maskKey,payload,truncated',
      'type,conn,t,from,fin,rsv1,rsv2,rsv3,opcode,masked,length,truncated',
      'type,conn,t,from,fin,rsv1,rsv2,rsv3,opcode,masked,length,payload,truncated,incomplete,received',
    ]);
  });
});
