/**
 * Issue 7, "Faults": connection churn. 2000 connections opened and closed through the proxy (some
 * with a close handshake, some dropped without one); afterwards the fd count is back at the
 * baseline and the capture holds exactly one `open` and one `end` per connection. (The full
 * 2000 × 5 with RSS is bench/memory.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { readCaptured } from '../helpers/captured.js';
import { Cleanup, fdCount, pool, startProxyUnderTest, waitFor, withTimeout } from '../helpers/hostile.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe('churn', () => {
  it('2000 connections opened and closed: one open and one end each in the capture, fds back to the baseline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'frametap-churn-'));
    cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => {
      ws.on('error', () => undefined);
      ws.on('message', (data) => ws.send(data));
    });
    cleanup.add(async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const pt = await startProxyUnderTest(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, {
      capturePath: join(dir, 'capture.jsonl'),
      keepEvents: false,
    });
    cleanup.add(() => pt.stop());
    const baseline = fdCount();

    const total = 2000;
    await pool(total, 50, async (i) => {
      const ws = new WebSocket(`ws://127.0.0.1:${pt.proxy.port}/churn/${i}`, { perMessageDeflate: i % 3 === 0 });
      ws.on('error', () => undefined);
      await withTimeout(new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }), 10_000, `connection ${i} to open`);
      const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
      ws.send(`hello ${i}`);
      await withTimeout(echoed, 10_000, `the echo on connection ${i}`);
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      // Every fourth client vanishes without a close frame.
      if (i % 4 === 0) ws.terminate();
      else ws.close(1000, 'bye');
      await withTimeout(closed, 10_000, `connection ${i} to close`);
    });

    await waitFor(() => pt.ends.size === total && pt.proxy.openConnections === 0, 10_000, `all ${total} ends (have ${pt.ends.size})`);
    await waitFor(() => fdCount() <= baseline, 10_000, `fds back to ${baseline} (now ${fdCount()})`);
    await pt.stop();

    const warnings: string[] = [];
    const { events } = await readCaptured(join(dir, 'capture.jsonl'), { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    const opens = new Map<number, number>();
    const ends = new Map<number, { code: number; clean: boolean }[]>();
    for (const e of events) {
      if (e.type === 'open') opens.set(e.conn, (opens.get(e.conn) ?? 0) + 1);
      if (e.type === 'end') ends.set(e.conn, [...(ends.get(e.conn) ?? []), { code: e.code, clean: e.clean }]);
    }
    expect(opens.size).toBe(total);
    expect([...opens.values()].every((n) => n === 1)).toBe(true);
    expect(ends.size).toBe(total);
    expect([...ends.values()].every((list) => list.length === 1)).toBe(true);
    expect([...ends.keys()].sort((a, b) => a - b)).toEqual([...opens.keys()].sort((a, b) => a - b));
    const abrupt = [...ends.values()].filter(([end]) => end!.code === 1006).length;
    expect(abrupt).toBe(total / 4);
  });
});
