/**
 * Decode rate of frametap's DirectionInspector (no deflate) side by side with ws's own Receiver,
 * fed the same bytes in the same 64 KiB chunks: 64 B, 4 KiB and 256 KiB binary frames, masked
 * (client→server) and unmasked (server→client). Passes are interleaved and the medians printed.
 *
 *   node bin/run-ts.js bench/decoder.ts [--passes N] [--mib M]
 *
 * A last row times the asynchronous path: permessage-deflate text messages, frametap's streaming
 * inflater against ws's, both with context takeover.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import * as wsModule from 'ws';
import { DirectionInspector } from '../src/protocol/direction-inspector.js';
import { encodeFrame, MessageCompressor } from '../src/protocol/frame-encoder.js';
import type { WireEvent } from '../src/protocol/wire-events.js';

/** ws 8 exports its Receiver (wrapper.mjs: `export { Receiver }`) but @types/ws does not declare it. */
interface WsReceiver {
  write(chunk: Buffer): boolean;
  destroy(): void;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}
interface WsPerMessageDeflate {
  accept(configurations: ReadonlyArray<Record<string, unknown>>): unknown;
  cleanup(): void;
}
type WsReceiverClass = new (options: {
  isServer: boolean;
  maxPayload: number;
  skipUTF8Validation: boolean;
  extensions?: Record<string, WsPerMessageDeflate>;
}) => WsReceiver;
type WsPerMessageDeflateClass = new (options: { isServer: boolean; maxPayload: number }) => WsPerMessageDeflate;
const { Receiver, PerMessageDeflate } = wsModule as unknown as { Receiver: WsReceiverClass; PerMessageDeflate: WsPerMessageDeflateClass };

const CHUNK = 64 * 1024;
const SIZES = [64, 4 * 1024, 256 * 1024] as const;

interface Workload {
  readonly size: number;
  readonly masked: boolean;
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
  readonly frames: number;
}

function workload(size: number, masked: boolean, totalBytes: number): Workload {
  const payload = Buffer.alloc(size, 0x61);
  const frames = Math.max(4, Math.floor(totalBytes / (size + 14)));
  const mask = masked ? Buffer.from([0x12, 0x34, 0x56, 0x78]) : null;
  const one = encodeFrame({ opcode: 2, payload, mask });
  const stream = Buffer.alloc(one.length * frames);
  for (let i = 0; i < frames; i++) one.copy(stream, i * one.length);
  const chunks: Buffer[] = [];
  // Fresh copies, as sockets hand out: ws unmasks in place, so each pass needs its own bytes.
  for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, Math.min(off + CHUNK, stream.length)));
  return { size, masked, chunks, bytes: stream.length, frames };
}

function copyChunks(chunks: readonly Buffer[]): Buffer[] {
  return chunks.map((c) => Buffer.from(c));
}

let sink = 0;
function noopEvent(event: WireEvent): void {
  if (event.kind === 'message') sink += event.length;
}

function runFrametap(w: Workload, chunks: readonly Buffer[]): number {
  const inspector = new DirectionInspector({ from: w.masked ? 'client' : 'server', maxPayload: 1024 * 1024, deflate: null, onEvent: noopEvent });
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks.length; i++) inspector.push(chunks[i]!, i);
  const ns = Number(process.hrtime.bigint() - start);
  inspector.dispose();
  return ns;
}

function runWs(w: Workload, chunks: readonly Buffer[]): number {
  // maxPayload 0 = no limit; isServer expects masked frames (RFC 6455 §5.1), as ws enforces.
  const receiver = new Receiver({ isServer: w.masked, maxPayload: 0, skipUTF8Validation: false });
  receiver.on('message', (data: Buffer) => {
    sink += data.length;
  });
  receiver.on('error', (err: Error) => {
    throw err;
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks.length; i++) receiver.write(chunks[i]!);
  const ns = Number(process.hrtime.bigint() - start);
  receiver.destroy();
  return ns;
}

/** Compressed text messages (JSON-like, 4 KiB each) with context takeover, server→client. */
async function deflateWorkload(totalBytes: number): Promise<Workload> {
  const compressor = new MessageCompressor({ noContextTakeover: false });
  const frames: Buffer[] = [];
  let plain = 0;
  for (let i = 0; plain < totalBytes; i++) {
    let text = '';
    for (let j = 0; text.length < 4096; j++) text += `{"id":${i * 1000 + j},"price":${(i * 7919 + j * 104729) % 100000},"sym":"S${j % 50}"},`;
    const payload = Buffer.from(text.slice(0, 4096));
    plain += payload.length;
    frames.push(encodeFrame({ opcode: 1, rsv1: true, payload: await compressor.compress(payload) }));
  }
  compressor.close();
  const stream = Buffer.concat(frames);
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += CHUNK) chunks.push(stream.subarray(off, Math.min(off + CHUNK, stream.length)));
  return { size: 4096, masked: false, chunks, bytes: plain, frames: frames.length };
}

