/**
 * The dashboard's commands on live traffic (GateControl), in-process proxy, real ws peers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { GateSetup } from '../../src/gate/gate-setup.js';
import { GateControl } from '../../src/gate/gate-control.js';
import { startHarness, type Harness } from '../proxy/harness.js';
import { deferred, waitFor, withTimeout } from '../helpers/deferred.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  readonly h: Harness;
  readonly control: GateControl;
  readonly client: WebSocket;
  readonly server: WebSocket;
  readonly atServer: string[];
  readonly atClient: string[];
  readonly changed: (notify: () => void) => () => void;
  readonly wss: WebSocketServer;
}

async function setup(): Promise<Setup> {
  const atServer: string[] = [];
  const atClient: string[] = [];
  const listeners = new Set<() => void>();
  const notify = (): void => {
    for (const l of listeners) l();
  };
  const httpServer = http.createServer();
  const wss = new WebSocketServer({ server: httpServer });
  const serverSide = deferred<WebSocket>();
  wss.on('connection', (ws) => {
    ws.on('message', (d) => {
      atServer.push(d.toString());
      notify();
    });
    ws.on('ping', () => {
      atServer.push('<ping>');
      notify();
    });
    serverSide.resolve(ws);
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); httpServer.close(() => r()); }));
  const gate = GateSetup.empty();
  const control = new GateControl(gate);
  const h = await startHarness(`ws://127.0.0.1:${(httpServer.address() as AddressInfo).port}`, { gate });
  cleanups.push(() => h.proxy.stop());
  const client = new WebSocket(h.wsUrl);
  client.on('message', (d) => {
    atClient.push(d.toString());
    notify();
  });
  client.on('error', () => {});
  await new Promise((r) => client.once('open', r));
  const server = await withTimeout(serverSide.promise, 'the server side');
  const changed = (n: () => void): (() => void) => {
    listeners.add(n);
    const off = h.bus.subscribe('control-test', () => n());
    return () => {
      listeners.delete(n);
      off();
    };
  };
  return { h, control, client, server, atServer, atClient, changed, wss };
}

describe('GateControl', () => {
  it('a breakpoint holds; later messages wait behind it; edit sends the edited text, then the rest follows', async () => {
    const s = await setup();
    s.control.breakpoints.add('client /order/');
    s.client.send('hello');
    await waitFor(s.changed, () => s.atServer.length === 1, 'hello at the server');
    s.client.send('new order 42');
    s.client.send('after');
    const held = await waitFor(s.changed, () => s.control.held()[0], 'the held message');
    expect(held).toMatchObject({ conn: 1, ref: { from: 'client', index: 1 }, view: { text: 'new order 42' } });
    expect(s.atServer).toEqual(['hello']);
    expect(s.control.edit(1, 'client', 1, { opcode: 1, data: Buffer.from('new order 43') })).toBe(true);
    await waitFor(s.changed, () => s.atServer.length === 3, 'the edit and the rest');
    expect(s.atServer).toEqual(['hello', 'new order 43', 'after']);
    expect(s.control.held()).toEqual([]);
    const intercepts = s.h.events.filter((e) => e.type === 'intercept').map((e) => `${(e as { action: string }).action} ${(e as { by: string }).by}`);
    expect(intercepts).toEqual(['hold user', 'edit user']);
  });

  it('interception off releases everything held and holds no more', async () => {
    const s = await setup();
    s.control.breakpoints.add('');
    s.client.send('one');
    s.server.send('two');
    await waitFor(s.changed, () => s.control.held().length === 2, 'two held');
    expect(s.control.interceptionOff()).toBe(2);
    await waitFor(s.changed, () => s.atServer.length === 1 && s.atClient.length === 1, 'both delivered');
    s.client.send('three');
    await waitFor(s.changed, () => s.atServer.length === 2, 'three passes');
    expect(s.control.held()).toEqual([]);
  });

  it('inject toward either side, ping, then close toward both', async () => {
    const s = await setup();
    expect(s.control.inject(1, 'client', { opcode: 1, data: Buffer.from('from frametap') })).toBe(true);
    expect(s.control.inject(1, 'server', { opcode: 2, data: Buffer.from([1, 2]) })).toBe(true);
    expect(s.control.ping(1, 'server')).toBe(true);
    await waitFor(s.changed, () => s.atClient.length === 1 && s.atServer.length === 2, 'the injections and the ping');
    expect(s.atClient).toEqual(['from frametap']);
    expect(s.atServer).toEqual(['\u0001\u0002', '<ping>']);
    const clientClosed = new Promise<number>((r) => s.client.once('close', (code) => r(code)));
    const serverClosed = new Promise<number>((r) => s.server.once('close', (code) => r(code)));
    expect(s.control.close(1, 'both', 4000, 'bye')).toBe(true);
    expect(await withTimeout(clientClosed, 'client close')).toBe(4000);
    expect(await withTimeout(serverClosed, 'server close')).toBe(4000);
    const actions = s.h.events.filter((e) => e.type === 'intercept').map((e) => `${(e as { action: string }).action}:${(e as { from: string }).from}`);
    expect(actions).toEqual(['inject:server', 'inject:client', 'ping:client', 'close:client', 'close:server']);
  });

  it('a handshake breakpoint holds the upgrade request: a forwards it, d refuses it with 403', async () => {
    const s = await setup();
    s.control.breakpoints.add('handshake path:^/hold');
    expect(() => s.control.breakpoints.add('handshake client')).toThrow(/goes with path:REGEX only/);
    const held = new WebSocket(`${s.h.wsUrl}/hold/1`);
    held.on('error', () => {});
    const opened = new Promise((r) => held.once('open', r));
    await waitFor(s.changed, () => s.control.heldHandshakes().length === 1, 'the held upgrade');
    expect(s.control.heldHandshakes()).toEqual([{ conn: 2, target: '/hold/1', stage: 'request' }]);
    // Another path is not held.
    const free = new WebSocket(`${s.h.wsUrl}/free`);
    await new Promise((r) => free.once('open', r));
    free.close();
    expect(s.control.forwardHandshake(2)).toBe(true);
    await withTimeout(opened, 'the forwarded upgrade');
    held.close();

    const refused = new WebSocket(`${s.h.wsUrl}/hold/2`);
    const status = deferred<number>();
    refused.on('unexpected-response', (_req, res) => status.resolve(res.statusCode ?? 0));
    refused.on('error', () => {});
    await waitFor(s.changed, () => s.control.heldHandshakes().length === 1, 'the second held upgrade');
    s.control.dropHandshake(s.control.heldHandshakes()[0]!.conn);
    expect(await withTimeout(status.promise, 'the refusal')).toBe(403);
    const actions = s.h.events.filter((e) => e.type === 'intercept').map((e) => `${(e as { action: string }).action}:${(e as { conn: number }).conn}`);
    expect(actions).toEqual(['hold:2', 'release:2', 'hold:4', 'refuse:4']);
  });

  it("a 101 breakpoint holds the upstream's 101: a relays it (and what followed it), d refuses the client with 403 and closes the upstream", async () => {
    const s = await setup();
    s.control.breakpoints.add('101 path:^/late');
    expect(() => s.control.breakpoints.add('101 server')).toThrow(/goes with path:REGEX only/);
    expect(() => s.control.breakpoints.add('101 handshake')).toThrow(/one breakpoint holds one of them/);
    // The upstream speaks first, right after its 101: those frames must wait with the 101.
    const upstreamSide: WebSocket[] = [];
    s.wss.on('connection', (ws, req) => {
      if (!req.url?.startsWith('/late')) return;
      upstreamSide.push(ws);
      ws.send(`first ${req.url}`);
    });
    const held = new WebSocket(`${s.h.wsUrl}/late/1`);
    held.on('error', () => {});
    let opened = false;
    const got = deferred<string>();
    held.once('open', () => (opened = true));
    held.once('message', (d) => got.resolve(d.toString()));
    await waitFor(s.changed, () => s.control.heldHandshakes().length === 1, 'the held 101');
    expect(s.control.heldHandshakes()).toEqual([{ conn: 2, target: '/late/1', stage: 'response' }]);
    // The upstream accepted and spoke; the client has heard nothing.
    await waitFor(s.changed, () => upstreamSide.length === 1, 'the upstream side');
    expect(opened).toBe(false);
    expect(s.control.held()).toEqual([]);
    expect(s.control.forwardHandshake(2)).toBe(true);
    expect(await withTimeout(got.promise, 'the first message after the 101')).toBe('first /late/1');
    expect(opened).toBe(true);
    held.send('and back');
    await waitFor(s.changed, () => s.atServer.includes('and back') || upstreamSide[0]!.readyState !== WebSocket.OPEN, 'the reply');
    held.close();

    const refused = new WebSocket(`${s.h.wsUrl}/late/2`);
    const status = deferred<{ code: number; body: string }>();
    refused.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => status.resolve({ code: res.statusCode ?? 0, body }));
    });
    refused.on('error', () => {});
    await waitFor(s.changed, () => s.control.heldHandshakes().length === 1, 'the second held 101');
    await waitFor(s.changed, () => upstreamSide.length === 2, 'the second upstream side');
    const upstreamClosed = new Promise<number>((r) => upstreamSide[1]!.once('close', (code) => r(code)));
    expect(s.control.dropHandshake(s.control.heldHandshakes()[0]!.conn)).toBe(true);
    expect(await withTimeout(status.promise, 'the refusal')).toEqual({ code: 403, body: 'frametap: the 101 response was dropped at a breakpoint\n' });
    // The upstream's connection is closed without a close frame (it never became a WebSocket for the client).
    expect(await withTimeout(upstreamClosed, 'the upstream closed')).toBe(1006);
    const intercepts = s.h.events
      .filter((e) => e.type === 'intercept')
      .map((e) => `${(e as { action: string }).action}:${(e as { from: string }).from}:${(e as { conn: number }).conn}`);
    expect(intercepts).toEqual(['hold:server:2', 'release:server:2', 'hold:server:3', 'refuse:server:3']);
    const refusedHandshake = s.h.events.find((e) => e.type === 'handshake' && e.conn === 3) as { response: { status: number; byFrametap?: boolean } } | undefined;
    expect(refusedHandshake?.response).toMatchObject({ status: 403, byFrametap: true });
  });

  it('cut ends both sides with 1006', async () => {
    const s = await setup();
    const clientClosed = new Promise<number>((r) => s.client.once('close', (code) => r(code)));
    expect(s.control.cut(1)).toBe(true);
    expect(await withTimeout(clientClosed, 'client close')).toBe(1006);
    expect(await s.h.event('end')).toMatchObject({ code: 1006 });
    expect(s.control.connection(1)).toBeNull();
  });
});
