/**
 * Everything that is not a clean close: abrupt ends, refusals, upstream failures, shutdown, and the
 * requests a reverse proxy must not relay as they are. Real sockets on 127.0.0.1:0 throughout.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import { UsageError } from '../../src/errors.js';
import type { EndEvent, ErrorEvent, FrameEvent, HandshakeEvent, HttpEvent, OpenEvent } from '../../src/session/events.js';
import { connectClient, startEchoServer, freePort } from '../helpers/servers.js';
import { connectRawClient, startRawServer } from '../helpers/raw-peers.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { startHarness } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoWithProxy(options: Parameters<typeof startHarness>[1] = {}) {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const h = await startHarness(echo.url, options);
  cleanups.push(() => h.proxy.stop());
  return { echo, h };
}

async function rawWithProxy(serverOptions: Parameters<typeof startRawServer>[0] = {}, proxyOptions: Parameters<typeof startHarness>[1] = {}, path = '') {
  const raw = await startRawServer(serverOptions);
  cleanups.push(() => raw.close());
  const h = await startHarness(raw.url + path, proxyOptions);
  cleanups.push(() => h.proxy.stop());
  return { raw, h };
}

/** A TCP server that accepts and never answers. */
async function silentServer(): Promise<{ port: number; accepted: Promise<net.Socket> }> {
  const accepted = deferred<net.Socket>();
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    accepted.resolve(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, accepted: accepted.promise };
}


const ABRUPT = { code: 1006, reason: '', initiator: null, clean: false };

describe('abrupt ends', () => {
  it('server destroys its socket: the client loses it too, end 1006', async () => {
    const { echo, h } = await echoWithProxy();
    const c = await connectClient(h.wsUrl);
    cleanups.push(() => c.ws.terminate());
    c.ws.send('x');
    await c.message(0);
    (await echo.connection(0)).terminate();
    expect((await c.closed).code).toBe(1006);
    expect(await h.event('end')).toMatchObject(ABRUPT);
  });

  it('server resets the connection (RST): passed on as a reset, end 1006, a cut frame reported incomplete', async () => {
    const half = encodeFrame({ opcode: 2, payload: Buffer.alloc(100, 7) }).subarray(0, 50);
    const { raw, h } = await rawWithProxy({ afterUpgrade: half });
    const peer = await connectRawClient(h.proxy.port);
    await peer.received.atLeast(50);
    const upstream = await raw.connection(0);
    const reset = deferred<string | undefined>();
    peer.socket.once('error', (e: Error & { code?: string }) => reset.resolve(e.code));
    upstream.socket.resetAndDestroy();
    expect(await withTimeout(reset.promise, 'client reset')).toBe('ECONNRESET');
    const end = await h.event('end');
    expect(end).toMatchObject(ABRUPT);
    expect(end.bytes).toEqual({ client: 0, server: 50 });
    const frame = (await h.event('frame')) as FrameEvent;
    expect(frame).toMatchObject({ opcode: 2, length: 100, incomplete: true, received: 48, payload: Buffer.alloc(48, 7).toString('base64') });
  });

  it('client destroys its socket: end 1006', async () => {
    const { echo, h } = await echoWithProxy();
    const c = await connectClient(h.wsUrl);
    const server = await echo.connection(0);
    const serverClosed = new Promise<number>((r) => server.once('close', r));
    c.ws.terminate();
    expect(await serverClosed).toBe(1006);
    expect(await h.event('end')).toMatchObject(ABRUPT);
  });

  it('a half-close is relayed as one: client bytes after the server FIN still reach the server', async () => {
    const { raw, h } = await rawWithProxy();
    const peer = await connectRawClient(h.proxy.port);
    const upstream = await raw.connection(0);
    upstream.socket.end();
    await withTimeout(peer.received.ended.promise, 'FIN at the client');
    const frame = encodeFrame({ opcode: 1, payload: Buffer.from('after FIN'), mask: Buffer.from([1, 2, 3, 4]) });
    peer.socket.end(frame);
    expect((await upstream.received.atLeast(frame.length)).equals(frame)).toBe(true);
    await h.event('end');
    expect(await h.event('message')).toMatchObject({ from: 'client', text: 'after FIN' });
  });
});

