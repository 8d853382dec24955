/**
 * Issue 11, "the relay promise includes the handshake": raw TCP peers on both sides, and the bytes
 * each one sent compared with what the other received. The request goes upstream in the client's
 * order, case and duplicates (only Host and -H changed); the upstream's 101 or refusal reaches the
 * client exactly as written (odd case, extra spaces, duplicates, interim 1xx heads); and the
 * onHandshakeBytes hook (published as `chunk` events) carries exactly those bytes for each leg.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChunkEvent, HandshakeEvent, Leg, Side } from '../../src/session/events.js';
import { encodeEventLine } from '../../src/capture/line-encoder.js';
import { parseCaptureLine } from '../../src/capture/jsonl-reader.js';
import type { CapturedHandshake } from '../../src/capture/capture-object.js';
import { ev } from '../helpers/captured.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { ByteSink } from '../helpers/raw-peers.js';
import { startHarness, type Harness } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** RFC 6455 §1.3's example answer to KEY. */
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

interface CraftedServer {
  readonly port: number;
  /** Everything the upstream received on its first connection. */
  readonly received: ByteSink;
  readonly connections: () => number;
  /** The first connection's socket. */
  socket(): Promise<net.Socket>;
}

/** A TCP "upstream" that answers the first request head with `answer`, written in the given pieces. */
async function craftedServer(answer: readonly Buffer[], then: 'keep' | 'end' = 'keep'): Promise<CraftedServer> {
  const received = new ByteSink();
  let connections = 0;
  const first = deferred<net.Socket>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections++;
    first.resolve(socket);
    sockets.add(socket);
    socket.on('error', () => {});
    socket.setNoDelay(true);
    let answered = false;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (answered || received.bytes.indexOf('\r\n\r\n') < 0) return;
      answered = true;
      void (async () => {
        for (const piece of answer) {
          socket.write(piece);
          // Separate reads where the kernel allows: the relay must not depend on how bytes arrive.
          await new Promise((r) => setImmediate(r));
        }
        if (then === 'end') socket.end();
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, received, connections: () => connections, socket: () => withTimeout(first.promise, 'the upstream connection') };
}

interface RawPeer {
  readonly socket: net.Socket;
  readonly received: ByteSink;
}

async function rawClient(port: number, bytes: Buffer): Promise<RawPeer> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  const received = new ByteSink();
  socket.on('data', (c: Buffer) => received.push(c));
  socket.on('end', () => received.ended.resolve());
  socket.on('close', () => received.ended.resolve());
  await withTimeout(new Promise((r) => socket.once('connect', r)), 'connect');
  socket.write(bytes);
  return { socket, received };
}

/** The proxy in front of `port`, with a `chunk` subscriber (subscribed before any connection). */
async function proxyTo(port: number, options: Parameters<typeof startHarness>[1] = {}): Promise<{ h: Harness; chunks: ChunkEvent[] }> {
  const h = await startHarness(`ws://127.0.0.1:${port}`, options);
  cleanups.push(() => h.proxy.stop());
  const chunks: ChunkEvent[] = [];
  h.bus.subscribe('chunks', (e) => chunks.push({ ...(e as ChunkEvent), bytes: Buffer.from((e as ChunkEvent).bytes) }), ['chunk']);
  return { h, chunks };
}

function leg(chunks: readonly ChunkEvent[], which: Leg, from: Side): Buffer {
  return Buffer.concat(chunks.filter((c) => c.leg === which && c.from === from).map((c) => c.bytes));
}

function upgradeRequest(proxyPort: number): string {
  return [
    'GET /chat?room=1&&x=%zz HTTP/1.1',
    'X-Dup: 1',
    'user-agent: raw/1.0',
    `HOST: 127.0.0.1:${proxyPort}`,
    'X-Other: o',
    'x-dup: 2',
    'upgrade: websocket',
    'CONNECTION: keep-alive, Upgrade',
    `sec-websocket-key: ${KEY}`,
    'Sec-WebSocket-Version: 13',
    'X-Dup: 3',
    '',
    '',
  ].join('\r\n');
}

