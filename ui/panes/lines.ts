/**
 * A pane's content as plain lines with a whole-line style: pure, so the panes' text is tested without a
 * screen; the blessed side (pane.ts) only adds colour and escapes tags.
 */
export type LineStyle = 'normal' | 'selected' | 'violation' | 'control' | 'dim' | 'heading' | 'notice' | 'intercept';

export interface Line {
  readonly text: string;
  readonly style: LineStyle;
}

export function line(text: string, style: LineStyle = 'normal'): Line {
  return { text, style };
}

/** Hard-wraps text to `width` columns, keeping its own line breaks. */
export function wrap(text: string, width: number, maxLines = 1000): string[] {
  const out: string[] = [];
  const w = Math.max(8, width);
  for (const raw of text.split('\n')) {
    let rest = raw.replace(/\t/g, '  ');
    do {
      out.push(rest.slice(0, w));
      rest = rest.slice(w);
      if (out.length >= maxLines) return out;
    } while (rest.length > 0);
  }
  return out;
}

/** Pads or cuts to exactly `width` columns. */
export function fit(text: string, width: number): string {
  if (text.length > width) return width > 1 ? `${text.slice(0, width - 1)}…` : text.slice(0, width);
  return text.padEnd(width);
}
