/**
 * What crossed the wire, and nothing else, reaches the terminal: a crafted capture with escape
 * sequences, C1 controls, bidi overrides and blessed tags in every field is viewed in a real
 * terminal (tmux) while every byte the dashboard writes is recorded (`pipe-pane -O`).
 */
import { readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect } from 'vitest';
import { charWidth } from '../../src/render/char-width.js';
import { itWith } from '../helpers/system-deps.js';
import { writeHostileCapture } from './hostile-capture.js';
import { HOSTILE } from './hostile-corpus.js';
import { killTmuxServer, TmuxSession } from './tmux.js';

const ROOT = path.resolve(__dirname, '../..');

/** Terminal column of each `│` in a captured line (tmux's grid, measured with the same width table). */
function borderColumns(line: string): number[] {
  const cols: number[] = [];
  let col = 0;
  for (const ch of line) {
    if (ch === '│') cols.push(col);
    col += charWidth(ch.codePointAt(0)!);
  }
  return cols;
}

describe('the screen shows what crossed the wire', () => {
  let session: TmuxSession | null = null;
  let dir: string | null = null;
  afterEach(() => {
    session?.kill();
    session = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });
  afterAll(() => killTmuxServer());

  itWith('tmux')('a hostile capture: no payload byte is written raw, every field is shown escaped, title and clipboard untouched', async () => {
    const file = await writeHostileCapture();
    dir = path.dirname(file);
    const record = path.join(path.dirname(file), 'pane.raw');
    const s = (session = new TmuxSession());
    // LANG=C: Unicode and box drawing must not depend on the locale.
    s.start(`env LANG=C LC_ALL=C LC_CTYPE=C node bin/frametap.js view '${file}'`, ROOT, { record, clipboard: true });
    await s.waitFor('connections 2');
    s.keys('Tab', 'Tab');
    await s.waitFor('[ connections');
    s.keys('g');
    await s.waitFor(/>#1 /);
    s.keys('Tab');
    await s.waitFor('[ #1 frames');
    s.keys('m');
    await s.waitFor('[ #1 messages');
    s.keys('g');
    await s.waitFor('message 1 ← text');
    // Every row's detail, in each payload view.
    const tags = HOSTILE.findIndex(([name]) => name === 'blessed tags') + 1;
    for (let n = 2; n <= HOSTILE.length; n++) {
      s.keys('j');
      const screen = await s.waitFor(`message ${n} ← text`);
      // blessed's tags in a payload are text: the detail pane shows them literally.
      if (n === tags) expect(screen).toContain('{red-fg}{bold}tagged{/bold}{/red-fg} {open}');
    }
    for (const view of ['json', 'hex', 'text']) {
      s.keys('x');
      await s.waitFor(`detail (${view}`);
    }
    s.keys('j', 'j');
    await s.waitFor('error at stage relay');
    s.keys('h');
    const hs = await s.waitFor('X-Evil');
    const screen = s.screen();

    // Shown visibly, escaped, tags literal.
    expect(hs).toContain('OK\\u001b]0;pwned-title\\u0007');
    expect(screen).toMatch(/\{red-fg\}/);
    s.keys('h');
    s.keys('g');
    const rows = await s.waitFor('\\u001b[31mred-in-json');
    expect(rows).toContain('abc\\u202edef');
    expect(rows).toContain('a\\u009b31mb');
    expect(rows).toContain('a\\u0000b');
    expect(rows).toContain('abc\\b\\b\\bXYZ');
    // capture-pane -e: each escape is drawn underlined, so it is told from literal text.
    const withAttributes = s.screenWithAttributes();
    expect(withAttributes, JSON.stringify(withAttributes.split('\n').find((l) => l.includes('red-in-json')))).toMatch(/\x1b\[4m\\u001b(?:\x1b\[[0-9;]*m)+\[31mred-in-json/);
    // Box drawing drawn as itself whatever LANG says (not ACS `lqqk`).
    expect(rows).toContain('┌');
    expect(rows).not.toMatch(/lqqq/);

    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
    const raw = readFileSync(record, 'latin1');
    expect(raw.length).toBeGreaterThan(1000);
    for (const leak of ['\x1b]0;pwned', '\x1b]2;pwned', '\x1b]52;', '\x1b[31mred-in-json', '\x1b[7mreverse', 'x\x1b[2Jy', '\x1b[1;1H\x1b[7m']) {
      expect(raw.includes(leak), JSON.stringify(leak)).toBe(false);
    }
    // No C1 control (UTF-8 C2 80–C2 9F), NUL, backspace, DEL, bidi override or isolate, in any byte.
    expect(raw).not.toMatch(/\xc2[\x80-\x9f]/);
    expect(raw).not.toMatch(/[\x00\x08\x7f]/);
    expect(raw).not.toMatch(/\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]/);
    expect(s.paneTitle()).not.toContain('pwned');
    expect(s.buffers()).toBe('');
  }, 60_000);

  itWith('tmux')('wide characters: CJK, emoji, skin tones, ZWJ, flags and combining marks keep the columns aligned', async () => {
    const file = await writeHostileCapture();
    dir = path.dirname(file);
    const s = (session = new TmuxSession());
    s.start(`node bin/frametap.js view '${file}'`, ROOT);
    // The newest connection (#2, the wide characters) is shown first.
    await s.waitFor('[ #2 frames');
    s.keys('m');
    const screen = await s.waitFor((t) => t.includes('CJK: 中文字 end') && t.includes('emoji: 😀🚀 end'));
    expect(screen).toContain('ZWJ family: 👨\\u200d👩\\u200d👧 end');
    expect(screen).toContain('skin tone: 👍\\u{1f3fd} end');
    expect(screen).toContain('flag: \\u{1f1ef}\\u{1f1f5} end');
    expect(screen).toContain('combining: e\u0301a\u0308 end');
    for (const l of screen.split('\n').filter((x) => / end /.test(x))) expect(l).not.toContain('?');
    // Every row of the log and detail panes has its borders in the same columns.
    const lines = screen.split('\n').filter((l) => l.includes('││'));
    expect(lines.length).toBeGreaterThan(10);
    const want = borderColumns(lines.find((l) => l.includes('CJK'))!);
    expect(want).toHaveLength(4);
    expect(lines.map((l) => `${borderColumns(l).join(',')} ${l}`)).toEqual(lines.map((l) => `${want.join(',')} ${l}`));
    s.keys('q');
    await s.waitFor('EXIT=0', 8000);
  }, 30_000);
});
