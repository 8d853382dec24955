import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCaptureLine, readCapture, readCaptureLines, readEventAt } from '../../src/capture/jsonl-reader.js';
import { JsonlWriter } from '../../src/capture/jsonl-writer.js';
import { UsageError } from '../../src/errors.js';
import type { CaptureHeader, SessionEvent } from '../../src/session/events.js';
import { cap, type CapturedEvent } from '../helpers/captured.js';

const FIXTURES = path.resolve(import.meta.dirname, '../../fixtures/captures');
const fixture = (name: string): string => path.join(FIXTURES, name);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-reader-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function readWithWarnings(file: string): Promise<{ header: CaptureHeader | null; events: CapturedEvent[]; warnings: string[] }> {
  const warnings: string[] = [];
  const r = await readCapture(file, { onWarning: (w) => warnings.push(w) });
  return { header: r.header, events: r.events.map(cap), warnings };
}

describe('fixtures', () => {
  it('echo.jsonl: header, open, handshake, frames, messages, closes, end', async () => {
    const { header, events, warnings } = await readWithWarnings(fixture('echo.jsonl'));
    expect(warnings).toEqual([]);
    expect(header).toMatchObject({ type: 'capture', format: 'frametap-capture', version: 1, upstream: 'ws://127.0.0.1:9001' });
    expect(events.map((e) => e.type)).toEqual([
      'open', 'handshake', 'frame', 'message', 'frame', 'message', 'frame', 'message', 'frame', 'message',
      'frame', 'frame', 'frame', 'close', 'frame', 'close', 'end',
    ]);
    expect(events.at(-1)).toMatchObject({ type: 'end', code: 1000, clean: true, initiator: 'client' });
  });

  it('fragmented-deflate.jsonl: RFC 7692 §7.2.3 bytes, compressed and fragmented messages', async () => {
    const { events, warnings } = await readWithWarnings(fixture('fragmented-deflate.jsonl'));
    expect(warnings).toEqual([]);
    const messages = events.filter((e) => e.type === 'message');
    expect(messages.map((m) => [m.from, m.compressed, m.frames, m.text])).toEqual([
      ['client', true, 1, 'Hello'],
      ['server', true, 2, 'Hello'],
      ['client', false, 2, 'Hello'],
    ]);
    const first = events.find((e) => e.type === 'frame');
    expect(first?.type === 'frame' && Buffer.from(first.payload!, 'base64').toString('hex')).toBe('f248cdc9c90700');
  });

  it('cut-off.jsonl: the torn last line is skipped with exactly one warning', async () => {
    const { header, events, warnings } = await readWithWarnings(fixture('cut-off.jsonl'));
    expect(header).not.toBeNull();
    expect(events).toHaveLength(8);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/last line .* cut off/);
  });

  it('unknown-types.jsonl: unknown types are ignored, unknown fields kept', async () => {
    const { events, warnings } = await readWithWarnings(fixture('unknown-types.jsonl'));
    expect(warnings).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['open', 'handshake', 'frame', 'message', 'error', 'end']);
    expect(events[0]).toMatchObject({ future: { x: 1 } });
    expect(events[3]).toMatchObject({ text: 'hi', lang: 'en' });
  });
});

describe('parseCaptureLine', () => {
  it('returns events and headers, null for unknown types, non-objects and malformed events', () => {
    expect(parseCaptureLine('{"type":"close","conn":1,"t":1,"from":"server","code":null,"reason":""}')).toMatchObject({ type: 'close' });
    expect(parseCaptureLine('{"type":"capture","format":"frametap-capture","version":1}')).toMatchObject({ type: 'capture' });
    expect(parseCaptureLine('{"type":"later-thing","conn":1}')).toBeNull();
    expect(parseCaptureLine('[1,2]')).toBeNull();
    expect(parseCaptureLine('{"type":"frame","conn":1,"t":1}')).toBeNull();
    expect(parseCaptureLine('{"type":"frame"')).toBeNull();
  });
});

