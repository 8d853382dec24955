import { describe, expect, it } from 'vitest';
import { encodeEventLine, markOwnBase64 } from '../../src/capture/line-encoder.js';
import type { SessionEvent } from '../../src/session/events.js';

function message(data: string, own: boolean): SessionEvent {
  const ev = { type: 'message', conn: 3, t: 1700000000000.125, from: 'server', opcode: 2, compressed: false, frames: 1, length: 9, data, truncated: false } as const;
  return own ? markOwnBase64({ ...ev }) : ev;
}

const parse = (line: Buffer): unknown => JSON.parse(line.toString('utf8'));
const plain = (ev: SessionEvent): unknown => JSON.parse(JSON.stringify(ev));

describe('encodeEventLine', () => {
  it('writes one line that parses to the event, small or large, marked or not', () => {
    for (const size of [5, 300, 100_000]) {
      for (const own of [false, true]) {
        const ev = message(Buffer.alloc(size, 0xab).toString('base64'), own);
        const line = encodeEventLine(ev);
        expect(line.toString('utf8').split('\n')).toEqual([expect.any(String), '']);
        expect(parse(line)).toEqual(plain(ev));
      }
    }
  });

  it('copies a marked frame payload and still escapes the fields around it', () => {
    const b64 = Buffer.alloc(10_000, 0x5a).toString('base64');
    const frame = { type: 'frame', conn: 1, t: 1.5, from: 'client', fin: false, rsv1: true, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 75_000, payload: b64, truncated: true, incomplete: true, received: 9000 } as SessionEvent;
    markOwnBase64(frame);
    expect(parse(encodeEventLine(frame))).toEqual(plain(frame));
    const withText = { ...message(b64, true), type: 'message', opcode: 1, data: undefined, text: 'a "quoted"\n\u2028 é' } as unknown as SessionEvent;
    markOwnBase64(withText);
    expect(parse(encodeEventLine(withText))).toEqual(plain(withText));
  });

  it('escapes an unmarked field even when it is large (a capture read back may hold anything)', () => {
    const hostile = `${'A'.repeat(5000)}"},{"type":"end\\`;
    const ev = message(hostile, false);
    expect(parse(encodeEventLine(ev))).toEqual(plain(ev));
  });
});
