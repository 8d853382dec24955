/**
 * The one renderer of untrusted text (payloads, header values, reason phrases, close reasons,
 * violation and error details, addresses, targets) for every place a person reads it: the
 * dashboard's rows and panes, `--ui log`, `view --ui log`. Pure: strings in, strings out.
 *
 * What crossed the wire is shown, and nothing else reaches the terminal: every C0 and C1 control,
 * DEL, NUL, every format character (bidi overrides and isolates, ZWJ, BOM, tags), line and
 * paragraph separators, lone surrogates and unassigned code points are shown as escapes (`\u001b`,
 * `\u009b`, `\u202e`), never written raw and never dropped. Code points whose width terminals
 * disagree on when combined (variation selectors, emoji modifiers, regional indicators, the keycap
 * mark) are escaped too, so an emoji sequence is drawn as its code points the same way by every
 * terminal (`👍\u{1f3fd}`, `👨\u200d👩\u200d👧`, `\u{1f1ef}\u{1f1f5}`).
 *
 * With `mark`, each escape is wrapped in MARK_ON … MARK_OFF (two C0 controls the output can never
 * otherwise contain) so a screen can draw it dim and a reader can tell it from the same text typed
 * literally.
 */
import { charWidth, isCombiningMark } from './char-width.js';

export const MARK_ON = '\x0e';
export const MARK_OFF = '\x0f';

export interface SafeTextOptions {
  /** Keep line feeds (and CRLF as one line feed) for text shown on several lines; default: escape. */
  readonly newlines?: boolean;
  /** Keep tabs (the caller expands them); default: escape as `\t`. */
  readonly tabs?: boolean;
  /** Escape `\` as `\\` (and `"` as `\"` with `quote`) so escapes are unambiguous in plain text. */
  readonly backslash?: boolean;
  /** Wrap the text in double quotes (a JSON-like string literal). */
  readonly quote?: boolean;
  /** Wrap each escape in MARK_ON … MARK_OFF. */
  readonly mark?: boolean;
}

const SHORT: Readonly<Record<number, string>> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r' };

/** Cc, Cf, Zl, Zp, Cs, Cn: never drawn raw. */
const INVISIBLE = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Cn}]$/u;

/** True when the code point is shown as an escape rather than itself. */
export function needsEscape(cp: number): boolean {
  if (cp >= 0x20 && cp < 0x7f) return false;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;
  // Variation selectors (VS1–16, VS17–256): VS16 widens some characters in some terminals only.
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return true;
  // Emoji modifiers (skin tones), regional indicators (flags) and the combining keycap: joined into
  // one glyph by some terminals and not by others, so the columns after them would shift.
  if ((cp >= 0x1f3fb && cp <= 0x1f3ff) || (cp >= 0x1f1e6 && cp <= 0x1f1ff) || cp === 0x20e3) return true;
  if (cp < 0xa0) return false;
  return INVISIBLE.test(String.fromCodePoint(cp));
}

/** `\u001b`, `\u202e`, `\u{1f3fd}`: the escape of one code point. */
export function escapeCodePoint(cp: number): string {
  const short = SHORT[cp];
  if (short) return short;
  const hex = cp.toString(16);
  return cp > 0xffff ? `\\u{${hex}}` : `\\u${hex.padStart(4, '0')}`;
}

/**
 * `text` made safe to write to a terminal. Walks UTF-16 units so lone surrogates are seen
 * (`for…of` would pass them through as themselves).
 */
export function safeText(text: string, options: SafeTextOptions = {}): string {
  const { newlines = false, tabs = false, backslash = false, quote = false, mark = false } = options;
  let out = quote ? '"' : '';
  // A combining mark must follow a character of ours that it can sit on, never an escape, the
  // start of the text or a line break (where it would combine with a border or a previous cell).
  let base = false;
  const esc = (s: string): void => {
    out += mark ? MARK_ON + s + MARK_OFF : s;
    base = false;
  };
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp === 0x0a && newlines) {
      out += '\n';
      base = false;
    } else if (cp === 0x0d && newlines && text.charCodeAt(i + 1) === 0x0a) {
      // CRLF: the line break is the LF.
    } else if (cp === 0x09 && tabs) {
      out += '\t';
      base = false;
    } else if ((cp === 0x5c && backslash) || (cp === 0x22 && quote)) {
      out += `\\${String.fromCharCode(cp)}`;
      base = true;
    } else if (needsEscape(cp)) {
      esc(escapeCodePoint(cp));
    } else if (cp >= 0x300 && isCombiningMark(cp)) {
      if (base) out += String.fromCodePoint(cp);
      else esc(escapeCodePoint(cp));
    } else {
      out += cp > 0xffff ? String.fromCodePoint(cp) : String.fromCharCode(cp);
      base = true;
    }
  }
  return quote ? `${out}"` : out;
}

