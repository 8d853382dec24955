/**
 * The dashboard acting on live traffic in a real terminal (tmux): set a breakpoint, see the message
 * held, edit it with EDITOR set to a script, send it, and read the edited text on the server's side.
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
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-intercept-tmux-'));


describe('dashboard: breakpoint, hold, edit in $EDITOR, forward', () => {
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

  itWith('tmux')('the edited text arrives at the server', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const received = deferred<string>();
    wss.on('connection', (ws) => ws.on('message', (d) => received.resolve(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { for (const c of wss.clients) c.terminate(); wss.close(); server.close(() => r()); }));

    // The "editor": replaces the word in the file it is given (its last argument).
    const editor = path.join(dir, 'editor.sh');
    fs.writeFileSync(editor, '#!/bin/sh\nfor f; do :; done\nsed -i "s/hello/EDITED/" "$f"\n', { mode: 0o700 });
    const port = await freePort();
    session = new TmuxSession();
    session.start(`EDITOR='${editor}' node bin/frametap.js -u ws://127.0.0.1:${(server.address() as AddressInfo).port} -l 127.0.0.1:${port}`, ROOT);
    const s = session;
    await s.waitFor('connections', 15_000);

    s.keys('b');
    await s.waitFor('breakpoint (client|server');
    s.type('client /hello/');
    s.keys('Enter');
    await s.waitFor('breakpoint 1 set: client /hello/');

    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    ws.on('error', () => {});
    cleanups.push(() => ws.terminate());
    await new Promise((r) => ws.once('open', r));
    ws.send('hello world');
    await s.waitFor('HELD 1', 10_000);

    s.keys('e');
    expect(await withTimeout(received.promise, 'the edited message at the server', 10_000)).toBe('EDITED world');
    await s.waitFor('sent the edited #1 client message 0');
    s.keys('q');
    await s.waitFor('EXIT=0', 10_000);
  });
});
