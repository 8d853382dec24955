/**
 * The gate in the live proxy, with real peers on 127.0.0.1:0: raw sockets where the test must see
 * the exact bytes a peer received, real `ws` clients and servers where a peer's behaviour is the
 * point (heartbeats, reconnects, permessage-deflate).
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, afterAll } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeFrame } from '../../src/protocol/frame-encoder.js';
import { GateSetup } from '../../src/gate/gate-setup.js';
import { startHarness, type Harness } from '../proxy/harness.js';
import { connectRawClient, startRawServer, type RawServer } from '../helpers/raw-peers.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { receive } from './ws-receiver.js';

const KEY = Buffer.from('0badf00d', 'hex');
const clientText = (s: string): Buffer => encodeFrame({ opcode: 1, payload: Buffer.from(s), mask: KEY });
const serverText = (s: string): Buffer => encodeFrame({ opcode: 1, payload: Buffer.from(s) });

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-gate-proxy-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function setup(flags: Parameters<typeof GateSetup.fromFlags>[0]): Promise<GateSetup> {
  const problems: string[] = [];
  const s = await GateSetup.fromFlags(flags, (p) => problems.push(p));
  if (s === null) throw new Error('no gate');
  cleanups.push(() => s.close());
  return s;
}

function rulesFile(rules: unknown): string {
  const file = path.join(dir, `rules-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(rules));
  return file;
}

async function harness(upstream: string, gate: GateSetup | null): Promise<Harness> {
  const h = await startHarness(upstream, { gate });
  cleanups.push(() => h.proxy.stop());
  return h;
}

async function rawServer(options: Parameters<typeof startRawServer>[0] = {}): Promise<RawServer> {
  const s = await startRawServer(options);
  cleanups.push(() => s.close());
  return s;
}

describe('gate in the proxy: actions seen byte-exact by raw peers', () => {
  it('drops and edits client messages; unchanged ones arrive as their original bytes; the server side is untouched', async () => {
    const server = await rawServer({ afterUpgrade: Buffer.concat([serverText('hello'), serverText('world')]) });
    const gate = await setup({
      rules: rulesFile([
        { name: 'no-secrets', match: { from: 'client', text: 'secret' }, action: 'drop' },
        { name: 'shout', match: { from: 'client', text: '^edit' }, action: 'edit', text: 'EDITED' },
      ]),
    });
    const h = await harness(server.url, gate);
    const client = await connectRawClient(h.proxy.port);
    const sent = [clientText('one'), clientText('secret stuff'), clientText('edit me'), clientText('four')];
    client.socket.write(Buffer.concat(sent));
    const conn = await server.connection();
    const edited = encodeFrame({ opcode: 1, payload: Buffer.from('EDITED'), mask: Buffer.alloc(4) }).length;
    const got = await conn.received.atLeast(sent[0]!.length + edited + sent[3]!.length);
    // Original bytes (original masking key) for unchanged messages; the edit framed anew.
    expect(got.subarray(0, sent[0]!.length).equals(sent[0]!)).toBe(true);
    expect(got.subarray(got.length - sent[3]!.length).equals(sent[3]!)).toBe(true);
    const editFrame = got.subarray(sent[0]!.length, sent[0]!.length + edited);
    expect(editFrame.subarray(2, 6).equals(KEY)).toBe(false);
    expect((await receive(got, 'client')).map((r) => (r.kind === 'message' ? r.data.toString() : r.kind))).toEqual(['one', 'EDITED', 'four']);
    // The server's bytes reach the client untouched.
    const down = await client.received.atLeast(serverText('hello').length + serverText('world').length);
    expect(down.equals(Buffer.concat([serverText('hello'), serverText('world')]))).toBe(true);
    const intercepts = await withTimeout(
      (async () => {
        await h.event('intercept', (e) => e.action === 'edit');
        return h.events.filter((e) => e.type === 'intercept');
      })(),
      'intercepts',
    );
    expect(intercepts).toMatchObject([
      { type: 'intercept', from: 'client', action: 'drop', by: 'rule', name: 'no-secrets', ref: { from: 'client', index: 1 } },
      { type: 'intercept', from: 'client', action: 'edit', by: 'rule', name: 'shout', ref: { from: 'client', index: 2 }, message: { opcode: 1, length: 6, text: 'EDITED' } },
    ]);
    // The sender's messages are recorded as sent.
    await h.event('message', (e) => e.from === 'client' && 'text' in e && e.text === 'four');
    expect(h.events.filter((e) => e.type === 'message' && e.from === 'client').map((e) => (e as { text?: string }).text)).toEqual(['one', 'secret stuff', 'edit me', 'four']);
  });

  it('a rule that responds answers the client in place of the server', async () => {
    const server = await rawServer();
    const gate = await setup({ rules: rulesFile([{ match: { text: '^ping$' }, action: 'respond', text: 'pong' }]) });
    const h = await harness(server.url, gate);
    const client = await connectRawClient(h.proxy.port);
    client.socket.write(Buffer.concat([clientText('ping'), clientText('other')]));
    const got = await client.received.atLeast(serverText('pong').length);
    expect(got.equals(serverText('pong'))).toBe(true);
    const conn = await server.connection();
    expect((await conn.received.atLeast(clientText('other').length)).equals(clientText('other'))).toBe(true);
  });
});

describe('gate in the proxy: faults with real ws peers', () => {
  it('refuse=503 answers the upgrade with 503 and never dials the upstream', async () => {
    const server = await rawServer();
    const gate = await setup({ fault: ['refuse=503'] });
    const h = await harness(server.url, gate);
    const ws = new WebSocket(h.wsUrl);
    const status = deferred<number>();
    ws.on('unexpected-response', (_req, res) => status.resolve(res.statusCode ?? 0));
    ws.on('error', () => {});
    expect(await withTimeout(status.promise, 'the refusal')).toBe(503);
    const hs = await h.event('handshake');
    expect(hs).toMatchObject({ upgraded: false, response: { status: 503, byFrametap: true } });
    expect(await h.event('intercept')).toMatchObject({ action: 'refuse', by: 'fault', name: 'refuse=503' });
  });

  it('a ws client with a heartbeat terminates when the server\'s pongs are swallowed', async () => {
    const { url, close } = await wsServer();
    cleanups.push(close);
    const gate = await setup({ fault: ['swallow=pong@server'] });
    const h = await harness(url, gate);
    const ws = new WebSocket(h.wsUrl);
    await new Promise((r) => ws.once('open', r));
    let alive = true;
    const ended = deferred<number>();
    // The usual ws heartbeat: ping, and terminate when no pong came back by the next beat.
    const beat = setInterval(() => {
      if (!alive) {
        clearInterval(beat);
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, 100);
    ws.on('pong', () => (alive = true));
    ws.on('close', (code) => ended.resolve(code));
    cleanups.push(() => clearInterval(beat));
    expect(await withTimeout(ended.promise, 'the heartbeat to give up')).toBe(1006);
    expect(await h.event('intercept')).toMatchObject({ action: 'swallow', from: 'server', by: 'fault', detail: 'pong' });
  });

  it('cut-after=3msg cuts the connection and a reconnecting client reconnects', async () => {
    const { url, close, connections } = await wsServer();
    cleanups.push(close);
    const gate = await setup({ fault: ['cut-after=3msg@client'] });
    const h = await harness(url, gate);
    const reconnected = deferred();
    let opens = 0;
    const connect = (): void => {
      const ws = new WebSocket(h.wsUrl);
      ws.on('error', () => {});
      ws.on('open', () => {
        opens++;
        if (opens === 2) {
          reconnected.resolve();
          ws.close();
          return;
        }
        for (let i = 0; i < 5; i++) ws.send(`m${i}`);
      });
      ws.on('close', (code) => {
        if (opens === 1 && code === 1006) connect();
      });
    };
    connect();
    await withTimeout(reconnected.promise, 'the reconnect');
    expect(connections()).toBeGreaterThanOrEqual(2);
    const end = await h.event('end', (e) => e.conn === 1);
    expect(end).toMatchObject({ code: 1006 });
    expect(await h.event('intercept', (e) => e.action === 'cut')).toMatchObject({ by: 'fault', name: 'cut-after=3msg@client' });
  });

  it('latency on one direction shifts round trips by the value, on both by twice (generous bounds)', async () => {
    const { url, close } = await wsServer();
    cleanups.push(close);
    const rtt = async (fault: string[]): Promise<number> => {
      const gate = fault.length ? await setup({ fault }) : null;
      const h = await harness(url, gate);
      const ws = new WebSocket(h.wsUrl);
      await new Promise((r) => ws.once('open', r));
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        const back = new Promise((r) => ws.once('message', r));
        ws.send(`t${i}`);
        await back;
        times.push(performance.now() - start);
      }
      ws.close();
      return Math.min(...times);
    };
    const one = await rtt(['latency=150ms@server']);
    const both = await rtt(['latency=150ms']);
    expect(one).toBeGreaterThanOrEqual(150);
    expect(both).toBeGreaterThanOrEqual(300);
    // Generous upper bounds: a shared 2-core machine may be slow, never this slow.
    expect(one).toBeLessThan(2000);
    expect(both).toBeLessThan(3000);
  });
});

describe('gate in the proxy: permessage-deflate with context takeover', () => {
  it('drop one, edit another, inject and duplicate: every later message arrives with the right text', async () => {
    const received: string[] = [];
    const done = deferred();
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
    const words = ['alpha alpha', 'beta alpha beta', 'gamma beta alpha', 'alpha gamma delta', 'delta delta alpha', 'end alpha beta'];
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        received.push(data.toString());
        if (data.toString().startsWith('end')) done.resolve();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }));
    const script = path.join(dir, 'deflate.mjs');
    fs.writeFileSync(script, `
      export function onMessage(m) {
        if (m.from !== 'client') return;
        if (m.index === 1) return 'drop';
        if (m.index === 2) return { action: 'edit', text: 'EDITED ' + m.text };
        if (m.index === 3) return { action: 'duplicate' };
      }
    `);
    const gate = await setup({ script });
    const h = await harness(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, gate);
    const ws = new WebSocket(h.wsUrl, { perMessageDeflate: { threshold: 0 } });
    await new Promise((r) => ws.once('open', r));
    for (const w of words) ws.send(w);
    await withTimeout(done.promise, 'the last message at the server');
    expect(received).toEqual(['alpha alpha', 'EDITED gamma beta alpha', 'alpha gamma delta', 'alpha gamma delta', 'delta delta alpha', 'end alpha beta']);
    expect(await h.event('intercept', (e) => e.action === 'reencode')).toMatchObject({ from: 'client', ref: { from: 'client', index: 1 } });
    ws.close();
  });
});

async function wsServer(): Promise<{ url: string; close(): Promise<void>; connections(): number }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  let n = 0;
  wss.on('connection', (ws) => {
    n++;
    ws.on('message', (data, binary) => ws.send(data as Buffer, { binary }));
    ws.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
      }),
  };
}
