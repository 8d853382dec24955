/**
 * Relay throughput: a `ws` echo server and a load generator (4 connections × 32 messages in flight;
 * 64 B, 4 KiB and 256 KiB binary messages) through, in one run and interleaved:
 *   direct          client → echo server, no relay
 *   bare            http-proxy `ws()` with nothing attached (its own pipe), in a child process
 *   frametap        the real CLI: `frametap -u … -l 127.0.0.1:0 --ui none`
 *   frametap -w     the same with `-w FILE` (the JSONL capture written to a temp file)
 *   frametap -w .pcapng  the same with `-w cap.pcapng` (packets; issue 14's goal: ≥ 0.85× bare)
 *   inspect→discard every event built and given to a sink that drops it (FRAMETAP_BENCH_DISCARD=1)
 *   --ui tui        the dashboard in a real terminal (tmux, 200×50), no -w
 *   frametap --rules  a rule that matches nothing on the client direction (issue 13: that
 *                   direction is gated, message by message after decoding; goal ≥ 0.8× bare at 4 KiB)
 * It prints round-trip messages/s, the ratio to direct and to bare, and the relay process's CPU
 * µs per message (utime+stime from /proc/PID/stat), medians of the passes.
 *
 *   node bin/run-ts.js bench/relay.ts [--passes N] [--only KEY,…]
 *
 * `--only` runs some targets (direct and bare always run: the ratios are to them), by key: none, w,
 * pcapng, rules, discard, dashboard, dashboard-pcapng. Without it, all of them.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, mkdtempSync, statSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import httpProxy from 'http-proxy';
import { WebSocket, WebSocketServer } from 'ws';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CONNECTIONS = 4;
/** Passes' worth of traffic each target gets before measuring. */
const WARM_UP = 1;
const IN_FLIGHT = 32;
/** Round trips per connection per pass, chosen so a pass takes a fraction of a second. */
const SIZES: ReadonlyArray<{ readonly size: number; readonly label: string; readonly perConnection: number }> = [
  { size: 64, label: '64 B', perConnection: 1500 },
  { size: 4096, label: '4 KiB', perConnection: 800 },
  { size: 256 * 1024, label: '256 KiB', perConnection: 24 },
];

interface Relay {
  readonly name: string;
  readonly url: string;
  /** The relay's process (null for direct). */
  readonly pid: number | null;
  stop(): Promise<void>;
}

interface Sample {
  readonly msgPerSec: number;
  /** CPU µs per round-trip message in the relay process, null for direct. */
  readonly cpuUsPerMsg: number | null;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in µs (proc(5): fields 14 and 15, in clock ticks). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

export async function startEcho(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1 << 30 });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Spawns a relay process and resolves once `pattern` matches a line it prints (stdout or stderr). */
export async function spawnRelay(name: string, args: readonly string[], pattern: RegExp): Promise<Relay> {
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = pattern.exec(out);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${out}`)));
  });
  return {
    name,
    url: `ws://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A free port on 127.0.0.1 (for the dashboard, which prints no listening line: it owns the terminal). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/**
 * The dashboard (`--ui tui`, no -w) in a real terminal: a detached tmux session of 200×50. Its
 * relay CPU is the frametap process's (the pane's). Needs tmux; skipped without it.
 */
/** tmux servers started (each dashboard has its own socket). */
let dashboards = 0;

export async function spawnDashboard(name: string, cli: string, upstream: string, extra: readonly string[] = []): Promise<Relay | null> {
  try {
    execFileSync('tmux', ['-V']);
  } catch {
    process.stderr.write('relay: tmux not found, the dashboard target is skipped (apt-get install -y tmux)\n');
    return null;
  }
  const port = await freePort();
  const socket = `frametap-bench-${process.pid}-${++dashboards}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args]).toString();
  tmux('new-session', '-d', '-s', 'bench', '-x', '200', '-y', '50', `exec ${process.execPath} ${cli} -u ${upstream} -l 127.0.0.1:${port} --ui tui ${extra.join(' ')}`);
  const pid = Number(tmux('list-panes', '-t', 'bench', '-F', '#{pane_pid}').trim());
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      ws.once('open', () => {
        ws.terminate();
        resolve(true);
      });
      ws.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`${name}: the dashboard did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    name,
    url: `ws://127.0.0.1:${port}`,
    pid,
    async stop() {
      try {
        tmux('send-keys', '-t', 'bench', 'q');
        await new Promise((r) => setTimeout(r, 1000));
        tmux('kill-server');
      } catch {
        // already gone
      }
    },
  };
}

