/**
 * A `101` breakpoint against a raw upstream: the 101 and the frame sent right behind it reach the
 * client byte for byte once forwarded (odd header case and order kept); an upstream that resets
 * while its 101 is held gives the client a 502 and an error event, and frametap goes on.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GateSetup } from '../../src/gate/gate-setup.js';
import { GateControl } from '../../src/gate/gate-control.js';
import { startHarness, type Harness } from '../proxy/harness.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = crypto.createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC11B0D`).digest('base64');
/** What the raw upstream answers: odd case and order (RFC 9110 field names are case-insensitive), a frame right behind. */
const RESPONSE = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nX-Odd:  spaced \r\nUPGRADE: websocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`, 'latin1');
const FRAME = Buffer.from([0x81, 0x05, ...Buffer.from('early')]);

/** A raw upstream: answers each upgrade with RESPONSE+FRAME in one write, then does what `after` says. */
async function rawUpstream(after: (socket: net.Socket) => void): Promise<{ port: number; sockets: net.Socket[]; received: (n: number) => Promise<Buffer> }> {
  const sockets: net.Socket[] = [];
  let afterHead = Buffer.alloc(0);
  const waiters: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head === '\u0000') {
        afterHead = Buffer.concat([afterHead, d]);
        for (const w of waiters.splice(0)) if (afterHead.length >= w.n) w.resolve(afterHead.subarray(0, w.n)); else waiters.push(w);
        return;
      }
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      head = '\u0000';
      socket.write(Buffer.concat([RESPONSE, FRAME]));
      after(socket);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  const received = (n: number): Promise<Buffer> => {
    if (afterHead.length >= n) return Promise.resolve(afterHead.subarray(0, n));
    const d = deferred<Buffer>();
    waiters.push({ n, resolve: d.resolve });
    return withTimeout(d.promise, `${n} bytes at the upstream`);
  };
  return { port: (server.address() as AddressInfo).port, sockets, received };
}

function rawClient(h: Harness, path: string): { socket: net.Socket; until: (n: number) => Promise<Buffer>; closed: Promise<Buffer> } {
  const socket = net.connect(h.proxy.port, '127.0.0.1');
  socket.on('error', () => {});
  cleanups.push(() => void socket.destroy());
  let got = Buffer.alloc(0);
  const waiters: Array<{ n: number; resolve: (b: Buffer) => void }> = [];
  const closed = deferred<Buffer>();
  socket.on('data', (d: Buffer) => {
    got = Buffer.concat([got, d]);
    for (const w of waiters.splice(0)) if (got.length >= w.n) w.resolve(got.subarray(0, w.n)); else waiters.push(w);
  });
  socket.on('close', () => closed.resolve(got));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  return {
    socket,
    until: (n) => {
      if (got.length >= n) return Promise.resolve(got.subarray(0, n));
      const d = deferred<Buffer>();
      waiters.push({ n, resolve: d.resolve });
      return withTimeout(d.promise, `${n} bytes at the client`);
    },
    closed: withTimeout(closed.promise, 'the client connection closed'),
  };
}

async function setup(after: (socket: net.Socket) => void) {
  const up = await rawUpstream(after);
  const gate = GateSetup.empty();
  const control = new GateControl(gate);
  control.breakpoints.add('101');
  const h = await startHarness(`ws://127.0.0.1:${up.port}`, { gate });
  cleanups.push(() => h.proxy.stop());
  return { up, control, h };
}

describe('holding the 101', () => {
  it('forwarded: the client reads the 101 and the frame behind it exactly as the upstream sent them', async () => {
    const { up, control, h } = await setup(() => {});
    const c = rawClient(h, '/x');
    await h.event('intercept', (e) => e.action === 'hold');
    // A client that does not wait for the 101: its frame is kept and relayed once the 101 is.
    const masked = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
    c.socket.write(masked);
    expect(control.heldHandshakes()).toMatchObject([{ conn: 1, stage: 'response' }]);
    expect(control.forwardHandshake(1)).toBe(true);
    const got = await c.until(RESPONSE.length + FRAME.length);
    expect(got.equals(Buffer.concat([RESPONSE, FRAME]))).toBe(true);
    expect((await up.received(masked.length)).equals(masked)).toBe(true);
    expect(await h.event('message', (m) => m.from === 'server')).toMatchObject({ length: 5 });
    expect(h.events.filter((e) => e.type === 'intercept').map((e) => `${(e as { action: string }).action}:${(e as { from: string }).from}`)).toEqual(['hold:server', 'release:server']);
  });

  it('the upstream resets while its 101 is held: the client gets a 502, an error event says why, the proxy goes on', async () => {
    const { up, control, h } = await setup(() => {});
    const c = rawClient(h, '/gone');
    await h.event('intercept', (e) => e.action === 'hold');
    up.sockets[0]!.resetAndDestroy();
    const answer = (await c.closed).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(answer).toContain('closed while its 101 was held');
    expect(answer).not.toContain('101 Switching');
    expect(await h.event('error')).toMatchObject({ stage: 'handshake' });
    expect(await h.event('end')).toMatchObject({ conn: 1 });
    expect(control.heldHandshakes()).toEqual([]);
    // The next connection is held and forwarded as usual.
    const next = rawClient(h, '/next');
    await h.event('intercept', (e) => e.action === 'hold' && e.conn === 2);
    control.forwardAll();
    expect((await next.until(RESPONSE.length)).equals(RESPONSE)).toBe(true);
  });

  it('the client leaves while the 101 is held: the upstream connection is closed, the hold is gone', async () => {
    const { up, control, h } = await setup(() => {});
    const c = rawClient(h, '/leave');
    await h.event('intercept', (e) => e.action === 'hold');
    const upstreamClosed = new Promise<void>((r) => up.sockets[0]!.once('close', () => r()));
    c.socket.destroy();
    await withTimeout(upstreamClosed, 'the upstream closed');
    expect(await h.event('end')).toMatchObject({ conn: 1 });
    expect(control.heldHandshakes()).toEqual([]);
  });
});
