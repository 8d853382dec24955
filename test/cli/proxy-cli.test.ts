/**
 * The proxy command as a user runs it: `node bin/frametap.js …` in a child process, a real `ws`
 * echo server on 127.0.0.1:0 behind it, a real `ws` client in front.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { readCaptured } from '../helpers/captured.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/frametap.js');
const WAIT_MS = 15_000;

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves once stdout or stderr contains a match. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpExecArray>;
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
let dir: string;

/** Kills what a failed test left running (only the children this file started, by their handle). */
function killLeftovers(): void {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL');
  }
}
afterAll(killLeftovers);

function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

function frametap(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  const waiters: { stream: 'stdout' | 'stderr'; pattern: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.pattern.exec(out[w.stream]);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out.stdout += d.toString('utf8');
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString('utf8');
    check();
  });
  const exited = new Promise<number | string>((resolve) => {
    child.on('close', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return {
    child,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited: withTimeout(exited, `frametap ${args.join(' ')} to exit`),
    waitFor(stream, pattern) {
      return withTimeout(
        new Promise<RegExpExecArray>((resolve) => {
          waiters.push({ stream, pattern, resolve });
          check();
        }),
        `${stream} to match ${pattern} (${stream}: ${JSON.stringify(out[stream].slice(-500))}, stderr: ${JSON.stringify(out.stderr.slice(-500))})`,
      );
    },
  };
}

async function echoServer(): Promise<{ port: number; received: () => number }> {
  let received = 0;
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => {
      received++;
      socket.send(data, { binary: isBinary });
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  return { port: (wss.address() as { port: number }).port, received: () => received };
}

/** Starts frametap in front of an echo server and waits for its listening line. */
async function startProxy(extra: readonly string[]): Promise<{ run: Run; port: number; upstream: string }> {
  const echo = await echoServer();
  const upstream = `ws://127.0.0.1:${echo.port}`;
  const run = frametap(['-u', upstream, '-l', '127.0.0.1:0', ...extra]);
  const m = await run.waitFor('stderr', /^frametap listening on http:\/\/127\.0\.0\.1:(\d+) -> (\S+)\n/m);
  expect(m[2]).toBe(upstream);
  return { run, port: Number(m[1]), upstream };
}

/** A client that sends `messages` and waits for each echo; left open unless `close` is given. */
async function talk(port: number, messages: readonly (string | Buffer)[], close?: { code: number; reason: string }): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat?room=1`);
  cleanups.push(() => {
    ws.terminate();
  });
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  }), 'the client to connect');
  for (const m of messages) {
    const echoed = new Promise<Buffer>((resolve) => ws.once('message', (d: Buffer) => resolve(d)));
    ws.send(m);
    const back = await withTimeout(echoed, 'an echo');
    expect(Buffer.from(back)).toEqual(Buffer.from(m));
  }
  if (close) {
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.close(close.code, close.reason);
    expect(await withTimeout(closed, 'the close handshake')).toBe(close.code);
  }
  return ws;
}

function types(events: readonly { readonly type: string }[]): string[] {
  return events.map((e) => e.type);
}

// These children exit on their own; running them side by side keeps the suite short.
describe.concurrent('usage errors: one line on stderr, exit 2', () => {
  const cases: readonly (readonly [string, readonly string[], RegExp])[] = [
    ['an unknown flag', ['-u', 'ws://127.0.0.1:9', '--bogus'], /Unknown option '--bogus'/],
    ['a bad URL', ['proxy', '-u', 'ftp://127.0.0.1/'], /bad upstream URL 'ftp:\/\/127\.0\.0\.1\/'/],
    ['a bad port', ['-u', 'ws://127.0.0.1:9', '-l', '127.0.0.1:70000'], /bad listen address '127\.0\.0\.1:70000'/],
    ['forward mode (no -u) on a non-loopback address without --allow-remote', ['-l', '0.0.0.0:0'], /without --allow-remote/],
    ['an unscoped -H in forward mode', ['-l', '0', '-H', 'Authorization: Bearer x'], /needs a host scope/],
    ['a forward-mode flag with -u', ['-u', 'ws://127.0.0.1:9', '--ignore-hosts', '*.test'], /--ignore-hosts applies to forward mode only/],
    ['a bad -H', ['-u', 'ws://127.0.0.1:9', '-H', 'no colon here'], /bad -H 'no colon here'/],
  ];
  for (const [what, args, pattern] of cases) {
    it(what, async () => {
      const run = frametap(args);
      expect(await run.exited).toBe(2);
      expect(run.stderr()).toMatch(/^frametap: [^\n]+\n$/);
      expect(run.stderr()).toMatch(pattern);
      expect(run.stdout()).toBe('');
    });
  }

  it('an unwritable -w (a directory) before anything listens', async () => {
    // Its own directory: the concurrent tests of this block share no state.
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-cli-w-'));
    try {
      const run = frametap(['-u', 'ws://127.0.0.1:9', '-l', '127.0.0.1:0', '-w', own, '--ui', 'none']);
      expect(await run.exited).toBe(2);
      expect(run.stderr()).toMatch(/^frametap: cannot write capture file '[^']+': it is a directory\n$/);
    } finally {
      fs.rmSync(own, { recursive: true, force: true });
    }
  });

  it('a listen address in use: what to do, before anything else runs', async () => {
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const port = (busy.address() as net.AddressInfo).port;
      const run = frametap(['-u', 'ws://127.0.0.1:9', '-l', `127.0.0.1:${port}`, '--ui', 'none']);
      expect(await run.exited).toBe(2);
      expect(run.stderr()).toBe(`frametap: cannot listen on 127.0.0.1:${port}: the port is in use (pick another, or port 0 for any free one)\n`);
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it('--help prints the command help on stdout and exits 0', async () => {
    for (const args of [['proxy', '--help'], ['-u', 'ws://127.0.0.1:9', '-h']]) {
      const run = frametap(args);
      expect(await run.exited).toBe(0);
      expect(run.stdout()).toMatch(/frametap \[proxy\] -u URL/);
      expect(run.stderr()).toBe('');
    }
  });
});

describe('a real run', () => {
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-cli-'));
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    killLeftovers();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`-w FILE --ui jsonl, then ${signal} with a connection open: exit 0, end shutdown:true, stdout = file`, async () => {
      const file = path.join(dir, 'cap.jsonl');
      const { run, port, upstream } = await startProxy(['-w', file, '--ui', 'jsonl']);
      const ws = await talk(port, ['hello', Buffer.from([0, 1, 2, 255])]);
      const clientClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      // The echo is seen by the client before frametap has published the server's message event.
      await run.waitFor('stdout', /"type":"message"[^\n]*"from":"server"[^\n]*"data":"AAEC\/w=="/);
      run.child.kill(signal);
      expect(await run.exited).toBe(0);
      expect(await withTimeout(clientClosed, 'the client to see the shutdown')).toBe(1006);

      const warnings: string[] = [];
      const { header, events } = await readCaptured(file, { onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([]);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(header).toMatchObject({ type: 'capture', version: 1, mode: 'reverse', listen: `127.0.0.1:${port}`, upstream });
      expect(types(events)).toEqual(['open', 'handshake', 'frame', 'message', 'frame', 'message', 'frame', 'message', 'frame', 'message', 'end']);
      expect(events[0]).toMatchObject({ conn: 1, target: `${upstream}/chat?room=1` });
      expect(events[1]).toMatchObject({ upgraded: true, accept: 'ok' });
      const messages = events.filter((e) => e.type === 'message');
      expect(messages.map((m) => [m.from, m.text ?? m.data])).toEqual([
        ['client', 'hello'],
        ['server', 'hello'],
        ['client', 'AAEC/w=='],
        ['server', 'AAEC/w=='],
      ]);
      expect(events.at(-1)).toMatchObject({ type: 'end', conn: 1, code: 1006, initiator: null, clean: false, shutdown: true });
      // --ui jsonl prints the very same lines.
      expect(run.stdout()).toBe(fs.readFileSync(file, 'utf8'));
    });
  }

  it('--ui log prints one readable line per event', async () => {
    const { run, port } = await startProxy(['--ui', 'log']);
    await talk(port, ['hi there'], { code: 4001, reason: 'done' });
    await run.waitFor('stdout', /#1 end /);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const lines = run.stdout().trimEnd().split('\n');
    const body = lines.map((l) => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, ''));
    expect(lines.every((l) => /^\d\d:\d\d:\d\d\.\d{3} #1 /.test(l))).toBe(true);
    expect(body[0]).toMatch(/^#1 open 127\.0\.0\.1:\d+ → ws:\/\/127\.0\.0\.1:\d+\/chat\?room=1$/);
    expect(body[1]).toMatch(/^#1 handshake 101 Switching Protocols accept ok/);
    // One line per message, with its frame's flags (--frames gives a line per frame).
    expect(body).toContain('#1 → message text FIN,MASK 8 B "hi there"');
    expect(body).toContain('#1 ← message text FIN 8 B "hi there"');
    expect(body).toContain('#1 → close FIN,MASK 4001 (Private Use) "done"');
    expect(body).toContain('#1 ← close FIN 4001 (Private Use) "done"');
    expect(body.some((l) => l.includes(' frame text '))).toBe(false);
    expect(body.at(-1)).toMatch(/^#1 end 4001 \(Private Use\) "done" clean closed by client [\d.]+ ms client \d+ B\/2 frames, server \d+ B\/2 frames$/);
    expect(run.stderr(), run.stderr()).toMatch(/^frametap listening on [^\n]+\n$/);
  });

  it('a stdout nobody reads slows the relay (said once on stderr), and nothing is dropped', async () => {
    const { run, port } = await startProxy(['--ui', 'jsonl']);
    run.child.stdout!.pause();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    cleanups.push(() => {
      ws.terminate();
    });
    await withTimeout(new Promise<void>((resolve) => ws.once('open', () => resolve())), 'the client to connect');
    const n = 14;
    let echoes = 0;
    const allEchoed = new Promise<void>((resolve) => {
      ws.on('message', () => {
        if (++echoes === n) resolve();
      });
    });
    const message = 'z'.repeat(512 * 1024);
    for (let i = 0; i < n; i++) ws.send(message);
    await run.waitFor('stderr', /^frametap: the jsonl output cannot keep up[^\n]*\n/m);
    run.child.stdout!.resume();
    await withTimeout(allEchoed, 'every echo');
    // Every echo passed the tee, so every message event is published; SIGTERM flushes them all.
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const lines = run.stdout().trimEnd().split('\n').map((l) => JSON.parse(l) as { type: string; stage?: string; text?: string });
    const messages = lines.filter((l) => l.type === 'message');
    expect(messages).toHaveLength(2 * n);
    expect(messages.every((m) => m.text === message)).toBe(true);
    expect(lines.filter((l) => l.type === 'error')).toMatchObject([{ stage: 'capture' }]);
    expect(run.stderr().match(/cannot keep up/g)).toHaveLength(1);
  });

  it('--ui none -w FILE with no connection: the capture is just the header', async () => {
    const file = path.join(dir, 'empty.jsonl');
    const { run, port } = await startProxy(['--ui', 'none', '-w', file]);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toBe('');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'capture', listen: `127.0.0.1:${port}` });
  });
});