describe('upgrades that do not complete', () => {
  it('relays a refusal (403) faithfully: status, raw header case and order, chunked body', async () => {
    const response = Buffer.from(
      'HTTP/1.1 403 Forbidden\r\nX-Why: Origin Not Allowed\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nnope!\r\n0\r\n\r\n',
    );
    const { h } = await rawWithProxy({ response });
    const peer = await connectRawClient(h.proxy.port, { path: '/denied' });
    expect(peer.response).toBe('HTTP/1.1 403 Forbidden\r\nX-Why: Origin Not Allowed\r\ncontent-type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
    await withTimeout(peer.received.ended.promise, 'end of the refusal');
    expect(peer.received.bytes.toString()).toBe('5\r\nnope!\r\n0\r\n\r\n');
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs).toMatchObject({
      upgraded: false,
      response: { status: 403, reason: 'Forbidden', headers: [['X-Why', 'Origin Not Allowed'], ['content-type', 'text/plain'], ['Transfer-Encoding', 'chunked']] },
      extensions: [],
    });
    expect(await h.event('end')).toMatchObject(ABRUPT);
    expect(h.events.map((e) => e.type)).toEqual(['open', 'handshake', 'end']);
  });

  it('upstream down: 502 to the client, an upstream-connect error, and the proxy keeps serving', async () => {
    const port = await freePort();
    const h = await startHarness(`ws://127.0.0.1:${port}`);
    cleanups.push(() => h.proxy.stop());
    const peer = await connectRawClient(h.proxy.port);
    expect(peer.status).toBe(502);
    const error = (await h.event('error')) as ErrorEvent;
    expect(error).toMatchObject({ conn: 1, stage: 'upstream-connect', code: 'ECONNREFUSED' });
    expect((await h.event('handshake')).response).toBeNull();
    expect(await h.event('end')).toMatchObject(ABRUPT);
    expect(h.events.map((e) => e.type)).toEqual(['open', 'handshake', 'error', 'end']);
    const again = await connectRawClient(h.proxy.port);
    expect(again.status).toBe(502);
    await h.event('end', (e) => e.conn === 2);
  });

  it('upstream that never answers the upgrade: 502 after the timeout, a handshake-stage error', async () => {
    const silent = await silentServer();
    const h = await startHarness(`ws://127.0.0.1:${silent.port}`, { upstreamTimeoutMs: 200 });
    cleanups.push(() => h.proxy.stop());
    const peer = await connectRawClient(h.proxy.port);
    expect(peer.status).toBe(502);
    expect(await h.event('error')).toMatchObject({ stage: 'handshake', code: 'ETIMEDOUT' });
  });

  it('a client that resets while the upgrade is pending does not take the proxy down', async () => {
    const silent = await silentServer();
    const h = await startHarness(`ws://127.0.0.1:${silent.port}`);
    cleanups.push(() => h.proxy.stop());
    const socket = net.connect(h.proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await silent.accepted;
    socket.resetAndDestroy();
    expect(await h.event('end')).toMatchObject(ABRUPT);
    expect(h.events.some((e) => e.type === 'error')).toBe(false);
    // Still serving.
    const again = net.connect(h.proxy.port, '127.0.0.1');
    cleanups.push(() => void again.destroy());
    await withTimeout(new Promise((r) => again.once('connect', r)), 'second connect');
  });

  it('answers 400 to a non-GET upgrade, a wrong Upgrade value and an absolute-form target, without opening', async () => {
    const { raw, h } = await rawWithProxy();
    expect((await connectRawClient(h.proxy.port, { method: 'POST' })).status).toBe(400);
    expect(
      (await connectRawClient(h.proxy.port, { headers: ['Host: x', 'Upgrade: h2c', 'Connection: Upgrade'] })).status,
    ).toBe(400);
    const other = await connectRawClient(h.proxy.port, { path: 'http://169.254.169.254/latest' });
    expect(other.status).toBe(400);
    expect(h.events).toEqual([]);
    // None of them reached the upstream: the next connection is its first.
    const ok = await connectRawClient(h.proxy.port, { path: '/fine' });
    expect(ok.status).toBe(101);
    expect((await raw.connection(0)).request).toMatch(/^GET \/fine HTTP\/1\.1\r\n/);
  });
});

describe('what goes upstream', () => {
  it('keeps path and query byte for byte after the URL prefix', async () => {
    const { raw, h } = await rawWithProxy({}, {}, '/api');
    const path = '/a//b\\c/%2e%2e/?x=1&&y=%zz#';
    const peer = await connectRawClient(h.proxy.port, { path });
    expect(peer.status).toBe(101);
    expect((await raw.connection(0)).request.split('\r\n')[0]).toBe(`GET /api${path} HTTP/1.1`);
    expect(((await h.event('open')) as OpenEvent).target).toBe(`ws://127.0.0.1:${raw.port}/api${path}`);
  });

  it('rewrites Host to the upstream and applies -H; the handshake records both header lists', async () => {
    const { raw, h } = await rawWithProxy({}, { headers: [['Origin', 'https://allowed.example']] });
    await connectRawClient(h.proxy.port, { extraHeaders: ['Origin: https://evil.example', 'X-Keep: 1'] });
    const request = (await raw.connection(0)).request;
    expect(request).toMatch(new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${raw.port}\r\n`));
    expect(request).toMatch(/\r\nOrigin: https:\/\/allowed\.example\r\n/);
    expect(request).not.toMatch(/evil/);
    expect(request).toMatch(/\r\nX-Keep: 1\r\n/);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.request.headers).toContainEqual(['Origin', 'https://evil.example']);
    expect(hs.request.headers).toContainEqual(['Host', `127.0.0.1:${h.proxy.port}`]);
    expect(hs.forwarded!.headers).toContainEqual(['Origin', 'https://allowed.example']);
    expect(hs.forwarded!.headers).toContainEqual(['Host', `127.0.0.1:${raw.port}`]);
  });

  it('--keep-host forwards the client Host unchanged (and records no forwarded list when nothing changed)', async () => {
    const { raw, h } = await rawWithProxy({}, { keepHost: true });
    await connectRawClient(h.proxy.port, { extraHeaders: [] });
    expect((await raw.connection(0)).request).toMatch(new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${h.proxy.port}\r\n`));
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.forwarded).toBeUndefined();
  });

  it('--redact hides header and query values in the events only', async () => {
    const { raw, h } = await rawWithProxy({}, { redact: ['Authorization', 'token'] });
    await connectRawClient(h.proxy.port, { path: '/s?token=s3cret&x=1', extraHeaders: ['authorization: Bearer s3cret'] });
    const request = (await raw.connection(0)).request;
    expect(request).toMatch(/^GET \/s\?token=s3cret&x=1 /);
    expect(request).toMatch(/\r\nauthorization: Bearer s3cret\r\n/);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.request.target).toBe('/s?token=<redacted>&x=1');
    expect(hs.request.headers).toContainEqual(['authorization', '<redacted>']);
    expect(hs.forwarded!.headers).toContainEqual(['authorization', '<redacted>']);
    expect(((await h.event('open')) as OpenEvent).target).toMatch(/\/s\?token=<redacted>&x=1$/);
    expect(JSON.stringify(h.events)).not.toMatch(/s3cret/);
  });
});

