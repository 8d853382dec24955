import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';
import {
  ScenarioClient,
  conversation,
  eventsOf,
  messageShape,
  recordCapture,
  runInProcess,
  startAppServer,
  startCli,
  type RunningCli,
} from './peers.js';

let dir: string;
/** The full conversation; the client closes. */
let chat: string;
/** Welcome, an echo, then the server closes with 4000. */
let serverCloses: string;
/** Welcome, then the server drops the TCP connection (1006). */
let drops: string;
/** The server refused the upgrade with 403. */
let refused: string;
const running: RunningCli[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'frametap-serve-'));
  chat = join(dir, 'chat.jsonl');
  serverCloses = join(dir, 'server-closes.jsonl');
  drops = join(dir, 'drops.jsonl');
  refused = join(dir, 'refused.jsonl');
  const app = await startAppServer();
  try {
    await recordCapture(chat, app.url, conversation);
    await recordCapture(serverCloses, app.url, async (url) => {
      const c = new ScenarioClient(url);
      await c.opened();
      await c.received(1);
      c.ws.send('hello');
      await c.received(2);
      c.ws.send('bye-from-server');
      await withTimeout(c.closed.promise, 'server close');
    });
    await recordCapture(drops, app.url, async (url) => {
      const c = new ScenarioClient(url);
      await c.opened();
      await c.received(1);
      c.ws.send('drop-me');
      await withTimeout(c.closed.promise, 'drop');
    });
  } finally {
    await app.close();
  }
  const refuser = http.createServer();
  refuser.on('upgrade', (_req, socket) => {
    socket.end('HTTP/1.1 403 Forbidden\r\nX-Why: not-you\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
  try {
    await recordCapture(refused, `ws://127.0.0.1:${(refuser.address() as AddressInfo).port}`, async (url) => {
      const ws = new WebSocket(url);
      const status = deferred<number>();
      ws.on('unexpected-response', (_req, res) => status.resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
      await withTimeout(status.promise, '403');
      ws.terminate();
    });
  } finally {
    refuser.closeAllConnections();
    await new Promise<void>((resolve) => refuser.close(() => resolve()));
  }
});

afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function serve(file: string, ...extra: string[]): Promise<{ url: string; cli: RunningCli }> {
  const cli = startCli(['serve', file, '-l', '127.0.0.1:0', ...extra]);
  running.push(cli);
  const m = await cli.waitForStderr(/frametap serving (\S+) on (ws:\/\/127\.0\.0\.1:\d+)\n/);
  expect(m[1]).toBe(file);
  return { url: m[2]!, cli };
}

describe('serve', () => {
  it('--ui log --frames: a line for every frame through it, the client fragments as they were sent', async () => {
    const { url, cli } = await serve(chat, '--ui', 'log', '--frames');
    const r = await runInProcess(['replay', chat, '-u', url, '--pace', 'fast', '--check', '--ui', 'none']);
    expect(r.code).toBe(0);
    const done = await cli.stop('SIGTERM');
    expect(done.code).toBe(0);
    // The replayed client's 'frag-mented' arrives as its three captured frames, each with its line.
    expect(done.stdout).toMatch(/#1 → frame text MASK 5 B "frag-"\n/);
    expect(done.stdout).toMatch(/#1 → frame cont MASK 3 B "men"\n/);
    expect(done.stdout).toMatch(/#1 → message text 11 B 3 frames "frag-mented"\n/);
  });

  it('plays the captured server side to a real client, then the captured close; replay --check against it passes; -w records it; SIGTERM exits 0', async () => {
    const out = join(dir, 'served.jsonl');
    const { url, cli } = await serve(chat, '-w', out, '--ui', 'none');
    const captured = await eventsOf(chat);

    const c = new ScenarioClient(`${url}/chat?room=1`, {}, ['chat']);
    await c.opened();
    expect(c.ws.protocol).toBe('chat');
    expect(c.ws.extensions).toContain('permessage-deflate');
    // The welcome is sent at once, before the client says anything.
    await c.received(1);
    c.ws.send('hello');
    await c.received(2);
    c.ws.send('frag-mented');
    await c.received(3);
    c.ws.send(Buffer.from([1, 2, 3, 4, 5, 250]));
    await c.received(4);
    c.ws.send('{"a":[1,2,3]}');
    await c.received(5);
    const serverSays = messageShape(captured, 'server').map((s) => s.split('|').slice(3).join('|'));
    expect(c.messages.map((m) => (m.isBinary ? m.data.toString('base64') : m.data.toString()))).toEqual(serverSays);
    c.ws.close(1000, 'bye');
    expect(await withTimeout(c.closed.promise, 'close')).toEqual({ code: 1000, reason: 'bye' });

    // The loop closes: replaying the capture against serve of the same capture matches.
    const r = await runInProcess(['replay', chat, '-u', url, '--pace', 'fast', '--check', '--ui', 'log']);
    expect(r.code).toBe(0);
    // --ui log shows the replay's events on stdout, as for live traffic.
    expect(r.stdout).toMatch(/#1 end 1000 .* clean/);
    expect(r.stderr).toContain('the answers match (5 server messages on 1 connection)');

    const done = await cli.stop('SIGTERM');
    expect(done.code).toBe(0);
    expect(done.stderr).not.toContain('differs');
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'capture', mode: 'serve' });
    const served = await eventsOf(out);
    for (const conn of [1, 2]) {
      const mine = served.filter((e) => e.type !== 'error' && e.conn === conn);
      expect(messageShape(mine, 'server').map((s) => s.split('|').slice(3).join('|'))).toEqual(serverSays);
    }
  });

  it('plays the server-initiated close after the message that preceded it, and logs a differing client message', async () => {
    const { url, cli } = await serve(serverCloses, '--ui', 'log');
    const c = new ScenarioClient(url);
    await c.opened();
    await c.received(1);
    c.ws.send('HELLO?');
    await c.received(2);
    expect(JSON.parse(c.messages[1]!.data.toString())).toEqual({ type: 'echo', text: 'hello', n: 1 });
    await cli.waitForStderr(/client 1: message #1 differs from the capture: captured "hello", now "HELLO\?"/);
    c.ws.send('bye-from-server');
    expect(await withTimeout(c.closed.promise, 'server close')).toEqual({ code: 4000, reason: 'server says bye' });
  });

  it('plays an abrupt end as a 1006 drop', async () => {
    const { url } = await serve(drops, '--ui', 'none');
    const c = new ScenarioClient(url);
    await c.opened();
    await c.received(1);
    c.ws.send('drop-me');
    expect((await withTimeout(c.closed.promise, 'drop')).code).toBe(1006);
  });

  it('plays a captured refusal as that refusal, and answers plain HTTP with 404', async () => {
    const { url } = await serve(refused, '--ui', 'none');
    const ws = new WebSocket(url);
    ws.on('error', () => undefined);
    const res = await withTimeout(
      new Promise<http.IncomingMessage>((resolve) => ws.on('unexpected-response', (_req, r) => resolve(r))),
      'refusal',
    );
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-why']).toBe('not-you');
    res.resume();
    ws.terminate();

    const page = await withTimeout(
      new Promise<number>((resolve, reject) =>
        http.get(`${url.replace('ws:', 'http:')}/index.html`, (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        }).on('error', reject),
      ),
      'plain GET',
    );
    expect(page).toBe(404);
  });

  it('bad input: a missing file or no such --conn is one line and exit 2', async () => {
    const missing = await runInProcess(['serve', join(dir, 'nope.jsonl'), '-l', '127.0.0.1:0']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const noConn = await runInProcess(['serve', chat, '--conn', '9', '-l', '127.0.0.1:0']);
    expect(noConn.code).toBe(2);
    expect(noConn.stderr).toMatch(/^frametap: .*has no connection 9 \(it has: 1\)\n$/);
  });
});
