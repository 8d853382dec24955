import { describe, expect, it } from 'vitest';
import { encodeEventLine, withOwnBytes } from '../../src/capture/line-encoder.js';
import { encodePayload } from '../../src/capture/payload.js';
import type { SessionEvent } from '../../src/session/events.js';

function message(bytes: Buffer, own: boolean): SessionEvent {
  const ev: SessionEvent = { type: 'message', conn: 3, t: 1700000000000.125, from: 'server', opcode: 2, compressed: false, frames: 1, length: bytes.length, data: encodePayload(bytes), truncated: false };
  return own ? withOwnBytes(ev, bytes) : ev;
}

const parse = (line: Buffer): unknown => JSON.parse(line.toString('utf8'));
const plain = (ev: SessionEvent): unknown => JSON.parse(JSON.stringify(ev));

describe('encodePayload', () => {
  it('is base64 of the bytes at every size, sliced or not', () => {
    for (const size of [0, 1, 2, 3, 49151, 49152, 49153, 98305, 262144, 262145]) {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff));
      expect(encodePayload(bytes)).toBe(bytes.toString('base64'));
    }
  });
});

describe('encodeEventLine', () => {
  it('writes one line that parses to the event, small or large, registered or not', () => {
    for (const size of [5, 300, 49153, 262145]) {
      for (const own of [false, true]) {
        const ev = message(Buffer.alloc(size, size & 0xff), own);
        const line = encodeEventLine(ev);
        expect(line.toString('utf8').split('\n')).toEqual([expect.any(String), '']);
        expect(parse(line)).toEqual(plain(ev));
      }
    }
  });

  it('writes a registered frame payload from its bytes and still escapes the fields around it', () => {
    const bytes = Buffer.alloc(10_000, 0x5a);
    const frame = withOwnBytes(
      { type: 'frame', conn: 1, t: 1.5, from: 'client', fin: false, rsv1: true, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 75_000, payload: encodePayload(bytes), truncated: true, incomplete: true, received: 9000 },
      bytes,
    );
    expect(parse(encodeEventLine(frame))).toEqual(plain(frame));
    const text: SessionEvent = { type: 'message', conn: 2, t: 2, from: 'client', opcode: 1, compressed: true, frames: 2, length: 20, text: 'a "quoted"\n\u2028 é', truncated: false };
    // A text message has no base64 field: registering bytes changes nothing.
    expect(parse(encodeEventLine(withOwnBytes(text, bytes)))).toEqual(plain(text));
  });

  it('escapes an unregistered field even when it is large (a capture read back may hold anything)', () => {
    const hostile: SessionEvent = { ...(message(Buffer.alloc(0), false) as Extract<SessionEvent, { type: 'message' }>), data: `${'A'.repeat(5000)}"},{"type":"end\\` };
    expect(parse(encodeEventLine(hostile))).toEqual(plain(hostile));
  });
});
