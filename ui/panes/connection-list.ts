/** The connections pane: one line per connection, state, counters, RTT and the close with its name. */
import { formatCloseLine, formatDuration, formatSize, oneLine, shown } from '../format.js';
import { hostOf, showsHosts, type ConnectionView } from '../store.js';
import type { HttpEvent, TunnelEvent } from '../../src/session/events.js';
import { messagesOnly, type DashboardView } from '../view.js';
import { padStartWidth } from '../../src/render/safe-text.js';
import { fit, line, type Line } from './lines.js';
import { pairColumn } from '../app-view.js';

interface Column {
  readonly title: string;
  /** Columns it needs; a `grow` column gets extra width, up to `grow` columns (Infinity: the rest). */
  readonly width: number;
  readonly grow?: number;
  readonly align: 'left' | 'right';
  /** Lower is kept first when the pane is narrow. */
  readonly priority: number;
  readonly value: (c: ConnectionView, now: number, withHost: boolean) => string;
  /** Shown only when some connection has a value (the app view's request/reply figures). */
  readonly optional?: boolean;
}

/** In display order. At 80 columns the least important (client, age, rtt) go first. */
const COLUMNS: readonly Column[] = [
  { title: '#', width: 5, align: 'left', priority: 0, value: (c) => `#${c.id}` },
  // A HAR records no close or end: its connections are shown as recorded, not as still open.
  { title: 'state', width: 9, align: 'left', priority: 1, value: (c) => (messagesOnly(c) && !c.end ? 'recorded' : c.state) },
  { title: 'client', width: 21, align: 'left', priority: 8, value: (c) => shown(c.client) },
  { title: 'path', width: 8, grow: Infinity, align: 'left', priority: 2, value: (c, _now, withHost) => shown(withHost ? `${hostOf(c.target)}${c.path || '/'}` : c.path || '/') },
  { title: 'age', width: 7, align: 'right', priority: 7, value: (c, now) => formatDuration((c.endedAt ?? now) - c.openedAt) },
  { title: 'msgs →/←', width: 9, align: 'left', priority: 3, value: (c) => `${c.messages.client}/${c.messages.server}` },
  { title: 'bytes →/←', width: 15, align: 'left', priority: 5, value: (c) => `${formatSize(c.bytes.client)}/${formatSize(c.bytes.server)}` },
  { title: 'viol', width: 4, align: 'right', priority: 4, value: (c) => String(c.violations) },
  { title: 'rtt', width: 7, align: 'right', priority: 6, value: (c) => (c.rttMs === null ? '-' : `${c.rttMs < 10 ? c.rttMs.toFixed(1) : Math.round(c.rttMs)}ms`) },
  { title: 'close', width: 20, grow: 30, align: 'left', priority: 2, value: (c) => closeSummary(c) },
  // Request/reply figures (docs/app-protocols.md): `5/5, p50 12.0 ms, p99 30.0 ms`.
  { title: 'pairs', width: 34, align: 'left', priority: 2, optional: true, value: (c) => shown(pairColumn(c.appStats?.() ?? null)) },
];

/** The columns that fit in `width` (by priority) and their widths, spare width shared by the growing ones. */
export function connectionColumns(width: number, withOptional = false): { readonly column: Column; readonly width: number }[] {
  const byPriority = COLUMNS.filter((c) => withOptional || !c.optional).sort((x, y) => x.priority - y.priority);
  const chosen = new Set<Column>();
  let used = -1;
  for (const col of byPriority) {
    if (used + 1 + col.width > width) continue;
    chosen.add(col);
    used += 1 + col.width;
  }
  const shown = COLUMNS.filter((c) => chosen.has(c));
  // Capped columns (close) take up to a third of the spare width each; the path takes the rest.
  let spare = Math.max(0, width - used);
  const extra = new Map<Column, number>();
  for (const c of shown) {
    if (!c.grow || !Number.isFinite(c.grow)) continue;
    const e = Math.min(c.grow, Math.floor(spare / 3));
    extra.set(c, e);
    spare -= e;
  }
  const rest = shown.filter((c) => c.grow === Infinity);
  for (const [i, c] of rest.entries()) extra.set(c, i === rest.length - 1 ? spare : Math.floor(spare / rest.length));
  return shown.map((column) => ({ column, width: column.width + (extra.get(column) ?? 0) }));
}

function cells(values: readonly string[], layout: ReturnType<typeof connectionColumns>): string {
  return layout
    .map(({ column, width }, i) => {
      const v = fit(values[i]!, width);
      return column.align === 'right' ? padStartWidth(v.trimEnd(), width) : v;
    })
    .join(' ');
}

/** The header line of the list for a pane `width` columns wide (after the one-column selection mark). */
export function connectionHeader(width: number, withOptional = false): string {
  const layout = connectionColumns(width, withOptional);
  return cells(layout.map(({ column }) => column.title), layout);
}

