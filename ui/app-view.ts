/**
 * The dashboard's app-protocol view (docs/app-protocols.md): what a message row decoded to (the
 * summary for the preview column, the fields search matches, the tree for the detail pane, a
 * reply's latency) and each connection's pairing figures. The store feeds every event, in order,
 * to one AppViews (decoding needs per-direction state); this module only shapes what it returns.
 */
import type { MessageAppView } from '../src/appproto/connection-app.js';
import type { MessageEvent, SessionEvent } from '../src/session/events.js';
import { formatPairStats, ms, type PairStats } from '../src/appproto/pairing.js';
import { safeLine } from '../src/appproto/safe-text.js';
import type { DecodeResult, TreeNode } from '../src/appproto/types.js';
import { line, type Line } from './panes/lines.js';

/** What a message row keeps of its decoding. */
export interface RowApp {
  readonly summary: string;
  /**
   * The preview column's text: the summary, with a reply's latency; undefined for plain JSON,
   * whose own text says more than `json {a, b}`.
   */
  readonly preview: string | undefined;
  /** Decoded fields as `name:value` lines, for search (`event:chat`, `topic:sensors/1`). */
  readonly fieldText: string;
  /** Dropped when the row's payload is kept as a preview only (memory bound). */
  readonly results: readonly DecodeResult[] | null;
  readonly latencyMs: number | null;
  /** A reply's request (its summary). */
  readonly request: string | null;
}

export function rowApp(view: MessageAppView, keepTrees: boolean): RowApp | undefined {
  if (view.summary === null) return undefined;
  const reply = view.pairs.find((p) => p.kind === 'reply');
  const fields = view.results.flatMap((r) => (r.ok ? Object.entries(r.fields).map(([k, v]) => `${k}:${v}`) : []));
  const summary = safeLine(view.summary, 400);
  const plainJson = view.results.every((r) => r.ok && r.view === 'json');
  return {
    summary,
    preview: plainJson ? undefined : summary,
    fieldText: fields.join('\n'),
    results: keepTrees ? view.results : null,
    latencyMs: reply?.kind === 'reply' ? reply.latencyMs : null,
    request: reply?.kind === 'reply' ? reply.request : null,
  };
}

/** A row whose decoding may have been left for when it is needed (ui/store/row-log.ts Row). */
export interface LazyAppRow {
  app?: RowApp;
  appLater?: (bytes: Uint8Array) => MessageAppView;
  readonly event: SessionEvent;
  readonly message?: MessageEvent;
}

/**
 * A row's decoding: kept, or done now (once) when it was left for when the row is needed, from the
 * row's own payload (a message's data; a whole-message frame's, which its message carries).
 */
export function appOf(row: LazyAppRow): RowApp | undefined {
  if (row.appLater !== undefined) {
    const later = row.appLater;
    row.appLater = undefined;
    const bytes = row.event.type === 'message' ? row.event.data : row.message?.data;
    row.app = bytes === undefined ? undefined : rowApp(later(bytes), true);
  }
  return row.app;
}

/** What `/` searches in a decoded row: its fields, its summary, then its payload text. */
export function appSearchText(app: RowApp | undefined, payload: string | null): string | null {
  if (app === undefined) return payload;
  return `${app.fieldText}\n${app.summary}\n${payload ?? ''}`;
}

/** The connection list's pairing column: `5/5 p50 4.41 ms p99 12.5 ms`, `1 unanswered`. */
export function pairColumn(stats: PairStats | null): string {
  if (stats === null || (stats.requests === 0 && stats.unmatched === 0)) return '';
  return formatPairStats(stats).replace(' req / ', '/').replace(' rep', '');
}

/** Tree nodes shown in the detail pane before `…`. */
const MAX_TREE_LINES = 400;

/** The detail pane's decoded section: one heading per result, then the tree indented. */
export function appTreeLines(app: RowApp | undefined, depth = Infinity): Line[] {
  if (app === undefined) return [];
  const out: Line[] = [line(`decoded: ${app.summary}`, 'heading')];
  if (app.latencyMs !== null) out.push(line(`reply to "${safeLine(app.request ?? '')}" after ${ms(app.latencyMs)}`));
  if (app.results === null) {
    out.push(line('(tree not kept for this row: its payload was cut to a preview)', 'dim'));
    return out;
  }
  for (const r of app.results) {
    if (!r.ok) {
      out.push(line(safeLine(r.summary), 'violation'));
      continue;
    }
    walk(r.tree, 0, depth, out);
    if (out.length >= MAX_TREE_LINES) {
      out.push(line('…', 'dim'));
      break;
    }
  }
  return out;
}

function walk(node: TreeNode, depth: number, maxDepth: number, out: Line[]): void {
  if (out.length >= MAX_TREE_LINES) return;
  const value = node.value !== undefined ? `: ${node.value}` : '';
  const kids = node.children ?? [];
  // A folded node says how much it hides: `+ (3 more)`.
  const folded = kids.length > 0 && depth + 1 >= maxDepth ? ` + (${kids.length} more)` : '';
  out.push(line(safeLine(`${'  '.repeat(depth)}${node.label}${value}${folded}`, 300)));
  if (folded) return;
  for (const child of kids) walk(child, depth + 1, maxDepth, out);
}

/** `o`: all levels → 1 → 2 → 3 → all. */
export function nextTreeDepth(depth: number): number {
  return depth === Infinity ? 1 : depth >= 3 ? Infinity : depth + 1;
}
