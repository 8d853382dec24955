/**
 * A pane's content as plain lines with a whole-line style: pure, so the panes' text is tested without a
 * screen; the blessed side (pane.ts) only adds colour and escapes tags.
 */
import { fitWidth, wrapWidth } from '../../src/render/safe-text.js';

export type LineStyle = 'normal' | 'selected' | 'violation' | 'control' | 'dim' | 'heading' | 'notice';

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

/** Pads or cuts shown text to exactly `width` terminal columns. */
export function fit(text: string, width: number): string {
  return fitWidth(text, width);
}
