/**
 * `node bin/run-ts.js bench/memory.ts` (or `npm run bench -- memory`): what frametap costs in memory,
 * measured side by side with a bare http-proxy relay in the same run (the machines are shared, so
 * only same-run comparisons mean anything).
 *
 * Each proxy runs in a child process of its own (this file with `--role frametap|bare`) so its
 * RSS and fd count are its own; the peers live in this process. Goals (issue 7):
 * - RSS per idle WebSocket connection, 2000 open: ≤ 32 KiB each.
 * - RSS growth relaying one 1 GiB message: ≤ 64 MiB; and with a stalled reader, bounded.
 * - Churn 2000 × 5: fd count and RSS back near the baseline after each round.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import httpProxy from 'http-proxy';
import type { SessionEvent } from '../src/session/events.js';
import { WebSocket, WebSocketServer } from 'ws';
import { GIB, deferred, fdCount, pool, rawFrame, rawUpgrade, rssBytes, startRawUpstream, withTimeout } from '../test/helpers/hostile.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MIB = 1024 * 1024;

/* ------------------------------------------------------------------------------------------------
 * The proxy host: a child process running one proxy, answering `stats` on stdin with a JSON line
 * ---------------------------------------------------------------------------------------------- */

export type ProxyRole = 'frametap' | 'bare';

export interface HostStats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly fds: number;
  readonly open: number;
  /** frametap: `open` and `end` events published so far. */
  readonly opens: number;
  readonly ends: number;
  readonly violations: number;
  readonly errors: number;
  /** Event-loop delay since the previous stats call, ms. */
  readonly eldP50: number;
  readonly eldP99: number;
  readonly eldMax: number;
}

export interface ProxyHost {
  readonly role: ProxyRole;
  readonly pid: number;
  readonly port: number;
  /** RSS/fds/open, after a full GC when `gc` is true. */
  stats(gc?: boolean): Promise<HostStats>;
  /** Writes a V8 heap snapshot of the proxy process to `path` (diagnostics). */
  heapSnapshot(path: string): Promise<void>;
  /** frametap: the last events of each connection that has no `end` yet (diagnostics). */
  unended(): Promise<Record<string, string[]>>;
  stop(): Promise<void>;
}

/** Starts a proxy child in front of `upstream` and waits for its `ready` line. */
export async function spawnProxyHost(role: ProxyRole, upstream: string): Promise<ProxyHost> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', join(ROOT, 'bin/run-ts.js'), join(ROOT, 'bench/memory.ts'), '--role', role, '--upstream', upstream],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT },
  );
  const lines = createInterface({ input: child.stdout! });
  const waiters: Array<(line: string) => void> = [];
  lines.on('line', (line) => waiters.shift()?.(line));
  const nextLine = (what: string) => {
    const d = deferred<string>();
    waiters.push(d.resolve);
    return withTimeout(d.promise, 60_000, `${role} proxy host: ${what}`);
  };
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const ready = JSON.parse(await nextLine('ready')) as { port: number };
  return {
    role,
    pid: child.pid!,
    port: ready.port,
    async stats(gc = true) {
      const reply = nextLine('stats');
      child.stdin!.write(gc ? 'stats-gc\n' : 'stats\n');
      return JSON.parse(await reply) as HostStats;
    },
    async heapSnapshot(path: string) {
      const reply = nextLine('heap snapshot');
      child.stdin!.write(`heap-snapshot ${path}\n`);
      await reply;
    },
    async unended() {
      const reply = nextLine('unended');
      child.stdin!.write('unended\n');
      return (JSON.parse(await reply) as { unended: Record<string, string[]> }).unended;
    },
    async stop() {
      child.stdin!.write('stop\n');
      await withTimeout(exited, 30_000, `${role} proxy host exit`).catch(() => child.kill('SIGKILL'));
    },
  };
}

