/**
 * Real `ws` client → frametap → real `ws` server on 127.0.0.1:0: the bytes each peer receives are
 * the bytes the other sent, and the events describe exactly what went over the wire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startEchoServer, connectClient, type EchoServer, type TappedClient } from '../helpers/servers.js';
import { startHarness, type Harness } from './harness.js';
import type { EndEvent } from '../../src/session/events.js';
import type { CapturedFrame, CapturedMessage } from '../../src/capture/capture-object.js';


let echo: EchoServer | undefined;
let h: Harness | undefined;
let client: TappedClient | undefined;

afterEach(async () => {
  client?.ws.terminate();
  await h?.proxy.stop();
  await echo?.close();
  client = h = echo = undefined;
});

async function setUp(path = '/'): Promise<{ echo: EchoServer; h: Harness; c: TappedClient }> {
  echo = await startEchoServer();
  h = await startHarness(echo.url);
  client = await connectClient(`${h.wsUrl}${path}`);
  return { echo, h, c: client };
}

/** Both legs carried the same bytes: what the client sent is what the server read, and back. */
function expectByteIdentity(echo: EchoServer, c: TappedClient): void {
  const server = echo.taps[0]!;
  expect(server.receivedAfterUpgrade.equals(c.tap().sentAfterUpgrade)).toBe(true);
  expect(c.tap().receivedAfterUpgrade.equals(server.sentAfterUpgrade)).toBe(true);
}

async function closeAndEnd(h: Harness, c: TappedClient, code = 1000, reason = 'bye'): Promise<EndEvent> {
  c.ws.close(code, reason);
  await c.closed;
  return h.event('end');
}

const b64 = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('base64');
/** A masked frame's key: `ws` picks a random one per frame. */
const ANY_KEY = expect.stringMatching(/^[0-9a-f]{8}$/) as unknown as string;

