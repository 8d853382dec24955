/**
 * Forward mode (TLS interception) against a wss:// echo, 4 KiB binary messages, 4 connections × 32
 * in flight, in one run and interleaved:
 *   direct wss        client → wss echo, no relay
 *   reverse           the real CLI `frametap -u wss://localhost:PORT --insecure`, client on ws://
 *   forward (MITM)    the real CLI `frametap -l 127.0.0.1:0` (no -u), client CONNECTs, TLS with
 *                     frametap's CA, then wss:// through the tunnel (both legs TLS)
 * and the connection set-up cost: a TLS handshake direct vs CONNECT + intercepted handshake for a
 * new host (a leaf made) and a cached host, the WebSocket open time direct vs through the
 * forward proxy, and the leaf certificate + context cost per new host (200 hosts, in process).
 *
 *   node bin/run-ts.js bench/forward.ts [--passes N]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { loadOrCreateCa } from '../src/ca/ca-store.js';
import { LeafIssuer } from '../src/ca/leaf-issuer.js';
import { makeTestPki } from '../test/helpers/test-ca.js';
import { roundTrips } from './relay.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONNECTIONS = 4;
const IN_FLIGHT = 32;
const SIZE = 4096;
const PER_CONNECTION = 600;
const HANDSHAKES = 40;

type Connect = () => Promise<WebSocket>;

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function spawnFrametap(args: readonly string[], home: string): Promise<{ port: number; child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/frametap.js'), ...args], { cwd: ROOT, env: { ...process.env, FRAMETAP_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`frametap exited ${code}: ${err}`)));
  });
  return {
    port,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A CONNECT tunnel through the forward proxy, TLS on it trusting `ca`; resolves once secure. */
async function tunnel(proxyPort: number, authority: string, servername: string, ca: string): Promise<tls.TLSSocket> {
  const socket = net.connect(proxyPort, '127.0.0.1');
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.removeListener('data', onData);
      socket.pause();
      if (head.startsWith('HTTP/1.1 200')) resolve();
      else reject(new Error(head));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  const secure = tls.connect({ socket, servername, ca });
  await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  return secure;
}

function openWs(url: string, options: ConstructorParameters<typeof WebSocket>[2]): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
  return new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function load(connect: Connect): Promise<number> {
  const payload = Buffer.alloc(SIZE, 0x5a);
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, connect));
  const start = process.hrtime.bigint();
  await roundTrips(clients, payload, PER_CONNECTION, IN_FLIGHT);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  for (const ws of clients) ws.terminate();
  return (PER_CONNECTION * CONNECTIONS) / seconds;
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await work();
  return { ms: performance.now() - t0, value };
}