async function runHost(role: ProxyRole, upstream: string): Promise<void> {
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  let opens = 0;
  let ends = 0;
  let violations = 0;
  let errors = 0;
  let open = () => 0;
  const recent = new Map<number, string[]>();
  let stop: () => Promise<void>;
  let port: number;
  if (role === 'frametap') {
    const [{ startProxy }, { EventBus }, { JsonlWriter }] = await Promise.all([
      import('../src/proxy/server.js'),
      import('../src/session/event-bus.js'),
      import('../src/capture/jsonl-writer.js'),
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'frametap-bench-'));
    const bus = new EventBus();
    const writer = JsonlWriter.create(join(dir, 'capture.jsonl'), {
      type: 'capture',
      format: 'frametap-capture',
      version: 1,
      started: new Date().toISOString(),
      tool: { name: 'frametap', version: 'bench' },
      mode: 'reverse',
      listen: null,
      upstream,
    });
    bus.subscribe('capture', (event) => {
      if ('conn' in event && event.conn !== undefined && event.type !== 'http') {
        // The last few events of every connection not ended yet (the `unended` command).
        if (event.type === 'end') recent.delete(event.conn);
        else {
          const list = recent.get(event.conn) ?? [];
          list.push(summarize(event));
          if (list.length > 8) list.shift();
          recent.set(event.conn, list);
        }
      }
      if (event.type === 'open') opens++;
      else if (event.type === 'end') ends++;
      else if (event.type === 'violation') violations++;
      else if (event.type === 'error') errors++;
      writer.write(event);
    });
    const proxy = await startProxy({
      upstream: new URL(upstream),
      listen: { host: '127.0.0.1', port: 0 },
      bus,
      maxPayload: MIB,
      insecure: false,
      keepHost: false,
      headers: [],
      redact: [],
    });
    writer.onPressure((high) => proxy.throttle(high));
    // The capture worker thread's start (loading its modules) is a one-time cost: not counted as
    // the first connections' memory.
    await writer.ready();
    port = proxy.port;
    open = () => proxy.openConnections;
    stop = async () => {
      await proxy.stop();
      await writer.close();
      rmSync(dir, { recursive: true, force: true });
    };
  } else {
    const relay = httpProxy.createProxyServer({ target: upstream, ws: true });
    relay.on('error', (_error, _req, res) => {
      errors++;
      if (res instanceof net.Socket) res.destroy();
    });
    const sockets = new Set<net.Socket>();
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
      opens++;
      sockets.add(socket);
      socket.on('close', () => {
        ends++;
        sockets.delete(socket);
      });
      relay.ws(req, socket, head);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    port = (server.address() as net.AddressInfo).port;
    open = () => sockets.size;
    stop = async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
      relay.close();
    };
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'stop') break;
    if (line === 'unended') {
      process.stdout.write(`${JSON.stringify({ unended: Object.fromEntries(recent) })}\n`);
      continue;
    }
    if (line.startsWith('heap-snapshot ')) {
      // Diagnostics: `heap-snapshot PATH` writes a V8 heap snapshot of the proxy process.
      gc?.();
      const { writeHeapSnapshot } = await import('node:v8');
      process.stdout.write(`${JSON.stringify({ snapshot: writeHeapSnapshot(line.slice('heap-snapshot '.length)) })}\n`);
      continue;
    }
    if (line === 'stats-gc' && gc) {
      // Two passes: the first frees, the second collects what finalisers released.
      gc();
      gc();
    }
    const mem = process.memoryUsage();
    const stats: HostStats = {
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      fds: fdCount(),
      open: open(),
      opens,
      ends,
      violations,
      errors,
      eldP50: eld.percentile(50) / 1e6,
      eldP99: eld.percentile(99) / 1e6,
      eldMax: eld.max / 1e6,
    };
    eld.reset();
    process.stdout.write(`${JSON.stringify(stats)}\n`);
  }
  await stop();
  process.exit(0);
}

function summarize(event: SessionEvent): string {
  const ms = (event.t % 100_000).toFixed(1);
  switch (event.type) {
    case 'frame':
      return `${ms} frame ${event.from} op${event.opcode}${event.fin ? '' : ' nofin'} len ${event.length}${event.incomplete ? ' incomplete' : ''}`;
    case 'message':
      return `${ms} message ${event.from} len ${event.length}`;
    case 'close':
      return `${ms} close ${event.from} ${event.code}`;
    case 'violation':
      return `${ms} violation ${event.from} ${event.rule}`;
    case 'error':
      return `${ms} error ${event.stage} ${event.code ?? ''} ${event.detail}`;
    case 'handshake':
      return `${ms} handshake ${event.response?.status ?? 'none'}`;
    default:
      return `${ms} ${event.type}`;
  }
}

/* ------------------------------------------------------------------------------------------------
 * Measurements
 * ---------------------------------------------------------------------------------------------- */

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

/** Samples a process's RSS every 50 ms until stopped; returns the peak. */
function sampleRss(pid: number): { stop(): number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // The process is gone; keep the last peak.
    }
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

