/**
 * `node bin/run-ts.js bench/soak.ts [--minutes N] [--conns N] [--seed N]`: mixed traffic through
 * frametap for N minutes (default 10), with the proxy's RSS and event-loop delay sampled every
 * second. Prints a per-minute table and whether both stayed flat.
 *
 * The mix (seeded, so a run can be repeated): chatty clients with permessage-deflate, pings,
 * fragmented messages, clients that vanish mid-stream (socket destroyed, no close frame), and raw
 * clients that break RFC 6455 (RSV2 set, unmasked frames, oversized control frames) so the
 * violation path runs too. The proxy runs in a child process (bench/memory.ts `--role frametap`)
 * so its figures are its own.
 */
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { SeededRandom, frameFrom, rawUpgrade, withTimeout } from '../test/helpers/hostile.js';
import { spawnProxyHost, type HostStats, type ProxyHost } from './memory.js';

const MIB = 1024 * 1024;

interface Sample {
  readonly second: number;
  readonly stats: HostStats;
}

function flag(argv: readonly string[], name: string, fallback: number): number {
  const at = argv.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number`);
  return value;
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** A ws client that chats: text and binary messages of random sizes, pings, a fragmented message, then a close. */
async function chatty(port: number, rng: SeededRandom, abrupt: boolean): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { perMessageDeflate: rng.int(2) === 0 });
  ws.on('error', () => undefined);
  const opened = await withTimeout(
    new Promise<boolean>((res) => {
      ws.once('open', () => res(true));
      ws.once('close', () => res(false));
    }),
    10_000,
    'a soak client handshake',
  ).catch(() => false);
  if (!opened) {
    ws.terminate();
    return;
  }
  const messages = 1 + rng.int(20);
  for (let i = 0; i < messages && ws.readyState === WebSocket.OPEN; i++) {
    const kind = rng.int(10);
    if (kind < 5) ws.send(`message ${i} `.repeat(1 + rng.int(200)));
    else if (kind < 8) ws.send(rng.bytes(rng.int(64 * 1024)));
    else if (kind < 9) ws.ping(rng.bytes(rng.int(125)));
    else {
      ws.send('part one, ', { fin: false });
      ws.send('part two', { fin: true });
    }
    await sleep(rng.int(200));
  }
  if (abrupt) {
    // Vanish mid-stream: no close frame, the proxy must write `end` with 1006.
    ws.terminate();
    return;
  }
  await withTimeout(
    new Promise<void>((res) => {
      ws.once('close', () => res());
      ws.close(1000, 'bye');
    }),
    10_000,
    'a soak client close',
  ).catch(() => ws.terminate());
}

/** A raw client that breaks the protocol; the ws upstream answers with a 1002 close. */
async function violator(port: number, rng: SeededRandom): Promise<void> {
  const client = await rawUpgrade(port).catch(() => null);
  if (!client) return;
  const { socket } = client;
  const bad = [
    frameFrom('client', { opcode: 1, rsv2: true, payload: Buffer.from('rsv2') }),
    frameFrom('server', { opcode: 1, payload: Buffer.from('unmasked client frame') }),
    frameFrom('client', { opcode: 9, payload: rng.bytes(126) }),
    frameFrom('client', { opcode: 3, payload: Buffer.from('reserved opcode') }),
  ][rng.int(4)]!;
  socket.resume();
  socket.write(bad);
  await withTimeout(new Promise<void>((res) => socket.once('close', () => res())), 5000, 'the violator to be closed').catch(
    () => undefined,
  );
  socket.destroy();
}

/** Keeps `conns` connections cycling until `until`. */
async function traffic(port: number, conns: number, until: number, seed: number): Promise<number> {
  let started = 0;
  const lane = async (index: number): Promise<void> => {
    const rng = new SeededRandom(seed + index * 7919);
    while (Date.now() < until) {
      started++;
      const pick = rng.int(10);
      if (pick < 6) await chatty(port, rng, false);
      else if (pick < 8) await chatty(port, rng, true);
      else await violator(port, rng);
    }
  };
  await Promise.all(Array.from({ length: conns }, (_, i) => lane(i)));
  return started;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const minutes = flag(argv, '--minutes', 10);
  const conns = flag(argv, '--conns', 100);
  const seed = flag(argv, '--seed', 1);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: !argv.includes('--no-deflate') });
  await new Promise<void>((res) => wss.once('listening', () => res()));
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const upstream = `ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`;
  let host: ProxyHost | null = null;
  try {
    // `--bare`: the same soak through a bare http-proxy relay, to check the harness or compare.
    host = await spawnProxyHost(argv.includes('--bare') ? 'bare' : 'frametap', upstream);
    const proxy = host;
    const startedAt = Date.now();
    const until = startedAt + minutes * 60_000;
    const samples: Sample[] = [];
    const first = await proxy.stats(true);
    out(`soak: ${minutes} min, ${conns} concurrent lanes, seed ${seed}; proxy pid ${proxy.pid}, start RSS ${(first.rss / MIB).toFixed(1)} MiB\n`);
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sleep(1000);
        if (!sampling) break;
        samples.push({ second: Math.round((Date.now() - startedAt) / 1000), stats: await proxy.stats(false) });
      }
    })();
    const connections = await traffic(proxy.port, conns, until, seed);
    sampling = false;
    await sampler;
    const last = await proxy.stats(true);

    out('| minute | RSS median | RSS max | heap used | ELD p99 (max of the minute) | ELD max | opens | ends | violations |');
    out('|---|---|---|---|---|---|---|---|---|');
    const byMinute = new Map<number, Sample[]>();
    for (const s of samples) {
      const m = Math.floor((s.second - 1) / 60);
      byMinute.set(m, [...(byMinute.get(m) ?? []), s]);
    }
    for (const [m, group] of byMinute) {
      const rss = group.map((s) => s.stats.rss);
      const end = group[group.length - 1]!.stats;
      out(
        `| ${m + 1} | ${(median(rss) / MIB).toFixed(1)} MiB | ${(Math.max(...rss) / MIB).toFixed(1)} MiB | ${(end.heapUsed / MIB).toFixed(1)} MiB | ` +
          `${Math.max(...group.map((s) => s.stats.eldP99)).toFixed(1)} ms | ${Math.max(...group.map((s) => s.stats.eldMax)).toFixed(1)} ms | ` +
          `${end.opens} | ${end.ends} | ${end.violations} |`,
      );
    }

    // Flat: the last quarter's median against the second quarter's (the first is warm-up: JIT, pools).
    const q = Math.max(1, Math.floor(samples.length / 4));
    const early = samples.slice(q, 2 * q);
    const late = samples.slice(samples.length - q);
    const rssEarly = median(early.map((s) => s.stats.rss));
    const rssLate = median(late.map((s) => s.stats.rss));
    const eldEarly = median(early.map((s) => s.stats.eldP99));
    const eldLate = median(late.map((s) => s.stats.eldP99));
    const rssFlat = rssLate - rssEarly <= Math.max(16 * MIB, rssEarly * 0.1);
    const eldFlat = eldLate <= eldEarly * 2 + 5;
    out('');
    out(`connections started: ${connections}; open/end events: ${last.opens}/${last.ends}; violations: ${last.violations}; errors: ${last.errors}`);
    out(`RSS: ${(rssEarly / MIB).toFixed(1)} MiB (2nd quarter median) → ${(rssLate / MIB).toFixed(1)} MiB (last quarter): ${rssFlat ? 'FLAT' : 'GROWING'}`);
    out(`event-loop delay p99: ${eldEarly.toFixed(1)} ms → ${eldLate.toFixed(1)} ms: ${eldFlat ? 'FLAT' : 'GROWING'}`);
    out(`heap after GC: ${(first.heapUsed / MIB).toFixed(1)} MiB at start → ${(last.heapUsed / MIB).toFixed(1)} MiB at the end`);
    // Every connection is over once traffic() returns; the proxy must have written one end per open.
    const settled = await waitSettled(proxy);
    out(
      `after the traffic stopped: ${settled.open} open connections, ${settled.opens} open vs ${settled.ends} end events ` +
        `(${(settled.afterMs / 1000).toFixed(1)} s later)`,
    );
    if (settled.open > 0 || settled.opens !== settled.ends) {
      out('connections without an end, with their last events:');
      for (const [conn, events] of Object.entries(await proxy.unended())) out(`  conn ${conn}: ${events.join(' | ')}`);
    }
  } finally {
    await host?.stop();
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((res) => wss.close(() => res()));
  }
}

/** Waits for every connection to end (up to 60 s: `ws` peers wait 30 s for a close frame before dropping a socket). */
async function waitSettled(host: ProxyHost): Promise<HostStats & { readonly afterMs: number }> {
  const started = Date.now();
  for (;;) {
    const stats = await host.stats(false);
    if ((stats.open === 0 && stats.opens === stats.ends) || Date.now() - started > 60_000) return { ...stats, afterMs: Date.now() - started };
    await sleep(100);
  }
}

if (process.argv[1]?.endsWith('soak.ts')) await main();
