/**
 * Forward mode with real peers on 127.0.0.1: `ws` clients through CONNECT tunnels whose TLS
 * frametap intercepts, absolute-form requests and upgrades, plain HTTP inside CONNECT (Chromium's
 * ws://), --ignore-hosts, upstream certificate checks, and the leaf certificates clients get.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { SocketTap, startEchoServer } from '../helpers/servers.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { makeTestPki, type TestPki } from '../helpers/test-ca.js';
import { startForwardHarness, type ForwardHarness } from './forward-harness.js';
import { parseHostGlob } from '../../src/proxy/forward/host-glob.js';
import { upstreamProxyDialer } from '../../src/proxy/forward/dialer.js';
import { messageText } from '../../src/session/event-data.js';
import type { HandshakeEvent, MessageEvent } from '../../src/session/events.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(options: Parameters<typeof startForwardHarness>[0] = {}): Promise<ForwardHarness> {
  const h = await startForwardHarness(options);
  cleanups.push(() => h.stop());
  return h;
}

interface TlsUpstream {
  readonly port: number;
  /** The SNI of each TLS connection (false: none). */
  readonly servernames: Array<string | false | null>;
  readonly taps: SocketTap[];
  readonly requests: http.IncomingMessage[];
}

/** An https + wss echo server with a certificate from `pki` (localhost, 127.0.0.1, ::1). */
async function tlsUpstream(pki: TestPki, options: { perMessageDeflate?: boolean } = {}): Promise<TlsUpstream> {
  const requests: http.IncomingMessage[] = [];
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem }, (req, res) => {
    requests.push(req);
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`hello ${req.url}`);
  });
  const taps: SocketTap[] = [];
  const servernames: Array<string | false | null> = [];
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    taps.push(new SocketTap(socket));
    servernames.push(socket.servername);
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: options.perMessageDeflate ?? false });
  wss.on('connection', (ws, req) => {
    requests.push(req);
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, servernames, taps, requests };
}

/** A `ws` client over an existing (TLS) socket; resolves once open. */
async function wsOver(socket: net.Socket, url: string): Promise<{ ws: WebSocket; tap: SocketTap; messages: Buffer[]; next(n: number): Promise<Buffer> }> {
  const tap = new SocketTap(socket);
  // The harness hands tunnels over paused (nothing read before a consumer listens).
  socket.resume();
  const ws = new WebSocket(url, { createConnection: (() => socket) as never, perMessageDeflate: false });
  const messages: Buffer[] = [];
  const waiters: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  ws.on('message', (data) => {
    messages.push(data as Buffer);
    for (const w of waiters) if (w.n === messages.length - 1) w.resolve(data as Buffer);
  });
  ws.on('error', () => {});
  const opened = deferred();
  ws.once('open', () => opened.resolve());
  ws.once('error', (e) => opened.reject(e));
  ws.once('unexpected-response', (_req, res) => opened.reject(new Error(`upgrade answered ${res.statusCode}`)));
  await withTimeout(opened.promise, `open ${url}`);
  cleanups.push(() => ws.terminate());
  return {
    ws,
    tap,
    messages,
    next(n) {
      if (messages[n]) return Promise.resolve(messages[n]!);
      const d = deferred<Buffer>();
      waiters.push({ n, resolve: d.resolve });
      return withTimeout(d.promise, `message ${n}`);
    },
  };
}

