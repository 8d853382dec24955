import { describe, expect, it } from 'vitest';
import { encodeEventLine } from '../../src/capture/line-encoder.js';
import { encodePayload } from '../../src/capture/payload.js';
import { toCaptured } from '../../src/capture/capture-object.js';
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