/** Child mode: a bare http-proxy `ws()` relay to `upstream`, nothing attached. */
async function serveBare(upstream: string): Promise<void> {
  const target = new URL(upstream.replace(/^ws/, 'http'));
  const proxy = httpProxy.createProxyServer({ target: target.origin });
  proxy.on('error', () => {});
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    proxy.ws(req, socket, head);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.stdout.write(`bare relay listening on ${(server.address() as AddressInfo).port}\n`);
  process.once('SIGTERM', () => process.exit(0));
}

/** Median round-trip time (µs) of 64-byte messages through `url`, one at a time on one connection. */
export async function latency(url: string, rounds = 400): Promise<number> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const payload = Buffer.alloc(64, 0x5a);
  const times: number[] = [];
  await new Promise<void>((resolve) => {
    let t0 = process.hrtime.bigint();
    ws.on('message', () => {
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (times.length === rounds) return resolve();
      t0 = process.hrtime.bigint();
      ws.send(payload, { binary: true });
    });
    ws.send(payload, { binary: true });
  });
  await new Promise<void>((resolve) => {
    ws.once('close', () => resolve());
    ws.close();
  });
  // The first rounds warm the path up.
  return median(times.slice(rounds / 4));
}

/** Round trips through `url`: CONNECTIONS clients each keeping IN_FLIGHT messages outstanding. */
export async function load(url: string, size: number, perConnection: number, pid: number | null): Promise<Sample> {
  const payload = Buffer.alloc(size, 0x5a);
  const clients = await Promise.all(
    Array.from({ length: CONNECTIONS }, () => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
      return new Promise<WebSocket>((resolve, reject) => {
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
    }),
  );
  const cpu0 = pid === null ? 0 : cpuMicros(pid);
  const start = process.hrtime.bigint();
  await roundTrips(clients, payload, perConnection, IN_FLIGHT);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = pid === null ? 0 : cpuMicros(pid) - cpu0;
  await Promise.all(
    clients.map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          ws.close();
        }),
    ),
  );
  const messages = perConnection * CONNECTIONS;
  return { msgPerSec: messages / seconds, cpuUsPerMsg: pid === null ? null : cpu / messages };
}

