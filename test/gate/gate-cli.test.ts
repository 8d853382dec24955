/**
 * The gate flags as a user gives them: `node bin/frametap.js …` in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { deferred, withTimeout } from '../helpers/deferred.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-gate-cli-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function run(args: readonly string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; err: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, err: () => err, exited };
}

describe('gate flags on the command line', () => {
  it.each([
    [['--fault', 'drop=5'], /^frametap: bad --fault 'drop=5': drop=5: expected a percentage like 5% or 0\.5%\n$/],
    [['--fault', 'refuse=503@client'], /^frametap: bad --fault 'refuse=503@client': refuse answers the upgrade itself: drop @client\n$/],
    [['--seed', '1'], /^frametap: --seed repeats the random choices of --fault: give a --fault too\n$/],
    [['--hold-timeout', 'soon'], /^frametap: bad --hold-timeout 'soon'/],
    [['--rules', '/nonexistent.json'], /^frametap: bad --rules \/nonexistent\.json: no such file\n$/],
    [['--script', '/nonexistent.mjs'], /^frametap: bad --script \/nonexistent\.mjs: no such file\n$/],
  ])('%j: one line, exit 2', async (args, line) => {
    const r = run(['-u', 'ws://127.0.0.1:1', '-l', '127.0.0.1:0', '--ui', 'none', ...args]);
    expect(await withTimeout(r.exited, 'exit', 15_000)).toBe(2);
    expect(r.err()).toMatch(line);
  });

  it('a bad rule names the file and the rule', async () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify([{ action: 'drop' }, { name: 'mask', action: 'edit' }]));
    const r = run(['-u', 'ws://127.0.0.1:1', '-l', '127.0.0.1:0', '--ui', 'none', '--rules', file]);
    expect(await withTimeout(r.exited, 'exit', 15_000)).toBe(2);
    expect(r.err()).toBe(`frametap: bad --rules ${file}: rule 2 ("mask"): an edit needs 'text', 'base64', 'replace' or 'set'\n`);
  });

  it('--rules edits live traffic, and --ui log shows the intercept', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const got = deferred<string>();
    wss.on('connection', (ws) => ws.on('message', (d) => got.resolve(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const file = path.join(dir, 'rules.json');
    fs.writeFileSync(file, JSON.stringify([{ name: 'mask-tokens', match: { json: '$.token' }, action: 'edit', set: { '$.token': '*' } }]));
    const r = run(['-u', `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, '-l', '127.0.0.1:0', '--ui', 'log', '--rules', file]);
    try {
      const listening = deferred<string>();
      r.child.stderr!.on('data', () => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(r.err());
        if (m) listening.resolve(m[1]!);
      });
      const port = await withTimeout(listening.promise, 'the listening line', 15_000);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      await new Promise((res) => ws.once('open', res));
      ws.send('{"user":"a","token":"secret"}');
      expect(await withTimeout(got.promise, 'the edited message')).toBe('{"user":"a","token":"*"}');
      const logged = deferred();
      const check = (): void => {
        if (/intercept edit client by rule mask-tokens: replaced \$\.token/.test(r.out())) logged.resolve();
      };
      r.child.stdout!.on('data', check);
      check();
      await withTimeout(logged.promise, 'the intercept log line');
      ws.close();
    } finally {
      r.child.kill('SIGINT');
      await withTimeout(r.exited, 'exit', 15_000);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });

  it('forward mode (no -u): a bad --fault is exit 2, and --rules edits what crosses', async () => {
    const home = path.join(dir, 'home');
    const bad = run(['-l', '127.0.0.1:0', '--ui', 'none', '--fault', 'drop=5'], { FRAMETAP_HOME: home });
    expect(await withTimeout(bad.exited, 'exit', 15_000)).toBe(2);
    expect(bad.err()).toMatch(/^frametap: bad --fault 'drop=5': /);

    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    const got = deferred<string>();
    wss.on('connection', (ws) => ws.on('message', (d) => got.resolve(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const upstream = (server.address() as AddressInfo).port;
    const file = path.join(dir, 'forward-rules.json');
    fs.writeFileSync(file, JSON.stringify([{ name: 'shout', match: { from: 'client', path: '^/fwd' }, action: 'edit', replace: { regex: 'hi', with: 'HI' } }]));
    const r = run(['-l', '127.0.0.1:0', '--ui', 'none', '--rules', file], { FRAMETAP_HOME: home });
    try {
      const listening = deferred<string>();
      const onErr = (): void => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(r.err());
        if (m) listening.resolve(m[1]!);
      };
      r.child.stderr!.on('data', onErr);
      onErr();
      const port = Number(await withTimeout(listening.promise, 'the listening line', 15_000));
      // An absolute-form upgrade through the proxy (RFC 9112 §3.2.2), then a masked "hi".
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        `GET http://127.0.0.1:${upstream}/fwd HTTP/1.1\r\nHost: 127.0.0.1:${upstream}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      const upgraded = deferred<void>();
      let head = '';
      socket.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) upgraded.resolve();
      });
      await withTimeout(upgraded.promise, 'the 101');
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      socket.write(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]));
      expect(await withTimeout(got.promise, 'the edited message')).toBe('HI');
      socket.destroy();
    } finally {
      r.child.kill('SIGINT');
      await withTimeout(r.exited, 'exit', 15_000);
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });
});
