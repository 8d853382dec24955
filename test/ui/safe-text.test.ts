import { describe, expect, it } from 'vitest';
import { charWidth } from '../../src/render/char-width.js';
import {
  MARK_OFF,
  MARK_ON,
  displayWidth,
  fitWidth,
  safeText,
  truncateWidth,
  unmark,
  wrapWidth,
} from '../../src/render/safe-text.js';
import { HOSTILE, WIDE } from './hostile-corpus.js';

/** Code points that must never be written raw to a terminal. */
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ufe00-\ufe0f\u20e3\ud800-\udfff]|\u{1f3fb}-\u{1f3ff}|[\u{1f1e6}-\u{1f1ff}]/u;

describe('safeText', () => {
  it.each(HOSTILE)('%s: no control, format or bidi character survives, nothing is dropped', (_name, text) => {
    for (const mark of [false, true]) {
      const out = safeText(text, { mark });
      const plain = unmark(out);
      expect(plain).not.toMatch(UNSAFE);
      // Nothing dropped: every code point of the input is in the output, as itself or as its escape.
      for (const ch of text) {
        const cp = ch.codePointAt(0)!;
        const esc = cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`;
        const short = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' }[cp];
        expect(plain.includes(ch) || plain.includes(esc) || (short !== undefined && plain.includes(short))).toBe(true);
      }
    }
  });

  it('escapes look like JSON string escapes; tags stay literal text', () => {
    expect(safeText('a\x1b[31mb')).toBe('a\\u001b[31mb');
    expect(safeText('\u009b')).toBe('\\u009b');
    expect(safeText('abc\b\b\bXYZ')).toBe('abc\\b\\b\\bXYZ');
    expect(safeText('a\x00b\x7f')).toBe('a\\u0000b\\u007f');
    expect(safeText('x\u202ey')).toBe('x\\u202ey');
    expect(safeText('{red-fg}')).toBe('{red-fg}');
    expect(safeText('a\nb\tc')).toBe('a\\nb\\tc');
    expect(safeText('a\r\nb\tc', { newlines: true, tabs: true })).toBe('a\nb\tc');
  });

  it('quoted: equals JSON.stringify for printable ASCII and C0, and escapes what JSON leaves raw', () => {
    for (const s of ['a"b\\c', 'line\nnext\t', '\x01\x1f', 'plain', 'hé中']) expect(safeText(s, { quote: true, backslash: true })).toBe(JSON.stringify(s));
    expect(safeText('\x7f\u0085\u202e', { quote: true, backslash: true })).toBe('"\\u007f\\u0085\\u202e"');
  });

  it('marks wrap each escape, so a screen can dim it and a literal backslash-u is told apart', () => {
    expect(safeText('a\x1bb', { mark: true })).toBe(`a${MARK_ON}\\u001b${MARK_OFF}b`);
    expect(safeText('a\\u001bb', { mark: true })).toBe('a\\u001bb');
  });

  it('emoji sequences are split into code points every terminal draws the same', () => {
    expect(safeText('👍🏽')).toBe('👍\\u{1f3fd}');
    expect(safeText('👨‍👩‍👧')).toBe('👨\\u200d👩\\u200d👧');
    expect(safeText('❤️')).toBe('❤\\ufe0f');
    expect(safeText('🇯🇵')).toBe('\\u{1f1ef}\\u{1f1f5}');
    expect(safeText('1\ufe0f\u20e3')).toBe('1\\ufe0f\\u20e3');
    // A combining mark stays on its letter, but never starts a line or follows an escape.
    expect(safeText('e\u0301')).toBe('e\u0301');
    expect(safeText('\u0301x')).toBe('\\u0301x');
    expect(safeText('\x1b\u0301')).toBe('\\u001b\\u0301');
  });
});

describe('widths', () => {
  it('follow East Asian Width and the emoji table, not blessed 0.1.81', () => {
    expect(charWidth('a'.codePointAt(0)!)).toBe(1);
    expect(charWidth('中'.codePointAt(0)!)).toBe(2);
    expect(charWidth('😀'.codePointAt(0)!)).toBe(2);
    expect(charWidth('🚀'.codePointAt(0)!)).toBe(2);
    expect(charWidth(0x301)).toBe(0);
    expect(charWidth('é'.codePointAt(0)!)).toBe(1);
    expect(charWidth('❤'.codePointAt(0)!)).toBe(1);
    expect(displayWidth(safeText('👨‍👩‍👧'))).toBe(2 + 6 + 2 + 6 + 2);
    expect(displayWidth(safeText('e\u0301a\u0308'))).toBe(2);
    expect(displayWidth(safeText('x\x1b', { mark: true }))).toBe(7);
  });

  it.each(WIDE)('fit and truncate of %s land on the exact width without splitting a character', (_name, text) => {
    const safe = safeText(text, { mark: true });
    for (let w = 1; w <= displayWidth(safe) + 2; w++) {
      expect(displayWidth(fitWidth(safe, w))).toBe(w);
      expect(displayWidth(truncateWidth(safe, w))).toBeLessThanOrEqual(w);
      // Marks stay balanced: an escape is never cut in half.
      const t = truncateWidth(safe, w);
      expect(t.split(MARK_ON).length).toBe(t.split(MARK_OFF).length);
    }
  });

  it('wrap keeps every line within the width and loses nothing', () => {
    const safe = safeText(`${'中'.repeat(7)}a\x1bb👍🏽\n${'x'.repeat(20)}`, { mark: true, newlines: true });
    const lines = wrapWidth(safe, 8);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(8);
    expect(unmark(lines.join(''))).toBe(unmark(safe).replace('\n', ''));
  });
});