describe('the handshake on the wire', () => {
  it('101: the request keeps its line, order, case and duplicates (Host rewritten in place); the 101 reaches the client as written', async () => {
    const head101 =
      'HTTP/1.1 101 switching   protocols  \r\n' +
      'upgrade:    WebSocket   \r\n' +
      'CONNECTION: Upgrade\r\n' +
      `sec-websocket-ACCEPT:${ACCEPT}\r\n` +
      'X-Dup: 1\r\n' +
      'Server: crafted\r\n' +
      'x-dup:  2 \r\n' +
      '\r\n';
    const frame = Buffer.from([0x81, 0x02, 0x68, 0x69]); // "hi" from the server, in the 101's last write
    const up = await craftedServer([Buffer.from(head101.slice(0, 7), 'latin1'), Buffer.from(head101.slice(7, 60), 'latin1'), Buffer.concat([Buffer.from(head101.slice(60), 'latin1'), frame])]);
    const { h, chunks } = await proxyTo(up.port);
    const request = upgradeRequest(h.proxy.port);
    const client = await rawClient(h.proxy.port, Buffer.from(request, 'latin1'));

    const got = await client.received.atLeast(head101.length + frame.length);
    expect(got.toString('latin1')).toBe(head101 + frame.toString('latin1'));
    const forwarded = request.replace(`HOST: 127.0.0.1:${h.proxy.port}`, `HOST: 127.0.0.1:${up.port}`);
    expect((await up.received.atLeast(forwarded.length)).toString('latin1')).toBe(forwarded);

    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs).toMatchObject({ upgraded: true, accept: 'ok', response: { status: 101, reason: 'switching   protocols  ', httpVersion: '1.1' } });
    expect(hs.request.headers.slice(0, 3)).toEqual([['X-Dup', '1'], ['user-agent', 'raw/1.0'], ['HOST', `127.0.0.1:${h.proxy.port}`]]);
    expect(hs.forwarded!.headers[2]).toEqual(['HOST', `127.0.0.1:${up.port}`]);
    expect(hs.response!.headers).toContainEqual(['x-dup', '2']);
    expect(await h.event('message')).toMatchObject({ from: 'server', text: 'hi' });

    // `chunk` events (the hook for the heads, the tee after them): each leg's whole byte stream,
    // exactly as the raw peers sent and received it.
    expect(leg(chunks, 'client', 'client').toString('latin1')).toBe(request);
    expect(leg(chunks, 'upstream', 'client').toString('latin1')).toBe(forwarded);
    expect(leg(chunks, 'upstream', 'server').toString('latin1')).toBe(head101 + frame.toString('latin1'));
    expect(leg(chunks, 'client', 'server').equals(client.received.bytes)).toBe(true);
    // Client frames after the 101: the tee's, on both legs, once each.
    const masked = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x6f ^ 2]);
    client.socket.write(masked);
    await up.received.atLeast(forwarded.length + masked.length);
    expect(leg(chunks, 'client', 'client').equals(Buffer.concat([Buffer.from(request, 'latin1'), masked]))).toBe(true);
    expect(leg(chunks, 'upstream', 'client').equals(up.received.bytes)).toBe(true);
    expect(chunks.every((c) => c.conn === 1)).toBe(true);
    // A connection's times never go back: no chunk before its `open`, each one at or after the last.
    const opened = (await h.event('open')).t;
    expect(chunks.every((c, i) => c.t >= opened && (i === 0 || c.t >= chunks[i - 1]!.t))).toBe(true);
  });

  it('heads written one byte at a time on both sides arrive whole and exact (101 and a refusal)', async () => {
    const bytewise = (text: string): Buffer[] => [...Buffer.from(text, 'latin1')].map((byte) => Buffer.from([byte]));
    const head101 = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n`;
    const refusal = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope';
    for (const [answer, status] of [[head101, 101], [refusal, 403]] as const) {
      const up = await craftedServer(bytewise(answer));
      const { h, chunks } = await proxyTo(up.port);
      const request = upgradeRequest(h.proxy.port);
      const socket = net.connect({ port: h.proxy.port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      socket.on('error', () => {});
      cleanups.push(() => void socket.destroy());
      const client: RawPeer = { socket, received: new ByteSink() };
      socket.on('data', (c: Buffer) => client.received.push(c));
      await withTimeout(new Promise((r) => socket.once('connect', r)), 'connect');
      for (const piece of bytewise(request)) {
        socket.write(piece);
        await new Promise((r) => setImmediate(r));
      }
      expect((await client.received.atLeast(answer.length)).toString('latin1')).toBe(answer);
      expect(((await h.event('handshake')) as HandshakeEvent).response).toMatchObject({ status });
      expect(leg(chunks, 'client', 'client').toString('latin1')).toBe(request);
      expect(leg(chunks, 'upstream', 'server').toString('latin1')).toBe(answer);
      expect(leg(chunks, 'client', 'server').toString('latin1')).toBe(answer);
      await h.proxy.stop();
    }
  });

  it('interim 1xx heads before the 101 are relayed too, and -H replaces a header in its place', async () => {
    const heads = `HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`;
    const up = await craftedServer([Buffer.from(heads, 'latin1')]);
    const { h, chunks } = await proxyTo(up.port, { headers: [['x-other', 'forced']] });
    const request = upgradeRequest(h.proxy.port);
    const client = await rawClient(h.proxy.port, Buffer.from(request, 'latin1'));
    expect((await client.received.atLeast(heads.length)).toString('latin1')).toBe(heads);
    const forwarded = request.replace(`HOST: 127.0.0.1:${h.proxy.port}`, `HOST: 127.0.0.1:${up.port}`).replace('X-Other: o', 'x-other: forced');
    expect((await up.received.atLeast(forwarded.length)).toString('latin1')).toBe(forwarded);
    expect(((await h.event('handshake')) as HandshakeEvent).response).toMatchObject({ status: 101 });
    expect(leg(chunks, 'upstream', 'server').toString('latin1')).toBe(heads);
    expect(leg(chunks, 'client', 'server').toString('latin1')).toBe(heads);
  });

  it('client frames sent with the request head go upstream after it, and each leg carries them once', async () => {
    const head101 = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`;
    const up = await craftedServer([Buffer.from(head101, 'latin1')]);
    const { h, chunks } = await proxyTo(up.port);
    const request = upgradeRequest(h.proxy.port);
    const early = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
    const client = await rawClient(h.proxy.port, Buffer.concat([Buffer.from(request, 'latin1'), early]));
    const forwarded = request.replace(`HOST: 127.0.0.1:${h.proxy.port}`, `HOST: 127.0.0.1:${up.port}`);
    expect((await up.received.atLeast(forwarded.length + early.length)).equals(Buffer.concat([Buffer.from(forwarded, 'latin1'), early]))).toBe(true);
    expect(await h.event('message')).toMatchObject({ from: 'client', text: 'hi' });
    expect((await client.received.atLeast(head101.length)).toString('latin1')).toBe(head101);
    expect(leg(chunks, 'client', 'client').equals(Buffer.concat([Buffer.from(request, 'latin1'), early]))).toBe(true);
    expect(leg(chunks, 'upstream', 'client').equals(up.received.bytes)).toBe(true);
    expect(leg(chunks, 'client', 'server').toString('latin1')).toBe(head101);
  });

  it('an upgrade after a plain request on the same connection: the hook has only the upgrade head', async () => {
    const head101 = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`;
    // The upstream answers the plain request first (web() keeps its own connection), then the upgrade.
    const page = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    const sockets = new Set<net.Socket>();
    const upgradeReceived = new ByteSink();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      let buf = '';
      s.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        if (/^POST \/page /.test(buf)) s.write(page);
        else {
          upgradeReceived.push(Buffer.from(buf, 'latin1'));
          s.write(head101);
        }
        buf = '';
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const { h, chunks } = await proxyTo((server.address() as AddressInfo).port);
    const client = await rawClient(h.proxy.port, Buffer.from('POST /page HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc', 'latin1'));
    await receivedUntil(client, (text) => text.endsWith('ok'), 'the page');
    const request = upgradeRequest(h.proxy.port);
    // RFC 9112 §2.2: a server ignores an empty line before a request line; it is not part of the head.
    client.socket.write(`\r\n${request}`, 'latin1');
    await receivedUntil(client, (text) => text.endsWith(head101), 'the 101');
    expect(leg(chunks, 'client', 'client').toString('latin1')).toBe(request);
    expect(leg(chunks, 'client', 'server').toString('latin1')).toBe(head101);
    expect(upgradeReceived.bytes.toString('latin1')).toBe(leg(chunks, 'upstream', 'client').toString('latin1'));
  });
});

describe('after the 101', () => {
  it("a peer's reset is end.tcp (reset, the other side cut and reset too), never an error event", async () => {
    const head101 = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`;
    const up = await craftedServer([Buffer.from(head101, 'latin1')]);
    const upstreamReset = deferred<string | undefined>();
    const { h } = await proxyTo(up.port);
    const client = await rawClient(h.proxy.port, Buffer.from(upgradeRequest(h.proxy.port), 'latin1'));
    await client.received.atLeast(head101.length);
    const upstream = await up.socket();
    upstream.once('error', (e: Error & { code?: string }) => upstreamReset.resolve(e.code));
    client.socket.resetAndDestroy();
    expect(await withTimeout(upstreamReset.promise, 'the reset passed on')).toBe('ECONNRESET');
    expect(await h.event('end')).toMatchObject({ code: 1006, tcp: { client: 'reset', server: 'cut' } });
    expect(h.events.some((e) => e.type === 'error')).toBe(false);
  });
});

