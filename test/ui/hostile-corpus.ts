/**
 * Text that must never reach a terminal raw: every kind of control, escape sequence, bidi override,
 * blessed tag and wide or joined character, each paired with a readable name. Shared by the pure
 * renderer tests, the line log tests and the tmux tests.
 */
export const HOSTILE: readonly (readonly [name: string, text: string])[] = [
  ['SGR in JSON', '{"k":"\x1b[31mred-in-json"}'],
  ['cursor home + reverse video', '\x1b[1;1H\x1b[7mreverse'],
  ['OSC 0 title', '\x1b]0;pwned-title\x07after'],
  ['OSC 2 title, ST', '\x1b]2;pwned-title2\x1b\\after'],
  ['OSC 52 clipboard', '\x1b]52;c;cHduZWQ=\x07clip'],
  ['clear screen', 'x\x1b[2Jy'],
  ['NUL', 'a\x00b'],
  ['backspaces', 'abc\b\b\bXYZ'],
  ['DEL', 'a\x7fb'],
  ['C1 CSI', 'a\u009b31mb'],
  ['C1 OSC + ST', '\u009d0;c1-title\u009cz'],
  ['C1 NEL', 'a\u0085b'],
  ['RLO', 'abc\u202edef'],
  ['isolates', '\u2066x\u2067y\u2068z\u2069'],
  ['LRM RLM ALM', '\u200e\u200f\u061c'],
  ['line/para separators', 'a\u2028b\u2029c'],
  ['BOM, ZWSP', '\ufeffa\u200bb'],
  ['blessed tags', '{red-fg}{bold}tagged{/bold}{/red-fg} {open}'],
  ['bell, vertical tab, form feed', 'a\x07b\x0bc\x0cd'],
  ['carriage return overwrite', 'visible\rHIDDEN'],
  ['lone surrogate', 'a\ud800b'],
];

/** Wide and joined characters: each must come out with a width every terminal agrees on. */
export const WIDE: readonly (readonly [name: string, text: string])[] = [
  ['CJK', '中文字'],
  ['emoji', '😀🚀'],
  ['skin tone', '👍🏽'],
  ['ZWJ family', '👨‍👩‍👧'],
  ['VS16 heart', '❤️'],
  ['flag', '🇯🇵'],
  ['combining', 'e\u0301a\u0308'],
  ['keycap', '1\ufe0f\u20e3'],
];
