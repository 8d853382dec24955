/**
 * A pcapng that stops with a connection still open (the proxy was killed: no `end` record) and many
 * compressed messages: reading it back shows every message, not only those whose inflate happened
 * to finish within a few event-loop turns after the last block.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';

const ROOT = path.resolve(__dirname, '../..');
const MESSAGES = 60;

function frametap(args: readonly string[], onStderr?: (text: string) => void): { done: Promise<{ code: number | null; stdout: string; stderr: string }>; pid: number } {
  const child = spawn(process.execPath, ['bin/frametap.js', ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    onStderr?.(stderr);
  });
  child.stdin.end();
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { done, pid: child.pid! };
}

describe('a pcapng cut short with compressed messages in flight', () => {
  it('view shows every message of the connection that has no end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-cut-deflate-'));
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
    try {
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      server.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
      const upstream = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;

      // Record a clean JSON Lines capture of one deflate connection.
      const jsonl = path.join(dir, 'run.jsonl');
      const listening = deferred<string>();
      const proxy = frametap(['-u', upstream, '-l', '127.0.0.1:0', '--ui', 'none', '-w', jsonl], (err) => {
        const m = /listening on http:\/\/([\d.]+:\d+)/.exec(err);
        if (m) listening.resolve(m[1]!);
      });
      const listen = await withTimeout(listening.promise, 'proxy listening', 20_000);
      const client = new WebSocket(`ws://${listen}/chat`, { perMessageDeflate: true });
      const echoed = deferred<void>();
      let n = 0;
      client.on('message', () => {
        if (++n === MESSAGES) echoed.resolve();
      });
      await new Promise<void>((resolve, reject) => client.once('open', () => resolve()).once('error', reject));
      for (let i = 0; i < MESSAGES; i++) client.send(`message number ${i} `.repeat(150));
      await withTimeout(echoed.promise, 'echoes', 20_000);
      const closed = deferred<void>();
      client.once('close', () => closed.resolve());
      client.close(1000);
      await withTimeout(closed.promise, 'close', 20_000);
      process.kill(proxy.pid, 'SIGINT');
      expect((await proxy.done).code).toBe(0);

      // The same run as a pcapng that was cut before the connection ended: no `end` record.
      const noEnd = path.join(dir, 'no-end.jsonl');
      const lines = fs.readFileSync(jsonl, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('{"type":"end"'));
      fs.writeFileSync(noEnd, `${lines.join('\n')}\n`);
      const pcapng = path.join(dir, 'cut.pcapng');
      expect((await frametap(['export', noEnd, '--pcapng', pcapng]).done).code).toBe(0);

      const viewed = await frametap(['view', pcapng, '--ui', 'log']).done;
      expect(viewed.code).toBe(0);
      const messages = viewed.stdout.split('\n').filter((line) => / message text /.test(line));
      expect(messages).toHaveLength(2 * MESSAGES);
      expect(viewed.stdout).not.toMatch(/ end /);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
