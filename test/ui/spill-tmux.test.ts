/**
 * Live `--ui tui` without -w writes no capture: rows the dashboard evicts go to its own spill file,
 * private (0600 in a 0700 directory) under TMPDIR while it runs, and nothing is left after q.
 */
import * as fs from 'node:fs';
import { expectPrivateSpill, filesBelow } from '../helpers/spill-files.js';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { withTimeout } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { killTmuxServer, TmuxSession } from './tmux.js';

const ROOT = path.resolve(__dirname, '../..');

/** Every file under `dir`, relative (but tsx's compile cache, which bin/frametap.js keeps in TMPDIR). */

describe('dashboard without -w', () => {
  let session: TmuxSession | null = null;
  let server: WebSocketServer | null = null;
  let tmp: string | null = null;
  afterEach(async () => {
    session?.kill();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    session = server = tmp = null;
  });
  afterAll(() => killTmuxServer());

  itWith('tmux')('spills to a private file while it runs, leaves no capture and no temp dir after q', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise<void>((resolve) => server!.once('listening', resolve));
    const { port } = server.address() as { port: number };
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-spill-tmux-'));
    const cwd = path.join(tmp, 'cwd');
    const temp = path.join(tmp, 'temp');
    fs.mkdirSync(cwd);
    fs.mkdirSync(temp);

    session = new TmuxSession();
    session.start(`TMPDIR='${temp}' node '${path.join(ROOT, 'bin/frametap.js')}' -u ws://127.0.0.1:${port} -l 127.0.0.1:0 --ui tui`, cwd);
    const s = session;
    const banner = await s.waitFor(/127\.0\.0\.1:(\d+) → ws:\/\/127\.0\.0\.1/, 15_000);
    const proxyPort = Number(/127\.0\.0\.1:(\d+) → ws:\/\/127\.0\.0\.1/.exec(banner)![1]);

    const ws = new WebSocket(`ws://127.0.0.1:${proxyPort}/`);
    await withTimeout(new Promise((resolve) => ws.once('open', resolve)), 'open');
    for (let i = 0; i < 20; i++) {
      const echoed = new Promise((resolve) => ws.once('message', resolve));
      ws.send(`spilled row ${i}`);
      await withTimeout(echoed, 'echo');
    }
    await s.waitFor('spilled row 19');

    // While it runs: one private directory holding the spill file, and no capture anywhere.
    expectPrivateSpill(temp, 'spilled row 19');
    expect(filesBelow(cwd)).toEqual([]);

    ws.close();
    s.keys('q');
    await s.waitFor('EXIT=0', 10_000);
    expect(filesBelow(temp)).toEqual([]);
    expect(filesBelow(cwd)).toEqual([]);
  }, 45_000);
});
