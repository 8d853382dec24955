/**
 * `-w FILE.pcapng` as a user runs it (cli.md): the format from the extension or `--format`, `.pcap`
 * refused with a hint, `-w -` owning stdout, the file mode 0600 without following a planted link;
 * and crash safety: a recording killed with SIGKILL mid-traffic reads back every complete block.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { deferred, withTimeout } from '../helpers/deferred.js';
import { itWith } from '../helpers/system-deps.js';
import { CaptureParser } from '../../src/pcap/block-reader.js';
import { parseCaptureTarget } from '../../src/cli/args.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/frametap.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-pcapng-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function usage(args: readonly string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [CLI, ...args], { cwd: ROOT });
    return { code: 0, stderr: '' };
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('-w and --format', () => {
  it('the extension decides, --format overrides', () => {
    expect(parseCaptureTarget('a.pcapng', undefined)).toEqual({ path: 'a.pcapng', format: 'pcapng' });
    expect(parseCaptureTarget('A.PCAPNG', undefined)).toEqual({ path: 'A.PCAPNG', format: 'pcapng' });
    expect(parseCaptureTarget('a.jsonl', undefined)).toEqual({ path: 'a.jsonl', format: 'jsonl' });
    expect(parseCaptureTarget('capture', undefined)).toEqual({ path: 'capture', format: 'jsonl' });
    expect(parseCaptureTarget('a.jsonl', 'pcapng')).toEqual({ path: 'a.jsonl', format: 'pcapng' });
    expect(parseCaptureTarget('-', 'pcapng')).toEqual({ path: '-', format: 'pcapng' });
    expect(parseCaptureTarget(undefined, undefined)).toBeNull();
  });

  it('-w FILE.pcap is a usage error that suggests .pcapng; a bad --format or one without -w too', async () => {
    const pcap = await usage(['-u', 'ws://127.0.0.1:9', '-w', path.join(dir, 'x.pcap'), '--ui', 'none']);
    expect(pcap.code).toBe(2);
    expect(pcap.stderr.trim().split('\n')).toHaveLength(1);
    expect(pcap.stderr).toMatch(/name the file \.pcapng/);
    expect(fs.existsSync(path.join(dir, 'x.pcap'))).toBe(false);
    const format = await usage(['-u', 'ws://127.0.0.1:9', '-w', 'x', '--format', 'pcap']);
    expect(format).toMatchObject({ code: 2 });
    expect(format.stderr).toMatch(/bad --format 'pcap': expected jsonl or pcapng/);
    const alone = await usage(['-u', 'ws://127.0.0.1:9', '--format', 'pcapng']);
    expect(alone.stderr).toMatch(/--format pcapng needs -w FILE/);
    const both = await usage(['-u', 'ws://127.0.0.1:9', '-w', '-', '--ui', 'jsonl']);
    expect(both).toMatchObject({ code: 2 });
    expect(both.stderr).toMatch(/-w - writes the capture to stdout/);
  });

  it('-w FILE.pcapng: mode 0600, a planted symlink replaced, not followed; the file is a pcapng with the header record', async () => {
    const target = path.join(dir, 'victim');
    fs.writeFileSync(target, 'keep me');
    const file = path.join(dir, 'live.pcapng');
    fs.symlinkSync(target, file);
    const child = spawn(process.execPath, [CLI, '-u', 'ws://127.0.0.1:9', '-l', '0', '-w', file, '--ui', 'none'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const listening = deferred<void>();
    child.stderr.on('data', (d: Buffer) => {
      if (d.toString().includes('listening on')) listening.resolve();
    });
    await withTimeout(listening.promise, 'listening', 15_000);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const records = new CaptureParser().push(fs.readFileSync(file));
    expect(records[0]).toMatchObject({ kind: 'frametap' });
    expect(JSON.parse((records[0] as { json: string }).json)).toMatchObject({ type: 'capture', mode: 'reverse', upstream: 'ws://127.0.0.1:9' });
  });

  it('-w - --format pcapng: the pcapng on stdout, nothing else there', async () => {
    const child = spawn(process.execPath, [CLI, '-u', 'ws://127.0.0.1:9', '-l', '0', '-w', '-', '--format', 'pcapng'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    const listening = deferred<void>();
    child.stderr.on('data', (d: Buffer) => {
      if (d.toString().includes('listening on')) listening.resolve();
    });
    await withTimeout(listening.promise, 'listening', 15_000);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    const bytes = Buffer.concat(out);
    expect(bytes.readUInt32LE(0)).toBe(0x0a0d0d0a);
    const parser = new CaptureParser();
    parser.push(bytes);
    expect(parser.problem).toBeNull();
    expect(parser.end()).toBeNull();
  });
});

describe('--max-capture with -w FILE.pcapng', () => {
  it('past the limit no WebSocket packets are written; every connection still has its records and end', async () => {
    const { startScenarioServer, talkDeflate } = await import('./scenario.js');
    const server = await startScenarioServer();
    const file = path.join(dir, 'limited.pcapng');
    const child = spawn(process.execPath, [CLI, '-u', `ws://127.0.0.1:${server.port}`, '-l', '0', '-w', file, '--ui', 'jsonl', '--max-capture', '8k'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const listening = deferred<number>();
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) listening.resolve(Number(m[1]));
    });
    try {
      const port = await withTimeout(listening.promise, 'listening', 15_000);
      await talkDeflate(port);
      await talkDeflate(port);
      await withTimeout((async () => {
        while ((stdout.match(/"type":"end"/g) ?? []).length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      })(), 'two ends', 10_000);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await server.close();
    }
    expect(stderr).toMatch(/reached --max-capture 8192 bytes: WebSocket packets are no longer written/);
    // Two 70 000-byte messages each way on both legs would be over 500 kB.
    expect(fs.statSync(file).size).toBeLessThan(64 * 1024);
    const { stdout: read } = await run(process.execPath, [CLI, 'view', file, '--ui', 'jsonl'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const events = read.trim().split('\n').map((l) => JSON.parse(l) as { type: string; conn?: number });
    expect(events.filter((e) => e.type === 'open').map((e) => e.conn)).toEqual([1, 2]);
    expect(events.filter((e) => e.type === 'end').map((e) => e.conn).sort()).toEqual([1, 2]);
    expect(events.filter((e) => e.type === 'handshake')).toHaveLength(2);
  });
});

describe('crash safety', () => {
  itWith('tshark')('after kill -9 mid-traffic, frametap reads every complete block and tshark every complete packet', async () => {
    const file = path.join(dir, 'killed.pcapng');
    // A recorder in a child process, busy with real traffic when it is killed.
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/run-ts.js'), path.join(ROOT, 'test/pcap/busy-recorder.ts'), file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const busy = deferred<void>();
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('busy')) busy.resolve();
    });
    await withTimeout(busy.promise, 'the recorder to be busy', 20_000);
    await withTimeout((async () => {
      while (!fs.existsSync(file) || fs.statSync(file).size < 256 * 1024) await new Promise((resolve) => setTimeout(resolve, 20));
    })(), 'the capture to grow', 20_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const bytes = fs.readFileSync(file);
    const parser = new CaptureParser();
    const records = parser.push(bytes);
    expect(parser.problem).toBeNull();
    const packets = records.filter((r) => r.kind === 'packet').length;
    expect(packets).toBeGreaterThan(10);
    const { stdout, exitCode, stderr } = await new Promise<{ stdout: string; exitCode: number | null; stderr: string }>((resolve) => {
      execFile('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { maxBuffer: 256 * 1024 * 1024 }, (error, so, se) => resolve({ stdout: so, stderr: se, exitCode: error ? (error as { code?: number }).code ?? 1 : 0 }));
    });
    // tshark's exit 2 with "cut short in the middle of a packet" is the accepted outcome of a torn last block.
    if (exitCode !== 0) {
      expect(exitCode).toBe(2);
      expect(stderr).toMatch(/cut short in the middle of a packet/);
    }
    expect(stdout.trim().split('\n')).toHaveLength(packets);
  });
});
