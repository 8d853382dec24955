/**
 * Issue 11, "Capture amplification": 1-byte fragments cost about 60 times their wire size in the
 * capture. `--max-capture SIZE` bounds it: past SIZE no more frames and messages are written (one
 * `error` of stage `capture` says so), every structural event still is, and the relay is untouched.
 * The real CLI, a real `ws` upstream and client on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { CaptureLimit, formatSize } from '../../src/capture/capture-limit.js';
import type { ErrorEvent, SessionEvent } from '../../src/session/events.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { eventsOf, runCli, startCli } from '../replay/peers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const FRAGMENTS = 4000;
const LIMIT = 16 * 1024;

/** Sends one text message as FRAGMENTS frames of 1 byte each, waits for its echo, closes. */
async function fragmentedConversation(url: string): Promise<string> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const echoed = deferred<string>();
  const closed = deferred<void>();
  ws.on('message', (data: Buffer) => echoed.resolve(data.toString()));
  ws.on('close', () => closed.resolve());
  await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'open');
  for (let i = 0; i < FRAGMENTS; i++) ws.send(String(i % 10), { fin: i === FRAGMENTS - 1 });
  const echo = await withTimeout(echoed.promise, 'the echo', 10_000);
  ws.close(1000, 'done');
  await withTimeout(closed.promise, 'close');
  return echo;
}

describe('--max-capture SIZE', () => {
  it('1-byte fragments: frames and messages stop at SIZE, one error says so, every connection keeps open…end, the relay is whole', async () => {
    const dir = fs.mkdtempSync(join(tmpdir(), 'frametap-maxcap-'));
    cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const received: string[] = [];
    wss.on('connection', (ws) => ws.on('message', (data: Buffer) => (received.push(data.toString()), ws.send(data))));
    cleanups.push(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const capture = join(dir, 'c.jsonl');
    const cli = startCli(['-u', `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, '-l', '0', '-w', capture, '--ui', 'none', '--max-capture', '16k']);
    cleanups.push(async () => void (await cli.stop('SIGKILL').catch(() => undefined)));
    const [, url] = await cli.waitForStderr(/listening on http:\/\/(\S+) ->/);

    const expected = Array.from({ length: FRAGMENTS }, (_, i) => String(i % 10)).join('');
    // Two connections, one after the other: the second starts after the limit was reached.
    expect(await fragmentedConversation(`ws://${url}/one`)).toBe(expected);
    expect(await fragmentedConversation(`ws://${url}/two`)).toBe(expected);
    expect(received).toEqual([expected, expected]);
    const done = await cli.stop('SIGTERM');
    expect(done.code).toBe(0);
    expect(done.stderr).toContain('frametap: the capture reached --max-capture 16k: frames and messages are no longer written');

    const size = fs.statSync(capture).size;
    const events = await eventsOf(capture);
    const count = (type: SessionEvent['type']): number => events.filter((e) => e.type === type).length;
    // Without the limit: 2 × 2 × 4000 frame lines of ~200 bytes, over 3 MB.
    const structural = events.filter((e) => e.type !== 'frame' && e.type !== 'message');
    const structuralBytes = structural.reduce((n, e) => n + JSON.stringify(e).length + 1, 0);
    expect(size).toBeLessThan(LIMIT + 4096 + structuralBytes);
    expect(count('frame')).toBeLessThan(200);
    const errors = events.filter((e): e is ErrorEvent => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ stage: 'capture' });
    expect(errors[0]!.detail).toMatch(/^the capture reached --max-capture 16k: frames and messages are no longer written \(open, handshake, close, violation, intercept and end still are\)/);
    for (const conn of [1, 2]) {
      const mine = events.filter((e) => 'conn' in e && e.conn === conn).map((e) => e.type);
      expect(mine.filter((t) => t === 'open')).toHaveLength(1);
      expect(mine.filter((t) => t === 'handshake')).toHaveLength(1);
      expect(mine.filter((t) => t === 'close')).toHaveLength(2);
      expect(mine.filter((t) => t === 'end')).toHaveLength(1);
    }
    // The second connection came after the limit: nothing of its traffic, all of its structure.
    expect(events.filter((e) => (e.type === 'frame' || e.type === 'message') && e.conn === 2)).toEqual([]);
  });

  it('a bad SIZE is a usage error, one line, exit 2', async () => {
    for (const [bad, why] of [['lots', 'expected a byte count like 1048576, 64k, 1m or 1g'], ['0', 'expected a size above 0'], ['12q', 'expected a byte count']]) {
      const r = await runCli(['-u', 'ws://127.0.0.1:1', '-l', '0', '--max-capture', bad!, '--ui', 'none']);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(`bad --max-capture '${bad}': ${why}`);
    }
  });
});

describe('CaptureLimit', () => {
  const frame = { type: 'frame', conn: 1, t: 5, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 1, truncated: false } as unknown as SessionEvent;
  const end = { type: 'end', conn: 1, t: 6 } as unknown as SessionEvent;

  it('admits everything below the limit, then only structural events; one notice', () => {
    const limit = new CaptureLimit(100);
    expect(limit.admit(frame, 99)).toEqual({ write: true, notice: null });
    const first = limit.admit(frame, 100);
    expect(first.write).toBe(false);
    expect(first.notice).toMatchObject({ type: 'error', stage: 'capture', t: 5 });
    expect(limit.admit(frame, 100)).toEqual({ write: false, notice: null });
    // Once reached it stays reached, whatever size is reported.
    expect(limit.admit(frame, 0)).toEqual({ write: false, notice: null });
    expect(limit.admit(end, 10_000)).toEqual({ write: true, notice: null });
    expect(limit.dropped).toBe(3);
  });

  it('sizes read as they are written', () => {
    expect([formatSize(16 * 1024), formatSize(3 * 1024 ** 2), formatSize(1024 ** 3), formatSize(1000)]).toEqual(['16k', '3m', '1g', '1000 bytes']);
  });
});
