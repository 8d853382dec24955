/**
 * A thin blessed box that shows a list of styled lines: only the lines given (the visible ones) are
 * turned into tagged content.
 */
import blessed from 'blessed';
import type { Line, LineStyle } from './lines.js';

const OPEN: Readonly<Record<LineStyle, string>> = {
  normal: '',
  selected: '{inverse}',
  violation: '{red-fg}{bold}',
  control: '{yellow-fg}',
  dim: '{gray-fg}',
  heading: '{bold}',
  notice: '{cyan-fg}',
  intercept: '{magenta-fg}{bold}',
};
const CLOSE: Readonly<Record<LineStyle, string>> = {
  normal: '',
  selected: '{/inverse}',
  violation: '{/bold}{/red-fg}',
  control: '{/yellow-fg}',
  dim: '{/gray-fg}',
  heading: '{/bold}',
  notice: '{/cyan-fg}',
  intercept: '{/bold}{/magenta-fg}',
};

export interface PaneOptions {
  readonly parent: blessed.Widgets.Screen;
  readonly label: string;
  readonly top: number | string;
  readonly left: number | string;
  readonly width: number | string;
  readonly height: number | string;
  readonly border?: boolean;
}

export class Pane {
  readonly box: blessed.Widgets.BoxElement;
  #last = '';

  constructor(options: PaneOptions) {
    this.box = blessed.box({
      parent: options.parent,
      label: options.label ? ` ${options.label} ` : undefined,
      top: options.top,
      left: options.left,
      width: options.width,
      height: options.height,
      tags: true,
      border: options.border === false ? undefined : { type: 'line' },
      style: { border: { fg: 'gray' }, focus: { border: { fg: 'white' } } },
      wrap: false,
    });
  }

  /** Rows and columns inside the border. */
  get inner(): { rows: number; cols: number } {
    const b = this.box.border ? 2 : 0;
    return { rows: Math.max(1, Number(this.box.height) - b), cols: Math.max(10, Number(this.box.width) - b) };
  }

  setLabel(label: string, active: boolean): void {
    this.box.setLabel(active ? `[ ${label} ]` : ` ${label} `);
    this.box.style.border = { fg: active ? 'white' : 'gray' };
  }

  show(lines: readonly Line[]): void {
    const cols = this.inner.cols;
    let content = '';
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      const text = blessed.escape(l.style === 'selected' ? l.text.padEnd(cols) : l.text);
      content += (i ? '\n' : '') + OPEN[l.style] + text + CLOSE[l.style];
    }
    if (content !== this.#last) {
      this.#last = content;
      this.box.setContent(content);
    }
  }
}
