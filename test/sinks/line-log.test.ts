import * as net from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ev, readCaptured, type CapturedEvent, type CapturedOfType } from '../helpers/captured.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { SessionEvent } from '../../src/session/events.js';
import { LineLogFormatter, formatLogLine, startLineLog, wantsColor } from '../../src/sinks/line-log.js';
import { deferred, waitFor, withTimeout } from '../helpers/deferred.js';
import { hostileEvents } from '../ui/hostile-capture.js';
import { HOSTILE } from '../ui/hostile-corpus.js';

// 2026-11-25T09:00:00.000Z
const T = Date.UTC(2026, 10, 25, 9, 0, 0, 0);
const plain = { color: false, utc: true } as const;
const line = (e: CapturedEvent): string => formatLogLine(ev(e), plain);

const frame = (over: Partial<CapturedOfType<'frame'>>): CapturedEvent => ({
  type: 'frame', conn: 1, t: T, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 5, truncated: false, ...over,
});

describe('formatLogLine', () => {
  it('open and handshake: client, target, status, accept check, protocol, extensions', () => {
    expect(line({ type: 'open', conn: 1, t: T + 12.3456, client: '127.0.0.1:5000', target: 'ws://u/chat' })).toBe(
      '09:00:00.012 #1 open 127.0.0.1:5000 → ws://u/chat',
    );
    // A HAR has no client address: never a blank field ("open  → …").
    expect(line({ type: 'open', conn: 1, t: T, client: '', target: 'ws://u/chat' })).toBe('09:00:00.000 #1 open (client unknown) → ws://u/chat');
    const base = {
      type: 'handshake', conn: 2, t: T, upgraded: true, accept: 'ok', protocol: 'chat',
      request: { method: 'GET', target: '/', httpVersion: '1.1', headers: [] },
      response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] },
      extensions: [{ name: 'permessage-deflate', params: { client_max_window_bits: '10', server_no_context_takeover: true } }],
    } as const;
    expect(line(base)).toBe(
      '09:00:00.000 #2 handshake 101 Switching Protocols accept ok protocol chat ext permessage-deflate; client_max_window_bits=10; server_no_context_takeover',
    );
    expect(line({ ...base, upgraded: false, protocol: null, extensions: [], response: { ...base.response, status: 403, reason: 'Forbidden' } })).toBe(
      '09:00:00.000 #2 handshake 403 Forbidden (not upgraded)',
    );
    expect(line({ ...base, accept: 'mismatch', protocol: null, extensions: [] })).toBe('09:00:00.000 #2 handshake 101 Switching Protocols accept mismatch');
    expect(line({ ...base, response: null, upgraded: false })).toBe('09:00:00.000 #2 handshake: no response from the upstream');
  });

  it('frames: arrow per direction, opcode name, flags, length, escaped one-line preview', () => {
    expect(line(frame({}))).toBe('09:00:00.000 #1 → frame text FIN,MASK 5 B');
    expect(line(frame({ from: 'server', masked: false, opcode: 9, length: 6, payload: Buffer.from('a\nb"c\u0001').toString('base64') }))).toBe(
      '09:00:00.000 #1 ← frame ping FIN 6 B "a\\nb\\"c\\u0001"',
    );
    expect(line(frame({ fin: false, rsv1: true, rsv2: true, rsv3: true, masked: false, opcode: 2, length: 3, payload: 'AAH/' }))).toBe(
      '09:00:00.000 #1 → frame binary RSV1,RSV2,RSV3 3 B (compressed)',
    );
    expect(line(frame({ opcode: 2, length: 20, payload: Buffer.alloc(20, 0xab).toString('base64') }))).toBe(
      `09:00:00.000 #1 → frame binary FIN,MASK 20 B <${Array(16).fill('ab').join(' ')} …>`,
    );
    expect(line(frame({ opcode: 0xb, length: 0, payload: '' }))).toBe('09:00:00.000 #1 → frame opB FIN,MASK 0 B');
    expect(line(frame({ opcode: 8, length: 5, payload: Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]).toString('base64') }))).toBe(
      '09:00:00.000 #1 → frame close FIN,MASK 5 B 1000 (Normal Closure) "bye"',
    );
    expect(line(frame({ opcode: 1, length: 100, payload: 'aGk=', incomplete: true, received: 2 }))).toBe(
      '09:00:00.000 #1 → frame text FIN,MASK 100 B INCOMPLETE (2 B arrived) "hi"',
    );
  });

  it('a long or multi-line text preview stays on one line and is cut with an ellipsis', () => {
    const text = `${'line\n'.repeat(30)}end`;
    const out = line({ type: 'message', conn: 1, t: T, from: 'server', opcode: 1, compressed: true, frames: 3, length: 153, text, truncated: false });
    expect(out).not.toContain('\n');
    expect(out).toBe(`09:00:00.000 #1 ← message text 153 B deflate 3 frames ${JSON.stringify(text.slice(0, 60))}…`);
    expect(line({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 99, text: 'hé', truncated: true })).toBe(
      '09:00:00.000 #1 → message text 99 B "hé"… (truncated)',
    );
    expect(line({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 1, data: '/w==', truncated: false })).toBe(
      '09:00:00.000 #1 → message text 1 B (invalid UTF-8) <ff>',
    );
  });

  it('close codes carry their names', () => {
    const close = (code: number | null, reason = ''): string => line({ type: 'close', conn: 4, t: T, from: 'server', code, reason });
    expect(close(1000, 'bye')).toBe('09:00:00.000 #4 ← close 1000 (Normal Closure) "bye"');
    expect(close(1001)).toBe('09:00:00.000 #4 ← close 1001 (Going Away)');
    expect(close(1011)).toBe('09:00:00.000 #4 ← close 1011 (Internal Error)');
    expect(close(4001)).toBe('09:00:00.000 #4 ← close 4001 (Private Use)');
    expect(close(null)).toBe('09:00:00.000 #4 ← close no status (1005)');
  });

  it('violations, errors, end and http lines', () => {
    expect(
      line({ type: 'violation', conn: 1, t: T, from: 'server', code: 1002, rule: 'control-frame-too-long', detail: 'ping with 126-byte payload', offset: 7 }),
    ).toBe('09:00:00.000 #1 ← VIOLATION control-frame-too-long → 1002 (Protocol Error) at byte 7: ping with 126-byte payload');
    expect(line({ type: 'error', conn: 3, t: T, stage: 'upstream-connect', code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:9' })).toBe(
      '09:00:00.000 #3 ERROR upstream-connect ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(line({ type: 'error', t: T, stage: 'capture', detail: 'slow disk' })).toBe('09:00:00.000 -- ERROR capture: slow disk');
    expect(
      line({ type: 'end', conn: 1, t: T, code: 1000, reason: 'bye', initiator: 'client', clean: true, durationMs: 1234.56, bytes: { client: 10, server: 20 }, frames: { client: 2, server: 3 } }),
    ).toBe('09:00:00.000 #1 end 1000 (Normal Closure) "bye" clean closed by client 1234.6 ms client 10 B/2 frames, server 20 B/3 frames');
    expect(
      line({ type: 'end', conn: 2, t: T, code: 1006, reason: '', initiator: null, clean: false, durationMs: 5, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 }, shutdown: true }),
    ).toBe('09:00:00.000 #2 end 1006 (Abnormal Closure) unclean no close frame 5.0 ms client 0 B/0 frames, server 0 B/0 frames (frametap shut down)');
    expect(line({ type: 'http', conn: 7, t: T, method: 'GET', target: '/index.html', status: 200, durationMs: 3.2 })).toBe(
      '09:00:00.000 #7 http GET /index.html 200 3.2 ms',
    );
  });

  it('colour highlights violations and errors only when asked', () => {
    const v: SessionEvent = { type: 'violation', conn: 1, t: T, from: 'client', code: 1007, rule: 'invalid-utf8', detail: 'bad' };
    expect(formatLogLine(v, { color: true, utc: true })).toBe('09:00:00.000 #1 \x1b[1;31m→ VIOLATION invalid-utf8 → 1007 (Invalid Payload Data): bad\x1b[0m');
    expect(formatLogLine(v, { color: false, utc: true })).not.toContain('\x1b');
    expect(formatLogLine(ev(frame({})), { color: true, utc: true })).not.toContain('\x1b');
  });

  it('NO_COLOR and non-TTY streams turn colour off', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    expect(wantsColor(tty, {})).toBe(true);
    expect(wantsColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor(tty, { NO_COLOR: '' })).toBe(true);
    expect(wantsColor(new PassThrough(), {})).toBe(false);
  });

  it('every event of the fixtures gives exactly one line', async () => {
    for (const name of ['echo.jsonl', 'fragmented-deflate.jsonl', 'unknown-types.jsonl']) {
      const { events } = await readCaptured(new URL(`../../fixtures/captures/${name}`, import.meta.url).pathname);
      for (const e of events) {
        const l = line(e);
        expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} (#\d+|--) \S/);
        expect(l).not.toContain('\n');
      }
    }
  });
});