describe('a refused upgrade on the wire', () => {
  it('403 with a body: head and body relayed byte for byte, the body kept as response.body, the connection ended', async () => {
    const body = Buffer.concat([Buffer.from('denied: '), Buffer.from([0x00, 0xff, 0xfe, 0x80]), Buffer.from(' \u00e9')]);
    const head = `HTTP/1.1 403  Forbidden \r\nx-why:   origin  \r\nX-Why: second\r\nContent-Length: ${body.length}\r\nconnection: close\r\n\r\n`;
    const up = await craftedServer([Buffer.from(head.slice(0, 20), 'latin1'), Buffer.concat([Buffer.from(head.slice(20), 'latin1'), body.subarray(0, 5)]), body.subarray(5)], 'keep');
    const { h, chunks } = await proxyTo(up.port);
    const request = upgradeRequest(h.proxy.port);
    const client = await rawClient(h.proxy.port, Buffer.from(request, 'latin1'));
    await withTimeout(client.received.ended.promise, 'the end of the refusal');
    expect(client.received.bytes.equals(Buffer.concat([Buffer.from(head, 'latin1'), body]))).toBe(true);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs).toMatchObject({ upgraded: false, response: { status: 403, reason: ' Forbidden ', headers: [['x-why', 'origin'], ['X-Why', 'second'], ['Content-Length', String(body.length)], ['connection', 'close']] } });
    const captured = hs as unknown as CapturedHandshake;
    expect(captured.response!.body).toBe(body.toString('base64'));
    expect(hs.response!.bodyTruncated).toBeUndefined();
    // The capture line holds it as base64 (capture-format `response.body`), and reads back as bytes.
    const inMemory = ev(hs) as HandshakeEvent;
    expect(inMemory.response!.body!.equals(body)).toBe(true);
    const line = encodeEventLine(inMemory)!.toString('utf8');
    expect(JSON.parse(line).response.body).toBe(body.toString('base64'));
    expect((parseCaptureLine(line.trimEnd()) as HandshakeEvent).response!.body!.equals(body)).toBe(true);
    await h.event('end');
    expect(h.events.map((e) => e.type)).toEqual(['open', 'handshake', 'end']);

    expect(leg(chunks, 'client', 'client').toString('latin1')).toBe(request);
    expect(leg(chunks, 'upstream', 'client').equals(up.received.bytes)).toBe(true);
    expect(leg(chunks, 'upstream', 'server').equals(client.received.bytes)).toBe(true);
    expect(leg(chunks, 'client', 'server').equals(client.received.bytes)).toBe(true);
  });

  it('a body past --max-payload is relayed whole and kept cut, with bodyTruncated; a chunked one as it came', async () => {
    const chunked = `HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n`;
    const up = await craftedServer([Buffer.from(chunked, 'latin1')]);
    const { h } = await proxyTo(up.port, { maxPayload: 7 });
    const client = await rawClient(h.proxy.port, Buffer.from(upgradeRequest(h.proxy.port), 'latin1'));
    await withTimeout(client.received.ended.promise, 'the end of the refusal');
    expect(client.received.bytes.toString('latin1')).toBe(chunked);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.response).toMatchObject({ status: 503, bodyTruncated: true });
    expect((hs as unknown as CapturedHandshake).response!.body).toBe(Buffer.from('3\r\nabc\r').toString('base64'));
  });

  it('a body that never completes is cut at the upstream timeout: what came is kept, an error says why', async () => {
    const head = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\npartial';
    const up = await craftedServer([Buffer.from(head, 'latin1')]);
    const { h } = await proxyTo(up.port, { upstreamTimeoutMs: 300 });
    const client = await rawClient(h.proxy.port, Buffer.from(upgradeRequest(h.proxy.port), 'latin1'));
    await withTimeout(client.received.ended.promise, 'the cut');
    expect(client.received.bytes.toString('latin1')).toBe(head);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect((hs as unknown as CapturedHandshake).response!.body).toBe(Buffer.from('partial').toString('base64'));
    expect(await h.event('error')).toMatchObject({ stage: 'handshake', code: 'ETIMEDOUT' });
    await h.event('end');
  });
});

