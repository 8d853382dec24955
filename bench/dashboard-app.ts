/**
 * What app-protocol decoding costs the dashboard's store at ingest: µs per message event and the
 * heap the rows hold, for 20k JSON text messages in a store set up as `--ui tui` with a spill or
 * capture sets it up (rows readable back: 20k rows kept, payloads over 2 KiB cut to a preview).
 * Shapes: plain JSON (no key a pairing protocol needs), JSON with a `type` key (`l2update`), the same
 * with a `type` GraphQL also has (`data`: parsed at ingest, it could be GraphQL and pair), JSON-RPC
 * requests and replies (paired at ingest), and decoding off.
 * Then the cost of showing a screenful (50 rows) of the newest rows, as the log pane does.
 *
 *   node bin/run-ts.js bench/dashboard-app.ts [--rows N] [--passes N] [--only plain,typed,data,jsonrpc,off]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseArgs } from 'node:util';
import type { SessionEvent } from '../src/session/events.js';
import { DashboardStore } from '../ui/store.js';
import { appOf } from '../ui/app-view.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// Options only when run by itself (`npm run bench` passes the names of the benchmarks).
const alone = Boolean(process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!));
const { values } = parseArgs({ args: alone ? process.argv.slice(2) : [], options: { rows: { type: 'string', default: '20000' }, passes: { type: 'string', default: '3' }, only: { type: 'string' } } });
const ROWS = Number(values.rows);
const PASSES = Number(values.passes);
const T0 = Date.UTC(2026, 10, 28);

type Shape = 'plain' | 'typed' | 'data' | 'jsonrpc' | 'off';

function payload(shape: Shape, i: number): { from: 'client' | 'server'; text: string } {
  const book = `"bids":[["${(100 + (i % 7)).toFixed(2)}","0.5"],["99.10","1.25"],["98.70","3"]],"asks":[["101.20","0.75"],["101.90","2"]]`;
  switch (shape) {
    case 'plain':
    case 'off':
      return { from: 'server', text: `{"seq":${i},"ts":${T0 + i},"product":"BTC-USD",${book},"note":"lorem ipsum dolor sit amet"}` };
    case 'typed':
      return { from: 'server', text: `{"type":"l2update","seq":${i},"ts":${T0 + i},"product":"BTC-USD",${book}}` };
    case 'data':
      return { from: 'server', text: `{"type":"data","seq":${i},"ts":${T0 + i},"product":"BTC-USD",${book}}` };
    case 'jsonrpc':
      return i % 2 === 0
        ? { from: 'client', text: `{"jsonrpc":"2.0","method":"book.get","params":{"product":"BTC-USD","depth":5},"id":${i >> 1}}` }
        : { from: 'server', text: `{"jsonrpc":"2.0","result":{"seq":${i},${book}},"id":${i >> 1}}` };
  }
}

function events(shape: Shape): SessionEvent[] {
  const out: SessionEvent[] = [
    { type: 'open', conn: 1, t: T0, client: '127.0.0.1:5000', target: 'ws://127.0.0.1:9001/feed' },
    { type: 'handshake', conn: 1, t: T0, request: { method: 'GET', target: '/feed', httpVersion: '1.1', headers: [] }, response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol: null, extensions: [] },
  ];
  for (let i = 0; i < ROWS; i++) {
    const { from, text } = payload(shape, i);
    const data = Buffer.from(text);
    out.push({ type: 'message', conn: 1, t: T0 + i, from, opcode: 1, compressed: false, frames: 1, length: data.length, data, truncated: false });
  }
  return out;
}

function store(shape: Shape): DashboardStore {
  return new DashboardStore({ readBack: async () => null, now: () => T0, ...(shape === 'off' ? { app: null } : {}) });
}

/** A whole pass the JIT sees first; its store is gone (unreachable) before anything is measured. */
function warmUp(shape: Shape, evs: readonly SessionEvent[]): void {
  const warm = store(shape);
  for (const e of evs) warm.ingest(e);
}

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

export async function main(): Promise<void> {
  const shapes = (values.only?.split(',') ?? ['plain', 'typed', 'data', 'jsonrpc', 'off']) as Shape[];
  console.log(`${ROWS} JSON text messages, ${PASSES} passes (median); node ${process.version}`);
  console.log('shape    ingest µs/event   heap MiB (rows)   show 50 rows µs/row');
  for (const shape of shapes) {
    const evs = events(shape);
    // Warm-up: the JIT sees every path once.
    warmUp(shape, evs);
    const times: number[] = [];
    const heaps: number[] = [];
    const shows: number[] = [];
    for (let p = 0; p < PASSES; p++) {
      const before = heapMiB();
      const s = store(shape);
      const t = process.hrtime.bigint();
      for (const e of evs) s.ingest(e);
      times.push(Number(process.hrtime.bigint() - t) / 1000 / evs.length);
      heaps.push(heapMiB() - before);
      // A screenful of the newest rows, shown twice (a redraw): the log pane asks each row's decoding.
      const log = s.connections.get(1)!.logs.messages;
      const t2 = process.hrtime.bigint();
      for (let r = 0; r < 2; r++) for (let i = log.count - 50; i < log.count; i++) appOf(log.get(i)!);
      shows.push(Number(process.hrtime.bigint() - t2) / 1000 / 100);
      if (s.retainedRows !== ROWS) throw new Error(`kept ${s.retainedRows} rows`);
    }
    console.log(`${shape.padEnd(8)} ${median(times).toFixed(2).padStart(15)} ${median(heaps).toFixed(1).padStart(17)} ${median(shows).toFixed(2).padStart(21)}`);
  }
}

if (alone) await main();
