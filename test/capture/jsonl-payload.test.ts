import { describe, expect, it } from 'vitest';
import { encodePayload, keepAtMost, messageBytes, messageWithData, textOf, utf8BoundaryLength } from '../../src/capture/payload.js';

describe('payload rules', () => {
  it('base64 of exactly the bytes of a view', () => {
    const backing = Buffer.from('xxhelloxx');
    expect(encodePayload(backing.subarray(2, 7))).toBe(Buffer.from('hello').toString('base64'));
    expect(encodePayload(new Uint8Array(0))).toBe('');
  });

  it('a cut text ends at a UTF-8 character boundary, whatever the cut', () => {
    const full = Buffer.from('aé€😀b', 'utf8'); // 1 + 2 + 3 + 4 + 1 bytes
    const expected = ['', 'a', 'a', 'aé', 'aé', 'aé', 'aé€', 'aé€', 'aé€', 'aé€', 'aé€😀', 'aé€😀b'];
    for (let n = 0; n <= full.length; n++) {
      expect(textOf(full.subarray(0, n), true), `cut at ${n}`).toBe(expected[n]);
      expect(utf8BoundaryLength(full.subarray(0, n))).toBe(Buffer.byteLength(expected[n]!));
    }
    expect(textOf(full, false)).toBe('aé€😀b');
  });

  it('a message with data, small or large (lazy), reads, spreads and serialises like a plain one', () => {
    const fields = { type: 'message', conn: 1, t: 2, from: 'server', opcode: 2, compressed: false, frames: 1, length: 2, truncated: false } as const;
    for (const size of [2, 200_000]) {
      const payload = Buffer.alloc(size, 0x68);
      const plain = { ...fields, data: payload.toString('base64') };
      const event = messageWithData(fields, payload);
      expect(event).toEqual(plain);
      expect({ ...event }).toEqual(plain);
      expect(JSON.parse(JSON.stringify(event))).toEqual(plain);
      expect(Object.keys(event)).toEqual(Object.keys(plain));
      expect(messageBytes(event)).toEqual(payload);
    }
    const bytes = Buffer.from([0x68, 0x69]);
    expect(messageBytes({ text: 'hi' })).toEqual(bytes);
    expect(messageBytes({ data: 'aGk=' })).toEqual(bytes);
  });

  it('keepAtMost cuts at the limit and says so', () => {
    const b = Buffer.from('abcdef');
    expect(keepAtMost(b, 4)).toEqual({ kept: Buffer.from('abcd'), truncated: true });
    expect(keepAtMost(b, 6)).toEqual({ kept: b, truncated: false });
  });
});