interface OpenSet {
  readonly clients: WebSocket[];
  close(): Promise<void>;
}

/** Opens `count` ws clients through the proxy, `concurrency` handshakes at a time. */
async function openClients(port: number, count: number, concurrency = 64): Promise<OpenSet> {
  const clients: WebSocket[] = [];
  await pool(count, concurrency, async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/idle`, { perMessageDeflate: false });
    clients.push(ws);
    ws.on('error', () => undefined);
    await withTimeout(
      new Promise<void>((res, rej) => {
        ws.once('open', () => res());
        ws.once('error', rej);
      }),
      30_000,
      'a client handshake',
    );
  });
  return {
    clients,
    async close() {
      await Promise.all(
        clients.map(
          (ws) =>
            new Promise<void>((res) => {
              if (ws.readyState === WebSocket.CLOSED) return res();
              ws.once('close', () => res());
              ws.close(1000, 'done');
            }),
        ),
      );
    },
  };
}

async function waitForOpen(host: ProxyHost, count: number, ms = 30_000): Promise<HostStats> {
  const deadline = Date.now() + ms;
  for (;;) {
    const stats = await host.stats(false);
    if (stats.open === count) return stats;
    if (Date.now() > deadline) throw new Error(`${host.role}: ${stats.open} connections open, waiting for ${count}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export interface IdleResult {
  readonly role: ProxyRole;
  readonly perConnection: number;
}

async function idleConnections(host: ProxyHost, count: number): Promise<IdleResult> {
  const before = await host.stats();
  const set = await openClients(host.port, count);
  await waitForOpen(host, count);
  const during = await host.stats();
  await set.close();
  await waitForOpen(host, 0);
  return { role: host.role, perConnection: (during.rss - before.rss) / count };
}

/** A raw upstream that sends one `size`-byte binary message, in 1 MiB writes with backpressure. */
async function bigMessageUpstream(size: number, onDone: (written: number) => void) {
  const piece = Buffer.alloc(MIB, 0x5a);
  return startRawUpstream({
    onUpgrade: (conn) => {
      const socket = conn.socket;
      let written = 0;
      socket.write(rawFrame({ opcode: 0x2, declaredLength: size }));
      const pump = (): void => {
        while (written < size) {
          const n = Math.min(piece.length, size - written);
          written += n;
          if (!socket.write(n === piece.length ? piece : piece.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        onDone(written);
      };
      socket.on('error', () => undefined);
      pump();
    },
  });
}

export interface BigMessageResult {
  readonly role: ProxyRole;
  readonly growth: number;
  readonly seconds: number;
}

async function oneBigMessage(role: ProxyRole, size: number): Promise<BigMessageResult> {
  const upstream = await bigMessageUpstream(size, () => undefined);
  const host = await spawnProxyHost(role, upstream.url);
  try {
    const before = await host.stats();
    const client = await rawUpgrade(host.port);
    const expected = size + 10;
    const done = deferred<void>();
    let got = client.response.rest.length;
    client.socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got >= expected) done.resolve();
    });
    const sampler = sampleRss(host.pid);
    const started = performance.now();
    client.socket.resume();
    await withTimeout(done.promise, 300_000, 'the 1 GiB message');
    const seconds = (performance.now() - started) / 1000;
    const peak = sampler.stop();
    client.socket.destroy();
    return { role, growth: peak - before.rss, seconds };
  } finally {
    await host.stop();
    await upstream.close();
  }
}

export interface StalledResult {
  readonly role: ProxyRole;
  readonly growth: number;
  /** Bytes the upstream got rid of before its writes stopped draining. */
  readonly accepted: number;
}

/** The client stops reading; the upstream writes until nothing drains for `quietMs`. */
async function stalledReader(role: ProxyRole, size: number, quietMs = 2000): Promise<StalledResult> {
  const piece = Buffer.alloc(MIB, 0x5a);
  let accepted = 0;
  const stalled = deferred<void>();
  const upstream = await startRawUpstream({
    onUpgrade: (conn) => {
      const socket = conn.socket;
      socket.on('error', () => undefined);
      socket.write(rawFrame({ opcode: 0x2, declaredLength: size }));
      let quiet: NodeJS.Timeout | undefined;
      const pump = (): void => {
        clearTimeout(quiet);
        while (accepted < size) {
          accepted += piece.length;
          if (!socket.write(piece)) {
            quiet = setTimeout(() => stalled.resolve(), quietMs);
            socket.once('drain', pump);
            return;
          }
        }
        stalled.resolve();
      };
      pump();
    },
  });
  const host = await spawnProxyHost(role, upstream.url);
  try {
    const before = await host.stats();
    const client = await rawUpgrade(host.port);
    const sampler = sampleRss(host.pid);
    await withTimeout(stalled.promise, 300_000, 'the upstream to stall');
    const peak = sampler.stop();
    client.socket.destroy();
    return { role, growth: peak - before.rss, accepted };
  } finally {
    await host.stop();
    await upstream.close();
  }
}

export interface ChurnRound {
  readonly round: number;
  readonly fds: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly opens: number;
  readonly ends: number;
}

async function churn(host: ProxyHost, rounds: number, count: number): Promise<{ baseline: HostStats; rounds: ChurnRound[] }> {
  const baseline = await host.stats();
  const result: ChurnRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    const set = await openClients(host.port, count);
    await waitForOpen(host, count);
    await set.close();
    await waitForOpen(host, 0);
    const after = await host.stats();
    result.push({ round, fds: after.fds, rss: after.rss, heapUsed: after.heapUsed, opens: after.opens, ends: after.ends });
  }
  return { baseline, rounds: result };
}

export async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const at = argv.indexOf('--conns');
  const count = at >= 0 ? Number(argv[at + 1]) : 2000;
  if (!Number.isInteger(count) || count <= 0) throw new Error('--conns N: a positive number of connections');
  const bigSize = argv.includes('--quick') ? 64 * MIB : GIB;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  // `--bare-only`: check the harness itself without frametap.
  const roles: readonly ProxyRole[] = argv.includes('--bare-only') ? ['bare'] : ['bare', 'frametap'];

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((res) => wss.once('listening', () => res()));
  wss.on('connection', (ws) => ws.on('error', () => undefined));
  const upstream = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
  try {
    out(`### idle connections (${count} open at once)\n`);
    out('| relay | RSS per idle connection | goal |');
    out('|---|---|---|');
    for (const role of roles) {
      const host = await spawnProxyHost(role, upstream);
      try {
        const r = await idleConnections(host, count);
        out(`| ${role} | ${kib(r.perConnection)} | ${role === 'frametap' ? '≤ 32 KiB' : ''} |`);
      } finally {
        await host.stop();
      }
    }

    out(`\n### one ${mib(bigSize)} message, server → client\n`);
    out('| relay | peak RSS growth | throughput | goal |');
    out('|---|---|---|---|');
    for (const role of roles) {
      const r = await oneBigMessage(role, bigSize);
      out(`| ${role} | ${mib(r.growth)} | ${(bigSize / MIB / r.seconds).toFixed(0)} MiB/s | ${role === 'frametap' ? '≤ 64 MiB' : ''} |`);
    }

    out(`\n### stalled reader (client reads nothing, server writes up to ${mib(bigSize)})\n`);
    out('| relay | peak RSS growth | bytes the server got out before stalling |');
    out('|---|---|---|');
    for (const role of roles) {
      const r = await stalledReader(role, bigSize);
      out(`| ${role} | ${mib(r.growth)} | ${mib(r.accepted)} |`);
    }

    const churned = roles[roles.length - 1]!;
    out(`\n### churn: ${count} connections opened and closed, 5 rounds (${churned})\n`);
    const host = await spawnProxyHost(churned, upstream);
    try {
      const c = await churn(host, 5, count);
      out(`baseline: ${c.baseline.fds} fds, RSS ${mib(c.baseline.rss)}, heap used ${mib(c.baseline.heapUsed)} (after GC)\n`);
      out('| round | fds | RSS | RSS vs baseline | heap used | open events | end events |');
      out('|---|---|---|---|---|---|---|');
      for (const r of c.rounds) {
        out(`| ${r.round} | ${r.fds} | ${mib(r.rss)} | ${r.rss >= c.baseline.rss ? '+' : ''}${mib(r.rss - c.baseline.rss)} | ${mib(r.heapUsed)} | ${r.opens} | ${r.ends} |`);
      }
    } finally {
      await host.stop();
    }
  } finally {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((res) => wss.close(() => res()));
  }
}

const invokedDirectly = process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url;
if (invokedDirectly) {
  const roleAt = process.argv.indexOf('--role');
  if (roleAt > 0) {
    const role = process.argv[roleAt + 1] as ProxyRole;
    const upstream = process.argv[process.argv.indexOf('--upstream') + 1]!;
    await runHost(role, upstream);
  } else {
    await main();
  }
}
