/**
 * Real `ws` peers through frametap: events in wire order across both directions (capture-format
 * "Order") and how each TCP stream ended (`end.tcp`), with a peer's reset recorded there and not as
 * an `error` event.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startHarness, type Harness } from './harness.js';
import { connectClient } from '../helpers/servers.js';
import { withTimeout } from '../helpers/deferred.js';

let h: Harness | undefined;
let wss: WebSocketServer | undefined;
const clients: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await h?.proxy.stop();
  if (wss) {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss!.close(() => resolve()));
  }
  h = wss = undefined;
});

async function server(onConnection: (ws: WebSocket) => void): Promise<string> {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await once(wss, 'listening');
  wss.on('connection', onConnection);
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

function bulky(n: number, seed: number): string {
  let x = seed;
  let s = '';
  while (s.length < n) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += `word${x % 1000} `;
  }
  return s.slice(0, n);
}

describe('wire order with real peers', () => {
  it('a server that sends large compressed messages then closes 1001: initiator server, code 1001, t never decreases, on every connection', async () => {
    const upstream = await server((ws) => {
      for (let i = 0; i < 4; i++) ws.send(bulky(300_000, i));
      ws.close(1001, 'going away');
    });
    h = await startHarness(upstream);
    const done: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      // Half with permessage-deflate, half without: the uncompressed ones must not be held back.
      const c = new WebSocket(`${h.wsUrl}/c${i}`, { perMessageDeflate: i % 2 === 0 });
      c.on('error', () => {});
      clients.push(c);
      done.push(once(c, 'close'));
    }
    await withTimeout(Promise.all(done), 'every client closed', 20_000);
    await withTimeout(
      (async () => {
        while (h!.events.filter((e) => e.type === 'end').length < 8) await new Promise((r) => setTimeout(r, 20));
      })(),
      'every end',
      20_000,
    );
    for (let conn = 1; conn <= 8; conn++) {
      const events = h.of(conn);
      const times = events.map((e) => (e as { t: number }).t);
      for (let i = 1; i < times.length; i++) expect(times[i], `conn ${conn} event ${i} (${events[i]!.type})`).toBeGreaterThanOrEqual(times[i - 1]!);
      const order = events.filter((e) => e.type === 'message' || e.type === 'close').map((e) => `${e.type}:${(e as { from: string }).from}`);
      expect(order, `conn ${conn}`).toEqual([...Array(4).fill('message:server'), 'close:server', 'close:client']);
      expect(events.at(-1), `conn ${conn}`).toMatchObject({ type: 'end', initiator: 'server', code: 1001, reason: 'going away', clean: true });
    }
  });
});

describe('end.tcp', () => {
  it('a client reset: end.tcp client reset, server cut by frametap, code 1006, and no error event', async () => {
    const upstream = await server(() => {});
    h = await startHarness(upstream);
    const c = await connectClient(h.wsUrl);
    c.ws.send('before');
    await h.event('message');
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy();
    const end = await h.event('end');
    expect(end).toMatchObject({ code: 1006, initiator: null, clean: false, tcp: { client: 'reset', server: 'cut' } });
    expect(h.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('the upstream resets: end.tcp server reset, client cut, no error event', async () => {
    const upstream = await server((ws) => {
      ws.on('message', () => (ws as unknown as { _socket: import('node:net').Socket })._socket.resetAndDestroy());
    });
    h = await startHarness(upstream);
    const c = await connectClient(h.wsUrl);
    c.ws.send('reset me');
    const end = await h.event('end');
    expect(end).toMatchObject({ code: 1006, clean: false, tcp: { client: 'cut', server: 'reset' } });
    expect(h.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('a client FIN without a close frame: end.tcp client fin, code 1006', async () => {
    const upstream = await server(() => {});
    h = await startHarness(upstream);
    const c = await connectClient(h.wsUrl);
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.end();
    const end = await h.event('end');
    expect(end).toMatchObject({ code: 1006, initiator: null, clean: false, tcp: { client: 'fin' } });
    expect(['fin', 'cut']).toContain((end as { tcp: { server: string } }).tcp.server);
  });

  it('a clean close: both fin', async () => {
    const upstream = await server(() => {});
    h = await startHarness(upstream);
    const c = await connectClient(h.wsUrl);
    c.ws.close(1000, 'bye');
    await c.closed;
    const end = await h.event('end');
    expect(end).toMatchObject({ code: 1000, clean: true, initiator: 'client', tcp: { client: 'fin', server: 'fin' } });
  });
});
