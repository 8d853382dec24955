/**
 * What the user is looking at: focus, selection, scroll positions, mode, filter, follow and pause.
 * Pure like the store (no blessed); every key of the keymap is a method here or in the dashboard.
 *
 * Positions in a log are filtered positions; the rows they name never move (logs only append, and
 * evicted rows keep their index), so the view never jumps while the user reads.
 */
import {
  DEFAULT_FILTER,
  type ConnectionView,
  type DashboardStore,
  type LogMode,
  type Row,
  type RowFilter,
  type RowLog,
} from './store.js';
import { findRow, type LineSource } from './search.js';
import { nextTreeDepth } from './app-view.js';
import { parseFieldTerms } from './field-filter.js';

export type Pane = 'connections' | 'log' | 'detail';
export type PayloadView = 'text' | 'json' | 'hex';
/** `held`: the list of held messages (ui/intercept-keys.ts draws it). */
export type Overlay = 'help' | 'filter' | 'held' | null;

export class DashboardView {
  focus: Pane = 'log';
  mode: LogMode = 'frames';
  filter: RowFilter = DEFAULT_FILTER;
  payloadView: PayloadView = 'text';
  overlay: Overlay = null;
  /** The detail pane shows the handshake instead of the selected row. */
  showHandshake = false;
  /** Plain HTTP requests (`http` events) listed in the connections pane; hidden by default (issue 12). */
  showHttp = false;
  /** Follow mode: the selection sticks to the newest row. */
  follow = true;
  /**
   * Until the user navigates anywhere (connections, log or detail), the newest connection with
   * traffic is shown; after that the view stays on the connection the user is reading, until F.
   */
  connFollow = true;
  /** First line of the `?` help shown (it scrolls). */
  helpTop = 0;
  paused = false;
  selectedConn: number | null = null;
  connTop = 0;
  selected = 0;
  top = 0;
  detailTop = 0;
  logHeight = 10;
  connHeight = 10;
  search: RegExp | null = null;
  /** One-line feedback shown in the status bar (search result, filter state). */
  notice = '';
  readonly #frozen = new Map<string, number>();
  #frozenConns = 0;

  constructor(readonly store: DashboardStore) {}