describe('forward mode: CONNECT with TLS interception', () => {
  it('a ws client through CONNECT: frames relayed byte for byte on both decrypted legs, events with the full wss:// target', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness({ upstreamCa: [pki.caPem] });
    const authority = `localhost:${up.port}`;
    const socket = await h.tlsThrough(authority);
    expect(socket.alpnProtocol).toBe('http/1.1');
    const c = await wsOver(socket, `wss://${authority}/chat?room=1`);
    c.ws.send('hello through the tunnel');
    c.ws.send(crypto.randomBytes(70_000));
    await c.next(1);
    c.ws.close(1000, 'bye');
    const end = await h.event('end');
    expect(end).toMatchObject({ code: 1000, initiator: 'client', clean: true });
    expect(h.events.find((e) => e.type === 'open')).toMatchObject({ target: `wss://${authority}/chat?room=1` });
    const hs = h.events.find((e): e is HandshakeEvent => e.type === 'handshake')!;
    expect(hs.request.target).toBe('/chat?room=1');
    expect(hs.response?.status).toBe(101);
    const texts = h.events.filter((e): e is MessageEvent => e.type === 'message' && e.opcode === 1).map((m) => [m.from, messageText(m)]);
    expect(texts).toEqual([['client', 'hello through the tunnel'], ['server', 'hello through the tunnel']]);
    // The decrypted legs: what the client sent after the 101 is what the upstream received, and back.
    const serverTap = up.taps[0]!;
    expect(serverTap.receivedAfterUpgrade.equals(c.tap.sentAfterUpgrade)).toBe(true);
    expect(c.tap.receivedAfterUpgrade.equals(serverTap.sentAfterUpgrade)).toBe(true);
    expect(h.events.filter((e) => e.type === 'error' || e.type === 'violation')).toEqual([]);
  });

  it('packet-capture chunks: the upgrade heads on both legs inside the tunnel, as they crossed', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness({ upstreamCa: [pki.caPem] });
    const chunks: Array<{ leg: string; from: string; bytes: Buffer }> = [];
    h.bus.subscribe('chunks', (e) => {
      if (e.type === 'chunk') chunks.push({ leg: e.leg, from: e.from, bytes: Buffer.from(e.bytes) });
    }, ['chunk']);
    const socket = await h.tlsThrough(`localhost:${up.port}`);
    const c = await wsOver(socket, `wss://localhost:${up.port}/heads`);
    c.ws.send('x');
    await c.next(0);
    const clientHead = chunks.find((k) => k.leg === 'client' && k.from === 'client')!.bytes.toString('latin1');
    expect(clientHead).toMatch(/^GET \/heads HTTP\/1\.1\r\n/);
    expect(clientHead.endsWith('\r\n\r\n')).toBe(true);
    expect(up.taps[0]!.received.toString('latin1').startsWith(chunks.find((k) => k.leg === 'upstream' && k.from === 'client')!.bytes.toString('latin1'))).toBe(true);
    expect(chunks.some((k) => k.leg === 'upstream' && k.from === 'server' && k.bytes.toString('latin1').startsWith('HTTP/1.1 101'))).toBe(true);
  });

  it('upstream SNI: the host name for a name, none for an IP literal (RFC 6066 §3)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(w.code ?? w.message);
    process.on('warning', onWarning);
    cleanups.push(() => void process.removeListener('warning', onWarning));
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness({ upstreamCa: [pki.caPem] });
    for (const authority of [`localhost:${up.port}`, `127.0.0.1:${up.port}`]) {
      const socket = await h.tlsThrough(authority);
      socket.write(`GET /sni HTTP/1.1\r\nHost: ${authority}\r\nConnection: close\r\n\r\n`);
      expect(await readAll(socket)).toMatch(/^HTTP\/1\.1 200/);
    }
    const c = await wsOver(await h.tlsThrough(`127.0.0.1:${up.port}`), `wss://127.0.0.1:${up.port}/ip`);
    c.ws.send('ip');
    await c.next(0);
    expect(up.servernames).toEqual(['localhost', false, false]);
    // Node warns (DEP0123) when an IP address is set as the ServerName.
    expect(warnings.filter((w) => w === 'DEP0123')).toEqual([]);
  });

  it('plain HTTPS requests through CONNECT are relayed with absolute http targets in the events', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness({ upstreamCa: [pki.caPem] });
    const socket = await h.tlsThrough(`localhost:${up.port}`);
    socket.write(`GET /page?x=1 HTTP/1.1\r\nHost: localhost:${up.port}\r\nConnection: close\r\n\r\n`);
    const answer = await readAll(socket);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(answer).toContain('hello /page?x=1');
    expect(await h.event('http')).toMatchObject({ method: 'GET', target: `https://localhost:${up.port}/page?x=1`, status: 200 });
  });

  it('the leaf names the SNI host; without SNI it names the CONNECT host; an IP CONNECT gets an IP SAN; CA in the chain', async () => {
    const h = await harness();
    const dead = await closedPort();
    const named = await h.tlsThrough(`app.example.test:${dead}`);
    const cert = named.getPeerX509Certificate()!;
    expect(cert.subjectAltName).toBe('DNS:app.example.test');
    expect(cert.checkIssued(h.ca.x509)).toBe(true);
    expect(cert.verify(h.ca.x509.publicKey)).toBe(true);
    named.destroy();
    // The chain the server sends has the CA after the leaf (read by a client that trusts nothing,
    // so what it reports is what was sent).
    const bare = await h.connect(`app.example.test:${dead}`);
    const tlsMod = await import('node:tls');
    const sent = tlsMod.connect({ socket: bare, servername: 'app.example.test', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      sent.once('secureConnect', resolve);
      sent.once('error', reject);
    });
    const issuerSent = sent.getPeerCertificate(true).issuerCertificate;
    expect(issuerSent?.fingerprint256).toBe(h.ca.fingerprint256);
    sent.destroy();

    const otherSni = await h.tlsThrough(`tunnel.example.test:${dead}`, 'sni.example.test').catch((e: Error) => e);
    // The client checks the CONNECT host, the leaf names the SNI host: the check fails, as it should.
    expect(otherSni).toBeInstanceOf(Error);

    const noSni = await h.tlsThrough(`nosni.example.test:${dead}`, null);
    expect(noSni.getPeerX509Certificate()!.subjectAltName).toBe('DNS:nosni.example.test');
    noSni.destroy();

    const ip = await h.tlsThrough(`127.0.0.1:${dead}`);
    expect(ip.getPeerX509Certificate()!.subjectAltName).toBe('IP Address:127.0.0.1');
    ip.destroy();
    const ip6 = await h.tlsThrough(`[::1]:${dead}`);
    expect(ip6.getPeerX509Certificate()!.subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
    ip6.destroy();
  });

  it('an upstream whose certificate is not trusted: 502 and an upstream-tls error event; --insecure relays', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness();
    const socket = await h.tlsThrough(`localhost:${up.port}`);
    socket.write(`GET / HTTP/1.1\r\nHost: localhost:${up.port}\r\nConnection: close\r\n\r\n`);
    expect(await readAll(socket)).toMatch(/^HTTP\/1\.1 502/);
    expect(await h.event('error')).toMatchObject({ stage: 'upstream-tls' });

    const ws = await h.tlsThrough(`localhost:${up.port}`);
    const refused = await wsOver(ws, `wss://localhost:${up.port}/x`).catch((e: Error) => e);
    expect(String(refused)).toContain('502');
    const errors = await waitCount(h, 'error', 2);
    expect(errors[1]).toMatchObject({ stage: 'upstream-tls' });

    const insecure = await harness({ insecure: true });
    const ok = await insecure.tlsThrough(`localhost:${up.port}`);
    const c = await wsOver(ok, `wss://localhost:${up.port}/x`);
    c.ws.send('insecure but relayed');
    expect((await c.next(0)).toString()).toBe('insecure but relayed');
  });
});

