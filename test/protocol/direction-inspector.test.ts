import { once } from 'node:events';
import net from 'node:net';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket, WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import { analyzeHandshake } from '../../src/protocol/handshake.js';
import type { RawHeaders } from '../../src/session/events.js';
import type { Sender, WireEvent } from '../../src/protocol/wire-events.js';
import { DEFLATE_TAKEOVER, hex, prng, showBytes, summarize } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function withTimeout<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

/** Split "head\r\n\r\nrest" into status line, raw headers and the bytes after the upgrade. */
function splitHead(stream: Buffer): { startLine: string; headers: RawHeaders; rest: Buffer } {
  const end = stream.indexOf('\r\n\r\n');
  const lines = stream.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.slice(1).map((l): readonly [string, string] => {
    const colon = l.indexOf(':');
    return [l.slice(0, colon), l.slice(colon + 1).trim()];
  });
  return { startLine: lines[0]!, headers, rest: stream.subarray(end + 4) };
}

type Outgoing = { readonly data: string | Buffer; readonly fin?: boolean } | { readonly ping: string };

interface Exchange {
  readonly c2s: Buffer;
  readonly s2c: Buffer;
  readonly serverGot: Array<{ data: Buffer; binary: boolean }>;
  readonly clientGot: Array<{ data: Buffer; binary: boolean }>;
}

