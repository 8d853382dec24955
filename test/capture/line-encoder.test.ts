import { describe, expect, it } from 'vitest';
import { encodeEventLine, joinRawLine } from '../../src/capture/line-encoder.js';
import { packBatch, unpackBatch } from '../../src/capture/batch-pack.js';
import { prng } from '../protocol/helpers.js';
import { encodePayload } from '../../src/capture/payload.js';
import { fromCaptured, toCaptured, type CapturedEvent } from '../../src/capture/capture-object.js';
import type { SessionEvent } from '../../src/session/events.js';

function message(bytes: Buffer, opcode: 1 | 2 = 2): SessionEvent {
  return { type: 'message', conn: 3, t: 1700000000000.125, from: 'server', opcode, compressed: false, frames: 1, length: bytes.length, data: bytes, truncated: false };
}

const parse = (line: Buffer | null): unknown => JSON.parse(line!.toString('utf8'));
/** What the line must parse to: the event's capture object, through JSON. */
const plain = (ev: SessionEvent): unknown => JSON.parse(JSON.stringify(toCaptured(ev)));

describe('encodePayload', () => {
  it('is base64 of the bytes at every size, sliced or not', () => {
    for (const size of [0, 1, 2, 3, 49151, 49152, 49153, 98305, 262144, 262145]) {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff));
      expect(encodePayload(bytes)).toBe(bytes.toString('base64'));
    }
  });
});

describe('encodeEventLine', () => {
  it('writes one line that parses to the capture object, small or large, straight from the bytes or not', () => {
    for (const size of [5, 300, 49153, 262145]) {
      const ev = message(Buffer.alloc(size, size & 0xff));
      const line = encodeEventLine(ev);
      expect(line!.toString('utf8').split('\n')).toEqual([expect.any(String), '']);
      expect(parse(line)).toEqual(plain(ev));
      expect(parse(line)).toMatchObject({ data: Buffer.alloc(size, size & 0xff).toString('base64') });
    }
  });

  it('writes a frame payload from its bytes and still escapes the fields around it', () => {
    const bytes = Buffer.alloc(10_000, 0x5a);
    const frame: SessionEvent = { type: 'frame', conn: 1, t: 1.5, from: 'client', fin: false, rsv1: true, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 75_000, maskKey: '0a0b0c0d', payload: bytes, truncated: true, incomplete: true, received: 9000 };
    expect(parse(encodeEventLine(frame))).toEqual(plain(frame));
    const text = message(Buffer.from('a "quoted"\n\u2028 é'.repeat(40), 'utf8'), 1);
    expect(parse(encodeEventLine(text))).toEqual(plain(text));
    expect(parse(encodeEventLine(text))).toMatchObject({ text: 'a "quoted"\n\u2028 é'.repeat(40) });
  });

  it('a text message that is not valid UTF-8 is written as base64 data, without the in-memory flag', () => {
    const bad: SessionEvent = { ...(message(Buffer.alloc(400, 0xff), 1) as Extract<SessionEvent, { type: 'message' }>), invalidUtf8: true };
    const line = parse(encodeEventLine(bad)) as Record<string, unknown>;
    expect(line).toEqual(plain(bad));
    expect(line.data).toBe(Buffer.alloc(400, 0xff).toString('base64'));
    expect('invalidUtf8' in line).toBe(false);
  });

  it('a chunk event has no capture line', () => {
    expect(encodeEventLine({ type: 'chunk', conn: 1, t: 1, leg: 'client', from: 'client', bytes: Buffer.from('x') })).toBeNull();
  });
});