  /** Connection ids the list shows (frozen while paused). */
  connectionIds(): readonly number[] {
    const ids = this.store.order;
    return this.paused ? ids.slice(0, this.#frozenConns) : ids;
  }

  connection(): ConnectionView | null {
    this.#syncConn();
    return this.selectedConn === null ? null : (this.store.connections.get(this.selectedConn) ?? null);
  }

  /** A connection recorded without frames (HAR) can only show messages. */
  effectiveMode(): LogMode {
    const c = this.connection();
    return c && messagesOnly(c) ? 'messages' : this.mode;
  }

  log(): RowLog | null {
    const c = this.connection();
    return c ? c.logs[this.effectiveMode()] : null;
  }

  /** Rows the log shows for the selected connection (filtered; frozen while paused). */
  total(): number {
    const c = this.connection();
    if (!c) return 0;
    const log = c.logs[this.effectiveMode()];
    let limit = log.count;
    if (this.paused) {
      const key = `${c.id}:${this.effectiveMode()}`;
      const frozen = this.#frozen.get(key);
      if (frozen === undefined) this.#frozen.set(key, limit);
      else limit = frozen;
    }
    return log.filteredCount(this.filter, limit);
  }

  /** Called before each render: follow the newest row and keep the selection on screen. */
  settle(): void {
    const total = this.total();
    if (this.follow && !this.paused) this.selected = Math.max(0, total - 1);
    this.selected = clamp(this.selected, 0, Math.max(0, total - 1));
    if (this.selected < this.top) this.top = this.selected;
    if (this.selected >= this.top + this.logHeight) this.top = this.selected - this.logHeight + 1;
    if (this.follow && !this.paused) this.top = Math.max(0, total - this.logHeight);
    this.top = clamp(this.top, 0, Math.max(0, total - 1));
    // Rows evicted before a field filter was set are decided by reading them back.
    const log = this.log();
    const conn = this.selectedConn;
    const filter = this.filter;
    if (log && conn !== null && log.fieldPending(filter) !== null) void this.store.resolveFields(conn, log, filter, () => this.filter === filter && this.log() === log);
    const ids = this.connectionIds();
    const ci = this.selectedConn === null ? 0 : Math.max(0, ids.indexOf(this.selectedConn));
    if (ci < this.connTop) this.connTop = ci;
    if (ci >= this.connTop + this.connHeight) this.connTop = ci - this.connHeight + 1;
  }

  /** The visible rows of the log: [filtered position, row or pending/null]. */
  visibleRows(): { pos: number; row: ReturnType<DashboardStore['row']> }[] {
    const log = this.log();
    if (!log) return [];
    const total = this.total();
    const out: { pos: number; row: ReturnType<DashboardStore['row']> }[] = [];
    for (let pos = this.top; pos < Math.min(total, this.top + this.logHeight); pos++) {
      out.push({ pos, row: this.store.row(log, log.rawIndex(this.filter, pos)) });
    }
    return out;
  }

  selectedRow(): Row | null {
    const log = this.log();
    if (!log || this.total() === 0) return null;
    const r = this.store.row(log, log.rawIndex(this.filter, this.selected));
    return r && !('pending' in r) ? r : null;
  }

  #syncConn(): void {
    const ids = this.connectionIds();
    if (ids.length === 0) {
      this.selectedConn = null;
      return;
    }
    if (this.selectedConn !== null && !this.store.connections.has(this.selectedConn)) this.selectedConn = null;
    if (this.connFollow && !this.paused) {
      // Stay on the shown connection while it is open; then move to the newest open one with
      // traffic, else the newest.
      const current = this.selectedConn === null ? undefined : this.store.connections.get(this.selectedConn);
      if (current && current.state !== 'closed') return;
      let pick = ids[ids.length - 1]!;
      for (let i = ids.length - 1; i >= 0 && i >= ids.length - 50; i--) {
        const c = this.store.connections.get(ids[i]!)!;
        if (c.state === 'open' && c.logs.frames.count + c.logs.messages.count > 0) {
          pick = c.id;
          break;
        }
      }
      if (pick !== this.selectedConn) this.#switchConn(pick);
    } else if (this.selectedConn === null) {
      this.#switchConn(ids[0]!);
    }
  }

