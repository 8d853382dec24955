/**
 * Reading a large pcapng (issue 14): `frametap view FILE --ui jsonl > /dev/null` of a file made of
 * real frametap blocks (both legs of 8 connections, 64 KiB binary messages and small text ones,
 * uncompressed), in MB/s of pcapng read, with the viewer's peak RSS sampled from
 * /proc (flat memory: it must not grow with the file). Goal: ≥ 200 MB/s.
 *
 *   node bin/run-ts.js bench/pcap-read.ts [--mib N] [--deflate]   (default 256; the figure is 1024)
 *
 * `--deflate`: every message permessage-deflate compressed (64 KiB of JSON inflated per binary
 * message), so reading inflates on all 8 connections, whose blocks interleave: what events in
 * block order across connections cost.
 */
import { spawn } from 'node:child_process';
import * as zlib from 'node:zlib';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PcapngRecorder } from '../src/pcap/pcapng-recorder.js';
import { captureHeader } from '../src/capture/header.js';
import { encodeFrame } from '../src/protocol/frame-encoder.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * A message compressed on its own (permessage-deflate without context takeover, RFC 7692 §7.2.1:
 * the trailing 00 00 ff ff of the sync flush removed).
 */
function deflated(payload: Buffer): Buffer {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/**
 * Writes about `mib` MiB of frametap pcapng to `file`. `deflate`: every message compressed
 * (permessage-deflate), so reading inflates on every connection at once.
 */
export function makeCapture(file: string, mib: number, deflate = false): number {
  const fd = fs.openSync(file, 'w', 0o600);
  const rec = new PcapngRecorder({ header: captureHeader('reverse', null, null), maxPayload: 1024 * 1024 });
  const upgrade = (conn: number, t: number): void => {
    const req = Buffer.from('GET /bench HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    const extension = deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n' : '';
    const res = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n${extension}\r\n`);
    rec.record({ type: 'open', conn, t, client: '127.0.0.1:1', target: 'ws://bench/bench' });
    rec.record({ type: 'chunk', conn, t, leg: 'client', from: 'client', bytes: req });
    rec.record({ type: 'chunk', conn, t, leg: 'upstream', from: 'client', bytes: req });
    rec.record({ type: 'chunk', conn, t, leg: 'upstream', from: 'server', bytes: res });
    rec.record({ type: 'chunk', conn, t, leg: 'client', from: 'server', bytes: res });
    rec.record({ type: 'handshake', conn, t, request: { method: 'GET', target: '/bench', httpVersion: '1.1', headers: [] }, response: { status: 101, reason: '', httpVersion: '1.1', headers: [] }, upgraded: true, accept: 'ok', protocol: null, extensions: [] });
  };
  const key = Buffer.from([1, 2, 3, 4]);
  const tick = Buffer.from('{"op":"tick","n":12345}');
  let frames: { client: Buffer; server: Buffer; text: Buffer };
  if (deflate) {
    // JSON that compresses about 4:1, as chatty deflate traffic does: 64 KiB of it inflated per message.
    const rows = Array.from({ length: 1200 }, (_, i) => `{"id":${i},"name":"user${(i * 7919) % 1000}","score":${(i * 31) % 977}}`).join(',');
    const json = Buffer.from(`[${rows}]`.padEnd(64 * 1024, ' ').slice(0, 64 * 1024));
    frames = {
      client: encodeFrame({ opcode: 2, rsv1: true, payload: deflated(json), mask: key }),
      server: encodeFrame({ opcode: 2, rsv1: true, payload: deflated(json) }),
      text: encodeFrame({ opcode: 1, rsv1: true, payload: deflated(tick), mask: key }),
    };
  } else {
    const big = Buffer.alloc(64 * 1024, 7);
    frames = {
      client: encodeFrame({ opcode: 2, payload: big, mask: key }),
      server: encodeFrame({ opcode: 2, payload: big }),
      text: encodeFrame({ opcode: 1, payload: tick, mask: key }),
    };
  }
  let t = Date.now();
  let written = 0;
  for (let conn = 1; conn <= 8; conn++) upgrade(conn, t);
  const target = mib * 1024 * 1024;
  while (written < target) {
    for (let conn = 1; conn <= 8; conn++) {
      t += 0.01;
      for (const [from, bytes] of [['client', frames.client], ['server', frames.server], ['client', frames.text]] as const) {
        rec.record({ type: 'chunk', conn, t, leg: from === 'client' ? 'client' : 'upstream', from, bytes });
        rec.record({ type: 'chunk', conn, t, leg: from === 'client' ? 'upstream' : 'client', from, bytes });
      }
    }
    const out = rec.arena.take();
    fs.writeSync(fd, out);
    written += out.length;
  }
  for (let conn = 1; conn <= 8; conn++) rec.record({ type: 'end', conn, t, code: 1006, reason: '', initiator: null, clean: false, durationMs: 0, bytes: { client: 0, server: 0 }, frames: { client: 0, server: 0 } });
  const out = rec.arena.take();
  fs.writeSync(fd, out);
  fs.closeSync(fd);
  return written + out.length;
}

export async function main(argv: readonly string[] = []): Promise<void> {
  const { values } = parseArgs({ args: [...argv], options: { mib: { type: 'string', default: '256' }, deflate: { type: 'boolean', default: false } } });
  const dir = fs.mkdtempSync(join(tmpdir(), 'frametap-pcap-read-'));
  try {
    const file = join(dir, 'big.pcapng');
    const bytes = makeCapture(file, Number(values.mib), values.deflate);
    const start = performance.now();
    const child = spawn(process.execPath, [join(ROOT, 'bin/frametap.js'), 'view', file, '--ui', 'jsonl'], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Count what comes out (the events are really produced), keep none of it.
    let lines = 0;
    let out = 0;
    child.stdout.on('data', (d: Buffer) => {
      out += d.length;
      for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++;
    });
    let peak = 0;
    const samples: number[] = [];
    const timer = setInterval(() => {
      const rss = rssKiB(child.pid!);
      peak = Math.max(peak, rss);
      samples.push(rss);
    }, 100);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearInterval(timer);
    const seconds = (performance.now() - start) / 1000;
    const half = samples.slice(0, Math.floor(samples.length / 2));
    const firstHalfPeak = half.length ? Math.max(...half) : peak;
    process.stdout.write(`pcap-read: view --ui jsonl of ${(bytes / 1024 / 1024).toFixed(0)} MiB of pcapng${values.deflate ? ' (every message compressed)' : ''} (${process.version}), exit ${code}\n`);
    process.stdout.write(`| MB/s | seconds | events out | JSON Lines MB out | peak RSS MiB | peak RSS in the first half MiB |\n`);
    process.stdout.write(`| ${(bytes / 1e6 / seconds).toFixed(0)} | ${seconds.toFixed(1)} | ${lines} | ${(out / 1e6).toFixed(0)} | ${(peak / 1024).toFixed(0)} | ${(firstHalfPeak / 1024).toFixed(0)} |\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const direct = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (direct) await main(process.argv.slice(2));