describe('forward mode: plain HTTP', () => {
  it('absolute-form GET and absolute-form WebSocket upgrade; Proxy-Authorization is not forwarded', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const echo = await startEchoServer({
      onRequest: (req, res) => {
        seen.push(req.headers);
        res.writeHead(200).end(`plain ${req.url}`);
      },
    });
    cleanups.push(() => echo.close());
    const h = await harness();
    const res = await rawRequest(h.proxy.port, `GET http://127.0.0.1:${echo.port}/a//b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\nProxy-Authorization: Basic c2VjcmV0\r\nConnection: close\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 200/);
    expect(res).toContain('plain /a//b?q=1');
    expect(seen[0]!['proxy-authorization']).toBeUndefined();
    expect(await h.event('http')).toMatchObject({ target: `http://127.0.0.1:${echo.port}/a//b?q=1`, status: 200 });

    // A raw absolute-form upgrade GET (what non-browser clients send to a proxy).
    const socket = net.connect(h.proxy.port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    socket.write(
      `GET http://127.0.0.1:${echo.port}/live HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n`,
    );
    const head = await readUntil(socket, '\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head).toContain('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    // A masked "hi" text frame; the echo answers it unmasked.
    socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]));
    const msg = await h.event('message', (m) => m.from === 'server');
    expect(messageText(msg)).toBe('hi');
    expect(h.events.find((e) => e.type === 'open')).toMatchObject({ target: `ws://127.0.0.1:${echo.port}/live` });
    const hs = h.events.find((e): e is HandshakeEvent => e.type === 'handshake')!;
    expect(hs.forwarded?.headers.some(([n]) => n.toLowerCase() === 'proxy-authorization')).toBe(false);
  });

  it('CONNECT then plain HTTP (how Chromium sends ws:// through a proxy): the upgrade is inspected', async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const h = await harness();
    const socket = await h.connect(`127.0.0.1:${echo.port}`);
    const c = await wsOver(socket, `ws://127.0.0.1:${echo.port}/plain`);
    c.ws.send('over a plain tunnel');
    expect((await c.next(0)).toString()).toBe('over a plain tunnel');
    expect(h.events.find((e) => e.type === 'open')).toMatchObject({ target: `ws://127.0.0.1:${echo.port}/plain` });
    expect(echo.taps[0]!.receivedAfterUpgrade.equals(c.tap.sentAfterUpgrade)).toBe(true);
  });

  it('an origin-form request sent straight to the proxy is answered 400', async () => {
    const h = await harness();
    expect(await rawRequest(h.proxy.port, 'GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
  });
});