describe('streaming', () => {
  it('reads lines longer than a read chunk, CRLF endings and a complete last line without newline', async () => {
    const file = path.join(dir, 'big.jsonl');
    const text = 'é'.repeat(1_500_000);
    const big: CapturedEvent = { type: 'message', conn: 1, t: 1, from: 'client', opcode: 1, compressed: false, frames: 1, length: 3_000_000, text, truncated: false };
    const small: CapturedEvent = { type: 'close', conn: 1, t: 2, from: 'client', code: 1000, reason: '' };
    fs.writeFileSync(file, `${JSON.stringify(big)}\r\n\n${JSON.stringify(small)}\n${JSON.stringify(small)}`);
    const { header, events, warnings } = await readWithWarnings(file);
    expect(warnings).toEqual([]);
    expect(header).toBeNull();
    expect(events).toStrictEqual([big, small, small]);
  });

  it('offsets and start: resuming at a line offset gives the rest', async () => {
    const lines = [];
    for await (const line of readCaptureLines(fixture('echo.jsonl'))) lines.push(line);
    const bytes = fs.readFileSync(fixture('echo.jsonl'));
    for (const l of lines) expect(JSON.parse(bytes.toString('utf8', l.offset, l.offset + l.length))).toStrictEqual(l.value.type === 'capture' ? l.value : cap(l.value));
    const rest = [];
    for await (const line of readCaptureLines(fixture('echo.jsonl'), { start: lines[5]!.offset })) rest.push(line);
    expect(rest).toStrictEqual(lines.slice(5));
    const e = lines[3]!;
    expect(await readEventAt(fixture('echo.jsonl'), e.offset, e.length)).toStrictEqual(e.value);
    expect(await readEventAt(fixture('echo.jsonl'), lines[0]!.offset, lines[0]!.length)).toBeNull();
  });

  it('a corrupt line in the middle is skipped with a warning naming it', async () => {
    const file = path.join(dir, 'mid.jsonl');
    const echo = fs.readFileSync(fixture('echo.jsonl'), 'utf8').split('\n');
    echo.splice(3, 0, '{"type":"frame","conn":1', 'garbage');
    fs.writeFileSync(file, echo.join('\n'));
    const { events, warnings } = await readWithWarnings(file);
    expect(events).toHaveLength(17);
    expect(warnings).toEqual(['line 4: not JSON; skipped', 'line 5: not JSON; skipped']);
  });

  it('2·10^4 events (several read chunks) round-trip through the writer and the streaming reader', async () => {
    const file = path.join(dir, 'many.jsonl');
    const header: CaptureHeader = { type: 'capture', format: 'frametap-capture', version: 1, started: 'x', tool: { name: 'frametap', version: '0' }, mode: 'reverse', listen: null, upstream: null };
    const writer = JsonlWriter.create(file, header, { warn: () => {} });
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      writer.write({ type: 'frame', conn: 1 + (i % 7), t: i, from: i % 2 ? 'server' : 'client', fin: true, rsv1: false, rsv2: false, rsv3: false, opcode: 9, masked: i % 2 === 0, length: 1, payload: Buffer.alloc(1), truncated: false });
    }
    await writer.close();
    let count = 0;
    let inOrder = true;
    for await (const line of readCaptureLines(file)) {
      if (line.value.type !== 'frame') continue;
      if (line.value.t !== count) inOrder = false;
      count++;
    }
    expect(count).toBe(n);
    expect(inOrder).toBe(true);
  });

  it('a missing file or a directory is a usage error', async () => {
    await expect(readCapture(path.join(dir, 'none.jsonl'))).rejects.toThrow(UsageError);
    await expect(readCapture(path.join(dir, 'none.jsonl'))).rejects.toThrow(/no such file/);
    await expect(readCapture(dir)).rejects.toThrow(/is a directory/);
  });
});
