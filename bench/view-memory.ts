/**
 * `npm run bench -- view-memory` (or `node bin/run-ts.js bench/view-memory.ts`): peak RSS of
 * `frametap view FILE --ui log|jsonl` over captures of growing size (issue 11: a 747 MB capture took
 * 2.7 GB of RSS when it was loaded whole). Goal: the peak does not grow with the file.
 *
 * The captures are generated (a mix of frames and messages, text and base64 binary, ~300 bytes a
 * line), in a temporary directory removed afterwards. Sizes: FRAMETAP_BENCH_VIEW_MB, a comma list in
 * MB (default `50,200`; the scale is `747`). Each run is a child process whose VmHWM (peak
 * RSS, from /proc) is read just before it exits; stdout goes to /dev/null (a file: writes are
 * synchronous) and to a pipe this process drains (writes are asynchronous: the backpressure path).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { captureHeader } from '../src/capture/header.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const MIB = 1024 * 1024;

async function generate(file: string, bytes: number): Promise<void> {
  const out = createWriteStream(file);
  const t0 = Date.UTC(2026, 10, 28);
  out.write(`${JSON.stringify(captureHeader('reverse', '127.0.0.1:8080', 'ws://127.0.0.1:9001', new Date(t0)))}\n`);
  let written = 0;
  let i = 0;
  const text = 'lorem ipsum dolor sit amet '.repeat(4);
  const binary = Buffer.alloc(96, 7).toString('base64');
  for (let conn = 1; written < bytes; conn++) {
    out.write(`${JSON.stringify({ type: 'open', conn, t: t0 + i, client: '127.0.0.1:50000', target: 'ws://127.0.0.1:9001/chat' })}\n`);
    for (let k = 0; k < 5000 && written < bytes; k++, i++) {
      const from = k % 2 ? 'server' : 'client';
      const frame = { type: 'frame', conn, t: t0 + i, from, fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: k % 5 ? 1 : 2, masked: from === 'client', length: 108, truncated: false, payload: binary };
      const message = k % 5 ? { type: 'message', conn, t: t0 + i, from, opcode: 1, compressed: false, frames: 1, length: 108, truncated: false, text } : { type: 'message', conn, t: t0 + i, from, opcode: 2, compressed: false, frames: 1, length: 96, truncated: false, data: binary };
      const lines = `${JSON.stringify(frame)}\n${JSON.stringify(message)}\n`;
      written += lines.length;
      if (!out.write(lines)) await once(out, 'drain');
    }
    out.write(`${JSON.stringify({ type: 'end', conn, t: t0 + i, code: 1000, reason: '', initiator: 'client', clean: true, durationMs: 1, bytes: { client: 1, server: 1 }, frames: { client: 1, server: 1 } })}\n`);
  }
  out.end();
  await once(out, 'close');
}

function peakRss(pid: number): number | null {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

/** Runs `view FILE --ui MODE`, stdout to /dev/null or to a drained pipe; returns peak RSS and time. */
async function measure(file: string, ui: 'log' | 'jsonl', sink: 'devnull' | 'pipe'): Promise<{ peak: number; seconds: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin/frametap.js'), 'view', file, '--ui', ui], {
    stdio: ['ignore', sink === 'devnull' ? 'ignore' : 'pipe', 'inherit'],
  });
  child.stdout?.resume();
  let peak = 0;
  // VmHWM only grows; sampled until the process is gone, the last value is the peak.
  const timer = setInterval(() => (peak = Math.max(peak, peakRss(child.pid!) ?? 0)), 20);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearInterval(timer);
  if (code !== 0) throw new Error(`view --ui ${ui} exited ${code}`);
  return { peak, seconds: (performance.now() - started) / 1000 };
}

export async function main(): Promise<void> {
  const sizes = (process.env.FRAMETAP_BENCH_VIEW_MB ?? '50,200').split(',').map(Number).filter((n) => n > 0);
  const dir = mkdtempSync(join(tmpdir(), 'frametap-bench-view-'));
  try {
    const rows: string[] = ['| capture | --ui | stdout | peak RSS | time |', '|---|---|---|---|---|'];
    for (const mb of sizes) {
      const file = join(dir, `capture-${mb}.jsonl`);
      await generate(file, mb * MIB);
      const size = statSync(file).size;
      for (const ui of ['log', 'jsonl'] as const) {
        for (const sink of ['devnull', 'pipe'] as const) {
          const { peak, seconds } = await measure(file, ui, sink);
          rows.push(`| ${(size / MIB).toFixed(0)} MiB | ${ui} | ${sink === 'devnull' ? '/dev/null' : 'pipe'} | ${(peak / MIB).toFixed(0)} MiB | ${seconds.toFixed(1)} s |`);
          process.stdout.write(`${rows.at(-1)}\n`);
        }
      }
      rmSync(file, { force: true });
    }
    process.stdout.write(`\n${rows.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