/** Removes the escape marks (for plain-text sinks and tests). */
export function unmark(text: string): string {
  return text.replace(/[\x0e\x0f]/g, '');
}

/** A unit of safe text that is never split: one escape (with its marks), or a character with its combining marks. */
interface Unit {
  readonly text: string;
  readonly width: number;
}

function* units(text: string): Generator<Unit> {
  let i = 0;
  while (i < text.length) {
    if (text[i] === MARK_ON) {
      const end = text.indexOf(MARK_OFF, i);
      const stop = end < 0 ? text.length : end + 1;
      const body = text.slice(i, stop);
      yield { text: body, width: body.length - 2 };
      i = stop;
      continue;
    }
    const cp = text.codePointAt(i)!;
    let j = i + (cp > 0xffff ? 2 : 1);
    let w: number = cp === MARK_OFF.charCodeAt(0) ? 0 : charWidth(cp);
    // Combining marks that follow sit in the same cell.
    while (j < text.length) {
      const next = text.codePointAt(j)!;
      if (next < 0x300 || !isCombiningMark(next)) break;
      j += next > 0xffff ? 2 : 1;
    }
    if (cp < 0x20 || cp === 0x7f) w = cp === 0x09 ? 1 : 0;
    yield { text: text.slice(i, j), width: w };
    i = j;
  }
}

/** Terminal columns of safe text (marks take none). */
export function displayWidth(text: string): number {
  let w = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x7f) {
      if (c >= 0x20) w++;
      continue;
    }
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff) {
      cp = text.codePointAt(i)!;
      i++;
    }
    w += charWidth(cp);
  }
  return w;
}

/** Cuts safe text to at most `width` columns, ending in `…` when cut; never splits an escape or a wide character. */
export function truncateWidth(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const u of units(text)) {
    if (used + u.width > width - 1) break;
    out += u.text;
    used += u.width;
  }
  return `${out}…`;
}

/** Pads or cuts safe text to exactly `width` columns. */
export function fitWidth(text: string, width: number): string {
  const cut = truncateWidth(text, width);
  return cut + ' '.repeat(Math.max(0, width - displayWidth(cut)));
}

/** Pads safe text on the left to `width` columns. */
export function padStartWidth(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - displayWidth(text))) + text;
}

/**
 * Hard-wraps safe text to `width` columns, keeping its own line breaks, tabs as two spaces.
 * An escape is moved to the next line whole unless it is wider than a line (then it is split).
 */
export function wrapWidth(text: string, width: number, maxLines = 1000): string[] {
  const out: string[] = [];
  const w = Math.max(8, width);
  for (const raw of text.split('\n')) {
    let cur = '';
    let used = 0;
    for (const u of splitWide(units(raw.replace(/\t/g, '  ')), w)) {
      if (used + u.width > w && used > 0) {
        out.push(cur);
        if (out.length >= maxLines) return out;
        cur = '';
        used = 0;
      }
      cur += u.text;
      used += u.width;
    }
    out.push(cur);
    if (out.length >= maxLines) return out;
  }
  return out;
}

/** Escapes wider than a whole line are split into marked pieces that fit. */
function* splitWide(all: Iterable<Unit>, w: number): Generator<Unit> {
  for (const u of all) {
    if (u.width <= w || !u.text.startsWith(MARK_ON)) {
      yield u;
      continue;
    }
    const body = u.text.slice(1, -1);
    for (let i = 0; i < body.length; i += w) {
      const piece = body.slice(i, i + w);
      yield { text: MARK_ON + piece + MARK_OFF, width: piece.length };
    }
  }
}