/** Random frame and message events: every optional field present or not, text that is ASCII, escaped, astral, cut or invalid. */
function randomEvent(r: () => number): SessionEvent {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const size = pick([0, 1, 2, 3, 63, 64, 255, 256, 257, 1000]);
  const bytes = Buffer.from(Array.from({ length: size }, () => pick([0x41, 0x22, 0x5c, 0x0a, 0x00, 0x7f, 0xe2, 0x80, 0xa8, 0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xa9, Math.floor(r() * 256)])));
  const t = pick([1700000000000.125, 1.5, 0, 1e21, 123456789.000001]);
  const from = pick(['client', 'server'] as const);
  if (r() < 0.5) {
    return {
      type: 'frame', conn: Math.floor(r() * 1000), t, from, fin: r() < 0.5, rsv1: r() < 0.5, rsv2: false, rsv3: r() < 0.1, opcode: pick([0, 1, 2, 8, 9, 10, 3]),
      masked: r() < 0.5, length: size + Math.floor(r() * 10), ...(r() < 0.5 ? { maskKey: 'a1b2c3d4' } : {}), ...(r() < 0.7 ? { payload: bytes } : {}),
      truncated: r() < 0.3, ...(r() < 0.2 ? { incomplete: true as const, received: size } : {}),
    };
  }
  const opcode = pick([1, 2] as const);
  const valid = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
  return {
    type: 'message', conn: Math.floor(r() * 1000), t, from, opcode, compressed: r() < 0.5, frames: 1 + Math.floor(r() * 3), length: size,
    data: bytes, truncated: r() < 0.3, ...(opcode === 1 && !valid ? { invalidUtf8: true as const } : {}),
  };
}

describe('the capture line of frames and messages, byte for byte', () => {
  it('equals JSON.stringify of the capture object for 20,000 random events', () => {
    for (let seed = 1; seed <= 20_000; seed++) {
      const ev = randomEvent(prng(seed));
      const want = `${JSON.stringify(toCaptured(ev))}\n`;
      const got = encodeEventLine(ev)!.toString('utf8');
      if (got !== want) expect({ seed, got }).toEqual({ seed, got: want });
    }
  });

  it('a packed batch gives the worker the same lines, small events finished, large ones as bytes', () => {
    const r = prng(7);
    const events = Array.from({ length: 500 }, () => randomEvent(r));
    events.splice(3, 0, { type: 'chunk', conn: 1, t: 1, leg: 'client', from: 'client', bytes: Buffer.from('x') });
    const batch = packBatch(events);
    const lines = unpackBatch(structuredClone(batch), joinRawLine);
    expect(lines.map((l) => l?.toString('utf8') ?? null)).toEqual(events.map((e) => encodeEventLine(e)?.toString('utf8') ?? null));
    // Both shapes were in the batch: finished lines and payloads whose base64 the worker made.
    expect(batch.items.filter((i) => i === -1).length).toBeGreaterThan(0);
    expect(batch.items.filter((i) => i > 0).length).toBeGreaterThan(0);
  });
});

describe('a capture line read and written again', () => {
  it('is the same line, whatever its key order (payload fields stay where they were)', () => {
    const lines = [
      '{"type":"message","conn":1,"t":2.5,"from":"client","opcode":1,"compressed":false,"frames":1,"length":5,"text":"héllo","truncated":false}',
      '{"type":"message","conn":1,"t":2.5,"from":"server","opcode":2,"compressed":true,"frames":2,"length":3,"truncated":true,"data":"AAEC"}',
      '{"type":"message","conn":1,"t":2.5,"from":"server","opcode":1,"data":"/w==","compressed":false,"frames":1,"length":1,"truncated":false}',
      '{"type":"frame","conn":1,"t":3,"from":"server","fin":true,"rsv1":false,"rsv2":false,"rsv3":false,"opcode":9,"masked":false,"length":2,"payload":"aGk=","truncated":false}',
      '{"type":"frame","conn":1,"payload":"aGk=","t":3,"from":"server","fin":true,"rsv1":false,"rsv2":false,"rsv3":false,"opcode":9,"masked":false,"length":2,"truncated":false}',
    ];
    for (const line of lines) expect(encodeEventLine(fromCaptured(JSON.parse(line) as CapturedEvent))!.toString('utf8')).toBe(`${line}\n`);
  });
});
