/**
 * `node bin/run-ts.js bench/dashboard.ts [--messages N] [--rate R]` (or `npm run bench -- dashboard`):
 * the dashboard of a real `frametap proxy --ui tui` in a pseudo-terminal (tmux, 160×48), fed R msg/s
 * (default 20 000) by a ws client through the proxy to a ws server, until N messages (default 10^6).
 * Reports redraws per second, keypress-to-screen latency (p50/p99: `m` is sent and the screen
 * polled until the log's title changes) and the proxy's RSS after N messages. The dashboard writes
 * its counters to FRAMETAP_DASHBOARD_STATS; the peers run in this process.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SOCKET = `frametap-bench-${process.pid}`;
const SESSION = 'dash';

interface Stats {
  readonly t: number;
  readonly redraws: number;
  readonly renderMs: number;
  readonly loopDelayP99Ms: number | null;
  readonly loopDelayMaxMs: number | null;
  readonly messages: number;
  readonly retainedRows: number;
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

function screen(): string {
  return tmux('capture-pane', '-p', '-t', SESSION);
}

async function waitFor<T>(what: string, probe: () => T | null, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = probe();
    if (got !== null) return got;
    if (Date.now() > deadline) throw new Error(`bench/dashboard: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function readStats(file: string): Stats | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Stats;
  } catch {
    return null;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function main(argv: readonly string[] = []): Promise<void> {
  const arg = (name: string, def: number): number => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  const total = arg('--messages', 1_000_000);
  const rate = arg('--rate', 20_000);

  const dir = mkdtempSync(join(tmpdir(), 'frametap-bench-dash-'));
  const statsFile = join(dir, 'stats.json');
  const upstream = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((r) => upstream.once('listening', () => r()));
  let received = 0;
  upstream.on('connection', (ws) => ws.on('message', () => received++));
  const upPort = (upstream.address() as { port: number }).port;
  let client: WebSocket | null = null;

  try {
    tmux(
      'new-session', '-d', '-s', SESSION, '-x', '160', '-y', '48', '-c', ROOT,
      `FRAMETAP_DASHBOARD_STATS=${statsFile} node ${process.env.BENCH_NODE_FLAGS ?? ""} bin/frametap.js -u ws://127.0.0.1:${upPort} -l 127.0.0.1:0 --ui tui; echo BENCH-EXITED; sleep 60`,
    );
    const port = await waitFor('the dashboard', () => /frametap 127\.0\.0\.1:(\d+) →/.exec(screen())?.[1] ?? null, 15_000);

    client = new WebSocket(`ws://127.0.0.1:${port}/bench`, { perMessageDeflate: false });
    await new Promise<void>((r, j) => {
      client!.once('open', () => r());
      client!.once('error', j);
    });

    // Paced sender: every 10 ms, the messages due by now (skipped while the socket's buffer is full).
    let sent = 0;
    const started = Date.now();
    const payload = (n: number): string => `{"type":"tick","seq":${n},"price":${(100 + (n % 997) / 10).toFixed(1)},"note":"bench"}`;
    const pump = setInterval(() => {
      const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate));
      while (sent < due && client!.bufferedAmount < 4 * 1024 * 1024) client!.send(payload(sent++));
    }, 10);

    // Keypress → screen: toggle frames/messages and wait for the log title to change.
    await waitFor('traffic on screen', () => (/\[ #1 frames \d+/.test(screen()) ? true : null), 15_000);
    const s0 = await waitFor('stats', () => readStats(statsFile), 5000);
    const latencies: number[] = [];
    let presses = 0;
    let mode = 'frames';
    // The first presses also pay for lazily loaded code (tsx compiles on first import): not counted.
    const WARMUP = 5;
    for (let i = 0; i < 40 + WARMUP; i++) {
      const next = mode === 'frames' ? 'messages' : 'frames';
      const t0 = performance.now();
      tmux('send-keys', '-t', SESSION, 'm');
      presses++;
      await waitFor(`title ${next}`, () => (screen().includes(`#1 ${next} `) ? true : null), 5000, 2);
      if (i >= WARMUP) latencies.push(performance.now() - t0);
      mode = next;
      await new Promise((r) => setTimeout(r, 100));
    }
    const s1 = await waitFor('stats', () => readStats(statsFile), 5000);
    // Redraws driven by traffic alone (no keys) over a quiet window.
    await new Promise((r) => setTimeout(r, 300));
    const q0 = readStats(statsFile)!;
    await new Promise((r) => setTimeout(r, 3000));
    const q1 = readStats(statsFile)!;

    await waitFor(`${total} messages sent`, () => (sent >= total ? true : null), Math.max(120_000, (total / rate) * 3000), 200);
    clearInterval(pump);
    const last = await waitFor('the dashboard to see every message', () => {
      const s = readStats(statsFile);
      return s && s.messages >= total ? s : null;
    }, 120_000, 250);
    const elapsed = (last.t - started) / 1000;

    latencies.sort((a, b) => a - b);
    const result = {
      messages: total,
      targetRate: rate,
      achievedRate: Math.round(total / elapsed),
      upstreamReceived: received,
      // Over the whole run, less the redraws the key presses caused (one each).
      redrawsPerSecond: +(((last.redraws - s0.redraws - presses) * 1000) / (last.t - s0.t)).toFixed(1),
      redrawsPerSecondQuietWindow: +(((q1.redraws - q0.redraws) * 1000) / (q1.t - q0.t)).toFixed(1),
      messagesPerSecondQuietWindow: Math.round(((q1.messages - q0.messages) * 1000) / (q1.t - q0.t)),
      redrawsPerSecondWithKeys: +(((s1.redraws - s0.redraws) * 1000) / (s1.t - s0.t)).toFixed(1),
      keyToScreenMs: {
        p50: +percentile(latencies, 50).toFixed(1),
        p90: +percentile(latencies, 90).toFixed(1),
        p99: +percentile(latencies, 99).toFixed(1),
        samples: latencies.length,
      },
      loadAverage: loadavg()[0]!.toFixed(1),
      msPerRedraw: +((last.renderMs) / Math.max(1, last.redraws)).toFixed(2),
      eventLoopDelayMs: { p99: last.loopDelayP99Ms, max: last.loopDelayMaxMs },
      rssMiB: +(last.rss / 1024 / 1024).toFixed(1),
      heapUsedMiB: +(last.heapUsed / 1024 / 1024).toFixed(1),
      externalMiB: +(last.external / 1024 / 1024).toFixed(1),
      rowsInMemory: last.retainedRows,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    tmux('send-keys', '-t', SESSION, 'q');
    await waitFor('the proxy to exit', () => (screen().includes('BENCH-EXITED') ? true : null), 20_000).catch(() => true);
  } finally {
    client?.terminate();
    try {
      tmux('kill-server');
    } catch {
      // Already gone.
    }
    await new Promise<void>((r) => upstream.close(() => r()));
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}

const invokedDirectly = process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url;
if (invokedDirectly) await main(process.argv.slice(2));
