import { describe, expect, it } from 'vitest';
import { encodeEventLine, markBase64 } from '../../src/capture/line-encoder.js';
import type { SessionEvent } from '../../src/session/events.js';

function message(data: string): SessionEvent {
  return { type: 'message', conn: 3, t: 1700000000000.125, from: 'server', opcode: 2, compressed: false, frames: 1, length: 9, data, truncated: false };
}

describe('encodeEventLine', () => {
  it('gives the same object as JSON.stringify for a small event', () => {
    const ev = message('aGVsbG8=');
    const line = encodeEventLine(markBase64(ev)).toString('utf8');
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toEqual(ev);
  });

  it('splices a large marked base64 payload and still parses to the same event', () => {
    const b64 = Buffer.alloc(100_000, 0xab).toString('base64');
    const ev = markBase64(message(b64));
    const line = encodeEventLine(ev).toString('utf8');
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line)).toEqual(ev);
    const frame = markBase64({ type: 'frame', conn: 1, t: 1, from: 'client', fin: false, rsv1: true, rsv2: false, rsv3: false, opcode: 1, masked: true, length: 75_000, payload: b64, truncated: false } as SessionEvent);
    expect(JSON.parse(encodeEventLine(frame).toString('utf8'))).toEqual(frame);
  });

  it('escapes an unmarked field even when it is large (a capture read back may hold anything)', () => {
    const hostile = `${'A'.repeat(5000)}"},{"type":"end\\`;
    const ev = message(hostile);
    expect(JSON.parse(encodeEventLine(ev).toString('utf8'))).toEqual(ev);
  });
});