describe('forward mode: --upstream-proxy', () => {
  it('every upstream is reached through the other proxy’s CONNECT (TLS, plain and raw tunnels), with its credentials', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const plain = await startEchoServer({ onRequest: (_req, res) => res.writeHead(200).end('plain through the chain') });
    cleanups.push(() => plain.close());
    // A minimal corporate proxy: CONNECT only, raw relay.
    const seen: string[] = [];
    const corp = net.createServer((c) => {
      c.once('data', (head: Buffer) => {
        const text = head.toString('latin1');
        seen.push(text.split('\r\n').filter((l) => /^CONNECT |^Proxy-Authorization:/i.test(l)).join(' | '));
        const [, host, port] = /^CONNECT (\S+):(\d+) /.exec(text)!;
        const out = net.connect(Number(port), host!, () => {
          c.write('HTTP/1.1 200 OK\r\n\r\n');
          c.pipe(out).pipe(c);
        });
        out.on('error', () => c.destroy());
        c.on('error', () => out.destroy());
      });
    });
    await new Promise<void>((r) => corp.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => corp.close(() => r())));
    const h = await harness({ upstreamCa: [pki.caPem], dialer: upstreamProxyDialer(new URL(`http://user:p%40ss@127.0.0.1:${(corp.address() as AddressInfo).port}`)) });
    const socket = await h.tlsThrough(`localhost:${up.port}`);
    const c = await wsOver(socket, `wss://localhost:${up.port}/chained`);
    c.ws.send('through two proxies');
    expect((await c.next(0)).toString()).toBe('through two proxies');
    expect(await rawRequest(h.proxy.port, `GET http://127.0.0.1:${plain.port}/p HTTP/1.1\r\nHost: 127.0.0.1:${plain.port}\r\nConnection: close\r\n\r\n`)).toContain('plain through the chain');
    expect(seen).toEqual([
      `CONNECT localhost:${up.port} HTTP/1.1 | Proxy-Authorization: Basic ${Buffer.from('user:p@ss').toString('base64')}`,
      `CONNECT 127.0.0.1:${plain.port} HTTP/1.1 | Proxy-Authorization: Basic ${Buffer.from('user:p@ss').toString('base64')}`,
    ]);
  });
});

