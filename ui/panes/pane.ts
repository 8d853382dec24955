/**
 * A thin blessed box that shows a list of styled lines: only the lines given (the visible ones) are
 * turned into tagged content.
 */
import blessed from 'blessed';
import { MARK_OFF, MARK_ON, displayWidth, safeText, truncateWidth } from '../../src/render/safe-text.js';
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

/**
 * The last line of defence: text between escape marks is ours; anything else that safe-text.ts would
 * escape (a field a formatter forgot to pass through `shown`) is escaped here, so no control byte
 * from the wire can reach blessed, which passes SGR sequences and C1 controls through to the terminal.
 */
export function guard(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const on = text.indexOf(MARK_ON, i);
    const plainEnd = on < 0 ? text.length : on;
    out += safeText(text.slice(i, plainEnd), { mark: true });
    if (on < 0) break;
    const off = text.indexOf(MARK_OFF, on);
    const end = off < 0 ? text.length : off;
    out += MARK_ON + safeText(text.slice(on + 1, end)) + MARK_OFF;
    i = end + 1;
  }
  return out;
}

/**
 * blessed tags for guarded text: `{`/`}` escaped so tag parsing never sees wire text, escapes
 * underlined (visible on every theme and in every colour depth, unlike grey, which an 8-colour
 * terminal such as tmux's default `screen` draws black).
 */
function toTags(text: string): string {
  return blessed.escape(text).split(MARK_ON).join('{underline}').split(MARK_OFF).join('{/underline}');
}

/** Grey for dim lines where the terminal has it (16 colours or more); else the plain foreground. */
function dimTags(screen: blessed.Widgets.Screen): readonly [string, string] {
  const colors = (screen as unknown as { tput?: { colors?: number } }).tput?.colors ?? 8;
  return colors >= 16 ? ['{gray-fg}', '{/gray-fg}'] : ['', ''];
}

export class Pane {
  readonly box: blessed.Widgets.BoxElement;
  readonly #dim: readonly [string, string];
  #last = '';

  constructor(options: PaneOptions) {
    this.#dim = dimTags(options.parent);
    this.box = blessed.box({
      parent: options.parent,
      label: options.label ? ` ${options.label} ` : undefined,
      top: options.top,
      left: options.left,
      width: options.width,
      height: options.height,
      tags: true,
      border: options.border === false ? undefined : { type: 'line' },
      style: { border: { fg: 'default' } },
      wrap: false,
    });
  }

  /** Rows and columns inside the border. */
  get inner(): { rows: number; cols: number } {
    const b = this.box.border ? 2 : 0;
    return { rows: Math.max(1, Number(this.box.height) - b), cols: Math.max(10, Number(this.box.width) - b) };
  }

  setLabel(label: string, active: boolean): void {
    // A label wider than the box would wrap into the pane's first row: cut it to fit the top border.
    const room = Math.max(8, Number(this.box.width) - 8);
    const fitted = truncateWidth(label, room);
    this.box.setLabel(active ? `[ ${fitted} ]` : ` ${fitted} `);
    // Unfocused: the terminal's own foreground, visible on dark and light themes alike.
    this.box.style.border = active ? { fg: 'cyan', bold: true } : { fg: 'default' };
  }

  show(lines: readonly Line[]): void {
    const cols = this.inner.cols;
    let content = '';
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      const safe = guard(l.text);
      const padded = l.style === 'selected' ? safe + ' '.repeat(Math.max(0, cols - displayWidth(safe))) : safe;
      const [open, close] = l.style === 'dim' ? this.#dim : [OPEN[l.style], CLOSE[l.style]];
      content += (i ? '\n' : '') + open + toTags(padded) + close;
    }
    if (content !== this.#last) {
      this.#last = content;
      this.box.setContent(content);
    }
  }
}
