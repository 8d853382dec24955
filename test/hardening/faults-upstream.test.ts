/**
 * Issue 7, "Faults": an upstream that refuses, does not resolve, never answers, or presents a
 * certificate that does not verify. The client gets a 502, the capture an `error` with the right
 * stage and exactly one `end`, and the proxy keeps serving other connections.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Cleanup,
  connectRaw,
  deferred,
  frameFrom,
  ofType,
  rawUpgrade,
  readResponse,
  startProxyUnderTest,
  startRawUpstream,
  waitFor,
  withTimeout,
  type ProxyUnderTest,
} from '../helpers/hostile.js';

const TLS = {
  cert: readFileSync(fileURLToPath(new URL('../../fixtures/tls/cert.pem', import.meta.url))),
  key: readFileSync(fileURLToPath(new URL('../../fixtures/tls/key.pem', import.meta.url))),
};

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function proxyFor(upstream: string, options: Parameters<typeof startProxyUnderTest>[1] = {}): Promise<ProxyUnderTest> {
  const pt = await startProxyUnderTest(upstream, options);
  cleanup.add(() => pt.stop());
  return pt;
}

/** A port nothing listens on: listen, note the port, close. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One upgrade attempt that must be answered 502, with its events. */
async function expectBadGateway(pt: ProxyUnderTest) {
  const known = new Set(pt.ends.keys());
  const attempt = await rawUpgrade(pt.proxy.port);
  cleanup.socket(attempt.socket);
  expect(attempt.response.status).toBe(502);
  const end = await pt.waitForEvent((e) => e.type === 'end' && !known.has(e.conn), 10_000, 'the end of the failed connection');
  const conn = end.type === 'end' ? end.conn : -1;
  expect(ofType(pt.events, 'open', conn)).toHaveLength(1);
  const error = ofType(pt.events, 'error', conn);
  const handshake = ofType(pt.events, 'handshake', conn);
  expect(error).toHaveLength(1);
  expect(handshake).toHaveLength(1);
  expect(handshake[0]).toMatchObject({ response: null, upgraded: false });
  expect(pt.ends.get(conn)).toBe(1);
  return { error: error[0]!, conn };
}

describe('upstream faults', () => {
  it('refused: 502, an upstream-connect error, one end, and the next request is served the same', async () => {
    const pt = await proxyFor(`ws://127.0.0.1:${await deadPort()}`);
    const first = await expectBadGateway(pt);
    expect(first.error).toMatchObject({ stage: 'upstream-connect', code: 'ECONNREFUSED' });
    const end = ofType(pt.events, 'end', first.conn)[0]!;
    expect(end).toMatchObject({ code: 1006, initiator: null, clean: false });
    // Still listening and answering.
    const second = await rawUpgrade(pt.proxy.port);
    cleanup.socket(second.socket);
    expect(second.response.status).toBe(502);
    await waitFor(() => pt.ends.size === 2, 5000, 'the second end');
  });

  it('a name that resolves to nothing: 502 and an upstream-connect error naming the lookup failure', async () => {
    // RFC 6761 §6.4: ".invalid" never resolves.
    const pt = await proxyFor('ws://frametap-test.invalid:9');
    const { error } = await expectBadGateway(pt);
    expect(error.stage).toBe('upstream-connect');
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(error.code);
  });

  it('an upstream that never answers times out with a 502 while another connection is served meanwhile', async () => {
    const never = deferred<void>();
    let requests = 0;
    const upstream = await startRawUpstream({
      // The first upgrade hangs forever; the ones after it are answered at once.
      holdResponse: () => (++requests === 1 ? never.promise : Promise.resolve()),
    });
    cleanup.add(() => upstream.close());
    const pt = await proxyFor(upstream.url, { upstreamTimeoutMs: 400 });

    const hanging = await (async () => {
      const socket = await connectRaw(pt.proxy.port);
      cleanup.socket(socket);
      socket.write(`GET /slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      return socket;
    })();
    await waitFor(() => requests === 1, 5000, 'the first request upstream');

    // While the first one hangs, a second connection upgrades and relays.
    const other = await rawUpgrade(pt.proxy.port, { target: '/fast' });
    cleanup.socket(other.socket);
    expect(other.response.status).toBe(101);
    other.socket.write(frameFrom('client', { opcode: 1, payload: Buffer.from('meanwhile') }));
    await pt.waitForEvent((e) => e.type === 'message' && e.text === 'meanwhile', 5000, 'the other connection message');

    const answer = await readResponse(hanging, 10_000);
    expect(answer.status).toBe(502);
    const error = await pt.waitForEvent((e) => e.type === 'error', 5000, 'the timeout error');
    expect(error).toMatchObject({ stage: 'handshake', code: 'ETIMEDOUT', conn: 1 });
    await waitFor(() => pt.ends.get(1) === 1, 5000, 'the end of the timed-out connection');
    expect(pt.ends.has(2)).toBe(false);
    never.resolve();
  });

  it('a certificate that does not verify: 502 and an upstream-tls error; with --insecure the same upstream works', async () => {
    const server = https.createServer(TLS);
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.add(async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const url = `wss://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

    const strict = await proxyFor(url);
    const { error } = await expectBadGateway(strict);
    expect(error.stage).toBe('upstream-tls');
    expect(error.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');

    const insecure = await proxyFor(url, { insecure: true });
    const ws = new WebSocket(`ws://127.0.0.1:${insecure.proxy.port}/echo`);
    cleanup.add(() => ws.terminate());
    const echoed = deferred<string>();
    ws.on('open', () => ws.send('over tls'));
    ws.on('message', (data) => echoed.resolve(String(data)));
    ws.on('error', (e) => echoed.reject(e));
    expect(await withTimeout(echoed.promise, 5000, 'the echo over TLS')).toBe('over tls');
    expect(ofType(insecure.events, 'error')).toHaveLength(0);
    expect(ofType(insecure.events, 'message').map((m) => m.text)).toEqual(['over tls', 'over tls']);
  });
});