describe('forward mode: --upstream-proxy failures', () => {
  it('an upstream proxy that refuses the CONNECT: 502 for a wss upgrade and for a request, error events, no crash', async () => {
    const corp = net.createServer((c) => c.once('data', () => c.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')));
    await new Promise<void>((r) => corp.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => corp.close(() => r())));
    const h = await harness({ dialer: upstreamProxyDialer(new URL(`http://127.0.0.1:${(corp.address() as AddressInfo).port}`)) });
    const ws = await h.tlsThrough('localhost:9');
    const refused = await wsOver(ws, 'wss://localhost:9/x').catch((e: Error) => e);
    expect(String(refused)).toContain('502');
    expect(await h.event('error')).toMatchObject({ stage: 'upstream-connect', code: 'ECONNREFUSED' });
    expect(await h.event('end')).toMatchObject({ code: 1006 });
    const res = await rawRequest(h.proxy.port, 'GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1\.1 502/);
    expect(res).toContain('upstream proxy refused CONNECT 127.0.0.1:9');
  });
});

describe('forward mode: raw tunnels', () => {
  it('--ignore-hosts: the client gets the upstream’s own certificate, bytes relayed untouched, a tunnel event', async () => {
    const pki = makeTestPki();
    const up = await tlsUpstream(pki);
    const h = await harness({ ignoreHosts: [parseHostGlob('local*', '--ignore-hosts')] });
    const socket = await h.connect(`localhost:${up.port}`);
    const tlsMod = await import('node:tls');
    const t = tlsMod.connect({ socket, servername: 'localhost', ca: pki.caPem });
    await new Promise<void>((resolve, reject) => {
      t.once('secureConnect', resolve);
      t.once('error', reject);
    });
    expect(t.getPeerX509Certificate()!.checkIssued(new crypto.X509Certificate(pki.caPem))).toBe(true);
    t.write(`GET /direct HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    expect(await readAll(t)).toContain('hello /direct');
    const tunnel = await h.event('tunnel');
    expect(tunnel).toMatchObject({ target: `localhost:${up.port}`, why: 'ignore-hosts' });
    expect(tunnel.bytes.client).toBeGreaterThan(100);
    expect(tunnel.bytes.server).toBeGreaterThan(100);
  });

  it('an ignored host whose port refuses: an upstream-connect error event and the tunnel closed', async () => {
    const dead = await closedPort();
    const h = await harness({ ignoreHosts: [parseHostGlob('pinned.example.test', '--ignore-hosts')] });
    const socket = await h.connect(`127.0.0.1:${dead}`);
    socket.resume();
    const closed = waitClose(socket);
    socket.write(await clientHello('pinned.example.test'));
    await closed;
    expect(await h.event('error')).toMatchObject({ stage: 'upstream-connect', code: 'ECONNREFUSED', detail: expect.stringContaining(`tunnel to 127.0.0.1:${dead}`) });
  });

  it('a client that sends nothing (server speaks first) gets a raw tunnel after the timeout', async () => {
    const banner = net.createServer((s) => {
      s.end('220 hello from a server-speaks-first protocol\r\n');
    });
    await new Promise<void>((r) => banner.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => banner.close(() => r())));
    const h = await harness({ firstByteTimeoutMs: 50 });
    const socket = await h.connect(`127.0.0.1:${(banner.address() as AddressInfo).port}`);
    socket.resume();
    expect(await readAll(socket)).toBe('220 hello from a server-speaks-first protocol\r\n');
    expect(await h.event('tunnel')).toMatchObject({ why: 'client-silent', bytes: { client: 0, server: Buffer.byteLength('220 hello from a server-speaks-first protocol\r\n') } });
  });
});

describe('forward mode: bad input', () => {
  it('malformed CONNECT targets are answered 400; a refusing port gives 502 for the request, the proxy goes on', async () => {
    const h = await harness();
    for (const target of ['nohost', 'a b:443', 'example.test:0', 'example.test:99999', '[::1:443', 'user@host:443', ':443', 'host:-1']) {
      const res = await rawRequest(h.proxy.port, `CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res, target).toMatch(/^HTTP\/1\.1 400/);
    }
    const dead = await closedPort();
    const socket = await h.tlsThrough(`localhost:${dead}`);
    socket.write(`GET / HTTP/1.1\r\nHost: localhost:${dead}\r\nConnection: close\r\n\r\n`);
    expect(await readAll(socket)).toMatch(/^HTTP\/1\.1 502/);
    expect(await h.event('error')).toMatchObject({ stage: 'upstream-connect', code: 'ECONNREFUSED' });
  });

  it('aborted, garbage and slow TLS handshakes: an error event and a closed socket each, no crash', async () => {
    const h = await harness({ tlsHandshakeTimeoutMs: 200 });
    // Half a ClientHello, then a reset.
    const a = await h.connect('abort.example.test:443');
    a.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
    a.resetAndDestroy();
    // A TLS record header followed by garbage.
    const g = await h.connect('garbage.example.test:443');
    g.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x20]), Buffer.alloc(0x20, 0xee)]));
    g.resume();
    const gClosed = waitClose(g);
    // A slowloris: the first bytes of a ClientHello and then nothing.
    const s = await h.connect('slow.example.test:443');
    s.write(Buffer.from([0x16, 0x03, 0x01]));
    s.resume();
    const sClosed = waitClose(s);
    await gClosed;
    await sClosed;
    // A whole ClientHello, then the client leaves before answering the ServerHello.
    const l = await h.connect('leave.example.test:443');
    l.write(await clientHello('leave.example.test'));
    const lClosed = waitClose(l);
    l.once('data', () => l.destroy());
    l.resume();
    await lClosed;
    const handshakeErrors = h.events.filter((e) => e.type === 'error' && e.stage === 'handshake').map((e) => (e as { detail: string }).detail);
    expect(handshakeErrors).toEqual(expect.arrayContaining([expect.stringMatching(/garbage\.example\.test/)]));
    expect(handshakeErrors).toEqual(expect.arrayContaining([expect.stringMatching(/slow\.example\.test.*no complete ClientHello/)]));
    // The client's close reaches the proxy after the client saw it: wait for the event.
    expect(await h.event('error', (e) => /CONNECT leave\.example\.test:443\) failed/.test(e.detail))).toMatchObject({ stage: 'handshake' });
    // The proxy still serves.
    const after = await h.tlsThrough('still.example.test:443');
    expect(after.getPeerX509Certificate()!.subjectAltName).toBe('DNS:still.example.test');
  });
});