describe('startLineLog', () => {
  it('writes one line per published event, and stops on close', async () => {
    const bus = new EventBus();
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
    const log = startLineLog({ bus, stream: out, utc: true });
    bus.publish({ type: 'open', conn: 1, t: T, client: 'c', target: 'ws://u/' });
    bus.publish({ type: 'close', conn: 1, t: T, from: 'client', code: 1000, reason: '' });
    await log.close();
    bus.publish({ type: 'open', conn: 2, t: T, client: 'c', target: 'ws://u/' });
    expect(chunks.join('')).toBe('09:00:00.000 #1 open c → ws://u/\n09:00:00.000 #1 → close 1000 (Normal Closure)\n');
  });
});

describe('the line log shows what crossed the wire, and nothing else', () => {
  it('no field of any event writes a control, C1, DEL or bidi character, and nothing is dropped', () => {
    const unsafe = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;
    for (const e of hostileEvents()) {
      for (const frames of [false, true]) {
        for (const l of new LineLogFormatter(plain, { frames }).push(e)) {
          expect(l, l).not.toMatch(unsafe);
          expect(l).not.toContain('\n');
        }
      }
    }
    const handshake = hostileEvents().find((e) => e.type === 'handshake')!;
    expect(formatLogLine(handshake, plain)).toContain('handshake 101 OK\\u001b]0;pwned-title\\u0007\\u001b]52;c;cHduZWQ=\\u0007\\u009b7m{red-fg}\\u001b[2J');
    const open = hostileEvents()[0]!;
    expect(formatLogLine(open, plain)).toContain('open 127.0.0.1:5000\\u001b]0;pwned');
    for (const [, text] of HOSTILE) {
      const out = line({ type: 'message', conn: 1, t: T, from: 'server', opcode: 1, compressed: false, frames: 1, length: text.length, text, truncated: false });
      expect(out).not.toMatch(unsafe);
    }
    expect(line({ type: 'message', conn: 1, t: T, from: 'server', opcode: 1, compressed: false, frames: 1, length: 3, text: 'a\u202eb\u009b\x7f', truncated: false })).toBe(
      '09:00:00.000 #1 ← message text 3 B "a\\u202eb\\u009b\\u007f"',
    );
  });
});

