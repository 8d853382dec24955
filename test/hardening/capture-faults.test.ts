/**
 * Issue 7, "Faults", the capture: `kill -9` mid-traffic leaves a capture whose complete lines all
 * parse; an unwritable capture is one clear stderr line (exit 2 at startup, an `error` event of
 * stage `capture` at runtime while the relay goes on); the capture file is created with mode 0600.
 * These spawn the real CLI (`node bin/frametap.js`), since exit codes, signals and file modes are
 * the point.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { readCaptured } from '../helpers/captured.js';
import type { CapturedEvent } from '../../src/capture/capture-object.js';
import { Cleanup, deferred, waitFor, withTimeout } from '../helpers/hostile.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/frametap.js');

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Cli {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly stdout: () => string;
  /** Resolves with the proxy's URL from the listening line. */
  readonly listening: Promise<string>;
  readonly exited: Promise<number | null>;
}

function startCli(args: readonly string[], options: { shellPrefix?: string; wrapper?: readonly string[] } = {}): Cli {
  const child = options.shellPrefix
    ? spawn('sh', ['-c', `${options.shellPrefix}; exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    : options.wrapper
      ? spawn(options.wrapper[0]!, [...options.wrapper.slice(1), process.execPath, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const listening = deferred<string>();
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    const m = /frametap listening on (http:\/\/\S+)/.exec(stderr);
    if (m) listening.resolve(m[1]!);
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => listening.reject(new Error(`frametap exited before listening: ${stderr}`)));
  cleanup.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  });
  return { child, stderr: () => stderr, stdout: () => stdout, listening: listening.promise, exited };
}

async function echoUpstream(): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  cleanup.add(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'frametap-capture-faults-'));
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function openClient(proxyUrl: string): Promise<WebSocket> {
  const ws = new WebSocket(proxyUrl.replace(/^http/, 'ws') + '/traffic');
  cleanup.add(() => ws.terminate());
  ws.on('error', () => undefined);
  await withTimeout(new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  }), 10_000, 'the client to connect through frametap');
  return ws;
}

async function echo(ws: WebSocket, text: string): Promise<void> {
  const got = new Promise<void>((resolve) => {
    const onMessage = (data: unknown) => {
      if (String(data) === text) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
  ws.send(text);
  await withTimeout(got, 10_000, `the echo of '${text}'`);
}

/** One line on stderr naming the problem, no stack trace. */
function expectOneLine(stderr: string, mentions: RegExp): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^frametap: /);
  expect(lines[0]).toMatch(mentions);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('capture faults (spawned CLI)', () => {
  it('kill -9 during ~10k msg/s: every complete line parses; the reader skips only a torn last one', async () => {
    const dir = tempDir();
    const file = join(dir, 'killed.jsonl');
    const cli = startCli(['-u', await echoUpstream(), '-l', '127.0.0.1:0', '-w', file, '--ui', 'none']);
    const ws = await openClient(await withTimeout(cli.listening, 20_000, 'the listening line'));
    // ~100 messages every 10 ms, echoed: ~20k message events a second through the capture.
    let sent = 0;
    const blast = setInterval(() => {
      for (let i = 0; i < 100; i++) ws.send(`message ${sent++} ${'x'.repeat(sent % 200)}`);
    }, 10);
    cleanup.add(() => clearInterval(blast));
    await waitFor(() => statSync(file).size > 512 * 1024, 30_000, 'half a MiB of capture');
    cli.child.kill('SIGKILL');
    clearInterval(blast);
    await cli.exited;

    const raw = readFileSync(file, 'utf8');
    const pieces = raw.split('\n');
    const torn = pieces.pop()!;
    for (const line of pieces) expect(() => JSON.parse(line), line.slice(0, 80)).not.toThrow();
    expect(JSON.parse(pieces[0]!)).toMatchObject({ type: 'capture', format: 'frametap-capture', version: 1 });
    const warnings: string[] = [];
    const { header, events } = await readCaptured(file, { onWarning: (w) => warnings.push(w) });
    expect(header).not.toBeNull();
    expect(events).toHaveLength(pieces.length - 1);
    expect(warnings).toHaveLength(torn === '' ? 0 : 1);
    expect(events.filter((e) => e.type === 'message').length).toBeGreaterThan(1000);
  });

  it('-w naming a directory: exit 2 with one stderr line, nothing listens', async () => {
    const dir = tempDir();
    const cli = startCli(['-u', 'ws://127.0.0.1:9', '-l', '127.0.0.1:0', '-w', dir, '--ui', 'none']);
    expect(await withTimeout(cli.exited, 20_000, 'exit')).toBe(2);
    expectOneLine(cli.stderr(), /capture|directory/);
    expect(cli.stderr()).not.toMatch(/listening/);
  });

  it('-w /dev/full: exit 2 with one stderr line', async () => {
    const cli = startCli(['-u', 'ws://127.0.0.1:9', '-l', '127.0.0.1:0', '-w', '/dev/full', '--ui', 'none']);
    expect(await withTimeout(cli.exited, 20_000, 'exit')).toBe(2);
    expectOneLine(cli.stderr(), /no space|ENOSPC/);
  });

  it('-w in a directory without write permission: exit 2 with one stderr line', async () => {
    const dir = tempDir();
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o500);
    // root ignores file permissions through CAP_DAC_OVERRIDE: run frametap as root without it
    // (util-linux setpriv). Not as another user: the checkout may sit in a directory only root can enter.
    const withoutOverride = process.getuid?.() === 0 ? { wrapper: ['setpriv', '--bounding-set', '-dac_override,-dac_read_search', '--'] } : {};
    const cli = startCli(['-u', 'ws://127.0.0.1:9', '-l', '127.0.0.1:0', '-w', join(locked, 'capture.jsonl'), '--ui', 'none'], withoutOverride);
    expect(await withTimeout(cli.exited, 20_000, 'exit')).toBe(2);
    expectOneLine(cli.stderr(), /permission denied/);
  });

  it('the capture is created with mode 0600 even with umask 000, replacing a world-readable file', async () => {
    const dir = tempDir();
    const file = join(dir, 'secret.jsonl');
    writeFileSync(file, 'old\n', { mode: 0o666 });
    chmodSync(file, 0o666);
    const cli = startCli(['-u', await echoUpstream(), '-l', '127.0.0.1:0', '-w', file, '--ui', 'none'], { shellPrefix: 'umask 000' });
    const url = await withTimeout(cli.listening, 20_000, 'the listening line');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const ws = await openClient(url);
    await echo(ws, 'token=hunter2');
    ws.close();
    cli.child.kill('SIGINT');
    expect(await withTimeout(cli.exited, 10_000, 'exit after SIGINT')).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { events } = await readCaptured(file);
    expect(events.some((e) => e.type === 'message' && e.text === 'token=hunter2')).toBe(true);
  });

  it('a capture that fails at runtime (its reader goes away): one stderr line, an error event of stage capture, the relay goes on', async () => {
    const dir = tempDir();
    const fifo = join(dir, 'capture.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    // A reader that takes the first byte and goes away: later writes fail with EPIPE.
    const readerOpen = spawn('sh', ['-c', `exec head -c 1 < "${fifo}"`], { stdio: ['ignore', 'ignore', 'ignore'] });
    const readerClosed = new Promise<void>((resolve) => readerOpen.once('exit', () => resolve()));
    cleanup.add(() => readerOpen.kill('SIGKILL'));

    const cli = startCli(['-u', await echoUpstream(), '-l', '127.0.0.1:0', '-w', fifo, '--ui', 'jsonl']);
    const url = await withTimeout(cli.listening, 20_000, 'the listening line');
    await withTimeout(readerClosed, 10_000, 'the capture reader to go away');
    const ws = await openClient(url);
    for (let i = 0; i < 20; i++) await echo(ws, `message ${i}`);
    await waitFor(() => /capture/.test(cli.stderr().replace(/^frametap listening.*\n/, '')), 10_000, 'the capture failure on stderr');
    // The relay is unharmed after the failure.
    await echo(ws, 'after the failure');
    const stdoutEvents = cli.stdout().trim().split('\n').map((line) => JSON.parse(line) as CapturedEvent | { type: 'capture' });
    const failures = stdoutEvents.filter((e): e is Extract<CapturedEvent, { type: 'error' }> => e.type === 'error' && e.stage === 'capture');
    expect(failures).toHaveLength(1);
    expect(stdoutEvents.some((e) => e.type === 'message' && e.text === 'after the failure')).toBe(true);
    const problemLines = cli.stderr().trim().split('\n').filter((l) => !l.startsWith('frametap listening'));
    expect(problemLines).toHaveLength(1);
    expect(problemLines[0]).toMatch(/^frametap: .*capture/);
    cli.child.kill('SIGINT');
    expect(await withTimeout(cli.exited, 10_000, 'exit after SIGINT')).toBe(0);
  });
});
