/**
 * Issue 11, the HTTP side probed as an attacker would: a 101 to a request relayed as plain HTTP,
 * an upgrade with a body, a slowloris head, and how a TLS failure on the plain-HTTP path is named.
 * Raw sockets on 127.0.0.1:0; every wait bounded.
 */
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorEvent, HttpEvent } from '../../src/session/events.js';
import { withTimeout } from '../helpers/deferred.js';
import { ByteSink } from '../helpers/raw-peers.js';
import { startHarness } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A TCP upstream that answers every request head with `answer`; counts connections. */
async function answeringServer(answer: string): Promise<{ port: number; connections: () => number; received: ByteSink }> {
  let connections = 0;
  const received = new ByteSink();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('error', () => {});
    let buf = '';
    s.on('data', (c: Buffer) => {
      received.push(c);
      buf += c.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        buf = '';
        s.write(answer);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, connections: () => connections, received };
}

/** Sends `bytes`, resolves with everything received until the proxy closes the connection. */
async function exchange(port: number, bytes: string): Promise<{ text: string; status: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  const sink = new ByteSink();
  socket.on('data', (c: Buffer) => sink.push(c));
  socket.on('close', () => sink.ended.resolve());
  socket.write(bytes, 'latin1');
  await withTimeout(sink.ended.promise, 'the proxy to close the connection');
  const text = sink.bytes.toString('latin1');
  return { text, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? NaN) };
}

