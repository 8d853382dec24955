/**
 * Reading a pcapng gives events in the file's block order across connections (capture-format.md
 * "pcapng captures": "order is the file's block order"), also when a connection's compressed
 * message is still inflating (zlib works on its thread pool) while the next blocks belong to
 * another connection. Recorded by the real proxy (`-w cap.pcapng`) from real `ws` peers with
 * permessage-deflate: connection A sends a large compressed message, and only once the upstream
 * has it (so its blocks come first in the file) does connection B send small ones.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { deferred, withTimeout, type Deferred } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { recordWithDumpcap } from './dumpcap.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { SessionEvent } from '../../src/session/events.js';
import { messageData } from '../../src/session/event-data.js';
import { replayPacketFile } from '../../src/pcap/read-file.js';
import { parseCaptureLine } from '../../src/capture/jsonl-reader.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { PacketReplay } from '../../src/pcap/packet-replay.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-block-order-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Words in a fixed pseudo-random order: compresses about 3:1 and takes zlib many rounds to inflate. */
function bigText(bytes: number, seed: number): string {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa', 'lambda', 'mu', 'nu', 'xi', 'omicron', 'pi'];
  let x = seed;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = `${words[x >>> 28]!}${(x >>> 8) & 0xfff} `;
    parts.push(w);
    n += w.length;
  }
  return parts.join('').slice(0, bytes);
}

type Sent = readonly { readonly who: 'a' | 'b'; readonly text: string }[];

/** What each client sends, in this order (the client's messages in block order): A's large message, B's small ones, twice. */
function sentWith(big: number): Sent {
  return [
    { who: 'a', text: bigText(big, 1) },
    ...[1, 2, 3, 4, 5].map((i) => ({ who: 'b' as const, text: `b${i}` })),
    { who: 'a', text: bigText(big, 2) },
    ...[6, 7, 8].map((i) => ({ who: 'b' as const, text: `b${i}` })),
  ];
}

const SENT = sentWith(3 * 1024 * 1024);

let file = '';

/** The upstream: a `ws` server with permessage-deflate that notes each message it receives, in order. */
async function startUpstream(sent: Sent = SENT): Promise<{ port: number; received: readonly Deferred<void>[]; close(): Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 } });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const received: Deferred<void>[] = sent.map(() => deferred<void>());
  let got = 0;
  server.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', () => received[got++]?.resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    received,
    close: () => new Promise<void>((resolve) => {
      for (const c of server.clients) c.terminate();
      server.close(() => resolve());
    }),
  };
}

/** Connections A then B to `port`, each message of `sent` sent once the upstream has the one before, then clean closes. */
async function talk(port: number, received: readonly Deferred<void>[], sent: Sent = SENT): Promise<void> {
  const open = async (p: string): Promise<WebSocket> => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/${p}`, { perMessageDeflate: { threshold: 0 } });
    ws.on('error', () => {});
    await withTimeout(new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject)), `ws open ${p}`);
    return ws;
  };
  const peers = { a: await open('a'), b: await open('b') };
  for (let i = 0; i < sent.length; i++) {
    peers[sent[i]!.who].send(sent[i]!.text);
    await withTimeout(received[i]!.promise, `message ${i} at the upstream`, 20_000);
  }
  for (const ws of [peers.a, peers.b]) {
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close(1000);
    await withTimeout(closed, 'close');
  }
}

beforeAll(async () => {
  const upstream = await startUpstream();
  file = path.join(dir, 'order.pcapng');
  const child = spawn(process.execPath, [CLI, '-u', `ws://127.0.0.1:${upstream.port}`, '-l', '0', '-w', file, '--ui', 'none'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const listening = deferred<number>();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
    if (m) listening.resolve(Number(m[1]));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const port = await withTimeout(listening.promise, 'the proxy to listen', 15_000);
    await talk(port, upstream.received);
  } finally {
    child.kill('SIGINT');
    await exited;
    await upstream.close();
  }
}, 60_000);

