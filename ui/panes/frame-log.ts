/** The frame / message log of the selected connection: only the visible rows are formatted. */
import { arrow, formatClock, formatCloseLine, formatFrameRow, formatMessageRow, oneLine, shown } from '../format.js';
import { closeCodeName, isControlOpcode } from '../../src/protocol/constants.js';
import type { MessageEvent, SessionEvent } from '../../src/session/events.js';
import { describeFilter, messagesOnly, type DashboardView } from '../view.js';
import { DEFAULT_FILTER, type RowFilter } from '../store.js';
import { line, type Line, type LineStyle } from './lines.js';
import { appSummaryOf } from '../app-view.js';

/** One log row for any event kind the logs hold (`message`: the message a payload-less frame carries). */
export function formatRow(e: SessionEvent, width: number, message?: MessageEvent, wireLength?: number, summary?: string): string {
  switch (e.type) {
    case 'frame':
      return formatFrameRow(e, width, message, summary);
    case 'message':
      return formatMessageRow(e, width, wireLength, summary);
    case 'close':
      return `${formatClock(e.t).padEnd(12)} ${arrow(e.from)} close  ${formatCloseLine(e.code, e.reason)}`;
    case 'violation':
      return `${formatClock(e.t).padEnd(12)} ${arrow(e.from)} VIOLATION ${shown(e.rule)} (${e.code} ${closeCodeName(e.code)}): ${oneLine(e.detail, Math.max(10, width))}`;
    case 'error':
      return `${formatClock(e.t).padEnd(12)} ! error ${shown(e.stage)}${e.code ? ` ${shown(e.code)}` : ''}: ${oneLine(e.detail, Math.max(10, width))}`;
    case 'intercept': {
      // frametap changed the traffic (issue 13): its own marker, ✎, and colour.
      const what = e.ref ? ` message ${e.ref.index}` : '';
      const sent = e.message ? ` → ${e.message.opcode === 1 && !e.message.invalidUtf8 ? JSON.stringify(e.message.data.subarray(0, 60).toString('utf8')) : `${e.message.length} bytes`}` : '';
      return `${formatClock(e.t).padEnd(12)} ${arrow(e.from)} ✎ ${e.action.toUpperCase()}${what} by ${e.by}${e.name ? ` ${shown(e.name)}` : ''}${e.detail ? `: ${oneLine(e.detail, Math.max(10, width))}` : ''}${oneLine(sent, Math.max(10, width))}`;
    }
    default:
      return `${formatClock(e.t).padEnd(12)} ${e.type}`;
  }
}

export function rowStyle(e: SessionEvent): LineStyle {
  if (e.type === 'violation' || e.type === 'error') return 'violation';
  if (e.type === 'intercept') return 'intercept';
  if (e.type === 'close') return 'control';
  if (e.type === 'frame') {
    if (e.incomplete) return 'violation';
    if (isControlOpcode(e.opcode)) return 'control';
  }
  return 'normal';
}

function isOpenFilter(f: RowFilter): boolean {
  return (Object.keys(DEFAULT_FILTER) as (keyof RowFilter)[]).every((k) => f[k] === DEFAULT_FILTER[k]) && (f.fields ?? []).length === 0;
}

export function logTitle(view: DashboardView): string {
  const c = view.connection();
  if (!c) return 'log';
  const mode = view.effectiveMode();
  const har = messagesOnly(c) ? ' - no frames in this capture (a HAR records messages only)' : '';
  // Whether new traffic moves the view: `follow`, or `paused` once the user navigated (F follows again).
  const state = view.paused ? ' FROZEN' : view.follow && view.connFollow ? ' follow' : ' paused (F follows)';
  const filter = isOpenFilter(view.filter) ? '' : ` filter: ${describeFilter(view.filter)}`;
  return `#${c.id} ${mode} ${view.total()}${state}${filter}${har}`;
}

export function logLines(view: DashboardView, width: number): Line[] {
  const out: Line[] = [];
  const c = view.connection();
  if (!c) return [line('waiting for traffic…', 'dim')];
  const rows = view.visibleRows();
  if (rows.length === 0) out.push(line(view.total() === 0 ? `no ${view.effectiveMode()} yet` : '', 'dim'));
  for (const { pos, row } of rows) {
    const selected = pos === view.selected && view.focus !== 'connections';
    if (row === null) {
      out.push(line(`${selected ? '>' : ' '}#${pos + 1} (evicted, not in the capture)`, selected ? 'selected' : 'dim'));
    } else if ('pending' in row) {
      out.push(line(`${selected ? '>' : ' '}#${pos + 1} reading back from the capture…`, selected ? 'selected' : 'dim'));
    } else {
      out.push(line((selected ? '>' : ' ') + formatRow(row.event, width - 1, row.message, row.wireLength, appSummaryOf(row)?.preview), selected ? 'selected' : rowStyle(row.event)));
    }
  }
  return out;
}