describe('plain HTTP answered with a 101', () => {
  it('Upgrade: websocket with Connection: close is plain HTTP; a 101 to it is a 502 with an error event, not a held client', async () => {
    const up = await answeringServer(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
    const h = await startHarness(`ws://127.0.0.1:${up.port}`);
    cleanups.push(() => h.proxy.stop());
    const answer = await exchange(
      h.proxy.port,
      `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(answer.status).toBe(502);
    expect(answer.text).toMatch(/101 Switching Protocols to a request that did not ask to upgrade/);
    expect((await h.event('error')) as ErrorEvent).toMatchObject({ conn: 1, stage: 'handshake', code: 'EPROTO' });
    expect((await h.event('http')) as HttpEvent).toMatchObject({ conn: 1, method: 'GET', target: '/ws', status: null });
    expect(h.events.some((e) => e.type === 'open')).toBe(false);
  });
});

describe('an upgrade request with a body', () => {
  const upgrade = (extra: string, body: string): string =>
    `GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n${body}`;

  it('Content-Length or Transfer-Encoding: 400 before the upstream is contacted', async () => {
    const up = await answeringServer(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
    const h = await startHarness(`ws://127.0.0.1:${up.port}`);
    cleanups.push(() => h.proxy.stop());
    const withLength = await exchange(h.proxy.port, upgrade('Content-Length: 5\r\n', '\x81\x80abc'));
    expect(withLength.status).toBe(400);
    expect(withLength.text).toMatch(/must not have a body/);
    const chunked = await exchange(h.proxy.port, upgrade('Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'));
    expect(chunked.status).toBe(400);
    expect(up.connections()).toBe(0);
    expect(h.events).toEqual([]);
    // Content-Length: 0 is no body: relayed.
    const socket = net.connect(h.proxy.port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    const got = new ByteSink();
    socket.on('data', (c: Buffer) => got.push(c));
    socket.write(upgrade('Content-Length: 0\r\n', ''));
    expect((await got.atLeast(12)).toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
    expect(up.connections()).toBe(1);
  });

  it('two Host headers: 400 (RFC 9112 §3.2) on both paths, the upstream never contacted', async () => {
    const up = await answeringServer('HTTP/1.1 500 No\r\n\r\n');
    const h = await startHarness(`ws://127.0.0.1:${up.port}`);
    cleanups.push(() => h.proxy.stop());
    const upgrade = await exchange(h.proxy.port, `GET /ws HTTP/1.1\r\nHost: a\r\nhost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    expect(upgrade.status).toBe(400);
    expect(upgrade.text).toMatch(/exactly one Host/);
    const plain = await exchange(h.proxy.port, 'GET /page HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n');
    expect(plain.status).toBe(400);
    expect(up.connections()).toBe(0);
  });

  it('an HTTP/1.0 upgrade: 400 (RFC 6455 §4.1), the upstream never contacted', async () => {
    const up = await answeringServer('HTTP/1.1 500 No\r\n\r\n');
    const h = await startHarness(`ws://127.0.0.1:${up.port}`);
    cleanups.push(() => h.proxy.stop());
    const answer = await exchange(h.proxy.port, `GET /ws HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    expect(answer.status).toBe(400);
    expect(answer.text).toMatch(/HTTP\/1\.1 or later/);
    expect(up.connections()).toBe(0);
  });
});

describe('slow and malformed request heads', () => {
  it('a slowloris head gets 408 once headersTimeout passes; a malformed one 400; one past the size limit 431', async () => {
    const up = await answeringServer('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const h = await startHarness(`ws://127.0.0.1:${up.port}`, { headersTimeoutMs: 300, connectionsCheckingIntervalMs: 50 });
    cleanups.push(() => h.proxy.stop());

    const socket = net.connect(h.proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => void socket.destroy());
    const sink = new ByteSink();
    socket.on('data', (c: Buffer) => sink.push(c));
    socket.on('close', () => sink.ended.resolve());
    // One header byte at a time, never the end of the head: each byte is "progress" to a naive
    // idle timeout, not to headersTimeout.
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const drip = setInterval(() => socket.writable && socket.write('a'), 20);
    cleanups.push(() => clearInterval(drip));
    await withTimeout(sink.ended.promise, 'the slowloris connection to be closed');
    expect(sink.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);

    expect((await exchange(h.proxy.port, 'GET /x HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n')).status).toBe(400);
    expect((await exchange(h.proxy.port, `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).status).toBe(431);
    expect(up.connections()).toBe(0);
  });
});

describe('plain HTTP to a TLS upstream', () => {
  it('a certificate failure is recorded as stage upstream-tls, not upstream-connect', async () => {
    const fixture = (name: string): Buffer => readFileSync(fileURLToPath(new URL(`../../fixtures/tls/${name}`, import.meta.url)));
    const server = https.createServer({ cert: fixture('cert.pem'), key: fixture('key.pem') }, (_req, res) => res.end('secret'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const h = await startHarness(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanups.push(() => h.proxy.stop());
    const answer = await exchange(h.proxy.port, 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.status).toBe(502);
    expect(answer.text).not.toMatch(/secret/);
    expect((await h.event('error')) as ErrorEvent).toMatchObject({ conn: 1, stage: 'upstream-tls' });
  });
});


describe('plain HTTP with Expect: 100-continue', () => {
  it('still gets the path prefix, the Host rewrite and -H (http-proxy skips its hook for Expect)', async () => {
    const up = await answeringServer('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
    const h = await startHarness(`http://127.0.0.1:${up.port}/api`, { headers: [['X-Forced', '1']] });
    cleanups.push(() => h.proxy.stop());
    const socket = net.connect(h.proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    cleanups.push(() => void socket.destroy());
    const got = new ByteSink();
    socket.on('data', (c: Buffer) => got.push(c));
    socket.write('POST /up HTTP/1.1\r\nHost: proxy\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n');
    expect((await got.atLeast(25)).toString('latin1')).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('abc');
    const head = (await up.received.atLeast(20)).toString('latin1');
    expect(head).toMatch(/^POST \/api\/up HTTP\/1\.1\r\n/);
    expect(head).toMatch(new RegExp(`\r\nhost: 127\\.0\\.0\\.1:${up.port}\r\n`, 'i'));
    expect(head).toMatch(/\r\nX-Forced: 1\r\n/i);
    expect(await h.event('http')).toMatchObject({ status: 200 });
  });
});

describe('a plain request body that stalls past requestTimeout', () => {
  it('after the response has started: the connection is closed, no 408 written into the response', async () => {
    const up = await answeringServer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    const h = await startHarness(`http://127.0.0.1:${up.port}`, { headersTimeoutMs: 200, requestTimeoutMs: 300, connectionsCheckingIntervalMs: 50 });
    cleanups.push(() => h.proxy.stop());
    const answer = await exchange(h.proxy.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    expect(answer.status).toBe(200);
    expect(answer.text).not.toMatch(/408/);
  });

  it('before any response: 408', async () => {
    const silent = await answeringServer('');
    const h = await startHarness(`http://127.0.0.1:${silent.port}`, { headersTimeoutMs: 200, requestTimeoutMs: 300, connectionsCheckingIntervalMs: 50, upstreamTimeoutMs: 60_000 });
    cleanups.push(() => h.proxy.stop());
    const answer = await exchange(h.proxy.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    expect(answer.status).toBe(408);
  });
});