async function runFrametapDeflate(chunks: readonly Buffer[]): Promise<number> {
  const inspector = new DirectionInspector({ from: 'server', maxPayload: 1024 * 1024, deflate: { noContextTakeover: false, maxWindowBits: 15 }, onEvent: noopEvent });
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks.length; i++) inspector.push(chunks[i]!, i);
  await inspector.end(chunks.length);
  const ns = Number(process.hrtime.bigint() - start);
  inspector.dispose();
  return ns;
}

async function runWsDeflate(w: Workload, chunks: readonly Buffer[]): Promise<number> {
  const deflate = new PerMessageDeflate({ isServer: false, maxPayload: 0 });
  deflate.accept([{}]);
  const receiver = new Receiver({ isServer: false, maxPayload: 0, skipUTF8Validation: false, extensions: { 'permessage-deflate': deflate } });
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    receiver.on('message', (data: Buffer) => {
      sink += data.length;
      if (++received === w.frames) resolve();
    });
    receiver.on('error', reject);
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < chunks.length; i++) receiver.write(chunks[i]!);
  await done;
  const ns = Number(process.hrtime.bigint() - start);
  receiver.destroy();
  deflate.cleanup();
  return ns;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function fmt(n: number, digits = 1): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(digits);
}

/** Run the benchmark and print the table on stdout (`argv`: this file's own flags, when run directly). */
export async function main(argv: readonly string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { passes: { type: 'string', default: '9' }, mib: { type: 'string', default: '16' } },
  });
  const passes = Math.max(1, Number(values.passes));
  const totalBytes = Math.max(1, Number(values.mib)) * 1024 * 1024;
  const rows: string[][] = [['frame', 'mask', 'frametap MB/s', 'ws MB/s', 'frametap frames/s', 'ws frames/s', 'ratio']];
  for (const size of SIZES) {
    for (const masked of [false, true]) {
      const w = workload(size, masked, totalBytes);
      // Warm-up: let both sides reach optimized code before timing.
      for (let i = 0; i < 3; i++) {
        runFrametap(w, copyChunks(w.chunks));
        runWs(w, copyChunks(w.chunks));
      }
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let p = 0; p < passes; p++) {
        const a = copyChunks(w.chunks);
        const b = copyChunks(w.chunks);
        // Interleave, alternating who goes first, so drift (GC, thermal) hits both alike.
        if (p % 2 === 0) {
          ours.push(runFrametap(w, a));
          theirs.push(runWs(w, b));
        } else {
          theirs.push(runWs(w, b));
          ours.push(runFrametap(w, a));
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      const oursNs = median(ours);
      const theirsNs = median(theirs);
      const mbs = (ns: number): number => w.bytes / 1e6 / (ns / 1e9);
      const fps = (ns: number): number => w.frames / (ns / 1e9);
      rows.push([
        size >= 1024 ? `${size / 1024} KiB` : `${size} B`,
        masked ? 'masked' : 'unmasked',
        mbs(oursNs).toFixed(0),
        mbs(theirsNs).toFixed(0),
        fmt(fps(oursNs)),
        fmt(fps(theirsNs)),
        (theirsNs / oursNs).toFixed(2),
      ]);
    }
  }
  {
    // The asynchronous path: a streaming raw inflater per direction (STYLE.md §4), ws likewise.
    const w = await deflateWorkload(Math.max(1, totalBytes / 4));
    for (let i = 0; i < 2; i++) {
      await runFrametapDeflate(w.chunks);
      await runWsDeflate(w, w.chunks);
    }
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let p = 0; p < passes; p++) {
      if (p % 2 === 0) {
        ours.push(await runFrametapDeflate(w.chunks));
        theirs.push(await runWsDeflate(w, w.chunks));
      } else {
        theirs.push(await runWsDeflate(w, w.chunks));
        ours.push(await runFrametapDeflate(w.chunks));
      }
    }
    const oursNs = median(ours);
    const theirsNs = median(theirs);
    rows.push([
      '4 KiB deflate*',
      'unmasked',
      (w.bytes / 1e6 / (oursNs / 1e9)).toFixed(0),
      (w.bytes / 1e6 / (theirsNs / 1e9)).toFixed(0),
      fmt(w.frames / (oursNs / 1e9)),
      fmt(w.frames / (theirsNs / 1e9)),
      (theirsNs / oursNs).toFixed(2),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => cell.padStart(widths[c]!)).join(' | ')} |`;
  const out = [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)];
  process.stdout.write(`decoder: ${passes} interleaved passes of ${values.mib} MiB in ${CHUNK / 1024} KiB chunks, medians (ratio = ws time / frametap time; >1 means frametap is faster)\n`);
  process.stdout.write(`${out.join('\n')}\n* permessage-deflate text messages with context takeover; MB/s of inflated bytes.\n`);
  if (sink < 0) process.stdout.write('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