/** Real ws client → raw TCP tap → real ws server on 127.0.0.1:0; returns the bytes of each direction. */
async function exchange(
  clientDeflate: PerMessageDeflateOptions | false,
  serverDeflate: PerMessageDeflateOptions | false,
  fromClient: readonly Outgoing[],
  fromServer: readonly Outgoing[],
): Promise<Exchange> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: serverDeflate });
  cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
  await once(wss, 'listening');
  const serverPort = (wss.address() as net.AddressInfo).port;
  const c2s: Buffer[] = [];
  const s2c: Buffer[] = [];
  const tapClosed = deferred<void>();
  const tap = net.createServer((down) => {
    const up = net.connect(serverPort, '127.0.0.1');
    let open = 2;
    const closed = (): void => {
      if (--open === 0) tapClosed.resolve();
    };
    down.on('data', (d: Buffer) => {
      up.write(d);
      c2s.push(Buffer.from(d));
    });
    up.on('data', (d: Buffer) => {
      down.write(d);
      s2c.push(Buffer.from(d));
    });
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.on('close', closed);
    up.on('close', closed);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    cleanups.push(() => {
      down.destroy();
      up.destroy();
    });
  });
  tap.listen(0, '127.0.0.1');
  await once(tap, 'listening');
  cleanups.push(() => new Promise<void>((r) => tap.close(() => r())));

  const serverGot: Exchange['serverGot'] = [];
  const clientGot: Exchange['clientGot'] = [];
  const countMessages = (list: readonly Outgoing[]): number => list.filter((o) => 'data' in o && o.fin !== false).length;
  const serverDone = deferred<void>();
  const clientDone = deferred<void>();
  const serverSide = deferred<WebSocket>();
  wss.on('connection', (ws) => {
    serverSide.resolve(ws);
    ws.on('message', (data: Buffer, binary: boolean) => {
      serverGot.push({ data, binary });
      if (serverGot.length === countMessages(fromClient)) serverDone.resolve();
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(tap.address() as net.AddressInfo).port}/`, { perMessageDeflate: clientDeflate });
  cleanups.push(() => client.terminate());
  client.on('message', (data: Buffer, binary: boolean) => {
    clientGot.push({ data, binary });
    if (clientGot.length === countMessages(fromServer)) clientDone.resolve();
  });
  await withTimeout(once(client, 'open'), 'client open');
  const server = await withTimeout(serverSide.promise, 'server connection');
  const send = (ws: WebSocket, list: readonly Outgoing[]): void => {
    for (const o of list) {
      if ('ping' in o) ws.ping(o.ping);
      else ws.send(o.data, { fin: o.fin ?? true, binary: Buffer.isBuffer(o.data) });
    }
  };
  send(client, fromClient);
  send(server, fromServer);
  await withTimeout(Promise.all([serverDone.promise, clientDone.promise]), 'all messages');
  client.close(1000, 'bye');
  await withTimeout(once(client, 'close'), 'client close');
  await withTimeout(tapClosed.promise, 'tap close');
  return { c2s: Buffer.concat(c2s), s2c: Buffer.concat(s2c), serverGot, clientGot };
}

/** Inspect one direction's post-upgrade bytes, pushed in irregular chunks. */
async function inspectDirection(bytes: Buffer, from: Sender, deflate: Parameters<typeof analyzeHandshake>[1] extends never ? never : ReturnType<typeof analyzeHandshake>['deflate'], seed: number): Promise<WireEvent[]> {
  const events: WireEvent[] = [];
  const inspector = new DirectionInspector({ from, maxPayload: 1024 * 1024, deflate: deflate ? deflate[from] : null, onEvent: (e) => events.push(e) });
  const rand = prng(seed);
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const step = 1 + Math.floor(rand() * 3000);
    inspector.push(bytes.subarray(at, at + step), i);
    at += step;
  }
  await inspector.end(-1);
  inspector.dispose();
  return events;
}

/** Compared as short strings: deep-equal on big Buffers is slow in vitest. */
function describeMessage(m: { data: Buffer; binary: boolean }): string {
  return `${m.binary ? 'binary' : 'text'} ${showBytes(m.data)}`;
}

function messagesOf(events: readonly WireEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'message' ? [describeMessage({ data: e.data, binary: e.opcode === 2 })] : []));
}

const rand = prng(2024);
const randomBytes = Buffer.from(Array.from({ length: 5000 }, () => Math.floor(rand() * 256)));
const FROM_CLIENT: Outgoing[] = [
  { data: 'hello' },
  { data: 'é€𝄞'.repeat(300) },
  { ping: 'are you there' },
  { data: randomBytes },
  { data: 'abc'.repeat(20_000) },
  { data: 'first part, '.repeat(40), fin: false },
  { data: 'second part' },
  { data: Buffer.alloc(0) },
  { data: 'hello' },
];
const FROM_SERVER: Outgoing[] = [
  { data: 'welcome' },
  { data: Buffer.alloc(70_000, 0x42) },
  { data: 'line\n'.repeat(3000), fin: false },
  { ping: 'tick' },
  { data: 'end of lines' },
  { data: '' },
  { data: 'welcome' },
];

const CONFIGS: Array<{ name: string; client: PerMessageDeflateOptions | false; server: PerMessageDeflateOptions | false }> = [
  { name: 'no permessage-deflate', client: false, server: false },
  { name: 'permessage-deflate with context takeover', client: { threshold: 64 }, server: { threshold: 64 } },
  {
    name: 'permessage-deflate without context takeover',
    client: { threshold: 64, clientNoContextTakeover: true, serverNoContextTakeover: true },
    server: { threshold: 64, clientNoContextTakeover: true, serverNoContextTakeover: true },
  },
  ...[9, 10, 11, 12, 13, 14, 15].map((bits) => ({
    name: `permessage-deflate with client_max_window_bits=${bits}`,
    client: { threshold: 0, clientMaxWindowBits: bits, serverMaxWindowBits: bits } as PerMessageDeflateOptions,
    server: { threshold: 0 } as PerMessageDeflateOptions,
  })),
];

describe('frames produced by a real ws peer decode to exactly what ws sent', () => {
  CONFIGS.forEach((config, index) => {
    it(config.name, async () => {
      const ex = await exchange(config.client, config.server, FROM_CLIENT, FROM_SERVER);
      const request = splitHead(ex.c2s);
      const response = splitHead(ex.s2c);
      expect(response.startLine).toMatch(/^HTTP\/1\.1 101 /);
      const analysis = analyzeHandshake(request.headers, { status: 101, headers: response.headers });
      expect(analysis.accept).toBe('ok');
      expect(analysis.violations).toEqual([]);
      expect(analysis.deflate !== null).toBe(config.client !== false);
      if (config.client && config.client.clientMaxWindowBits) {
        expect(analysis.deflate?.client.maxWindowBits).toBe(config.client.clientMaxWindowBits);
      }
      if (config.client && config.client.clientNoContextTakeover) expect(analysis.deflate?.client.noContextTakeover).toBe(true);

      const clientEvents = await inspectDirection(request.rest, 'client', analysis.deflate, index);
      const serverEvents = await inspectDirection(response.rest, 'server', analysis.deflate, index + 100);
      expect(clientEvents.filter((e) => e.kind === 'violation')).toEqual([]);
      expect(serverEvents.filter((e) => e.kind === 'violation')).toEqual([]);
      // Exactly the messages the other ws peer received, bytes and type.
      expect(messagesOf(clientEvents)).toEqual(ex.serverGot.map(describeMessage));
      expect(messagesOf(serverEvents)).toEqual(ex.clientGot.map(describeMessage));
      expect(ex.serverGot.length).toBe(7);
      expect(clientEvents.filter((e) => e.kind === 'frame' && e.header.opcode === 9).map((e) => e.kind === 'frame' && e.payload.toString())).toEqual(['are you there']);
      expect(clientEvents.filter((e) => e.kind === 'close').map(summarize)).toEqual(['close code=1000 reason="bye"']);
      expect(serverEvents.filter((e) => e.kind === 'close').map(summarize)).toEqual(['close code=1000 reason="bye"']);
      const compressedMessages = clientEvents.filter((e) => e.kind === 'message' && e.compressed).length;
      if (config.client === false) expect(compressedMessages).toBe(0);
      else expect(compressedMessages).toBeGreaterThan(3);
      // Frame offsets tile the stream exactly.
      const frames = clientEvents.filter((e) => e.kind === 'frame');
      expect(frames[0]?.kind === 'frame' && frames[0].header.offset).toBe(0);
      expect(frames.every((f) => f.kind === 'frame' && f.header.masked)).toBe(true);
    });
  });
});

describe('DirectionInspector', () => {
  it('delivers uncompressed events synchronously within push', () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 100, deflate: null, onEvent: (e) => events.push(e) });
    inspector.push(hex('81 02 68 69'), 5);
    expect(events.map((e) => [e.kind, e.t])).toEqual([
      ['frame', 5],
      ['message', 5],
    ]);
  });

  it('end() resolves only after a pending inflate has delivered its message', async () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 100, deflate: DEFLATE_TAKEOVER, onEvent: (e) => events.push(e) });
    inspector.push(hex('c1 07 f2 48 cd c9 c9 07 00 81 01 21'), 1);
    expect(events.map((e) => e.kind)).toEqual(['frame']);
    // The next frame's header, payload and end wait behind the inflate.
    expect(inspector.pending).toBe(3);
    await inspector.end(2);
    expect(inspector.pending).toBe(0);
    expect(events.map(summarize)).toEqual([
      'frame@0 F1-- op=1 unmasked len=7 payload=f248cdc9c90700',
      'message op=1 compressed frames=1 len=5 text="Hello"',
      'frame@9 F--- op=1 unmasked len=1 payload=21',
      'message op=1 frames=1 len=1 text="!"',
    ]);
  });

  it('checks no content rule on a compressed message whose frame broke a framing rule', async () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 100, deflate: DEFLATE_TAKEOVER, onEvent: (e) => events.push(e) });
    // RSV1+RSV2 text frame whose payload is not deflate data: rsv2-rsv3-set only, no inflate-failed.
    inspector.push(hex('e1 03 ff ff ff'), 1);
    // A fresh context still inflates the next message.
    inspector.push(hex('c1 07 f2 48 cd c9 c9 07 00'), 2);
    await inspector.end(3);
    const rules = events.flatMap((e) => (e.kind === 'violation' ? [e.rule] : []));
    expect(rules).toEqual(['rsv2-rsv3-set']);
    expect(events.filter((e) => e.kind === 'message').map(summarize).at(-1)).toBe('message op=1 compressed frames=1 len=5 text="Hello"');
  });

  it('stops inspecting, never throwing, when input waiting for inflate passes its limit', async () => {
    // Messages that each inflate to 8 MiB from ~8 KiB: pushed faster than zlib can inflate them.
    const compressed = zlib.deflateRawSync(Buffer.alloc(8 * 1024 * 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const bomb = encodeFrame({ opcode: 2, rsv1: true, payload: compressed.subarray(0, compressed.length - 4) });
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: DEFLATE_TAKEOVER, maxInflateLag: 64 * 1024, onEvent: (e) => events.push(e) });
    let pushed = 0;
    while (!inspector.stopped && pushed < 1000) {
      expect(() => inspector.push(bomb, pushed)).not.toThrow();
      pushed++;
    }
    expect(inspector.stopped).toBe(true);
    expect(String(inspector.failure)).toMatch(/behind inflating .*relaying goes on/);
    // Stopped soon after the limit: what waited never exceeded it by more than one push.
    expect(pushed * bomb.length).toBeLessThan(64 * 1024 + 2 * bomb.length + 16 * 1024);
    await inspector.end(pushed);
    inspector.push(bomb, pushed + 1);
    expect(inspector.pending).toBe(0);
  });

  it('counts as waiting only what came since inflate last caught up: a compressed message per chunk, each inflated before the next, never stops it', async () => {
    // Incompressible: each message's compressed bytes are about its size, so 200 of them total
    // ~200 KiB, well past a 64 KiB limit if bytes from before an idle spell were still counted.
    const random = prng(7);
    const frames = Array.from({ length: 200 }, () => {
      const payload = Buffer.from(Array.from({ length: 1024 }, () => Math.floor(random() * 256)));
      const compressed = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return encodeFrame({ opcode: 2, rsv1: true, payload: compressed.subarray(0, compressed.length - 4) });
    });
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: { noContextTakeover: true, maxWindowBits: 15 }, maxInflateLag: 64 * 1024, onEvent: (e) => events.push(e) });
    for (let i = 0; i < frames.length; i++) {
      inspector.push(frames[i]!, i);
      await inspector.whenIdle();
    }
    await inspector.end(frames.length);
    expect(inspector.failure).toBeNull();
    expect(inspector.stopped).toBe(false);
    expect(events.filter((e) => e.kind === 'message').length).toBe(200);
  });

  it('keeps inspecting a compressed flood within the limit', async () => {
    const compressed = zlib.deflateRawSync(Buffer.from('hello'), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const small = encodeFrame({ opcode: 1, rsv1: true, payload: compressed.subarray(0, compressed.length - 4) });
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: { noContextTakeover: true, maxWindowBits: 15 }, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 2000; i++) inspector.push(small, i);
    await inspector.end(2000);
    expect(inspector.stopped).toBe(false);
    expect(events.filter((e) => e.kind === 'message').length).toBe(2000);
  });

  it('stops after a lost frame boundary and ignores later bytes', async () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 100, deflate: null, onEvent: (e) => events.push(e) });
    inspector.push(encodeFrame({ opcode: 2, declaredLength: 2n ** 60n }), 0);
    expect(inspector.stopped).toBe(true);
    inspector.push(hex('81 02 68 69'), 1);
    await inspector.end(2);
    expect(events.map(summarize)).toEqual(['violation length-too-large 1009 @0']);
  });

  it('never throws, even when onEvent does, and reports the failure', () => {
    const inspector = new DirectionInspector({
      from: 'server',
      maxPayload: 100,
      deflate: null,
      onEvent: () => {
        throw new Error('sink bug');
      },
    });
    expect(() => inspector.push(hex('81 02 68 69'), 0)).not.toThrow();
    expect(inspector.stopped).toBe(true);
    expect((inspector.failure as Error).message).toBe('sink bug');
  });

  it('emits nothing after dispose, even for an inflate in flight', async () => {
    const events: WireEvent[] = [];
    const inspector = new DirectionInspector({ from: 'server', maxPayload: 100, deflate: DEFLATE_TAKEOVER, onEvent: (e) => events.push(e) });
    inspector.push(hex('c1 07 f2 48 cd c9 c9 07 00'), 1);
    inspector.dispose();
    await inspector.end(2);
    await new Promise((r) => setImmediate(r));
    expect(events.map((e) => e.kind)).toEqual(['frame']);
  });
});

describe('lazy allocation', () => {
  it('creates no inflater until a compressed message arrives, then one per direction', async () => {
    const zlib = (await import('node:zlib')).default;
    const spy = vi.spyOn(zlib, 'createInflateRaw');
    try {
      const inspectors = Array.from({ length: 200 }, () => new DirectionInspector({ from: 'server', maxPayload: 1024, deflate: DEFLATE_TAKEOVER, onEvent: () => {} }));
      for (const i of inspectors) i.push(hex('81 02 68 69 82 00 89 00'), 0);
      expect(spy).not.toHaveBeenCalled();
      inspectors[0]!.push(hex('c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00'), 1);
      await inspectors[0]!.end(2);
      expect(spy).toHaveBeenCalledTimes(1);
      for (const i of inspectors) i.dispose();
    } finally {
      spy.mockRestore();
    }
  });
});
