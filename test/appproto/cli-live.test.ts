/**
 * Live `frametap --ui log --pair … --pair-timeout …`: a request the server never answers is
 * reported when its timeout passes, while the connection stays quiet.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';

const BIN = path.resolve(import.meta.dirname, '../../bin/frametap.js');
let child: ChildProcess | undefined;
let server: WebSocketServer | undefined;
let client: WebSocket | undefined;

afterEach(async () => {
  client?.terminate();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  child = server = client = undefined;
});

describe('frametap --ui log, live', () => {
  it('reports an unanswered request after --pair-timeout without further traffic', async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => server!.once('listening', () => resolve()));
    // Answers only the requests that ask for it.
    server.on('connection', (ws) => ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id: number; reply?: boolean };
      if (m.reply) ws.send(JSON.stringify({ id: m.id, ok: true }));
    }));
    const upstream = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    child = spawn(process.execPath, [BIN, '-u', upstream, '-l', '127.0.0.1:0', '--ui', 'log', '--pair', '$.id', '--pair-timeout', '0.5'], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const waiters: Array<{ re: RegExp; d: ReturnType<typeof deferred<string>> }> = [];
    const check = (): void => {
      for (const w of [...waiters]) if (w.re.test(stdout + stderr)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.d.resolve(stdout);
      }
    };
    child.stdout!.on('data', (c: Buffer) => ((stdout += c.toString('utf8')), check()));
    child.stderr!.on('data', (c: Buffer) => ((stderr += c.toString('utf8')), check()));
    const waitFor = (re: RegExp): Promise<string> => {
      const d = deferred<string>();
      waiters.push({ re, d });
      check();
      return withTimeout(d.promise, `${re} in ${JSON.stringify(stdout.slice(-400))}`, 10_000);
    };
    await waitFor(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr)![1]);
    client = new WebSocket(`ws://127.0.0.1:${port}/api`);
    await new Promise<void>((resolve, reject) => (client!.once('open', () => resolve()), client!.once('error', reject)));
    const answered = deferred<void>();
    client.once('message', () => answered.resolve());
    client.send(JSON.stringify({ id: 1, reply: true }));
    await withTimeout(answered.promise, 'the reply');
    client.send(JSON.stringify({ id: 2 }));
    const out = await waitFor(/#1 unanswered: json \{id\} \(no reply in 0\.5 s\)\n/);
    expect(out).toMatch(/← message text \d+ B "\{\\"id\\":1,\\"ok\\":true\}" · json \{id, ok\} \(reply in [\d.]+ (ms|s)\)\n/);
    client.close();
    await waitFor(/#1 pairs: 2 req \/ 1 rep, p50 [\d.]+ (ms|s), p99 [\d.]+ (ms|s), 1 unanswered\n/);
    child.kill('SIGINT');
    const code = await withTimeout(new Promise<number | null>((resolve) => child!.once('close', (c) => resolve(c))), 'frametap to exit');
    expect(code).toBe(0);
  });
});