describe('LineLogFormatter', () => {
  const fr = (over: Partial<CapturedOfType<'frame'>>): SessionEvent => ev(frame(over));
  const msg = (over: Partial<CapturedOfType<'message'>>): SessionEvent =>
    ev({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 2, text: 'hi', truncated: false, ...over });

  it('one line per message, with the flags of its first frame; control frames keep their own line', () => {
    const f = new LineLogFormatter(plain);
    expect(f.push(fr({ length: 2 }))).toEqual([]);
    expect(f.push(msg({}))).toEqual(['09:00:00.000 #1 → message text FIN,MASK 2 B "hi"']);
    expect(f.push(fr({ opcode: 9, length: 1, payload: 'eA==' }))).toEqual(['09:00:00.000 #1 → frame ping FIN,MASK 1 B "x"']);
    expect(f.push(fr({ opcode: 8, length: 2, payload: 'A+g=' }))).toEqual([]);
    expect(f.push(ev({ type: 'close', conn: 1, t: T, from: 'client', code: 1000, reason: '' }))).toEqual(['09:00:00.000 #1 → close FIN,MASK 1000 (Normal Closure)']);
  });

  it('a continuation frame takes its kind from its message: no text preview of compressed or binary bytes', () => {
    const deflated = Buffer.from([0x02, 0x33, 0x4a, 0xff, 0xfe, 0x00]).toString('base64');
    const f = new LineLogFormatter(plain, { frames: true });
    expect(f.push(fr({ fin: false, rsv1: true, length: 6, payload: deflated }))[0]).toContain('frame text RSV1,MASK 6 B (compressed)');
    expect(f.push(fr({ opcode: 0, length: 6, payload: deflated }))).toEqual(['09:00:00.000 #1 → frame cont FIN,MASK 6 B (compressed)']);
    expect(f.push(msg({ compressed: true, frames: 2 }))).toHaveLength(1);
    f.push(fr({ opcode: 2, fin: false, length: 2, payload: 'AAE=' }));
    expect(f.push(fr({ opcode: 0, length: 2, payload: 'QUI=' }))).toEqual(['09:00:00.000 #1 → frame cont FIN,MASK 2 B <41 42>']);
    f.push(fr({ opcode: 1, fin: false, length: 2, payload: 'QUI=' }));
    expect(f.push(fr({ opcode: 0, length: 2, payload: 'Q0Q=' }))).toEqual(['09:00:00.000 #1 → frame cont FIN,MASK 2 B "CD"']);
  });

  it('fragments of a message the end cut off are reported, not lost', () => {
    const f = new LineLogFormatter(plain);
    expect(f.push(fr({ fin: false, length: 2, payload: 'aGk=' }))).toEqual([]);
    const out = f.push(ev({ type: 'end', conn: 1, t: T, code: 1006, reason: '', initiator: null, clean: false, durationMs: 1, bytes: { client: 2, server: 0 }, frames: { client: 1, server: 0 } }));
    expect(out[0]).toBe('09:00:00.000 #1 → 1 frame of an unfinished text message (MASK)');
    expect(out).toHaveLength(2);
  });
});

