/** The connections pane: one line per connection, state, counters, RTT and the close with its name. */
import { arrow, formatCloseLine, formatDuration, formatSize } from '../format.js';
import { hostOf, showsHosts, type ConnectionView } from '../store.js';
import type { TunnelEvent } from '../../src/session/events.js';
import { messagesOnly, type DashboardView } from '../view.js';
import { fit, line, type Line } from './lines.js';
import { pairColumn } from '../app-view.js';

export const CONNECTION_HEADER = `${'#'.padEnd(5)} ${'state'.padEnd(10)} ${'client'.padEnd(21)} ${'path'.padEnd(20)} ${'age'.padStart(7)}  ${'msgs →/←'.padEnd(13)} ${'bytes →/←'.padEnd(17)} ${'viol'.padStart(4)} ${'rtt'.padStart(7)}  close`;

/** One connection as a line of the list. */
export function formatConnectionRow(c: ConnectionView, now: number, withHost = false): string {
  const age = formatDuration((c.endedAt ?? now) - c.openedAt);
  const msgs = `${c.messages.client}/${c.messages.server}`;
  const bytes = `${formatSize(c.bytes.client)}/${formatSize(c.bytes.server)}`;
  const rtt = c.rttMs === null ? '-' : `${c.rttMs < 10 ? c.rttMs.toFixed(1) : Math.round(c.rttMs)}ms`;
  // A HAR records no close or end: its connections are shown as recorded, not as still open.
  const state = messagesOnly(c) && !c.end ? 'recorded' : c.state;
  return `${fit(`#${c.id}`, 5)} ${fit(state, 10)} ${fit(c.client, 21)} ${fit(withHost ? `${hostOf(c.target)}${c.path || '/'}` : c.path || '/', 20)} ${age.padStart(7)}  ${fit(msgs, 13)} ${fit(bytes, 17)} ${String(c.violations).padStart(4)} ${rtt.padStart(7)}  ${closeSummary(c)}${pairs(c)}`;
}

/** Request/reply figures after the close column (docs/app-protocols.md). */
function pairs(c: ConnectionView): string {
  const text = pairColumn(c.appStats?.() ?? null);
  return text ? `  pairs ${text}` : '';
}

/** Forward mode: a raw tunnel (not intercepted), with its host and byte counts. */
export function formatTunnelRow(t: TunnelEvent): string {
  const bytes = `${formatSize(t.bytes.client)}/${formatSize(t.bytes.server)}`;
  return `${fit(`#${t.conn}`, 5)} ${fit('tunnel', 10)} ${fit(t.client, 21)} ${t.target.padEnd(20)} ${formatDuration(t.durationMs).padStart(7)}  ${fit('-', 13)} ${fit(bytes, 17)} ${'-'.padStart(4)} ${'-'.padStart(7)}  raw (${t.why})`;
}

/** `1000 Normal Closure (client, clean)`, `1006 Abnormal Closure`, `refused 403`. */
export function closeSummary(c: ConnectionView): string {
  const hs = c.handshake;
  if (hs && !hs.upgraded) return hs.response ? `refused ${hs.response.status} ${hs.response.reason}` : 'no answer from upstream';
  if (c.end) {
    const who = c.end.initiator ? `${arrow(c.end.initiator)} ${c.end.initiator}` : c.end.shutdown ? 'proxy shutdown' : 'no close';
    return `${formatCloseLine(c.end.code)} (${who}, ${c.end.clean ? 'clean' : 'unclean'})`;
  }
  const first = c.closes[0];
  if (first) return `${formatCloseLine(first.code)} (${first.from} sent close)`;
  return '';
}

export function connectionLines(view: DashboardView, rows: number, width: number, now: number): Line[] {
  const ids = view.connectionIds();
  const out: Line[] = [line(fit(` ${CONNECTION_HEADER}`, width), 'heading')];
  const tunnels = view.store.tunnels;
  if (ids.length === 0 && tunnels.length > 0) {
    for (const t of tunnels.slice(-(rows - 1))) out.push(line(fit(` ${formatTunnelRow(t)}`, width), 'dim'));
    return out;
  }
  if (ids.length === 0) {
    out.push(line('no connections yet: point a WebSocket client at the listen address', 'dim'));
    return out;
  }
  const withHost = showsHosts(view.store);
  for (let i = view.connTop; i < Math.min(ids.length, view.connTop + rows - 1); i++) {
    const c = view.store.connections.get(ids[i]!)!;
    const mark = c.id === view.selectedConn ? '>' : ' ';
    const text = fit(mark + formatConnectionRow(c, now, withHost), width);
    const style = c.id === view.selectedConn ? 'selected' : c.violations > 0 ? 'violation' : c.state === 'closed' ? 'dim' : 'normal';
    out.push(line(text, style));
  }
  // Raw tunnels (not selectable) fill the rows the connections leave free, newest last.
  const free = rows - out.length;
  if (free > 0) for (const t of tunnels.slice(-free)) out.push(line(fit(` ${formatTunnelRow(t)}`, width), 'dim'));
  return out;
}
