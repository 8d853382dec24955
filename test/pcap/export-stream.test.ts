/**
 * `export --jsonl OUT` and `export --pcapng OUT` stream (cli.md): from a pcapng or a JSON Lines
 * capture, each event goes out as it is read, and the reading waits while the output is behind.
 * Shown with a real file and a real pipe: while nobody reads the export's stdout, the export has
 * read only a bounded part of its input (the bytes it read, from /proc), where loading the capture
 * whole would have read all of it before writing anything. Then the
 * pipe is drained and the output is complete.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { composeTextCapture } from './compose.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-export-stream-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Far more than the output's high-water mark (8 MiB) lets the reader run ahead. */
const MESSAGES = 30_000;
const pcapng = path.join(dir, 'big.pcapng');
const jsonl = path.join(dir, 'big.jsonl');
/** Events of the capture (lines of its JSON Lines export, header not counted). */
let events = 0;

beforeAll(async () => {
  composeTextCapture(pcapng, { conns: 2, messages: MESSAGES });
  const { stderr } = await run(process.execPath, [CLI, 'export', pcapng, '--jsonl', jsonl], { maxBuffer: 1024 * 1024 });
  events = Number(/wrote .*: (\d+) events/.exec(stderr)?.[1]);
  // open, handshake, 2 frames and 2 messages per message exchanged, 2 close frames, 2 closes, end.
  expect(events).toBe(2 * (2 + 4 * MESSAGES + 5));
}, 120_000);

/**
 * Bytes the child has read so far, from any file (`rchar` in /proc/PID/io: its own modules too, a
 * few MiB). The JSON Lines reader reads at explicit positions, so its descriptor's position says
 * nothing: the total does.
 */
function bytesRead(pid: number): number {
  return Number(/^rchar:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);
}

async function exportThroughStalledPipe(input: string, kind: '--jsonl' | '--pcapng'): Promise<{ read: number; out: Buffer; stderr: string; code: number | null }> {
  return throughStalledPipe(['export', input, kind, '-']);
}

async function throughStalledPipe(args: readonly string[]): Promise<{ read: number; out: Buffer; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const parts: Buffer[] = [];
  const first = deferred<void>();
  child.stdout.once('data', (d: Buffer) => {
    parts.push(d);
    // Nobody reads the pipe any more: the export's output fills up and it must stop reading.
    child.stdout.pause();
    first.resolve();
  });
  await withTimeout(first.promise, 'the first output', 60_000);
  const read = bytesRead(child.pid!);
  child.stdout.on('data', (d: Buffer) => parts.push(d));
  child.stdout.resume();
  const code = await withTimeout(exited, 'the export to finish', 120_000);
  return { read, out: Buffer.concat(parts), stderr, code };
}

function countLines(out: Buffer): number {
  let n = 0;
  for (let i = out.indexOf(10); i >= 0; i = out.indexOf(10, i + 1)) n++;
  return n;
}

function countPackets(out: Buffer): { packets: number; problem: string | null } {
  const parser = new CaptureParser();
  let packets = 0;
  for (const r of parser.push(out)) if (r.kind === 'packet') packets++;
  return { packets, problem: parser.problem ?? parser.end() };
}

describe('export streams with flat memory', () => {
  for (const [name, input] of [['pcapng', pcapng], ['JSON Lines', jsonl]] as const) {
    it(`${name} → export --jsonl -: reads a bounded part of the input while stdout is not read, then writes every event`, async () => {
      const size = fs.statSync(input).size;
      const { read, out, code, stderr } = await exportThroughStalledPipe(input, '--jsonl');
      expect(code, stderr).toBe(0);
      expect(read).toBeLessThan(size / 2);
      expect(countLines(out)).toBe(events + 1);
      expect(stderr).toBe(`frametap: wrote stdout: ${events} events\n`);
    }, 180_000);

    it(`${name} → export --pcapng -: the same, and the packets read back whole`, async () => {
      const size = fs.statSync(input).size;
      const { read, out, code, stderr } = await exportThroughStalledPipe(input, '--pcapng');
      expect(code, stderr).toBe(0);
      expect(read).toBeLessThan(size / 2);
      const { packets, problem } = countPackets(out);
      expect(problem).toBeNull();
      // Every message and close frame on both legs, plus each leg's handshake segments.
      expect(packets).toBeGreaterThan(2 * 2 * 2 * MESSAGES);
      expect(stderr).toBe('frametap: wrote stdout: 2 connections as packets\n');
    }, 180_000);
  }

  it('view --ui jsonl of the pcapng through a stalled pipe: the reading waits, then every event is printed', async () => {
    const size = fs.statSync(pcapng).size;
    const { read, out, code, stderr } = await throughStalledPipe(['view', pcapng, '--ui', 'jsonl']);
    expect(code, stderr).toBe(0);
    expect(read).toBeLessThan(size / 2);
    expect(stderr).toBe('');
    expect(countLines(out)).toBe(events + 1);
  }, 180_000);
});
