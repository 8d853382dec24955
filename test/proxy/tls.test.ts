/**
 * wss:// and https:// upstreams: with --keep-host the client's Host goes upstream unchanged, yet
 * TLS SNI still names the upstream host (Node would otherwise take it from the Host header).
 * Certificate verification and --insecure are covered in test/hardening/faults-upstream.test.ts.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connectClient } from '../helpers/servers.js';
import { startHarness, type Harness } from './harness.js';
import type { HandshakeEvent } from '../../src/session/events.js';

const TLS = {
  cert: readFileSync(fileURLToPath(new URL('../../fixtures/tls/cert.pem', import.meta.url))),
  key: readFileSync(fileURLToPath(new URL('../../fixtures/tls/key.pem', import.meta.url))),
};

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tlsEcho(): Promise<{ port: number; servernames: Array<string | false | null>; hosts: string[] }> {
  const servernames: Array<string | false | null> = [];
  const hosts: string[] = [];
  const server = https.createServer(TLS, (req, res) => {
    hosts.push(req.headers.host ?? '');
    res.writeHead(200).end('over https');
  });
  server.on('secureConnection', (socket: TLSSocket) => servernames.push(socket.servername));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    hosts.push(req.headers.host ?? '');
    ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, servernames, hosts };
}

describe('TLS upstreams', () => {
  it('--keep-host with wss://: the Host header is the client’s, SNI is the upstream host name', async () => {
    const up = await tlsEcho();
    const h: Harness = await startHarness(`wss://localhost:${up.port}`, { keepHost: true, insecure: true });
    cleanups.push(() => h.proxy.stop());
    const c = await connectClient(`${h.wsUrl}/tls`);
    cleanups.push(() => c.ws.terminate());
    c.ws.send('through tls');
    expect((await c.message(0)).data.toString()).toBe('through tls');
    expect(up.hosts).toEqual([`127.0.0.1:${h.proxy.port}`]);
    expect(up.servernames).toEqual(['localhost']);
    const hs = (await h.event('handshake')) as HandshakeEvent;
    expect(hs.forwarded).toBeUndefined();
    expect((await h.event('open')).type).toBe('open');
    expect(h.events.find((e) => e.type === 'open')).toMatchObject({ target: `wss://localhost:${up.port}/tls` });
  });

  it('https:// upstream for plain requests (web()), Host rewritten by default', async () => {
    const up = await tlsEcho();
    const h = await startHarness(`https://localhost:${up.port}`, { insecure: true });
    cleanups.push(() => h.proxy.stop());
    const res = await fetch(`${h.proxy.url}/page`);
    expect(await res.text()).toBe('over https');
    expect(up.hosts).toEqual([`localhost:${up.port}`]);
    expect(up.servernames).toEqual(['localhost']);
    expect(await h.event('http')).toMatchObject({ target: '/page', status: 200 });
  });
});