export async function main(argv: readonly string[] = []): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { passes: { type: 'string' } } });
  const passes = Number(values.passes ?? 3);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-bench-fwd-'));
  const home = path.join(dir, 'home');
  const pki = makeTestPki('frametap bench upstream CA');
  const caFile = path.join(dir, 'upstream-ca.pem');
  fs.writeFileSync(caFile, pki.caPem);
  const server = https.createServer({ cert: pki.certPem, key: pki.keyPem });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const target = `localhost:${port}`;

  const forward = await spawnFrametap(['-l', '127.0.0.1:0', '--ui', 'none', '--upstream-ca', caFile], home);
  const reverse = await spawnFrametap(['-u', `wss://${target}`, '-l', '127.0.0.1:0', '--ui', 'none', '--insecure'], home);
  const frametapCa = fs.readFileSync(path.join(home, 'ca-cert.pem'), 'utf8');
  try {
    const connects: ReadonlyArray<readonly [string, Connect]> = [
      ['direct wss', () => openWs(`wss://${target}/`, { ca: pki.caPem })],
      ['reverse (ws → frametap → wss)', () => openWs(`ws://127.0.0.1:${reverse.port}/`, {})],
      [
        'forward, TLS intercepted (wss → frametap → wss)',
        async () => {
          const secure = await tunnel(forward.port, target, 'localhost', frametapCa);
          return openWs(`wss://${target}/`, { createConnection: (() => secure) as never });
        },
      ],
    ];
    const rates = new Map<string, number[]>();
    for (let p = 0; p < passes; p++) {
      for (const [name, connect] of connects) {
        const r = await load(connect);
        rates.set(name, [...(rates.get(name) ?? []), r]);
      }
    }
    const direct = median(rates.get('direct wss')!);
    const rev = median(rates.get('reverse (ws → frametap → wss)')!);
    process.stdout.write(`forward: ${SIZE} B binary echo, ${CONNECTIONS} connections × ${IN_FLIGHT} in flight, medians of ${passes} interleaved passes (${process.version})\n`);
    process.stdout.write(`| path | msg/s | vs direct wss | vs reverse |\n|---|---|---|---|\n`);
    for (const [name] of connects) {
      const r = median(rates.get(name)!);
      process.stdout.write(`| ${name} | ${Math.round(r)} | ${(r / direct).toFixed(2)} | ${(r / rev).toFixed(2)} |\n`);
    }

    // Connection set-up.
    const directTls: number[] = [];
    const newHost: number[] = [];
    const cachedHost: number[] = [];
    const wsDirect: number[] = [];
    const wsForward: number[] = [];
    // Warm the cached host's leaf once.
    (await tunnel(forward.port, 'cached.bench.test:443', 'cached.bench.test', frametapCa)).destroy();
    for (let i = 0; i < HANDSHAKES; i++) {
      const d = await timed(
        () =>
          new Promise<tls.TLSSocket>((resolve, reject) => {
            const s = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.caPem });
            s.once('secureConnect', () => resolve(s)).once('error', reject);
          }),
      );
      d.value.destroy();
      directTls.push(d.ms);
      // Not dialed upstream until a request comes: the host need not exist.
      const n = await timed(() => tunnel(forward.port, `new${i}-${Date.now()}.bench.test:443`, `new${i}-${Date.now()}.bench.test`, frametapCa));
      n.value.destroy();
      newHost.push(n.ms);
      const c = await timed(() => tunnel(forward.port, 'cached.bench.test:443', 'cached.bench.test', frametapCa));
      c.value.destroy();
      cachedHost.push(c.ms);
      const wd = await timed(() => openWs(`wss://${target}/`, { ca: pki.caPem }));
      wd.value.terminate();
      wsDirect.push(wd.ms);
      const wf = await timed(async () => {
        const secure = await tunnel(forward.port, target, 'localhost', frametapCa);
        return openWs(`wss://${target}/`, { createConnection: (() => secure) as never });
      });
      wf.value.terminate();
      wsForward.push(wf.ms);
    }
    const f = (x: number): string => x.toFixed(2);
    process.stdout.write(`\nconnection set-up, medians of ${HANDSHAKES} (ms)\n| what | ms |\n|---|---|\n`);
    process.stdout.write(`| TLS handshake, direct to the upstream | ${f(median(directTls))} |\n`);
    process.stdout.write(`| CONNECT + intercepted TLS handshake, new host (leaf made) | ${f(median(newHost))} |\n`);
    process.stdout.write(`| CONNECT + intercepted TLS handshake, cached host | ${f(median(cachedHost))} |\n`);
    process.stdout.write(`| wss:// open, direct | ${f(median(wsDirect))} |\n`);
    process.stdout.write(`| wss:// open through the forward proxy (cached host) | ${f(median(wsForward))} |\n`);
    process.stdout.write(`| added per new connection, cached host (open through proxy − direct) | ${f(median(wsForward) - median(wsDirect))} |\n`);
    process.stdout.write(`| added by a new host (new-host − cached-host handshake) | ${f(median(newHost) - median(cachedHost))} |\n`);

    // Leaf cost in process: certificate + SecureContext per new host.
    const issuer = new LeafIssuer(loadOrCreateCa(home), { maxEntries: 1000 });
    issuer.leafFor('warm.bench.test');
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) issuer.leafFor(`leaf${i}.bench.test`);
    process.stdout.write(`| leaf certificate + TLS context, per new host (200 hosts, in process) | ${f((performance.now() - t0) / 200)} |\n`);
  } finally {
    await forward.stop();
    await reverse.stop();
    for (const ws of wss.clients) ws.terminate();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
