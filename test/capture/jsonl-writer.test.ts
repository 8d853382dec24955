import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { readCapture, readEventAt } from '../../src/capture/jsonl-reader.js';
import { UsageError } from '../../src/errors.js';
import type { CaptureHeader, ErrorEvent, SessionEvent } from '../../src/session/events.js';
import { ev, type CapturedEvent } from '../helpers/captured.js';

const header: CaptureHeader = {
  type: 'capture',
  format: 'frametap-capture',
  version: 1,
  started: '2026-11-25T09:00:00.000Z',
  tool: { name: 'frametap', version: '0.1.0' },
  mode: 'reverse',
  listen: '127.0.0.1:8080',
  upstream: 'ws://127.0.0.1:9001',
};

const T = 1795597200000.125;

/** One event of every type, with non-ASCII text and optional fields. */
const captureLines: readonly CapturedEvent[] = [
  { type: 'open', conn: 1, t: T, client: '127.0.0.1:51234', target: 'ws://127.0.0.1:9001/chat?room=1' },
  {
    type: 'handshake',
    conn: 1,
    t: T + 1,
    request: { method: 'GET', target: '/chat?room=1', httpVersion: '1.1', headers: [['Host', 'x'], ['Upgrade', 'websocket']] },
    forwarded: { headers: [['Host', '127.0.0.1:9001'], ['Upgrade', 'websocket']] },
    response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [['Upgrade', 'websocket']] },
    upgraded: true,
    accept: 'ok',
    protocol: 'chat',
    extensions: [{ name: 'permessage-deflate', params: { client_max_window_bits: '15', server_no_context_takeover: true } }],
  },
  { type: 'frame', conn: 1, t: T + 2, from: 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 9, truncated: false },
  { type: 'message', conn: 1, t: T + 2, from: 'client', opcode: 1, compressed: false, frames: 1, length: 9, text: 'héllo ✓\n', truncated: false },
  { type: 'frame', conn: 1, t: T + 3, from: 'server', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 9, masked: false, length: 2, payload: 'aGk=', truncated: false },
  { type: 'frame', conn: 1, t: T + 3.5, from: 'server', fin: false, rsv1: false, rsv2: false, rsv3: false, opcode: 2, masked: false, length: 100, payload: 'AAE=', truncated: false, incomplete: true, received: 2 },
  { type: 'message', conn: 1, t: T + 4, from: 'server', opcode: 2, compressed: true, frames: 2, length: 3, data: 'AAEC', truncated: true },
  { type: 'close', conn: 1, t: T + 5, from: 'server', code: null, reason: '' },
  { type: 'violation', conn: 1, t: T + 6, from: 'server', code: 1002, rule: 'control-frame-too-long', detail: 'ping with 126-byte payload', offset: 42 },
  { type: 'error', t: T + 7, stage: 'capture', detail: 'disk slow' },
  { type: 'error', conn: 2, t: T + 7.5, stage: 'upstream-connect', code: 'ECONNREFUSED', detail: 'connect ECONNREFUSED 127.0.0.1:9001' },
  { type: 'end', conn: 1, t: T + 8, code: 1006, reason: '', initiator: null, clean: false, durationMs: 8.5, bytes: { client: 15, server: 10 }, frames: { client: 1, server: 2 }, shutdown: true },
  { type: 'http', conn: 3, t: T + 9, method: 'GET', target: '/index.html', status: 200, durationMs: 3.2 },
];
const events: readonly SessionEvent[] = captureLines.map(ev);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-writer-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function mode(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

describe('JsonlWriter.create', () => {
  it('writes the header line synchronously, with mode 0600', () => {
    const file = path.join(dir, 'c.jsonl');
    const writer = JsonlWriter.create(file, header);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${JSON.stringify(header)}\n`);
    expect(mode(file)).toBe(0o600);
    return writer.close();
  });

  it('replaces an existing world-readable file with a new 0600 one', async () => {
    const file = path.join(dir, 'old.jsonl');
    fs.writeFileSync(file, 'old contents that are much longer than nothing\n'.repeat(100), { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    const writer = JsonlWriter.create(file, header);
    writer.write(events[0]!);
    await writer.close();
    expect(mode(file)).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toBe(`${JSON.stringify(header)}\n${JSON.stringify(captureLines[0])}\n`);
  });

  it('replaces a symlink instead of writing through it', async () => {
    const victim = path.join(dir, 'victim');
    fs.writeFileSync(victim, 'keep me');
    const link = path.join(dir, 'link.jsonl');
    fs.symlinkSync(victim, link);
    await JsonlWriter.create(link, header).close();
    expect(fs.readFileSync(victim, 'utf8')).toBe('keep me');
    expect(fs.lstatSync(link).isFile()).toBe(true);
  });

  it('a directory is a usage error with one clear line', () => {
    expect(() => JsonlWriter.create(dir, header)).toThrow(UsageError);
    expect(() => JsonlWriter.create(dir, header)).toThrow(/cannot write capture file .*: it is a directory$/);
  });

  it('a missing directory is a usage error', () => {
    expect(() => JsonlWriter.create(path.join(dir, 'nope', 'c.jsonl'), header)).toThrow(/its directory does not exist/);
  });

  it('/dev/full is a usage error (the header write fails)', () => {
    expect(() => JsonlWriter.create('/dev/full', header)).toThrow(UsageError);
    expect(() => JsonlWriter.create('/dev/full', header)).toThrow(/no space left/);
  });

  it('prepare() opens early, start() writes the header later; abandon() removes the file', async () => {
    const file = path.join(dir, 'p.jsonl');
    const prepared = JsonlWriter.prepare(file);
    expect(fs.readFileSync(file, 'utf8')).toBe('');
    expect(mode(file)).toBe(0o600);
    await prepared.start(header).close();
    expect(fs.readFileSync(file, 'utf8')).toBe(`${JSON.stringify(header)}\n`);
    const other = path.join(dir, 'q.jsonl');
    JsonlWriter.prepare(other).abandon();
    expect(fs.existsSync(other)).toBe(false);
  });
});

describe('round trip', () => {
  it('write → read gives the same header and events', async () => {
    const file = path.join(dir, 'rt.jsonl');
    const writer = JsonlWriter.create(file, header);
    for (const e of events) writer.write(e);
    await writer.close();
    const warnings: string[] = [];
    const back = await readCapture(file, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(back.header).toStrictEqual(header);
    expect(back.events).toStrictEqual(events);
  });

  it('onLine reports offsets that readEventAt reads back', async () => {
    const file = path.join(dir, 'idx.jsonl');
    const writer = JsonlWriter.create(file, header);
    const index: { event: SessionEvent; offset: number; length: number }[] = [];
    writer.onLine((event, offset, length) => index.push({ event, offset, length }));
    for (const e of events) writer.write(e);
    // Lines written in a later batch get later offsets.
    await new Promise((r) => setImmediate(r));
    for (const e of events) writer.write(e);
    await writer.close();
    expect(index).toHaveLength(events.length * 2);
    expect(index[0]!.offset).toBe(Buffer.byteLength(JSON.stringify(header)) + 1);
    for (const { event, offset, length } of index) {
      expect(await readEventAt(file, offset, length)).toStrictEqual(event);
    }
  });

  it('toStream writes the same bytes as the file', async () => {
    const file = path.join(dir, 's.jsonl');
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const fileWriter = JsonlWriter.create(file, header);
    const streamWriter = JsonlWriter.toStream(sink, header);
    for (const e of events) {
      fileWriter.write(e);
      streamWriter.write(e);
    }
    await Promise.all([fileWriter.close(), streamWriter.close()]);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(fs.readFileSync(file, 'utf8'));
  });
});

/** A stream whose writes complete only when the test says so: a disk that cannot keep up. */
function gatedStream(): { stream: Writable; received: () => string; release: () => void; writes: () => number } {
  const parts: Buffer[] = [];
  let held: (() => void)[] = [];
  let open = false;
  let writes = 0;
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      writes++;
      parts.push(chunk);
      if (open) cb();
      else held.push(() => cb());
    },
  });
  return {
    stream,
    received: () => Buffer.concat(parts).toString('utf8'),
    writes: () => writes,
    release: () => {
      open = true;
      const h = held;
      held = [];
      for (const cb of h) cb();
    },
  };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('backpressure', () => {
  it('signals pressure past high water, once warns and reports, releases at low water, drops nothing', async () => {
    const gate = gatedStream();
    const warnings: string[] = [];
    const writer = JsonlWriter.toStream(gate.stream, header, { highWaterMark: 4096, lowWaterMark: 1024, warn: (w) => warnings.push(w) });
    const pressure: boolean[] = [];
    const problems: ErrorEvent[] = [];
    const relieved = deferred<void>();
    writer.onPressure((high) => {
      pressure.push(high);
      if (!high) relieved.resolve();
    });
    writer.onProblem((e) => problems.push(e));
    const bigLine = { ...captureLines[3]!, text: 'x'.repeat(1000) } as CapturedEvent;
    const big: SessionEvent = ev(bigLine);
    const firstBatchWritten = deferred<void>();
    writer.onLine(() => firstBatchWritten.resolve());
    // The first batch goes into the gate and stays there; the rest queue up behind it.
    writer.write(big);
    await new Promise((r) => setImmediate(r));
    let n = 1;
    while (pressure.length === 0 && n < 100) {
      writer.write(big);
      n++;
    }
    expect(pressure).toEqual([true]);
    expect(n).toBeLessThan(10);
    expect(writer.pendingBytes).toBeGreaterThan(4096);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot keep up/);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ type: 'error', stage: 'capture' });
    expect(problems[0]!.conn).toBeUndefined();
    gate.release();
    await relieved.promise;
    await firstBatchWritten.promise;
    expect(pressure).toEqual([true, false]);
    await writer.close();
    const lines = gate.received().trimEnd().split('\n');
    expect(lines).toHaveLength(n + 1);
    expect(JSON.parse(lines[1]!)).toStrictEqual(bigLine);
    expect(warnings).toHaveLength(1);
  });

  it('a failing output is reported once and the writer goes on quietly', async () => {
    const warnings: string[] = [];
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const writer = JsonlWriter.toStream(stream, header, { warn: (w) => warnings.push(w) });
    const problem = deferred<ErrorEvent>();
    writer.onProblem((e) => problem.resolve(e));
    writer.write(events[0]!);
    const e = await problem.promise;
    expect(e).toMatchObject({ type: 'error', stage: 'capture', code: 'EPIPE' });
    writer.write(events[1]!);
    writer.write(events[2]!);
    await writer.close();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/broken pipe/);
  });

  it('a file that fills up mid-run (/dev/full as a stream) is reported as a capture error', async () => {
    const warnings: string[] = [];
    const stream = fs.createWriteStream('/dev/full');
    const writer = JsonlWriter.toStream(stream, header, { warn: (w) => warnings.push(w) });
    const problem = deferred<ErrorEvent>();
    writer.onProblem((e) => problem.resolve(e));
    writer.write(events[0]!);
    expect(await problem.promise).toMatchObject({ stage: 'capture', code: 'ENOSPC' });
    await writer.close();
    stream.destroy();
    expect(warnings).toHaveLength(1);
  });
});
