import { describe, expect, it } from 'vitest';
import { isValidCloseCode, isValidUtf8, Utf8Validator } from '../../src/protocol/validation.js';
import { hex, prng } from './helpers.js';

describe('isValidCloseCode (RFC 6455 §7.4)', () => {
  it('accepts the sendable registered codes and the 3000-4999 ranges', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]) {
      expect(isValidCloseCode(code), String(code)).toBe(true);
    }
  });
  it('rejects codes that must not be sent', () => {
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
      expect(isValidCloseCode(code), String(code)).toBe(false);
    }
  });
});

const VALID = [
  '',
  'Hello',
  'κόσμε',
  '€ and 𝄞 and 中文',
  '\u{10FFFF}',
  '\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}',
].map((s) => Buffer.from(s, 'utf8'));

const INVALID = [
  'c0 80', // overlong NUL
  'e0 80 80', // overlong
  'ed a0 80', // surrogate U+D800
  'f4 90 80 80', // above U+10FFFF
  'f5 80 80 80',
  'ff',
  '80', // lone continuation
  'ce', // truncated at the end
  'e2 82', // truncated 3-byte
  '48 65 ce 28', // bad continuation
  'f0 9d 84', // truncated 4-byte
].map(hex);

function feed(parts: readonly Buffer[]): boolean {
  const v = new Utf8Validator();
  let ok = true;
  for (const p of parts) ok = v.push(p) && ok;
  return v.end() && ok;
}

describe('Utf8Validator', () => {
  it('agrees with the whole-buffer check at every split point and one byte at a time', () => {
    for (const bytes of [...VALID, ...INVALID]) {
      const expected = isValidUtf8(bytes);
      expect(feed([bytes])).toBe(expected);
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect(feed([bytes.subarray(0, cut), bytes.subarray(cut)]), `${bytes.toString('hex')} cut ${cut}`).toBe(expected);
      }
      expect(feed(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))).toBe(expected);
    }
  });

  it('keeps a character split between fragments valid and rejects a truncated end', () => {
    const euro = Buffer.from('€', 'utf8');
    expect(feed([euro.subarray(0, 1), euro.subarray(1, 2), euro.subarray(2)])).toBe(true);
    expect(feed([euro.subarray(0, 2)])).toBe(false);
  });

  it('matches isValidUtf8 on random byte strings cut at random points', () => {
    const rand = prng(7);
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(rand() * 12);
      // Bias towards UTF-8-looking bytes so both outcomes occur.
      const bytes = Buffer.from(Array.from({ length: len }, () => [0x41, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0xed, 0xff][Math.floor(rand() * 12)]!));
      const parts: Buffer[] = [];
      let at = 0;
      while (at < bytes.length) {
        const step = 1 + Math.floor(rand() * 4);
        parts.push(bytes.subarray(at, at + step));
        at += step;
      }
      expect(feed(parts), bytes.toString('hex')).toBe(isValidUtf8(bytes));
    }
  });

  it('reset makes it ready for the next message', () => {
    const v = new Utf8Validator();
    expect(v.push(hex('ff'))).toBe(false);
    v.reset();
    expect(v.push(Buffer.from('ok'))).toBe(true);
    expect(v.end()).toBe(true);
  });
});
