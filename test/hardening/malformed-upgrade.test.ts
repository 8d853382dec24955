/**
 * Issue 7, "Hostile peers and bad input": malformed upgrade requests get a clear HTTP error, nothing
 * is forwarded where it should not be, and the proxy stays up. And the ordering cases: client
 * frames sent before the 101 arrives, and server frames in the same TCP segment as the 101, are
 * relayed and decoded in order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Cleanup,
  collectUntilClose,
  connectRaw,
  deferred,
  frameFrom,
  malformedUpgrade,
  ofType,
  rawUpgrade,
  readResponse,
  startProxyUnderTest,
  startRawUpstream,
  waitFor,
  withTimeout,
  type ProxyUnderTest,
  type RawResponse,
} from '../helpers/hostile.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A real `ws` upstream, counting the TCP connections and requests that reach it. */
async function wsUpstream(): Promise<{ url: string; connections: () => number; paths: string[] }> {
  const paths: string[] = [];
  let connections = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const server = (wss as unknown as { _server: net.Server })._server;
  server.on('connection', () => connections++);
  server.on('request', (req: { url?: string }) => paths.push(req.url ?? ''));
  wss.on('headers', (_headers, req) => paths.push(req.url ?? ''));
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  cleanup.add(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, connections: () => connections, paths };
}

async function send(port: number, raw: string): Promise<RawResponse> {
  const socket = await connectRaw(port);
  cleanup.socket(socket);
  socket.on('error', () => undefined);
  socket.write(raw);
  return readResponse(socket, 5000);
}