/** The bytes of a real ClientHello from Node's TLS client, caught by a plain TCP server. */
async function clientHello(servername: string): Promise<Buffer> {
  const caught = deferred<Buffer>();
  const catcher = net.createServer((s) => s.once('data', (chunk: Buffer) => {
    caught.resolve(chunk);
    s.destroy();
  }));
  await new Promise<void>((r) => catcher.listen(0, '127.0.0.1', r));
  const tlsMod = await import('node:tls');
  const c = tlsMod.connect({ port: (catcher.address() as AddressInfo).port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await withTimeout(caught.promise, 'a ClientHello');
  c.destroy();
  await new Promise<void>((r) => catcher.close(() => r()));
  return hello;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function waitClose(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return withTimeout(new Promise<void>((r) => socket.once('close', () => r())), 'socket close');
}

function readAll(socket: net.Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return withTimeout(
    new Promise<string>((resolve) => {
      socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    }),
    'the answer',
  );
}

function readUntil(socket: net.Socket, marker: string): Promise<string> {
  let text = '';
  return withTimeout(
    new Promise<string>((resolve) => {
      const onData = (c: Buffer): void => {
        text += c.toString('latin1');
        if (text.includes(marker)) {
          socket.removeListener('data', onData);
          resolve(text);
        }
      };
      socket.on('data', onData);
    }),
    `'${marker}'`,
  );
}

async function rawRequest(port: number, request: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(request);
  return readAll(socket);
}

async function waitCount(h: ForwardHarness, type: 'error', n: number) {
  await withTimeout(
    (async () => {
      while (h.events.filter((e) => e.type === type).length < n) await h.event(type, (e) => h.events.filter((x) => x.type === type).indexOf(e) === n - 1);
    })(),
    `${n} ${type} events`,
  );
  return h.events.filter((e) => e.type === type);
}
