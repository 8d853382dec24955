/**
 * blessed 0.1.81 measures characters with its own 2014 table: 😀 and 🚀 are 1 column to it and 2
 * to tmux 3.3a (glibc 2.36), so every row after an emoji shifts and borders break. This replaces
 * the three places blessed asks about widths (`charWidth`, the wide-character pattern that reserves
 * the second cell, the combining table) with src/render/char-width.ts, the table the pane layout
 * uses too, so what blessed reserves and what the panes measured agree. The panes only hand blessed
 * text from src/render/safe-text.ts, in which every code point has one width on every terminal.
 */
import { createRequire } from 'node:module';
import { charWidth, isCombiningMark } from '../src/render/char-width.js';

interface BlessedUnicode {
  charWidth: (str: string | number, i?: number) => number;
  codePointAt: (str: string, i: number) => number;
  combining: Record<number, boolean>;
  chars: { all: unknown };
}

const require = createRequire(import.meta.url);
let installed = false;

/** Patches blessed's unicode module (once per process). */
export function installTerminalWidths(): void {
  if (installed) return;
  installed = true;
  const unicode = require('blessed/lib/unicode.js') as BlessedUnicode;
  unicode.charWidth = (str, i = 0) => {
    const cp = typeof str === 'number' ? str : unicode.codePointAt(str, i);
    // As blessed: controls take no cell (the panes never hand blessed any).
    if (cp === undefined || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
    return charWidth(cp);
  };
  // Element#parseContent calls `content.replace(unicode.chars.all, '$1\x03')` to put a placeholder
  // after each wide character, which the screen then leaves for the terminal to cover.
  unicode.chars.all = {
    [Symbol.replace](text: string, replacement: string): string {
      let out = '';
      for (const ch of text) out += charWidth(ch.codePointAt(0)!) === 2 ? replacement.replace('$1', ch) : ch;
      return out;
    },
  };
  unicode.combining = new Proxy(
    {},
    { get: (_target, key) => (typeof key === 'string' ? isCombiningMark(Number(key)) : undefined) },
  ) as Record<number, boolean>;
}