/** Each client sends `payload` `perConnection` times, keeping `inFlight` unanswered; resolves when all answers are in. */
export function roundTrips(clients: readonly WebSocket[], payload: Buffer, perConnection: number, inFlight: number): Promise<unknown> {
  return Promise.all(
    clients.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let sent = 0;
          let received = 0;
          ws.on('message', () => {
            received++;
            if (received === perConnection) resolve();
            else if (sent < perConnection) {
              sent++;
              ws.send(payload, { binary: true });
            }
          });
          for (; sent < Math.min(inFlight, perConnection); sent++) ws.send(payload, { binary: true });
        }),
    ),
  );
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export async function main(argv: readonly string[] = []): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { passes: { type: 'string', default: '5' }, only: { type: 'string' } } });
  const passes = Math.max(1, Number(values.passes));
  const keys = ['none', 'w', 'pcapng', 'rules', 'discard', 'dashboard', 'dashboard-pcapng'] as const;
  const only = values.only === undefined ? null : new Set(values.only.split(',').map((k) => k.trim()).filter((k) => k !== '' && k !== 'direct' && k !== 'bare'));
  const unknown = [...(only ?? [])].filter((k) => !(keys as readonly string[]).includes(k));
  if (unknown.length > 0) {
    process.stderr.write(`relay: unknown --only target ${unknown.join(', ')}; choose from direct, bare, ${keys.join(', ')}\n`);
    process.exit(2);
  }
  const runs = (key: (typeof keys)[number]): boolean => only === null || only.has(key);
  const echo = await startEcho();
  const dir = mkdtempSync(join(tmpdir(), 'frametap-bench-'));
  const runTs = join(ROOT, 'bin/run-ts.js');
  const cli = join(ROOT, 'bin/frametap.js');
  const noMatch = join(dir, 'no-match.json');
  writeFileSync(noMatch, JSON.stringify([{ name: 'never', match: { from: 'client', text: '^never matches$' }, action: 'drop' }]));
  const listening = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
  const relays: Relay[] = [
    { name: 'direct', url: echo.url, pid: null, stop: async () => {} },
    await spawnRelay('bare http-proxy', [runTs, fileURLToPath(import.meta.url), '--serve-bare', echo.url], /listening on (\d+)/),
  ];
  if (runs('none')) relays.push(await spawnRelay('frametap --ui none', [cli, '-u', echo.url, '-l', '127.0.0.1:0', '--ui', 'none'], listening));
  if (runs('w')) relays.push(await spawnRelay('frametap --ui none -w', [cli, '-u', echo.url, '-l', '127.0.0.1:0', '--ui', 'none', '-w', join(dir, 'capture.jsonl')], listening));
  if (runs('pcapng')) relays.push(await spawnRelay('frametap --ui none -w cap.pcapng', [cli, '-u', echo.url, '-l', '127.0.0.1:0', '--ui', 'none', '-w', join(dir, 'cap.pcapng')], listening));
  if (runs('rules')) relays.push(await spawnRelay('frametap --rules (no match, client)', [cli, '-u', echo.url, '-l', '127.0.0.1:0', '--ui', 'none', '--rules', noMatch], listening));
  if (runs('discard')) {
    // Every event built and handed to a sink that drops it: the cost of inspection itself.
    process.env.FRAMETAP_BENCH_DISCARD = '1';
    relays.push(await spawnRelay('frametap inspect→discard', [cli, '-u', echo.url, '-l', '127.0.0.1:0', '--ui', 'none'], listening));
    delete process.env.FRAMETAP_BENCH_DISCARD;
  }
  const dashboard = runs('dashboard') ? await spawnDashboard('frametap --ui tui (tmux)', cli, echo.url) : null;
  if (dashboard) relays.push(dashboard);
  // The dashboard recording packets as well (issue 14's goal: ≥ 0.75× bare at 64 B and 4 KiB).
  const recording = runs('dashboard-pcapng') ? await spawnDashboard('frametap --ui tui -w cap.pcapng', cli, echo.url, ['-w', join(dir, 'tui.pcapng')]) : null;
  if (recording) relays.push(recording);
  const samples = new Map<string, Sample[]>();
  const latencies = new Map<string, number[]>();
  try {
    // Warm-up, not measured: a whole pass per target, so every path is compiled and every heap is
    // grown (a quarter pass left the dashboard climbing for several passes).
    for (const r of relays) for (const s of SIZES) await load(r.url, s.size, WARM_UP * s.perConnection, r.pid);
    for (let p = 0; p < passes; p++) {
      for (const s of SIZES) {
        // Rotate the order each pass so no relay always runs first or last.
        const order = relays.map((_, i) => relays[(i + p) % relays.length]!);
        for (const r of order) {
          const key = `${r.name}|${s.label}`;
          samples.set(key, [...(samples.get(key) ?? []), await load(r.url, s.size, s.perConnection, r.pid)]);
        }
      }
    }
    // Added latency: one message at a time, interleaved the same way, medians of the passes.
    for (let p = 0; p < passes; p++) {
      for (const r of relays.map((_, i) => relays[(i + p) % relays.length]!)) latencies.set(r.name, [...(latencies.get(r.name) ?? []), await latency(r.url)]);
    }
  } finally {
    for (const r of relays) await r.stop();
    await echo.close();
  }
  // What recording costs the kernel: the capture files' sizes per round trip (every target saw the
  // same traffic), and what writing that much to the page cache costs in this run.
  const written = captureBytes([
    ['frametap --ui none -w', join(dir, 'capture.jsonl')],
    ['frametap --ui none -w cap.pcapng', join(dir, 'cap.pcapng')],
  ]);
  const pageCache = pageCacheCost(dir);
  rmSync(dir, { recursive: true, force: true });

  const rows: string[][] = [['size', 'relay', 'msg/s', '× direct', '× bare', 'relay CPU µs/msg']];
  for (const s of SIZES) {
    const rate = (name: string): number => median(samples.get(`${name}|${s.label}`)!.map((x) => x.msgPerSec));
    const direct = rate('direct');
    const bare = rate('bare http-proxy');
    for (const r of relays) {
      const all = samples.get(`${r.name}|${s.label}`)!;
      const cpu = r.pid === null ? '-' : median(all.map((x) => x.cpuUsPerMsg!)).toFixed(1);
      const mps = rate(r.name);
      rows.push([s.label, r.name, mps.toFixed(0), (mps / direct).toFixed(2), r.pid === null ? '-' : (mps / bare).toFixed(2), cpu]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  process.stdout.write(`relay: ${CONNECTIONS} connections × ${IN_FLIGHT} in flight, round-trip messages, medians of ${passes} interleaved passes (${process.version}, ${CLK_TCK} Hz CPU ticks)\n`);
  for (const row of rows) process.stdout.write(`| ${row.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |\n`);
  const direct = median(latencies.get('direct') ?? [0]);
  const bare = median(latencies.get('bare http-proxy') ?? [0]);
  process.stdout.write(`\nlatency: 64 B, one message in flight, median round trip (µs) and what the relay adds to direct\n`);
  for (const r of relays) {
    const l = median(latencies.get(r.name) ?? [0]);
    process.stdout.write(`| ${r.name.padEnd(34)} | ${l.toFixed(0).padStart(6)} µs | +${(l - direct).toFixed(0).padStart(5)} µs | ${r.name === 'direct' ? '' : `bare +${(l - bare).toFixed(0)} µs`} |\n`);
  }
  process.stdout.write(`\nwriting to the page cache here (${dir}): ${pageCache.cpuUsPerMiB.toFixed(0)} µs CPU per MiB (${pageCache.wallUsPerMiB.toFixed(0)} µs wall), 256 MiB in 1 MiB writes\n`);
  const roundTrips = SIZES.reduce((n, sz) => n + CONNECTIONS * (WARM_UP * sz.perConnection + passes * sz.perConnection), 0);
  const payload = SIZES.reduce((n, sz) => n + CONNECTIONS * (WARM_UP * sz.perConnection + passes * sz.perConnection) * sz.size, 0);
  for (const [name, bytes] of written) {
    process.stdout.write(`${name}: wrote ${(bytes / 2 ** 20).toFixed(0)} MiB, ${(bytes / payload).toFixed(2)}× the messages' payload bytes (${roundTrips} round trips)\n`);
  }
}

function captureBytes(files: readonly (readonly [string, string])[]): (readonly [string, number])[] {
  return files.flatMap(([name, file]) => {
    try {
      return [[name, statSync(file).size] as const];
    } catch {
      return [];
    }
  });
}

/** CPU and wall time of writing 256 MiB to a file in `dir`, per MiB. */
function pageCacheCost(dir: string): { readonly cpuUsPerMiB: number; readonly wallUsPerMiB: number } {
  const file = join(dir, 'page-cache.bin');
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  const fd = openSync(file, 'w');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 256; i++) writeSync(fd, chunk);
  const wall = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  closeSync(fd);
  rmSync(file, { force: true });
  return { cpuUsPerMiB: (cpu.user + cpu.system) / 256, wallUsPerMiB: wall / 256 };
}

const direct = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (direct) {
  const args = process.argv.slice(2);
  if (args[0] === '--serve-bare') await serveBare(args[1]!);
  else await main(args);
}