/** The client's messages as read, in order: A's by length (they are long), B's by text. */
function clientMessages(events: readonly SessionEvent[]): string[] {
  return events.filter((e) => e.type === 'message' && e.from === 'client').map((e) => (e.conn === 1 ? `a:${(e as { length: number }).length}` : `b:${messageData(e as Parameters<typeof messageData>[0]).toString()}`));
}

function expected(sent: Sent): string[] {
  return sent.map((s) => (s.who === 'a' ? `a:${s.text.length}` : `b:${s.text}`));
}

const EXPECTED = expected(SENT);

describe('reading a pcapng with compressed messages on several connections', () => {
  for (const readChunk of [1024 * 1024, 65536, 4093, 509]) {
    it(`events follow block order across connections (read ${readChunk} bytes at a time)`, async () => {
      const bus = new EventBus();
      const events: SessionEvent[] = [];
      bus.subscribe('read', (e) => events.push(e));
      const warnings: string[] = [];
      await replayPacketFile(file, bus, { readChunk, onWarning: (w) => warnings.push(w) });
      expect(warnings).toEqual([]);
      expect(clientMessages(events)).toEqual(EXPECTED);
      // Block order is relay order: the frames and messages of both connections come out in the
      // order of their packets' time stamps.
      const wire = events.filter((e) => e.type === 'frame' || e.type === 'message' || e.type === 'close');
      const outOfOrder = wire.filter((e, i) => i > 0 && e.t < wire[i - 1]!.t).map((e) => `${e.type} conn ${e.conn}`);
      expect(outOfOrder).toEqual([]);
      expect(events.filter((e) => e.type === 'end').map((e) => e.conn).sort()).toEqual([1, 2]);
    });
  }

  it('records handed to the replay without awaiting it still come out in block order (it queues them)', async () => {
    const bus = new EventBus();
    const events: SessionEvent[] = [];
    bus.subscribe('read', (e) => events.push(e));
    const parser = new CaptureParser();
    const replay = new PacketReplay({ bus, maxPayload: 1024 * 1024 });
    const bytes = fs.readFileSync(file);
    for (let at = 0; at < bytes.length; at += 65536) for (const r of parser.push(bytes.subarray(at, at + 65536))) void replay.record(r);
    await replay.finish();
    expect(clientMessages(events)).toEqual(EXPECTED);
  });

  it('view --ui jsonl prints them in block order too', async () => {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'view', file, '--ui', 'jsonl'], { maxBuffer: 256 * 1024 * 1024 });
    expect(stderr).toBe('');
    const events = stdout.trim().split('\n').map((l) => parseCaptureLine(l)).filter((e): e is SessionEvent => e !== null && e.type !== 'capture');
    expect(clientMessages(events)).toEqual(EXPECTED);
  });
});

describe('a foreign capture (dumpcap) with compressed messages on several connections', () => {
  itWith('dumpcap')('events follow block order across connections at every read size', async () => {
    // Smaller messages than through the proxy: dumpcap on a busy machine drops packets of a few
    // MiB sent at once (the reader reports that as a `reassembly` error). The whole file fits
    // in one read, so without the wait B's messages would come out before A's inflate ends.
    const sent = sentWith(256 * 1024);
    const upstream = await startUpstream(sent);
    const foreign = path.join(dir, 'dumpcap.pcapng');
    try {
      // Both connections' FINs in both directions.
      await recordWithDumpcap({ iface: 'lo', port: upstream.port, file: foreign }, () => talk(upstream.port, upstream.received, sent), 4);
    } finally {
      await upstream.close();
    }
    for (const readChunk of [1024 * 1024, 4093]) {
      const bus = new EventBus();
      const events: SessionEvent[] = [];
      bus.subscribe('read', (e) => events.push(e));
      const warnings: string[] = [];
      await replayPacketFile(foreign, bus, { readChunk, onWarning: (w) => warnings.push(w) });
      expect(warnings, `read ${readChunk}`).toEqual([]);
      // Connections are numbered as their requests complete: A first.
      expect(clientMessages(events), `read ${readChunk}`).toEqual(expected(sent));
    }
  }, 90_000);
});
