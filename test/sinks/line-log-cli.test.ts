/**
 * `--ui log` as a pipe sees it: a reader that stops reading slows the relay (said once on stderr)
 * instead of growing memory, and SIGTERM still exits with the reader stalled, dropping what
 * cannot be written (the log is a view, not a record) with a note on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';

const ROOT = path.resolve(__dirname, '../..');
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function echoServer(): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return (wss.address() as { port: number }).port;
}

describe('--ui log with a stalled reader', () => {
  it('slows the relay instead of buffering, and SIGTERM still exits, dropping the rest with a note', async () => {
    const upstream = await echoServer();
    const child: ChildProcess = spawn(process.execPath, ['bin/frametap.js', '-u', `ws://127.0.0.1:${upstream}`, '-l', '127.0.0.1:0', '--ui', 'log'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    // Nobody reads stdout from here on.
    child.stdout!.pause();
    let stderr = '';
    const listening = deferred<number>();
    const slowed = deferred();
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) listening.resolve(Number(m[1]));
      if (stderr.includes('cannot keep up')) slowed.resolve();
    });
    const port = await withTimeout(listening.promise, 'the listening line', 10_000);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    cleanups.push(() => {
      ws.terminate();
    });
    await withTimeout(new Promise<void>((resolve) => ws.once('open', () => resolve())), 'the client to connect');
    // Many small messages make many log lines: far more than the pipe and the log's queue hold.
    const message = 'm'.repeat(100);
    const pump = (): void => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // Paced by the client's own socket buffer, so a throttled proxy stops the pump.
      while (ws.bufferedAmount < 256 * 1024) ws.send(message);
      setImmediate(pump);
    };
    pump();
    await withTimeout(slowed.promise, 'the log to say it slows the relay', 20_000);
    expect(stderr.match(/cannot keep up/g)).toHaveLength(1);
    // SIGTERM with stdout still stalled: frametap exits all the same.
    child.kill('SIGTERM');
    const code = await withTimeout(exited, 'frametap to exit with stdout stalled', 10_000).catch((e: Error) => { throw new Error(`${e.message}; stderr: ${stderr}`); });
    expect(code).toBe(0);
    expect(stderr).toMatch(/--ui log: the reader of stdout stopped reading; \d+ log lines? and the batch being written were dropped at exit/);
  }, 40_000);
});
