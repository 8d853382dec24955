import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openOutputs } from '../../src/cli/outputs.js';
import { EventBus } from '../../src/session/event-bus.js';
import type { CaptureHeader, SessionEvent } from '../../src/session/events.js';

const header: CaptureHeader = {
  type: 'capture', format: 'frametap-capture', version: 1, started: '2026-11-25T09:00:00.000Z',
  tool: { name: 'frametap', version: '0.1.0' }, mode: 'reverse', listen: '127.0.0.1:1', upstream: 'ws://127.0.0.1:2',
};
const open: SessionEvent = { type: 'open', conn: 1, t: 1795597200000, client: '127.0.0.1:3', target: 'ws://127.0.0.1:2/' };

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-outputs-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function collect(stream: PassThrough): () => string {
  const parts: Buffer[] = [];
  stream.on('data', (d: Buffer) => parts.push(d));
  return () => Buffer.concat(parts).toString('utf8');
}

describe('openOutputs', () => {
  it('-w FILE with --ui jsonl: the same lines in the file and on stdout', async () => {
    const bus = new EventBus();
    const stdout = new PassThrough();
    const text = collect(stdout);
    const file = path.join(dir, 'c.jsonl');
    const outputs = await openOutputs({ bus, ui: 'jsonl', write: file, header, stdout });
    expect(outputs.captureFile).toBe(file);
    bus.publish(open);
    await outputs.close();
    const expected = `${JSON.stringify(header)}\n${JSON.stringify(open)}\n`;
    expect(fs.readFileSync(file, 'utf8')).toBe(expected);
    expect(text()).toBe(expected);
    // Closed sinks are unsubscribed.
    bus.publish(open);
    expect(bus.wants('open')).toBe(false);
  });

  it('--ui log writes readable lines; --ui none writes nothing', async () => {
    const bus = new EventBus();
    const stdout = new PassThrough();
    const text = collect(stdout);
    const log = await openOutputs({ bus, ui: 'log', write: null, header, stdout });
    expect(log.writer).toBeNull();
    bus.publish(open);
    await log.close();
    expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} #1 open 127\.0\.0\.1:3 → ws:\/\/127\.0\.0\.1:2\/\n$/);

    const quiet = new PassThrough();
    const none = collect(quiet);
    const outputs = await openOutputs({ bus, ui: 'none', write: null, header, stdout: quiet });
    bus.publish(open);
    await outputs.close();
    expect(none()).toBe('');
  });

  it('a slow stdout slows the producers (pressure) and is reported once as a capture error on the bus', async () => {
    const bus = new EventBus();
    const held: (() => void)[] = [];
    let open_ = false;
    const parts: Buffer[] = [];
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        if (open_) cb();
        else held.push(() => cb());
      },
    });
    const published: SessionEvent[] = [];
    bus.subscribe('test', (e) => published.push(e), ['error']);
    const outputs = await openOutputs({ bus, ui: 'jsonl', write: null, header, stdout });
    const pressure: boolean[] = [];
    let relieved!: () => void;
    const relievedP = new Promise<void>((r) => {
      relieved = r;
    });
    outputs.onPressure((high) => {
      pressure.push(high);
      if (!high) relieved();
    });
    const big: SessionEvent = { type: 'message', conn: 1, t: 1, from: 'server', opcode: 1, compressed: false, frames: 1, length: 1 << 20, data: Buffer.alloc(1 << 20, 'y'), truncated: false };
    let n = 0;
    const stderr = process.stderr.write;
    const warnings: string[] = [];
    process.stderr.write = ((s: string) => {
      warnings.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      bus.publish(big);
      n++;
      await new Promise((r) => setImmediate(r));
      while (pressure.length === 0 && n < 50) {
        bus.publish(big);
        n++;
      }
    } finally {
      process.stderr.write = stderr;
    }
    expect(pressure).toEqual([true]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^frametap: the jsonl output cannot keep up/);
    await new Promise<void>((r) => queueMicrotask(r));
    expect(published).toMatchObject([{ type: 'error', stage: 'capture' }]);
    open_ = true;
    for (const cb of held.splice(0)) cb();
    await relievedP;
    expect(pressure).toEqual([true, false]);
    await outputs.close();
    const lines = Buffer.concat(parts).toString('utf8').trimEnd().split('\n');
    // Header, every big message, and the capture error: nothing dropped.
    expect(lines).toHaveLength(1 + n + 1);
    expect(lines.filter((l) => l.startsWith('{"type":"message"'))).toHaveLength(n);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ type: 'error', stage: 'capture' });
  });
});
