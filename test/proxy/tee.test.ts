/**
 * The relay loop on its own, between real TCP socket pairs on 127.0.0.1: bytes untouched and in
 * order, the chunk handed to the inspector only after it was written on, pause on a full write
 * buffer and resume on drain, throttle for capture backpressure, half-close passed on.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Tee } from '../../src/proxy/tee.js';
import type { Side, TcpEnd } from '../../src/session/events.js';
import type { DirectionSink } from '../../src/session/session.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

/** A connected pair: `outer` is the test's peer, `inner` the proxy's socket. */
async function socketPair(): Promise<{ outer: net.Socket; inner: net.Socket; close(): Promise<void> }> {
  const accepted = deferred<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => accepted.resolve(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const outer = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const inner = await accepted.promise;
  outer.on('error', () => {});
  inner.on('error', () => {});
  return {
    outer,
    inner,
    close: async () => {
      outer.destroy();
      inner.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setUp() {
  const client = await socketPair();
  const upstream = await socketPair();
  cleanups.push(client.close, upstream.close);
  const chunks: Array<{ from: Side; bytes: Buffer; writtenBefore: number }> = [];
  const ends: Side[] = [];
  const closed = deferred();
  const sink = (from: Side): DirectionSink => ({
    data: (chunk) => {
      const dst = from === 'client' ? upstream.inner : client.inner;
      chunks.push({ from, bytes: Buffer.from(chunk), writtenBefore: dst.bytesWritten + dst.writableLength });
    },
    end: (_t, how) => {
      ends.push(from);
      hows.push(how);
      return Promise.resolve();
    },
  });
  const hows: TcpEnd[] = [];
  const tee = new Tee(client.inner, upstream.inner, { client: sink('client'), server: sink('server'), onClosed: () => closed.resolve() });
  tee.start();
  return { client, upstream, tee, chunks, ends, hows, closed: closed.promise };
}

function collect(socket: net.Socket, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  const d = deferred<Buffer>();
  socket.on('data', (c: Buffer) => {
    parts.push(c);
    have += c.length;
    if (have >= n) d.resolve(Buffer.concat(parts));
  });
  return withTimeout(d.promise, `${n} bytes`);
}

describe('Tee', () => {
  it('relays both directions untouched, handing each chunk on only after writing it', async () => {
    const { client, upstream, chunks } = await setUp();
    const up = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i & 0xff));
    const down = Buffer.alloc(70_000, 0xab);
    const atServer = collect(upstream.outer, up.length);
    const atClient = collect(client.outer, down.length);
    client.outer.write(up);
    upstream.outer.write(down);
    expect((await atServer).equals(up)).toBe(true);
    expect((await atClient).equals(down)).toBe(true);
    expect(Buffer.concat(chunks.filter((c) => c.from === 'client').map((c) => c.bytes)).equals(up)).toBe(true);
    // When the inspector saw a chunk, the relay had already written (or queued) every byte up to its end.
    let seen = 0;
    for (const c of chunks.filter((x) => x.from === 'client')) {
      seen += c.bytes.length;
      expect(c.writtenBefore).toBeGreaterThanOrEqual(seen);
    }
  });

  it('pauses the reader while the other side’s write buffer is full and resumes on drain', async () => {
    const { client, upstream } = await setUp();
    upstream.outer.pause();
    const total = 32 * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024, 7);
    // Readable emits 'pause' when the relay pauses it: that must be because the write side is full.
    const paused = deferred<boolean>();
    client.inner.once('pause', () => paused.resolve(upstream.inner.writableNeedDrain));
    for (let i = 0; i < total / block.length; i++) client.outer.write(block);
    expect(await withTimeout(paused.promise, 'the reader to pause on a full buffer')).toBe(true);
    // Backpressure, not buffering: far less than what was sent sits in the proxy.
    expect(upstream.inner.writableLength).toBeLessThan(total);
    const all = collect(upstream.outer, total);
    upstream.outer.resume();
    expect((await all).length).toBe(total);
    expect(client.inner.isPaused()).toBe(false);
  });

  it('throttle(true) pauses both readers, throttle(false) resumes them, nothing lost', async () => {
    const { client, upstream, tee } = await setUp();
    tee.throttle(true);
    expect(client.inner.isPaused()).toBe(true);
    expect(upstream.inner.isPaused()).toBe(true);
    const atServer = collect(upstream.outer, 5);
    client.outer.write('hello');
    tee.throttle(false);
    expect(client.inner.isPaused()).toBe(false);
    expect((await atServer).toString()).toBe('hello');
  });

  it('passes a half-close on and reports both stream ends, then the close', async () => {
    const { client, upstream, ends, hows, closed } = await setUp();
    const fin = deferred();
    client.outer.once('end', () => fin.resolve());
    upstream.outer.end();
    await withTimeout(fin.promise, 'FIN at the client');
    const late = collect(upstream.outer, 4);
    client.outer.end('late');
    expect((await late).toString()).toBe('late');
    upstream.outer.destroy();
    await withTimeout(closed, 'both sockets closed');
    expect(ends).toEqual(['server', 'client']);
    expect(hows).toEqual(['fin', 'fin']);
  });
});
