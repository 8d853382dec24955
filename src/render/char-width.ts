/**
 * Terminal column widths of code points, from a current East Asian Width table (UAX #11, via
 * get-east-asian-width) and the general categories Node's regular expressions know. Only single
 * code points are measured: sequences whose width terminals disagree on (ZWJ, emoji modifiers,
 * variation selectors, flags) never reach a terminal as such (safe-text.ts escapes their joiners).
 */
import { eastAsianWidth } from 'get-east-asian-width';

const ZERO_WIDTH = /^[\p{Mn}\p{Me}]$/u;

/** Columns a code point takes: 0 for combining marks, 2 for East Asian Wide and Fullwidth, else 1. */
export function charWidth(cp: number): 0 | 1 | 2 {
  if (cp < 0x300) return 1;
  if (isCombiningMark(cp)) return 0;
  // UAX #11 §5: "ambiguous characters … should be treated as narrow characters by default".
  return eastAsianWidth(cp, { ambiguousAsWide: false }) === 2 ? 2 : 1;
}

/** A nonspacing or enclosing mark: drawn in the cell of the character before it. */
export function isCombiningMark(cp: number): boolean {
  return cp >= 0x300 && ZERO_WIDTH.test(String.fromCodePoint(cp));
}
