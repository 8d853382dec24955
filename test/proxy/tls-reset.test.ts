/**
 * A peer's TCP reset passed on where the other side is a TLS socket (a wss:// upstream; in forward
 * mode the intercepted client too): Node's resetAndDestroy() throws on a TLS socket, which used to
 * be an uncaught exception taking the proxy down. Now that side is closed, and the proxy goes on.
 */
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { resetOrDestroy } from '../../src/proxy/reset.js';
import { connectClient } from '../helpers/servers.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { makeTestPki } from '../helpers/test-ca.js';
import { startHarness } from './harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('a reset toward a TLS socket', () => {
  it('resetOrDestroy: a plain socket’s peer sees a reset, a TLS socket is closed without throwing', async () => {
    const pki = makeTestPki();
    const seen = deferred<string>();
    const plain = net.createServer((s) => {
      s.on('error', (e: NodeJS.ErrnoException) => seen.resolve(e.code ?? 'error'));
      s.on('end', () => seen.resolve('fin'));
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => plain.close(() => r())));
    const c = net.connect((plain.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((r) => c.once('connect', r));
    resetOrDestroy(c);
    expect(await withTimeout(seen.promise, 'the reset')).toBe('ECONNRESET');

    const server = tls.createServer({ cert: pki.certPem, key: pki.keyPem }, (s) => s.on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const t = tls.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ca: pki.caPem, servername: 'localhost' });
    await new Promise<void>((r) => t.once('secureConnect', r));
    expect(() => t.resetAndDestroy()).toThrow(/handle type/i);
    const t2 = tls.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ca: pki.caPem, servername: 'localhost' });
    await new Promise<void>((r) => t2.once('secureConnect', r));
    expect(() => resetOrDestroy(t2)).not.toThrow();
    expect(t2.destroyed).toBe(true);
    t.destroy();
  });

  it('reverse mode, wss:// upstream: a client reset closes the upstream side and the proxy goes on', async () => {
    const pki = makeTestPki();
    const server = https.createServer({ cert: pki.certPem, key: pki.keyPem });
    const wss = new WebSocketServer({ server });
    const upstreamClosed = deferred<void>();
    wss.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.on('close', () => upstreamClosed.resolve());
      ws.on('message', (d) => ws.send(d as Buffer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const h = await startHarness(`wss://localhost:${(server.address() as AddressInfo).port}`, { insecure: true });
    cleanups.push(() => h.proxy.stop());
    const c = await connectClient(`${h.wsUrl}/r`);
    c.ws.send('before the reset');
    await c.message(0);
    (c.ws as unknown as { _socket: net.Socket })._socket.resetAndDestroy();
    expect(await h.event('end')).toMatchObject({ code: 1006, tcp: { client: 'reset', server: 'cut' } });
    await withTimeout(upstreamClosed.promise, 'the upstream side closed');
    const again = await connectClient(`${h.wsUrl}/again`);
    cleanups.push(() => again.ws.terminate());
    again.ws.send('still up');
    expect((await again.message(0)).data.toString()).toBe('still up');
  });
});
