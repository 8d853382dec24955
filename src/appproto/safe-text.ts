/**
 * Summaries carry peer-controlled text (event names, topics, destinations). Before a terminal
 * sees them they go through the one renderer of untrusted text (src/render/safe-text.ts): every
 * control (C0, DEL, C1, which include ESC and CSI), bidi override and isolate and other invisible
 * character becomes a `\uXXXX` escape, and the line is cut, so a payload can neither move the
 * cursor, reorder the line nor break it.
 */
import { safeText } from '../render/safe-text.js';

export function safeLine(text: string, max = 160): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return safeText(cut);
}