/** One connection as a line of the list, `width` columns wide. */
export function formatConnectionRow(c: ConnectionView, now: number, width = 160, withOptional = false, withHost = false): string {
  const layout = connectionColumns(width, withOptional);
  return cells(layout.map(({ column }) => column.value(c, now, withHost)), layout);
}

/** Forward mode: a raw tunnel (not intercepted), with its host and byte counts, in the same columns. */
export function formatTunnelRow(t: TunnelEvent, width = 160, withOptional = false): string {
  const layout = connectionColumns(width, withOptional);
  const value = (title: string): string => {
    switch (title) {
      case '#':
        return `#${t.conn}`;
      case 'state':
        return 'tunnel';
      case 'client':
        return shown(t.client);
      case 'path':
        return shown(t.target);
      case 'age':
        return formatDuration(t.durationMs);
      case 'bytes →/←':
        return `${formatSize(t.bytes.client)}/${formatSize(t.bytes.server)}`;
      case 'close':
        return `raw (${shown(t.why)})`;
      default:
        return '-';
    }
  };
  return cells(layout.map(({ column }) => value(column.title)), layout);
}

/** A plain HTTP request (`http` event, listed with r): method and target, duration, status. */
export function formatHttpRow(e: HttpEvent, width = 160, withOptional = false): string {
  const layout = connectionColumns(width, withOptional);
  const value = (title: string): string => {
    switch (title) {
      case '#':
        return e.conn === undefined ? '-' : `#${e.conn}`;
      case 'state':
        return 'http';
      case 'path':
        return shown(`${e.method} ${e.target}`);
      case 'age':
        return formatDuration(e.durationMs);
      case 'close':
        return e.status === null ? 'no answer from upstream' : String(e.status);
      default:
        return '-';
    }
  };
  return cells(layout.map(({ column }) => value(column.title)), layout);
}

/** `1000 Normal Closure (closed by client, clean)`, `1006 Abnormal Closure`, `refused 403`. */
export function closeSummary(c: ConnectionView): string {
  const hs = c.handshake;
  if (hs && !hs.upgraded) return hs.response ? `refused ${hs.response.status} ${oneLine(hs.response.reason, 40)}` : 'no answer from upstream';
  if (c.end) {
    // The same words as the log's `end` line.
    const who = c.end.initiator ? `closed by ${c.end.initiator}` : c.end.shutdown ? 'proxy shutdown' : 'no close frame';
    return `${formatCloseLine(c.end.code)} (${who}, ${c.end.clean ? 'clean' : 'unclean'})`;
  }
  const first = c.closes[0];
  if (first) return `${formatCloseLine(first.code)} (${first.from} sent close)`;
  return '';
}

export function connectionLines(view: DashboardView, rows: number, width: number, now: number): Line[] {
  const ids = view.connectionIds();
  const visible = ids.slice(view.connTop, view.connTop + rows - 1).map((id) => view.store.connections.get(id)!);
  const withPairs = visible.some((c) => pairColumn(c.appStats?.() ?? null) !== '');
  const out: Line[] = [line(fit(` ${connectionHeader(width - 1, withPairs)}`, width), 'heading')];
  // Raw tunnels and, when listed (r), plain HTTP requests: not selectable, newest last.
  const extras = [...view.store.tunnels, ...(view.showHttp ? view.store.httpRecent : [])].sort((a, b) => a.t - b.t);
  const extraLine = (e: TunnelEvent | HttpEvent): Line =>
    line(fit(` ${e.type === 'tunnel' ? formatTunnelRow(e, width - 1, withPairs) : formatHttpRow(e, width - 1, withPairs)}`, width), 'dim');
  if (ids.length === 0 && extras.length > 0) {
    for (const e of extras.slice(-(rows - 1))) out.push(extraLine(e));
    return out;
  }
  if (ids.length === 0) {
    const hidden = view.store.httpRequests;
    out.push(line(hidden > 0 && !view.showHttp ? `no WebSocket connections yet; ${hidden} plain HTTP request${hidden === 1 ? '' : 's'} hidden (r lists them)` : 'no connections yet: point a WebSocket client at the listen address', 'dim'));
    return out;
  }
  const withHost = showsHosts(view.store);
  for (let i = view.connTop; i < Math.min(ids.length, view.connTop + rows - 1); i++) {
    const c = view.store.connections.get(ids[i]!)!;
    const mark = c.id === view.selectedConn ? '>' : ' ';
    const text = fit(mark + formatConnectionRow(c, now, width - 1, withPairs, withHost), width);
    const style = c.id === view.selectedConn ? 'selected' : c.violations > 0 ? 'violation' : c.state === 'closed' ? 'dim' : 'normal';
    out.push(line(text, style));
  }
  // The extras fill the rows the connections leave free.
  const free = rows - out.length;
  if (free > 0) for (const e of extras.slice(-free)) out.push(extraLine(e));
  return out;
}
