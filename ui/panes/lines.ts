/**
 * A pane's content as plain lines with a whole-line style: pure, so the panes' text is tested without a
 * screen; the blessed side (pane.ts) only adds colour and escapes tags.
 */
import { displayWidth, fitWidth, wrapWidth } from '../../src/render/safe-text.js';

export type LineStyle = 'normal' | 'selected' | 'violation' | 'control' | 'dim' | 'heading' | 'notice' | 'intercept';

export interface Line {
  readonly text: string;
  readonly style: LineStyle;
}

export function line(text: string, style: LineStyle = 'normal'): Line {
  return { text, style };
}

/** Hard-wraps shown text (format.ts `shown`) to `width` terminal columns, keeping its own line breaks. */
export function wrap(text: string, width: number, maxLines = 1000): string[] {
  return wrapWidth(text, width, maxLines);
}

/** Lines wider than `width` wrapped onto the next lines, each keeping its style (nothing is cut). */
export function wrapLines(lines: readonly Line[], width: number): Line[] {
  const out: Line[] = [];
  for (const l of lines) {
    if (displayWidth(l.text) <= width) out.push(l);
    else for (const t of wrapWidth(l.text, width)) out.push(line(t, l.style));
  }
  return out;
}

/** Pads or cuts shown text to exactly `width` terminal columns. */
export function fit(text: string, width: number): string {
  return fitWidth(text, width);
}
