/**
 * Forward mode from the command line, as a user runs it: `frametap ca` on a fresh FRAMETAP_HOME,
 * then `frametap -l 127.0.0.1:0 -w FILE --keylog FILE --upstream-ca FILE -H 'host: Name: value'`
 * with a `ws` client through a CONNECT tunnel; SIGINT; the capture and the key log checked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { readCapture } from '../../src/capture/jsonl-reader.js';
import { makeTestPki } from '../helpers/test-ca.js';
import { deferred, withTimeout } from '../helpers/deferred.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/frametap.js');
const children: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function run(args: readonly string[], home: string): { child: ChildProcess; out: { stdout: string; stderr: string }; exited: Promise<number | null>; line(re: RegExp): Promise<RegExpExecArray> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, FRAMETAP_HOME: home, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.re.exec(out.stderr);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    out.stderr += d.toString();
    check();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    out,
    exited,
    line(re) {
      const d = deferred<RegExpExecArray>();
      waiters.push({ re, resolve: d.resolve });
      check();
      return withTimeout(d.promise, `stderr ${re}`, 15_000);
    },
  };
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-fwd-cli-'));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('frametap ca', () => {
  it('makes the CA on first use and prints where it is, its fingerprint and SPKI; --pem and --spki alone; never the key', async () => {
    const home = path.join(tempDir(), 'home');
    const info = run(['ca'], home);
    expect(await info.exited).toBe(0);
    const key = fs.readFileSync(path.join(home, 'ca-key.pem'), 'utf8');
    expect(fs.statSync(path.join(home, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(info.out.stdout).toContain(path.join(home, 'ca-cert.pem'));
    expect(info.out.stdout).toMatch(/SHA-256\s+([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(info.out.stdout).toMatch(/update-ca-certificates/);
    expect(info.out.stdout).toMatch(/certutil -d sql:/);
    expect(info.out.stdout).toMatch(/security add-trusted-cert/);
    expect(info.out.stdout).not.toContain(key.split('\n')[1]);
    expect(info.out.stdout).not.toMatch(/PRIVATE KEY/);

    const spki = run(['ca', '--spki'], home);
    expect(await spki.exited).toBe(0);
    expect(spki.out.stdout).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(info.out.stdout).toContain(spki.out.stdout.trim());
    const pem = run(['ca', '--pem'], home);
    expect(await pem.exited).toBe(0);
    expect(pem.out.stdout).toBe(fs.readFileSync(path.join(home, 'ca-cert.pem'), 'utf8'));
    const both = run(['ca', '--pem', '--spki'], home);
    expect(await both.exited).toBe(2);
  });
});

describe('frametap (forward mode)', () => {
  it('a ws client through CONNECT with TLS interception: capture in forward mode, scoped -H, key log of both legs, SIGINT', async () => {
    const dir = tempDir();
    const home = path.join(dir, 'home');
    const pki = makeTestPki();
    const upstreamCa = path.join(dir, 'upstream-ca.pem');
    fs.writeFileSync(upstreamCa, pki.caPem);
    const requests: http.IncomingMessage[] = [];
    const server = https.createServer({ cert: pki.certPem, key: pki.keyPem });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => {
      requests.push(req);
      ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const port = (server.address() as AddressInfo).port;
    const capture = path.join(dir, 'cap.jsonl');
    const keylog = path.join(dir, 'keys.log');
    const proxy = run(['-l', '127.0.0.1:0', '--ui', 'none', '-w', capture, '--keylog', keylog, '--upstream-ca', upstreamCa, '-H', 'localhost: X-Scoped: yes', '-H', '*.other.test: X-Other: no'], home);
    const [, proxyPort] = (await proxy.line(/listening on http:\/\/127\.0\.0\.1:(\d+) -> forward proxy/)) as unknown as [string, string];
    const caPem = fs.readFileSync(path.join(home, 'ca-cert.pem'), 'utf8');

    const socket = net.connect(Number(proxyPort), '127.0.0.1');
    socket.write(`CONNECT localhost:${port} HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`);
    await withTimeout(new Promise<void>((resolve) => socket.once('data', () => resolve())), 'the 200');
    const secure = tls.connect({ socket, servername: 'localhost', ca: caPem });
    await withTimeout(new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject)), 'TLS');
    const ws = new WebSocket(`wss://localhost:${port}/cli`, { createConnection: (() => secure) as never });
    await withTimeout(new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject)), 'open');
    ws.send('through the cli');
    const echoed = await withTimeout(new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d)))), 'echo');
    expect(echoed).toBe('through the cli');
    ws.close(1000);
    await withTimeout(new Promise<void>((resolve) => ws.once('close', () => resolve())), 'close');

    proxy.child.kill('SIGINT');
    expect(await withTimeout(proxy.exited, 'exit')).toBe(0);
    expect(requests[0]!.headers['x-scoped']).toBe('yes');
    expect(requests[0]!.headers['x-other']).toBeUndefined();

    const { header, events } = await readCapture(capture);
    expect(header).toMatchObject({ mode: 'forward', upstream: null });
    expect(events.find((e) => e.type === 'open')).toMatchObject({ target: `wss://localhost:${port}/cli` });
    const text = fs.readFileSync(capture, 'utf8');
    const key = fs.readFileSync(path.join(home, 'ca-key.pem'), 'utf8').split('\n')[1]!;
    expect(text).not.toContain(key);
    expect(proxy.out.stderr + proxy.out.stdout).not.toContain(key);

    // NSS key log: TLS 1.3 secrets of both legs (two different client randoms), mode 0600.
    expect(fs.statSync(keylog).mode & 0o777).toBe(0o600);
    const lines = fs.readFileSync(keylog, 'utf8').trim().split('\n');
    expect(lines.every((l) => /^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+$/.test(l))).toBe(true);
    const randoms = new Set(lines.filter((l) => l.startsWith('CLIENT_TRAFFIC_SECRET_0 ')).map((l) => l.split(' ')[1]));
    expect(randoms.size).toBe(2);
  });
});
