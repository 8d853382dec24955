/** Status bar: listen → upstream, connections, msg/s, bytes/s, capture file, notices and key hints. */
import { formatRate, formatSize, shown } from '../format.js';
import { KEY_HINTS } from '../keymap.js';
import { messagesOnly, type DashboardView } from '../view.js';
import { fit } from './lines.js';

export interface StatusInfo {
  readonly source: 'live' | 'view' | 'replay';
  readonly listen: string | null;
  readonly upstream: string | null;
  readonly captureFile: string | null;
}

export function statusLines(view: DashboardView, info: StatusInfo, width: number): [string, string] {
  const s = view.store;
  let open = 0;
  for (const c of s.connections.values()) if (c.state !== 'closed' && !(messagesOnly(c) && !c.end)) open++;
  const where =
    info.source === 'view'
      ? `view ${shown(info.captureFile ?? '')}`
      : info.source === 'replay'
        ? `replay → ${shown(info.upstream ?? '(no server)')}`
        : `${shown(info.listen ?? '(not listening)')} → ${shown(info.upstream ?? '(no upstream)')}`;
  const r = s.rates();
  const first = [
    `frametap ${where}`,
    `conns ${open} open / ${s.order.length}`,
    `msgs ${s.totalMessages} ${formatRate(r.messages)}`,
    `${formatSize(s.totalBytes)} ${formatSize(Math.round(r.bytes))}/s`,
    info.source !== 'view' && info.captureFile ? `capture ${shown(info.captureFile)}` : '',
    s.httpRequests > 0 ? `http ${s.httpRequests}` : '',
    view.paused ? 'FROZEN' : '',
    lastError(view),
  ]
    .filter(Boolean)
    .join(' | ');
  const second = view.notice ? `${shown(view.notice)}   ${KEY_HINTS}` : KEY_HINTS;
  return [fit(first, width), fit(second, width)];
}

/** Errors tied to no connection (listen, capture backpressure) have no row: the status bar shows the last. */
function lastError(view: DashboardView): string {
  const e = view.store.errors[view.store.errors.length - 1];
  return e ? `! ${shown(e.stage)}${e.code ? ` ${shown(e.code)}` : ''}: ${shown(e.detail)}` : '';
}