describe('startLineLog backpressure', () => {
  /** A real socket whose reader does not read until `resume()`. */
  async function stalledReader(): Promise<{ socket: net.Socket; resume: () => void; received: () => number; onData: (cb: () => void) => () => void; close: () => Promise<void> }> {
    let peer: net.Socket | null = null;
    let received = 0;
    let listeners: (() => void)[] = [];
    const server = net.createServer((s) => {
      peer = s;
      s.pause();
      s.on('data', (d: Buffer) => {
        received += d.length;
        for (const l of listeners) l();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const accepted = new Promise<void>((resolve) => server.once('connection', () => resolve()));
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await Promise.all([accepted, new Promise<void>((resolve) => socket.once('connect', () => resolve()))]);
    return {
      socket,
      resume: () => peer!.resume(),
      received: () => received,
      onData: (cb) => {
        listeners = [...listeners, cb];
        return () => {
          listeners = listeners.filter((l) => l !== cb);
        };
      },
      close: async () => {
        socket.destroy();
        (peer as net.Socket | null)?.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  it('a reader that stops reading raises pressure and the queue stays bounded; resuming drains it all', async () => {
    const r = await stalledReader();
    const bus = new EventBus();
    const notes: string[] = [];
    const log = startLineLog({ bus, stream: r.socket, utc: true, highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024, warn: (l) => notes.push(l) });
    const pressure: boolean[] = [];
    log.onPressure((on) => pressure.push(on));
    const high = deferred();
    const low = deferred();
    log.onPressure((on) => (on ? high : low).resolve());
    const text = 'y'.repeat(50);
    let published = 0;
    // Publish until the log says stop, a turn at a time, as the relay would.
    while (pressure.length === 0 && published < 200_000) {
      for (let i = 0; i < 500; i++, published++) bus.publish(ev({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 50, text, truncated: false }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await high.promise;
    // What sits in the stream's own buffer is bounded by one batch, not by what was published.
    expect(r.socket.writableLength).toBeLessThanOrEqual(64 * 1024);
    expect(notes).toEqual(['--ui log: the reader of stdout cannot keep up; slowing down until it does']);
    r.resume();
    await withTimeout(low.promise, 'pressure to drop');
    await log.close();
    const lineBytes = Buffer.byteLength(formatLogLine(ev({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 50, text, truncated: false }), plain)) + 1;
    await waitFor(r.onData, () => r.received() === published * lineBytes, 'every line to arrive');
    expect(pressure).toEqual([true, false]);
    await r.close();
  });

  it('close() with a stalled reader ends in bounded time, dropping the rest with a note', async () => {
    const r = await stalledReader();
    const bus = new EventBus();
    const notes: string[] = [];
    const log = startLineLog({ bus, stream: r.socket, utc: true, highWaterMark: 64 * 1024, closeTimeoutMs: 50, warn: (l) => notes.push(l) });
    let stalled = false;
    log.onPressure((on) => (stalled ||= on));
    const big = 'z'.repeat(1000);
    // Until the socket's buffers are full and lines wait in the log's queue.
    for (let round = 0; !stalled && round < 10_000; round++) {
      for (let i = 0; i < 200; i++) bus.publish(ev({ type: 'message', conn: 1, t: T, from: 'client', opcode: 1, compressed: false, frames: 1, length: 1000, text: big, truncated: false }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(stalled).toBe(true);
    await withTimeout(log.close(), 'close with a stalled reader');
    expect(notes.at(-1)).toMatch(/--ui log: the reader of stdout stopped reading; \d+ log lines and the batch being written were dropped at exit/);
    expect(r.socket.destroyed).toBe(true);
    await r.close();
  });
});