  #switchConn(id: number): void {
    this.selectedConn = id;
    this.selected = 0;
    this.top = 0;
    this.detailTop = 0;
  }

  // ---- actions (the keymap names these) ----

  move(delta: number): void {
    if (this.overlay === 'help') {
      this.helpTop = scrolled(this.helpTop, delta);
      return;
    }
    this.connFollow = false;
    if (this.focus === 'connections') {
      const ids = this.connectionIds();
      if (ids.length === 0) return;
      const cur = this.selectedConn === null ? 0 : Math.max(0, ids.indexOf(this.selectedConn));
      const next = clamp(cur + delta, 0, ids.length - 1);
      this.connFollow = false;
      if (ids[next] !== this.selectedConn) {
        this.#switchConn(ids[next]!);
        this.follow = true;
      }
      return;
    }
    if (this.focus === 'detail') {
      this.detailTop = scrolled(this.detailTop, delta);
      return;
    }
    const total = this.total();
    this.selected = clamp(this.selected + delta, 0, Math.max(0, total - 1));
    this.follow = this.selected >= total - 1 && delta > 0;
    this.detailTop = 0;
  }

  page(direction: 1 | -1): void {
    const h = this.focus === 'connections' ? this.connHeight : this.logHeight;
    this.move(direction * Math.max(1, h - 1));
  }

  home(): void {
    if (this.overlay === 'help' || this.focus === 'connections' || this.focus === 'detail') return this.move(-Infinity);
    this.connFollow = false;
    this.follow = false;
    this.selected = 0;
    this.top = 0;
    this.detailTop = 0;
  }

  /** G / End: the last row of the focused pane; in the log, follow its new rows (on this connection). */
  end(): void {
    if (this.overlay === 'help' || this.focus === 'connections' || this.focus === 'detail') return this.move(Infinity);
    this.connFollow = false;
    this.follow = true;
    this.detailTop = 0;
  }

  /** F: follow again, the newest connection with traffic and its newest row. */
  resumeFollow(): void {
    this.connFollow = true;
    this.follow = true;
    this.detailTop = 0;
    if (this.paused) this.togglePause();
    this.notice = 'following the newest connection and row';
  }

  /** Stops following the newest connection: the user is reading this one. */
  hold(): void {
    this.connFollow = false;
  }

  nextPane(): void {
    this.focus = this.focus === 'connections' ? 'log' : this.focus === 'log' ? 'detail' : 'connections';
  }

  toggleMode(): void {
    const raw = this.#selectedRaw();
    const count = this.log()?.count ?? 0;
    this.mode = this.mode === 'frames' ? 'messages' : 'frames';
    this.#restoreNear(raw, count);
    this.notice = `showing ${this.mode}`;
  }

  /** Levels of the decoded tree shown in the detail pane; Infinity: all (docs/app-protocols.md). */
  treeDepth = Infinity;

  cycleTreeDepth(): void {
    this.treeDepth = nextTreeDepth(this.treeDepth);
    this.notice = Number.isFinite(this.treeDepth) ? `decoded tree folded to ${this.treeDepth} level${this.treeDepth === 1 ? '' : 's'}` : 'decoded tree unfolded';
    this.detailTop = 0;
  }

  cyclePayloadView(): void {
    this.payloadView = this.payloadView === 'text' ? 'json' : this.payloadView === 'json' ? 'hex' : 'text';
    this.notice = `payload as ${this.payloadView}`;
    this.detailTop = 0;
  }

  toggleHandshake(): void {
    this.showHandshake = !this.showHandshake;
    this.detailTop = 0;
  }

  toggleHttp(): void {
    this.showHttp = !this.showHttp;
    const n = this.store.httpRequests;
    this.notice = this.showHttp ? `plain HTTP requests listed (${n}; r hides them)` : `plain HTTP requests hidden (${n}; r lists them)`;
  }

  togglePause(): void {
    this.paused = !this.paused;
    this.#frozen.clear();
    this.#frozenConns = this.store.order.length;
    this.notice = this.paused ? 'frozen: the view stands still, traffic goes on (p resumes)' : 'resumed';
  }

  /** The filter menu's `e`: decoded-field terms (`event:chat topic:sensors/*`, ui/field-filter.ts); empty clears them. */
  setFieldFilter(text: string): void {
    const parsed = parseFieldTerms(text);
    if ('error' in parsed) {
      this.notice = `field filter: ${parsed.error}`;
      return;
    }
    this.setFilter({ ...this.filter, fields: parsed.terms });
  }

  setFilter(filter: RowFilter): void {
    const raw = this.#selectedRaw();
    this.filter = filter;
    this.#restoreNear(raw, this.log()?.count ?? 0);
    this.notice = `filter: ${describeFilter(filter)}`;
  }

  /** Selects a connection by its position in the list (mouse click). */
  selectConnectionAt(i: number): void {
    const ids = this.connectionIds();
    const id = ids[this.connTop + i];
    if (id === undefined) return;
    this.connFollow = false;
    this.focus = 'connections';
    if (id !== this.selectedConn) {
      this.#switchConn(id);
      this.follow = true;
    }
  }

  /** Selects the log row at screen line `i` (mouse click). */
  selectRowAt(i: number): void {
    const total = this.total();
    if (this.top + i >= total) return;
    this.connFollow = false;
    this.focus = 'log';
    this.selected = this.top + i;
    this.follow = false;
    this.detailTop = 0;
  }

  /**
   * `/`, n, N: select the next (or previous) row, wrapping around, whose text payload matches
   * `pattern` (a regex, case-insensitive; an invalid one is searched as plain text; empty: the last
   * pattern). Evicted rows are searched in the capture through `lines`. A newer search cancels an
   * older one still reading the capture.
   */
  async find(pattern: string, direction: 1 | -1 = 1, lines?: LineSource): Promise<boolean> {
    if (pattern) this.search = toRegExp(pattern);
    const re = this.search;
    const log = this.log();
    if (!re || !log) return false;
    const generation = ++this.#searchGeneration;
    const limit = this.total() === 0 ? 0 : log.rawIndex(this.filter, this.total() - 1) + 1;
    const from = this.total() === 0 ? -1 : log.rawIndex(this.filter, this.selected);
    if (log.firstRetained > 0 && lines) this.notice = `/${re.source}: searching the capture…`;
    const conn = this.selectedConn;
    const decoder = conn === null ? undefined : () => this.store.appDecoder(conn);
    const result = await findRow({ log, filter: this.filter, re, from, limit, direction, lines, decoder, cancelled: () => generation !== this.#searchGeneration });
    if (generation !== this.#searchGeneration || log !== this.log()) return false;
    if (result.raw === null) {
      this.notice = `/${re.source}: no match${result.partial ? ' (older rows not in memory or in the capture were not searched)' : ''}`;
      return false;
    }
    this.selected = log.filteredPosition(this.filter, result.raw);
    this.follow = false;
    this.connFollow = false;
    this.detailTop = 0;
    this.notice = `/${re.source}: row ${this.selected + 1} of ${this.total()}`;
    return true;
  }

  #searchGeneration = 0;

  #selectedRaw(): number | null {
    const log = this.log();
    if (!log || this.total() === 0) return null;
    return log.rawIndex(this.filter, this.selected);
  }

  /** After a mode or filter change, keep the selection near the same row (`raw` of a log with `count` rows). */
  #restoreNear(raw: number | null, count: number): void {
    const log = this.log();
    if (!log) return;
    const total = this.total();
    if (this.follow || raw === null) {
      this.selected = Math.max(0, total - 1);
      return;
    }
    // Frames and messages number differently: land at the same fraction of the other log.
    const guess = count === log.count ? raw : Math.round((raw / Math.max(1, count)) * log.count);
    this.selected = clamp(log.filteredPosition(this.filter, guess), 0, Math.max(0, total - 1));
  }
}

/** Recorded without frames (a HAR): only its messages can be shown. */
export function messagesOnly(c: ConnectionView): boolean {
  return !c.hasFrames && c.messages.client + c.messages.server > 0;
}

export function describeFilter(f: RowFilter): string {
  const kinds = [f.text ? 'text' : '', f.binary ? 'binary' : '', f.control ? 'control' : ''].filter(Boolean).join('+') || 'nothing';
  const fields = (f.fields ?? []).map((t) => `${t.name}:${t.glob}`).join(' ');
  // The field terms first: a title too long for its pane is cut at the end.
  return `${fields ? `fields ${fields}, ` : ''}${f.direction === 'both' ? 'both directions' : `from ${f.direction}`}, ${kinds}${f.pingPong ? '' : ', no ping/pong'}`;
}

function toRegExp(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'i');
  } catch {
    return new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
  }
}

/** A scroll position moved by `delta` lines; ±Infinity: the top, or past the end (the draw clamps it). */
function scrolled(top: number, delta: number): number {
  if (delta === -Infinity) return 0;
  if (delta === Infinity) return Number.MAX_SAFE_INTEGER;
  return Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, top + delta));
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