describe('relay through frametap', () => {
  it('reports one echoed text message with exactly the events of the capture format', async () => {
    const { echo, h, c } = await setUp('/chat?room=1');
    c.ws.send('hello');
    await c.message(0);
    const end = await closeAndEnd(h, c);
    expectByteIdentity(echo, c);
    const clientBytes = c.tap().sentAfterUpgrade.length;
    const serverBytes = c.tap().receivedAfterUpgrade.length;
    expect(h.plain(1)).toEqual([
      { type: 'open', conn: 1, client: expect.stringMatching(/^127\.0\.0\.1:\d+$/), target: `ws://127.0.0.1:${echo.port}/chat?room=1` },
      {
        type: 'handshake',
        conn: 1,
        request: {
          method: 'GET',
          target: '/chat?room=1',
          httpVersion: '1.1',
          headers: expect.arrayContaining([['Host', `127.0.0.1:${h.proxy.port}`], ['Upgrade', 'websocket']]),
        },
        forwarded: { headers: expect.arrayContaining([['Host', `127.0.0.1:${echo.port}`], ['Upgrade', 'websocket']]) },
        response: {
          status: 101,
          reason: 'Switching Protocols',
          httpVersion: '1.1',
          headers: expect.arrayContaining([['Upgrade', 'websocket'], ['Connection', 'Upgrade']]),
        },
        upgraded: true,
        accept: 'ok',
        protocol: null,
        extensions: [],
      },
      { type: 'frame', conn: 1, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 5, maskKey: ANY_KEY, truncated: false },
      { type: 'message', conn: 1, from: 'client', opcode: 1, compressed: false, frames: 1, length: 5, text: 'hello', truncated: false },
      { type: 'frame', conn: 1, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: false, length: 5, truncated: false },
      { type: 'message', conn: 1, from: 'server', opcode: 1, compressed: false, frames: 1, length: 5, text: 'hello', truncated: false },
      { type: 'frame', conn: 1, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 8, masked: true, length: 5, maskKey: ANY_KEY, payload: b64(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65])), truncated: false },
      { type: 'close', conn: 1, from: 'client', code: 1000, reason: 'bye' },
      { type: 'frame', conn: 1, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 8, masked: false, length: 5, payload: b64(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65])), truncated: false },
      { type: 'close', conn: 1, from: 'server', code: 1000, reason: 'bye' },
      {
        type: 'end',
        conn: 1,
        code: 1000,
        reason: 'bye',
        initiator: 'client',
        clean: true,
        durationMs: expect.any(Number),
        bytes: { client: clientBytes, server: serverBytes },
        frames: { client: 2, server: 2 },
        tcp: { client: 'fin', server: 'fin' },
      },
    ]);
    expect(end.durationMs).toBeGreaterThan(0);
    const open = h.events[0]!;
    expect(Number.isInteger(open.t)).toBe(false);
  });

  it('relays text, binary, empty and 125/126/65535/65536-byte and 1 MiB + 1 payloads, keeping at most --max-payload', async () => {
    const { echo, h, c } = await setUp();
    const sizes = [0, 125, 126, 65535, 65536, 1024 * 1024 + 1];
    const sent: Array<{ data: Buffer; binary: boolean }> = [
      { data: Buffer.from('text ✓'), binary: false },
      ...sizes.map((n, i) => ({ data: Buffer.alloc(n, i + 1), binary: i % 2 === 1 })),
    ];
    for (const [i, m] of sent.entries()) {
      c.ws.send(m.data, { binary: m.binary });
      const back = await c.message(i);
      expect(back.data.equals(m.data)).toBe(true);
    }
    await closeAndEnd(h, c);
    expectByteIdentity(echo, c);
    const messages = h.events.filter((e): e is CapturedMessage => e.type === 'message' && e.from === 'client');
    expect(messages).toHaveLength(sent.length);
    for (const [i, m] of sent.entries()) {
      const ev = messages[i]!;
      const limit = 1024 * 1024;
      const kept = m.data.subarray(0, limit);
      expect(ev).toMatchObject({ opcode: m.binary ? 2 : 1, length: m.data.length, truncated: m.data.length > limit, frames: 1 });
      if (m.binary) expect(ev.data).toBe(kept.toString('base64'));
      else expect(ev.text).toBe(kept.toString('utf8'));
    }
    const frames = h.events.filter((e): e is CapturedFrame => e.type === 'frame' && e.from === 'server' && e.opcode !== 8);
    expect(frames.map((f) => f.length)).toEqual(sent.map((m) => m.data.length));
    // A whole uncompressed data frame leaves its payload to the message.
    expect(frames.every((f) => f.payload === undefined)).toBe(true);
    expect(frames.at(-1)!.truncated).toBe(true);
  });

  it('reassembles a fragmented message with a ping in the middle, and UTF-8 split across fragments', async () => {
    const { echo, h, c } = await setUp();
    c.ws.send(Buffer.from('hel'), { fin: false, binary: false });
    c.ws.ping('p1');
    c.ws.send(Buffer.from('lo'), { fin: true, binary: false });
    await c.message(0);
    const utf8 = Buffer.from('héllo€');
    const cuts = [utf8.subarray(0, 2), utf8.subarray(2, 8), utf8.subarray(8)];
    c.ws.send(cuts[0], { fin: false, binary: false });
    c.ws.send(cuts[1], { fin: false, binary: false });
    c.ws.send(cuts[2], { fin: true, binary: false });
    expect((await c.message(1)).data.toString()).toBe('héllo€');
    await closeAndEnd(h, c);
    expectByteIdentity(echo, c);
    const fromClient = h.plain(1, 'frame', 'message').filter((e) => e.from === 'client');
    expect(fromClient.slice(0, 4)).toEqual([
      { type: 'frame', conn: 1, from: 'client', fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 3, maskKey: ANY_KEY, payload: b64('hel'), truncated: false },
      { type: 'frame', conn: 1, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 9, masked: true, length: 2, maskKey: ANY_KEY, payload: b64('p1'), truncated: false },
      { type: 'frame', conn: 1, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 0, masked: true, length: 2, maskKey: ANY_KEY, payload: b64('lo'), truncated: false },
      { type: 'message', conn: 1, from: 'client', opcode: 1, compressed: false, frames: 2, length: 5, text: 'hello', truncated: false },
    ]);
    expect(fromClient.slice(4, 8)).toEqual([
      expect.objectContaining({ type: 'frame', opcode: 1, fin: false, payload: b64(cuts[0]!) }),
      expect.objectContaining({ type: 'frame', opcode: 0, fin: false, payload: b64(cuts[1]!) }),
      expect.objectContaining({ type: 'frame', opcode: 0, fin: true, payload: b64(cuts[2]!) }),
      { type: 'message', conn: 1, from: 'client', opcode: 1, compressed: false, frames: 3, length: utf8.length, text: 'héllo€', truncated: false },
    ]);
    expect(h.events.some((e) => e.type === 'violation')).toBe(false);
  });

  it('shows pings and pongs both ways', async () => {
    const { echo, h, c } = await setUp();
    const server = await echo.connection(0);
    const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', resolve));
    c.ws.ping('from-client');
    expect((await pong).toString()).toBe('from-client');
    const serverPong = new Promise<Buffer>((resolve) => server.once('pong', resolve));
    server.ping('from-server');
    expect((await serverPong).toString()).toBe('from-server');
    await closeAndEnd(h, c);
    expectByteIdentity(echo, c);
    const control = h.events.filter((e): e is CapturedFrame => e.type === 'frame' && (e.opcode === 9 || e.opcode === 10));
    expect(control.map((f) => [f.from, f.opcode, f.masked, Buffer.from(f.payload!, 'base64').toString()])).toEqual([
      ['client', 9, true, 'from-client'],
      ['server', 10, false, 'from-client'],
      ['server', 9, false, 'from-server'],
      ['client', 10, true, 'from-server'],
    ]);
  });

  it('reports a close initiated by the server, with its code and reason', async () => {
    const { echo, h, c } = await setUp();
    const server = await echo.connection(0);
    server.close(4001, 'server says bye');
    expect(await c.closed).toEqual({ code: 4001, reason: 'server says bye' });
    const end = await h.event('end');
    expectByteIdentity(echo, c);
    expect(h.plain(1, 'close')).toEqual([
      { type: 'close', conn: 1, from: 'server', code: 4001, reason: 'server says bye' },
      { type: 'close', conn: 1, from: 'client', code: 4001, reason: 'server says bye' },
    ]);
    expect(end).toMatchObject({ code: 4001, reason: 'server says bye', initiator: 'server', clean: true });
  });

  it('reports an empty close body as code null and ends with 1005', async () => {
    const { echo, h, c } = await setUp();
    c.ws.close();
    await c.closed;
    const end = await h.event('end');
    expectByteIdentity(echo, c);
    expect(h.plain(1, 'close')[0]).toEqual({ type: 'close', conn: 1, from: 'client', code: null, reason: '' });
    expect(end).toMatchObject({ code: 1005, reason: '', initiator: 'client', clean: true });
  });
});