/** The proxy still relays a normal WebSocket after the abuse. */
async function stillServes(pt: ProxyUnderTest): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${pt.proxy.port}/after`);
  cleanup.add(() => ws.terminate());
  const echoed = deferred<string>();
  ws.on('open', () => ws.send('still here'));
  ws.on('message', (data) => echoed.resolve(String(data)));
  ws.on('error', (error) => echoed.reject(error));
  expect(await withTimeout(echoed.promise, 5000, 'an echo after the abuse')).toBe('still here');
}

describe('malformed upgrade requests', () => {
  it('missing Sec-WebSocket-Key: a 400, no upgrade, the proxy up', async () => {
    const up = await wsUpstream();
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.missingKey('127.0.0.1'));
    expect(answer.status).toBe(400);
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    expect(ofType(pt.events, 'handshake')[0]).toMatchObject({ upgraded: false });
    await stillServes(pt);
  });

  it('a version other than 13: refused (RFC 6455 §4.4), the proxy up', async () => {
    const up = await wsUpstream();
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.wrongVersion('127.0.0.1'));
    expect([400, 426]).toContain(answer.status);
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    await stillServes(pt);
  });

  it('headers beyond Node\'s limit: 431 or 400 from the proxy, nothing reaches the upstream', async () => {
    const up = await wsUpstream();
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.hugeHeaders('127.0.0.1'));
    expect([400, 431]).toContain(answer.status);
    expect(up.connections()).toBe(0);
    expect(pt.events).toEqual([]);
    await stillServes(pt);
  });

  it('duplicate Content-Length on the upgrade: 400, the smuggled request never reaches the upstream', async () => {
    const up = await wsUpstream();
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.duplicateContentLength('127.0.0.1', 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(up.connections()).toBe(0);
    await stillServes(pt);
    expect(up.paths.some((p) => p.includes('smuggled'))).toBe(false);
  });

  it('Content-Length with Transfer-Encoding: chunked on the upgrade: 400, nothing smuggled', async () => {
    const up = await wsUpstream();
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.contentLengthAndChunked('127.0.0.1', 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(up.connections()).toBe(0);
    await stillServes(pt);
    expect(up.paths.some((p) => p.includes('smuggled'))).toBe(false);
  });

  it('an absolute-URI target naming another host: 400, neither that host nor the upstream is contacted', async () => {
    const up = await wsUpstream();
    const other = await startRawUpstream();
    cleanup.add(() => other.close());
    const pt = await startProxyUnderTest(up.url);
    cleanup.add(() => pt.stop());
    const answer = await send(pt.proxy.port, malformedUpgrade.absoluteTargetOtherHost('127.0.0.1', `127.0.0.1:${other.port}`));
    expect(answer.status).toBe(400);
    expect(other.accepted()).toBe(0);
    expect(up.connections()).toBe(0);
    await stillServes(pt);
    expect(other.accepted()).toBe(0);
  });
});

describe('bytes around the 101', () => {
  it('client frames sent before the 101 arrives are relayed and decoded in order, before later ones', async () => {
    const release = deferred<void>();
    const upstream = await startRawUpstream({ holdResponse: () => release.promise });
    cleanup.add(() => upstream.close());
    const pt = await startProxyUnderTest(upstream.url);
    cleanup.add(() => pt.stop());

    const early = Buffer.concat([
      frameFrom('client', { opcode: 1, payload: Buffer.from('one, with the request') }),
      frameFrom('client', { opcode: 9, payload: Buffer.from('ping') }),
    ]);
    const socket = await connectRaw(pt.proxy.port);
    cleanup.socket(socket);
    socket.on('error', () => undefined);
    socket.write(
      Buffer.concat([
        Buffer.from(
          'GET /early HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
        early,
      ]),
    );
    await pt.waitForEvent((e) => e.type === 'open', 5000, 'open');
    const later = frameFrom('client', { opcode: 1, payload: Buffer.from('two, before the 101') });
    socket.write(later);
    release.resolve();
    const response = await readResponse(socket);
    expect(response.status).toBe(101);
    const third = frameFrom('client', { opcode: 1, payload: Buffer.from('three, after the 101') });
    socket.write(third);

    const conn = await upstream.nextConnection();
    await pt.waitForEvent((e) => e.type === 'message' && e.text === 'three, after the 101', 5000, 'the third message');
    const sent = early.length + later.length + third.length;
    await waitFor(() => conn.receivedBytes() >= sent, 5000, 'all client bytes upstream');
    expect(Buffer.concat(conn.received).equals(Buffer.concat([early, later, third]))).toBe(true);
    expect(ofType(pt.events, 'frame').map((f) => f.opcode)).toEqual([1, 9, 1, 1]);
    expect(ofType(pt.events, 'message').map((m) => m.text)).toEqual(['one, with the request', 'two, before the 101', 'three, after the 101']);
    expect(ofType(pt.events, 'violation')).toEqual([]);
  });

  it('server frames in the same TCP segment as the 101 are relayed and decoded in order', async () => {
    const sameSegment = Buffer.concat([
      frameFrom('server', { opcode: 1, payload: Buffer.from('hello with the 101') }),
      frameFrom('server', { opcode: 2, payload: Buffer.from([0, 1, 2, 0x82, 0xff]) }),
      frameFrom('server', { opcode: 9, payload: Buffer.alloc(0) }),
    ]);
    const afterwards = frameFrom('server', { opcode: 1, payload: Buffer.from('and later') });
    const upstream = await startRawUpstream({
      withResponse: () => sameSegment,
      onUpgrade: (conn) => conn.socket.end(afterwards),
    });
    cleanup.add(() => upstream.close());
    const pt = await startProxyUnderTest(upstream.url);
    cleanup.add(() => pt.stop());
    const client = await rawUpgrade(pt.proxy.port);
    expect(client.response.status).toBe(101);
    const got = await withTimeout(collectUntilClose(client.socket, client.response.rest), 5000, 'the client to be closed');
    expect(got.bytes.equals(Buffer.concat([sameSegment, afterwards]))).toBe(true);
    await pt.waitForEvent((e) => e.type === 'end', 5000, 'end');
    expect(ofType(pt.events, 'frame').map((f) => f.opcode)).toEqual([1, 2, 9, 1]);
    const messages = ofType(pt.events, 'message');
    expect(messages.map((m) => m.text ?? m.data)).toEqual(['hello with the 101', Buffer.from([0, 1, 2, 0x82, 0xff]).toString('base64'), 'and later']);
    // The handshake comes before the first frame.
    const types = pt.events.map((e) => e.type);
    expect(types.indexOf('handshake')).toBeLessThan(types.indexOf('frame'));
  });
});