describe('listening', () => {
  it('rejects with a usage error that says what to do when the port is taken (the user picks another)', async () => {
    const { h } = await echoWithProxy();
    const taken = startHarness('ws://127.0.0.1:9', { listen: { host: '127.0.0.1', port: h.proxy.port } });
    await expect(taken).rejects.toBeInstanceOf(UsageError);
    await expect(taken).rejects.toMatchObject({ message: `cannot listen on 127.0.0.1:${h.proxy.port}: the port is in use (pick another, or port 0 for any free one)` });
  });
});

describe('plain HTTP and shutdown', () => {
  it('relays plain HTTP requests with web() as http events, and 502 when the upstream is down', async () => {
    const echo = await startEchoServer({ onRequest: (req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`page ${req.url}`) });
    cleanups.push(() => echo.close());
    const h = await startHarness(echo.url);
    cleanups.push(() => h.proxy.stop());
    const res = await fetch(`${h.proxy.url}/index.html?q=1`);
    expect(await res.text()).toBe('page /index.html?q=1');
    expect(await h.event('http')).toMatchObject({ conn: 1, method: 'GET', target: '/index.html?q=1', status: 200 } satisfies Partial<HttpEvent>);

    const down = await startHarness(`http://127.0.0.1:${await freePort()}`);
    cleanups.push(() => down.proxy.stop());
    const failed = await new Promise<number>((resolve, reject) =>
      http.get(`${down.proxy.url}/x`, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on('error', reject),
    );
    expect(failed).toBe(502);
    expect(await down.event('error')).toMatchObject({ conn: 1, stage: 'upstream-connect', code: 'ECONNREFUSED' });
    expect(await down.event('http')).toMatchObject({ conn: 1, status: null });
  });

  it('stop() with connections open: both TCP connections closed, one end each with shutdown:true', async () => {
    const { h } = await echoWithProxy();
    const a = await connectClient(h.wsUrl);
    const b = await connectClient(h.wsUrl);
    a.ws.send('hi');
    await a.message(0);
    expect(h.proxy.openConnections).toBe(2);
    await h.proxy.stop();
    const ends = h.events.filter((e): e is EndEvent => e.type === 'end');
    expect(ends.map((e) => e.conn).sort()).toEqual([1, 2]);
    for (const e of ends) expect(e).toMatchObject({ ...ABRUPT, shutdown: true });
    expect((await a.closed).code).toBe(1006);
    expect((await b.closed).code).toBe(1006);
    expect(h.proxy.openConnections).toBe(0);
  });
});