describe('answers that cannot be relayed as an upgrade', () => {
  it('a 101 without Upgrade / Connection: upgrade headers: 502 and an error event', async () => {
    const up = await craftedServer([Buffer.from('HTTP/1.1 101 Switching Protocols\r\nX-Only: this\r\n\r\n\x81\x02hi', 'latin1')]);
    const { h } = await proxyTo(up.port);
    const client = await rawClient(h.proxy.port, Buffer.from(upgradeRequest(h.proxy.port), 'latin1'));
    await withTimeout(client.received.ended.promise, 'the 502');
    expect(client.received.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(await h.event('error')).toMatchObject({ stage: 'handshake', code: 'EPROTO' });
    expect(await h.event('end')).toMatchObject({ code: 1006 });
  });

  it('interim 1xx heads without end: 502 once 64 KiB came without a final head', async () => {
    const interim = Buffer.from(`HTTP/1.1 103 Early Hints\r\nLink: <${'a'.repeat(200)}>\r\n\r\n`, 'latin1');
    const up = await craftedServer(Array.from({ length: 400 }, () => interim));
    const { h } = await proxyTo(up.port);
    const client = await rawClient(h.proxy.port, Buffer.from(upgradeRequest(h.proxy.port), 'latin1'));
    await withTimeout(client.received.ended.promise, 'the 502');
    expect(client.received.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(await h.event('error')).toMatchObject({ stage: 'handshake', code: 'HPE_HEADER_OVERFLOW' });
    expect(h.events.filter((e) => e.type === 'handshake')).toHaveLength(1);
    await h.event('end');
  });
});

/** Resolves once what `peer` received satisfies `predicate` (checked on each chunk). */
function receivedUntil(peer: RawPeer, predicate: (text: string) => boolean, what: string): Promise<void> {
  const done = deferred();
  const check = (): void => {
    if (!predicate(peer.received.bytes.toString('latin1'))) return;
    peer.socket.off('data', check);
    done.resolve();
  };
  peer.socket.on('data', check);
  check();
  return withTimeout(done.promise, what);
}
