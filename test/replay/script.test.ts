import { describe, expect, it } from 'vitest';
import { buildScripts, pickScripts, splitSizes, answersOf, requestTarget, defaultUpstream } from '../../src/replay/script.js';
import type { SessionEvent } from '../../src/session/events.js';
import { ev, type CapturedEvent } from '../helpers/captured.js';
import { UsageError } from '../../src/errors.js';

const T = 1_700_000_000_000;
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const frame = (conn: number, t: number, from: 'client' | 'server', opcode: number, length: number, extra: object = {}): CapturedEvent => ({
  type: 'frame', conn, t: T + t, from, fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, masked: from === 'client', length, truncated: false, ...extra,
});

const events: SessionEvent[] = ([
  { type: 'open', conn: 1, t: T, client: '127.0.0.1:5000', target: 'ws://127.0.0.1:9001/chat?room=1' },
  {
    type: 'handshake', conn: 1, t: T + 1,
    request: { method: 'GET', target: '/chat?room=1', httpVersion: '1.1', headers: [['Host', 'x'], ['Origin', 'http://o']] },
    response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] },
    upgraded: true, accept: 'ok', protocol: 'chat', extensions: [],
  },
  frame(1, 5, 'server', 1, 5),
  { type: 'message', conn: 1, t: T + 5, from: 'server', opcode: 1, compressed: false, frames: 1, length: 5, text: 'hello', truncated: false },
  frame(1, 10, 'client', 1, 2, { fin: false, payload: b64('ab') }),
  frame(1, 11, 'client', 0, 3, { payload: b64('cde') }),
  { type: 'message', conn: 1, t: T + 11, from: 'client', opcode: 1, compressed: false, frames: 2, length: 5, text: 'abcde', truncated: false },
  frame(1, 20, 'client', 9, 1, { payload: b64('p') }),
  frame(1, 21, 'server', 10, 1, { payload: b64('p') }),
  frame(1, 30, 'server', 2, 2),
  { type: 'message', conn: 1, t: T + 30, from: 'server', opcode: 2, compressed: false, frames: 1, length: 2, data: b64('\x00\x01'), truncated: false },
  { type: 'close', conn: 1, t: T + 40, from: 'client', code: 1000, reason: 'bye' },
  { type: 'close', conn: 1, t: T + 41, from: 'server', code: 1000, reason: 'bye' },
  { type: 'end', conn: 1, t: T + 42, code: 1000, reason: 'bye', initiator: 'client', clean: true, durationMs: 42, bytes: { client: 1, server: 1 }, frames: { client: 3, server: 3 } },
  { type: 'http', conn: 2, t: T + 50, method: 'GET', target: '/', status: 404, durationMs: 1 },
  { type: 'open', conn: 3, t: T + 100, client: '127.0.0.1:5001', target: 'ws://127.0.0.1:9001/x' },
  { type: 'message', conn: 3, t: T + 110, from: 'client', opcode: 1, compressed: true, frames: 3, length: 7, text: 'deflate', truncated: false },
  { type: 'end', conn: 3, t: T + 120, code: 1006, reason: '', initiator: null, clean: false, durationMs: 20, bytes: { client: 1, server: 0 }, frames: { client: 3, server: 0 } },
] satisfies CapturedEvent[]).map(ev);

describe('buildScripts', () => {
  const scripts = buildScripts(events);

  it('has one script per WebSocket connection, skipping http', () => {
    expect(scripts.map((s) => s.conn)).toEqual([1, 3]);
  });

  it('orders each side with captured times and what the other side said before', () => {
    const s = scripts[0]!;
    expect(s.client.map((x) => [x.kind, x.at, x.before])).toEqual([
      ['message', 11, 1],
      ['ping', 20, 1],
      ['close', 40, 2],
    ]);
    expect(s.server.map((x) => [x.kind, x.at, x.before])).toEqual([
      ['message', 5, 0],
      ['message', 30, 1],
    ]);
    const m = s.client[0]!;
    expect(m.kind === 'message' && m.fragments).toEqual([2, 3]);
    expect(s.endCode).toBe(1000);
    expect(s.protocol).toBe('chat');
    expect(answersOf(s.server).map((a) => [a.opcode, a.data.toString('hex')])).toEqual([
      [1, Buffer.from('hello').toString('hex')],
      [2, '0001'],
    ]);
  });

  it('plays an ending without close frames as a drop on both sides', () => {
    const s = scripts[1]!;
    expect(s.client.map((x) => x.kind)).toEqual(['message', 'drop']);
    expect(s.server.map((x) => [x.kind, x.before])).toEqual([['drop', 1]]);
    const m = s.client[0]!;
    expect(m.kind === 'message' && m.compressed && m.fragments).toEqual([3, 2, 2]);
    expect(requestTarget(s)).toBe('/x');
    expect(defaultUpstream(null, s)).toBe('ws://127.0.0.1:9001');
  });
});

describe('splitSizes', () => {
  it('uses the captured lengths when they add up, else splits evenly', () => {
    expect(splitSizes(5, 2, [2, 3])).toEqual([2, 3]);
    expect(splitSizes(5, 2, [9, 9])).toEqual([3, 2]);
    expect(splitSizes(0, 2, null)).toEqual([0, 0]);
  });
});

describe('pickScripts', () => {
  const scripts = buildScripts(events);
  it('takes the first by default, one by id, or all', () => {
    expect(pickScripts(scripts, undefined, 'f').map((s) => s.conn)).toEqual([1]);
    expect(pickScripts(scripts, 3, 'f').map((s) => s.conn)).toEqual([3]);
    expect(pickScripts(scripts, 'all', 'f').map((s) => s.conn)).toEqual([1, 3]);
  });
  it('names the connections there are when one is missing', () => {
    expect(() => pickScripts(scripts, 2, 'cap.jsonl')).toThrow(new UsageError('cap.jsonl has no connection 2 (it has: 1, 3)'));
    expect(() => pickScripts([], undefined, 'cap.jsonl')).toThrow(UsageError);
  });
});
