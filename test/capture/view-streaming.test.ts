/**
 * Issue 11: `view --ui log` of a 747 MB capture used 2.7 GB of RSS, because the capture was read
 * whole before the first event was printed. The mechanism that keeps memory flat: events reach the
 * output while most of the file is still unread, and reading waits for an output that cannot keep
 * up. (The measurement at the 747 MB scale is bench/view-memory.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { printCapture } from '../../src/cli/print-capture.js';
import { captureHeader } from '../../src/capture/header.js';
import { runInProcess } from '../replay/peers.js';

let dir: string;
let file: string;
let size: number;
const EVENTS = 40_000;

beforeAll(() => {
  dir = fs.mkdtempSync(join(tmpdir(), 'frametap-viewstream-'));
  file = join(dir, 'big.jsonl');
  const t0 = Date.UTC(2026, 10, 28);
  const lines = [JSON.stringify(captureHeader('reverse', '127.0.0.1:8080', 'ws://127.0.0.1:9001', new Date(t0)))];
  lines.push(JSON.stringify({ type: 'open', conn: 1, t: t0, client: '127.0.0.1:50000', target: 'ws://127.0.0.1:9001/' }));
  const text = 'x'.repeat(200);
  for (let i = 0; i < EVENTS; i++) {
    lines.push(JSON.stringify({ type: 'message', conn: 1, t: t0 + i, from: i % 2 ? 'server' : 'client', opcode: 1, compressed: false, frames: 1, length: 210, truncated: false, text: `${String(i).padStart(9, '0')} ${text}` }));
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  size = fs.statSync(file).size;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Whether this process has `path` open. */
function isOpen(path: string): boolean {
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === path) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * Bytes this process has read so far, from any file (Linux `/proc/self/io` rchar; fs.ReadStream
 * reads with pread, so the descriptor's own offset does not move). Other reads during a test
 * (modules loaded on demand) are small next to the capture.
 */
function bytesRead(): number {
  return Number(/^rchar:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))?.[1]);
}

describe('view --ui log / jsonl streams the capture', () => {
  it.each(['jsonl', 'log'])('--ui %s: the first events are printed while most of the file is unread, and every event is', async (ui) => {
    let readAtFirstEvent: number | undefined;
    let openAtFirstEvent: boolean | undefined;
    let events = 0;
    const marker = ui === 'jsonl' ? '"type":"message"' : ' message text ';
    const before = bytesRead();
    const r = await runInProcess(['view', file, '--ui', ui], {
      onStdout: (text) => {
        if (!text.includes(marker)) return;
        if (readAtFirstEvent === undefined) {
          readAtFirstEvent = bytesRead() - before;
          openAtFirstEvent = isOpen(file);
        }
        events += text.split(marker).length - 1;
      },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(events).toBe(EVENTS);
    // The whole file was read in the end, but less than half of it when the first message went out.
    expect(bytesRead() - before).toBeGreaterThanOrEqual(size);
    expect(openAtFirstEvent).toBe(true);
    expect(readAtFirstEvent).toBeLessThan(size / 2);
    expect(isOpen(file)).toBe(false);
  });

  it.each(['jsonl', 'log'] as const)('--ui %s: an output that does not drain stops the reading; draining it lets the rest through', async (ui) => {
    // An output whose writes complete only when the test says so, as a pipe nobody reads.
    const held: Array<() => void> = [];
    let release = false;
    let written = 0;
    const out = new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _enc, cb) {
        written += chunk.toString().split(ui === 'jsonl' ? '"type":"message"' : ' message text ').length - 1;
        if (release) cb();
        else held.push(() => cb());
      },
    });
    const waiting = new Promise<void>((resolve) => out.on('newListener', (name) => name === 'drain' && resolve()));
    const before = bytesRead();
    const done = printCapture(file, { ui, onWarning: () => undefined, stdout: out });
    // The reader waits for the output's drain: it has stopped reading.
    await waiting;
    expect(bytesRead() - before).toBeLessThan(size / 2);
    expect(written).toBeLessThan(EVENTS / 4);
    release = true;
    for (const cb of held.splice(0)) cb();
    await done;
    expect(written).toBe(EVENTS);
  });
});
