import { describe, expect, it } from 'vitest';
import { encodePayload, keepAtMost, messageBytes, textOf, utf8BoundaryLength } from '../../src/capture/payload.js';
import { fromCaptured, toCaptured } from '../../src/capture/capture-object.js';

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

  it('a message carries bytes; its capture line has them as text or base64 data, small or large, and reads back the same', () => {
    const fields = { type: 'message', conn: 1, t: 2, from: 'server', compressed: false, frames: 1, truncated: false } as const;
    for (const size of [2, 200_000]) {
      const payload = Buffer.alloc(size, 0x68);
      const binary = { ...fields, opcode: 2 as const, length: size, data: payload };
      const line = toCaptured(binary);
      expect(line).toEqual({ ...fields, opcode: 2, length: size, data: payload.toString('base64') });
      expect(Object.keys(line!)).toEqual(Object.keys(binary));
      expect(fromCaptured(JSON.parse(JSON.stringify(line)))).toEqual(binary);
      const text = { ...fields, opcode: 1 as const, length: size, data: payload };
      expect(toCaptured(text)).toEqual({ ...fields, opcode: 1, length: size, text: 'h'.repeat(size) });
      expect(fromCaptured(JSON.parse(JSON.stringify(toCaptured(text))))).toEqual(text);
    }
    // capture-format: a text message that is not valid UTF-8 carries base64 `data`.
    const invalid = { ...fields, opcode: 1 as const, length: 1, data: Buffer.from([0xff]), invalidUtf8: true as const };
    expect(toCaptured(invalid)).toEqual({ ...fields, opcode: 1, length: 1, data: '/w==' });
    expect(fromCaptured(JSON.parse(JSON.stringify(toCaptured(invalid))))).toEqual(invalid);
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
