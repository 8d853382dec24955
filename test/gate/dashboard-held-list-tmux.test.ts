/**
 * The held list (`H`) in a real terminal (tmux): two held messages and a held 101 are listed, a
 * person picks the second message and forwards it, and the server gets that one first.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { freePort } from '../helpers/servers.js';
import { WebSocket, WebSocketServer } from 'ws';
import { itWith } from '../helpers/system-deps.js';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { killTmuxServer, TmuxSession } from '../ui/tmux.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-held-list-tmux-'));


describe('dashboard: the held list', () => {
  let session: TmuxSession | null = null;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    session?.kill();
    session = null;
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(() => {
    killTmuxServer();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  itWith('tmux')('H lists what is held; the picked message is the one forwarded', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const received: string[] = [];
    const first = deferred<string>();
    wss.on('connection', (ws) =>
      ws.on('message', (d) => {
        received.push(d.toString());
        first.resolve(d.toString());
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }));
    const port = await freePort();
    session = new TmuxSession();
    session.start(`node bin/frametap.js -u ws://127.0.0.1:${(server.address() as AddressInfo).port} -l 127.0.0.1:${port}`, ROOT);
    const s = session;
    await s.waitFor('connections', 15_000);

    for (const filter of ['client /msg/', '101 path:^/late']) {
      s.keys('b');
      await s.waitFor('breakpoint (client|server');
      s.type(filter);
      s.keys('Enter');
      await s.waitFor(`set: ${filter}`);
    }
    const open = async (p: string): Promise<WebSocket> => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`);
      ws.on('error', () => {});
      cleanups.push(() => ws.terminate());
      await new Promise((r) => ws.once('open', r));
      return ws;
    };
    const a = await open('/a');
    a.send('msg from a');
    await s.waitFor('HELD 1', 10_000);
    const b = await open('/b');
    b.send('msg from b');
    await s.waitFor('HELD 2', 10_000);
    const late = new WebSocket(`ws://127.0.0.1:${port}/late`);
    late.on('error', () => {});
    cleanups.push(() => late.terminate());
    await s.waitFor('HELD 3', 10_000);

    s.keys('H');
    const screen = await s.waitFor((t) => t.includes('msg from b') && t.includes("upstream's 101 to /late"), 10_000);
    expect(screen).toMatch(/▶ #3 upstream's 101 to \/late/);
    expect(screen).toMatch(/ #1 → client message 0 {2}"msg from a"/);
    s.keys('Down');
    await s.waitFor(/▶ #1 → client message 0/);
    s.keys('Down');
    await s.waitFor(/▶ #2 → client message 0 {2}"msg from b"/);
    s.keys('a');
    expect(await withTimeout(first.promise, 'the picked message at the server', 10_000)).toBe('msg from b');
    await s.waitFor('forwarded #2 client message 0');
    expect(received).toEqual(['msg from b']);
    // The list follows: the forwarded message is gone from it.
    await s.waitFor((t) => !t.includes('msg from b') && t.includes('msg from a'));
    // Each key once the one before it took effect: an Esc followed at once by a key reads as Alt+key.
    s.keys('Escape');
    await s.waitFor((t) => !t.includes('▶'));
    s.keys('?');
    await s.waitFor('list what is held');
    // The held list's own keys are in the help too (generated from ui/keymap.ts), a page or two down.
    for (let page = 0; page < 4 && !s.screen().includes('pick the previous held message'); page++) {
      s.keys('PageDown');
      await s.waitFor(/help \(Esc or \? closes/);
    }
    await s.waitFor('pick the previous held message');
    s.keys('Escape');
    await s.waitFor((t) => !/help \(Esc or \? closes/.test(t));
    s.keys('q');
    await s.waitFor('EXIT=0', 10_000);
  });
});
