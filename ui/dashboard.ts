/**
 * The terminal dashboard: a blessed screen over the view model (store.ts, view.ts). Started by the live
 * proxy (src/cli/outputs.ts in tui mode), by `view` and by `replay`. Traffic only marks the screen
 * dirty; it is redrawn at most 10 times a second (less when redrawing takes more than 5% of the
 * time), and at once after a key so typing feels immediate.
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import blessed from 'blessed';
import { markTerminalLost } from '../src/terminal-lost.js';
import { readCaptureLines, readEventAt } from '../src/capture/jsonl-reader.js';
import type { EventBus } from '../src/session/event-bus.js';
import type { SessionEvent } from '../src/session/events.js';
import { keyContext, runCommand, type CommandHost } from './commands.js';
import { actionFor, helpLines, INTERCEPT_ACTIONS, type InterceptKeyAction, type KeyMode } from './keymap.js';
import { mouseCommand, type PaneBox } from './mouse.js';
import { InterceptKeys } from './intercept-keys.js';
import type { GateControl } from '../src/gate/gate-control.js';
import { connectionLines } from './panes/connection-list.js';
import { detailLines } from './panes/frame-detail.js';
import { logLines, logTitle } from './panes/frame-log.js';
import { handshakeLines } from './panes/handshake.js';
import { line, wrapLines, type Line } from './panes/lines.js';
import { Pane } from './panes/pane.js';
import { statusLines } from './panes/status-bar.js';
import { installTerminalWidths } from './terminal-width.js';
import type { LineSource } from './search.js';
import type { AppViewOptions } from '../src/appproto/connection-app.js';
import { DashboardStore } from './store.js';
import { DashboardView, describeFilter } from './view.js';
import { shown } from './format.js';

/** What the dashboard needs of a spill file (SpillFile). */
export interface RowSpill {
  onLine(cb: (event: SessionEvent, offset: number, length: number) => void): () => void;
  read(offset: number, length: number): Promise<SessionEvent | null>;
  records(start: number): AsyncIterable<{ readonly offset: number; readonly value: SessionEvent }>;
}

export interface DashboardOptions {
  readonly bus: EventBus;
  readonly source: 'live' | 'view' | 'replay';
  /** `host:port` the proxy listens on (live), else null. */
  readonly listen: string | null;
  readonly upstream: string | null;
  /** The capture file rows evicted from memory are read back from (live: -w; without it, `spill`). */
  readonly captureFile: string | null;
  /** JsonlWriter.onLine: tells where each event landed in `captureFile`. */
  readonly captureIndex?: (cb: (event: SessionEvent, offset: number, length: number) => void) => () => void;
  /**
   * Live without -w: the dashboard's own spill file (src/capture/spill-file.ts), where rows are
   * read back from and searched instead of a capture (then `captureFile` is null).
   */
  readonly spill?: RowSpill | null;
  /** q / Ctrl-C: the caller stops the proxy, flushes and exits. */
  readonly onQuit: () => void;
  /** Live: what the keys that act on traffic (b, a, A, e, d, i, K, P, X, I) drive. */
  readonly control?: GateControl | null;
  /** App-protocol decoding (docs/app-protocols.md); null turns it off. */
  readonly app?: AppViewOptions | null;
}

export interface Dashboard {
  destroy(): void;
}

/** Traffic-driven redraws: at most 10 per second. */
const MIN_FRAME_MS = 100;
/**
 * And at most this share of the event loop, which also relays: a redraw that took 8 ms (a large
 * terminal on a busy machine) is followed by the next traffic-driven one after 160 ms, not 100.
 */
const MAX_RENDER_SHARE = 0.05;
/** But at least once a second (a slow redraw, a GC pause inside one, must not freeze the screen). */
const MAX_FRAME_MS = 1000;

export function startDashboard(options: DashboardOptions): Dashboard {
  return new BlessedDashboard(options);
}

class BlessedDashboard implements Dashboard {
  readonly #options: DashboardOptions;
  readonly #store: DashboardStore;
  readonly #view: DashboardView;
  readonly #screen: blessed.Widgets.Screen;
  readonly #conns: Pane;
  readonly #log: Pane;
  readonly #detail: Pane;
  readonly #status: Pane;
  readonly #overlay: Pane;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #restoreStderr: () => void;
  #timer: NodeJS.Timeout | null = null;
  #statsTimer: NodeJS.Timeout | null = null;
  #loopDelay: IntervalHistogram | null = null;
  #lastRender = 0;
  #redraws = 0;
  #renderMs = 0;
  /** How long the last redraw took (ms). */
  #lastRenderMs = 0;
  #zoom = false;
  #zoomApplied = false;
  #searchInput: string | null = null;
  /** What the prompt in #searchInput is for: `/` search or the filter menu's decoded-field terms. */
  #promptKind: 'search' | 'fields' = 'search';
  #destroyed = false;
  #quitting = false;
  #terminalLost = false;
  readonly #intercept: InterceptKeys | null;

  constructor(options: DashboardOptions) {
    this.#options = options;
    const file = options.captureFile;
    const spill = options.spill ?? null;
    const indexed = spill !== null || (options.captureIndex !== undefined && file !== null);
    // A recorded capture's rates come from its own times, not from how fast it is read.
    const recorded = options.source === 'view';
    this.#store = new DashboardStore({
      ...(recorded ? { now: () => this.#store.lastT } : {}),
      ...(options.app !== undefined ? { app: options.app } : {}),
      readBack: spill ? (offset, length) => spill.read(offset, length) : indexed ? (offset, length) => readEventAt(file!, offset, length) : undefined,
      onChange: () => this.#dirty(),
      // Rows the user scrolled to: shown even while paused.
      onReadBack: () => this.#dirty(true),
    });
    this.#view = new DashboardView(this.#store);
    this.#screen = createScreen();
    const screen = this.#screen;
    this.#intercept = options.control
      ? new InterceptKeys({
          control: options.control,
          onChange: () => this.#dirty(true),
          // blessed's spawn hands the terminal to the child (normal buffer, cooked mode) and takes it back.
          runEditor: (args) =>
            new Promise<number>((resolve) => {
              const child = screen.spawn('/bin/sh', [...args], {});
              child.on('error', () => resolve(127));
              child.on('exit', (code: number | null) => resolve(code ?? 1));
            }),
        })
      : null;
    // Holds and releases are intercept events: redraw the held summary when they come.
    if (this.#intercept) this.#unsubscribe.push(options.bus.subscribe('dashboard-intercepts', (e) => e.type === 'intercept' && this.#dirty(true), ['intercept']));
    if (spill) this.#unsubscribe.push(spill.onLine((e, offset, length) => this.#store.located(e, offset, length)));
    else if (indexed) this.#unsubscribe.push(options.captureIndex!((e, offset, length) => this.#store.located(e, offset, length)));
    this.#unsubscribe.push(options.bus.subscribe('dashboard', (e) => this.#store.ingest(e)));
    this.#restoreStderr = holdStderr((text) => {
      this.#view.notice = `stderr: ${text.trim().split('\n').pop() ?? ''}`;
      this.#dirty();
    });
    const s = this.#screen;
    this.#conns = new Pane({ parent: s, label: 'connections', top: 0, left: 0, width: '100%', height: '30%' });
    this.#log = new Pane({ parent: s, label: 'frames', top: '30%', left: 0, width: '58%', height: '70%-2' });
    this.#detail = new Pane({ parent: s, label: 'detail', top: '30%', left: '58%', width: '42%', height: '70%-2' });
    this.#status = new Pane({ parent: s, label: '', top: '100%-2', left: 0, width: '100%', height: 2, border: false });
    this.#overlay = new Pane({ parent: s, label: 'help', top: 'center', left: 'center', width: 84, height: '80%' });
    this.#overlay.box.hide();

    // The terminal can go away under us (closed window, tmux kill-session, ssh drop: SIGHUP, then EIO
    // on every read and write). Stop drawing and quit as q would, so the capture is still flushed
    // and a temporary one removed, instead of dying on an unhandled 'error' event.
    const onTerminalError = (): void => {
      if (this.#destroyed) return;
      this.#terminalLost = true;
      markTerminalLost();
      if (!this.#quitting) {
        this.#quitting = true;
        this.#options.onQuit();
      }
    };
    // Kept after destroy: restoring the screen writes to a terminal that may be gone, and an error
    // then must not kill the process while it flushes the capture.
    for (const stream of [process.stdout, process.stdin]) stream.on('error', onTerminalError);
    s.on('keypress', (ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined) => this.#onKey(ch, key));
    s.on('mouse', (data: blessed.Widgets.Events.IMouseEventArg) => this.#onMouse(data));
    s.on('resize', () => this.#render());
    s.enableMouse();
    this.#render();
    const statsFile = process.env.FRAMETAP_DASHBOARD_STATS;
    if (statsFile) {
      this.#loopDelay = monitorEventLoopDelay({ resolution: 10 });
      this.#loopDelay.enable();
      this.#statsTimer = startStatsFile(statsFile, () => this.#statsSnapshot());
    }
  }

  #statsSnapshot(): object {
    return {
      t: Date.now(),
      redraws: this.#redraws,
      renderMs: Math.round(this.#renderMs),
      messages: this.#store.totalMessages,
      retainedRows: this.#store.retainedRows,
      ...memory(),
      loopDelayP99Ms: this.#loopDelay ? Math.round(this.#loopDelay.percentile(99) / 1e6) : null,
      loopDelayMaxMs: this.#loopDelay ? Math.round(this.#loopDelay.max / 1e6) : null,
    };
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    this.#loopDelay?.disable();
    for (const u of this.#unsubscribe) u();
    if (!this.#terminalLost) {
      try {
        this.#screen.destroy();
      } catch {
        // The terminal went away while being restored.
      }
    }
    this.#restoreStderr();
  }

  #dirty(evenPaused = false): void {
    if (this.#destroyed || this.#timer || (this.#view.paused && !evenPaused)) return;
    const frame = Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, this.#lastRenderMs / MAX_RENDER_SHARE));
    const wait = Math.max(0, this.#lastRender + frame - Date.now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#render();
    }, wait);
  }

  #render(): void {
    if (this.#destroyed || this.#terminalLost) return;
    const started = performance.now();
    this.#draw();
    this.#lastRenderMs = performance.now() - started;
    this.#renderMs += this.#lastRenderMs;
  }

  #draw(): void {
    this.#lastRender = Date.now();
    this.#redraws++;
    const v = this.#view;
    v.connHeight = Math.max(1, this.#conns.inner.rows - 1);
    v.logHeight = this.#log.inner.rows;
    v.settle();

    const conns = this.#conns.inner;
    this.#conns.setLabel(`connections ${v.store.order.length}`, v.focus === 'connections');
    // A recorded capture's open connections age up to its last event, not to today.
    const now = this.#options.source === 'view' ? v.store.lastT : Date.now();
    this.#conns.show(connectionLines(v, conns.rows, conns.cols, now));

    this.#log.setLabel(logTitle(v), v.focus === 'log');
    this.#log.show(logLines(v, this.#log.inner.cols));

    this.#layoutDetail();
    const detail = this.#detailContent();
    const rows = this.#detail.inner.rows;
    v.detailTop = Math.min(v.detailTop, Math.max(0, detail.lines.length - rows));
    this.#detail.setLabel(detail.title, v.focus === 'detail');
    this.#detail.show(detail.lines.slice(v.detailTop, v.detailTop + rows));

    const [first, second] = statusLines(v, this.#options, this.#status.inner.cols);
    const ik = this.#intercept;
    const asking = ik?.prompt ?? null;
    const held = ik?.status() ?? null;
    const typed = this.#searchInput === null ? null : this.#promptKind === 'search' ? `/${shown(this.#searchInput)}▏  (Enter search, Esc cancel)` : `fields ${shown(this.#searchInput)}▏  (name:glob …, Enter filters, empty clears, Esc cancel)`;
    const prompt = typed ?? asking ?? ik?.notice ?? held ?? second;
    const notice = this.#searchInput !== null || asking !== null || (ik?.notice ?? null) !== null;
    this.#status.show([line(held && !asking ? held : first, held && !asking ? 'notice' : 'heading'), line(prompt, notice ? 'notice' : 'dim')]);

    if (v.overlay === 'held') {
      // The list of what is held (`H`), from the gate's own data; `a`, `e`, `d` act on the picked line.
      const body = (ik?.heldLines() ?? ['acting on traffic needs the live proxy']).map((t) => line(t, t.startsWith('▶') ? 'selected' : 'normal'));
      this.#overlay.setLabel('held (↑↓ pick  a forward  e edit  d drop  A all  Esc closes)', true);
      this.#overlay.show(body.slice(0, this.#overlay.inner.rows));
      this.#overlay.box.show();
      this.#overlay.box.setFront();
    } else if (v.overlay !== null) {
      const mode: KeyMode = v.overlay === 'help' ? 'normal' : 'filter';
      const body: Line[] =
        v.overlay === 'help'
          ? [
              line('keys', 'heading'),
              ...helpLines('normal').map((t) => line(t)),
              line(''),
              line('in the held list (H)', 'heading'),
              ...helpLines('held').map((t) => line(t)),
              line(''),
              line('in the filter menu (f)', 'heading'),
              ...helpLines('filter').map((t) => line(t)),
              line(''),
              line('in this help', 'heading'),
              ...helpLines('help').map((t) => line(t)),
              line(''),
              line('mouse: wheel scrolls, click selects', 'dim'),
            ]
          : [line(`filter: ${describeFilter(v.filter)}`, 'heading'), ...helpLines(mode).map((t) => line(t))];
      const rows = this.#overlay.inner.rows;
      v.helpTop = Math.min(v.helpTop, Math.max(0, body.length - rows));
      const more = body.length > rows ? `, ↑↓ PgUp PgDn scroll, ${v.helpTop + 1}–${Math.min(body.length, v.helpTop + rows)} of ${body.length}` : '';
      this.#overlay.setLabel(v.overlay === 'help' ? `help (Esc or ? closes${more})` : 'filter (Esc closes)', true);
      this.#overlay.show(v.overlay === 'help' ? body.slice(v.helpTop, v.helpTop + rows) : body);
      this.#overlay.box.show();
      this.#overlay.box.setFront();
    } else {
      this.#overlay.box.hide();
    }
    this.#screen.render();
  }

  #layoutDetail(): void {
    const box = this.#detail.box;
    if (this.#zoomApplied === this.#zoom) return;
    this.#zoomApplied = this.#zoom;
    box.left = this.#zoom ? 0 : '58%';
    box.width = this.#zoom ? '100%' : '42%';
    if (this.#zoom) box.setFront();
  }

  #detailContent(): { title: string; lines: Line[] } {
    const v = this.#view;
    const c = v.connection();
    const cols = this.#detail.inner.cols;
    if (!c) return { title: 'detail', lines: [line('nothing selected', 'dim')] };
    if (v.showHandshake) return { title: `handshake #${c.id} (h closes)`, lines: wrapLines(handshakeLines(c, cols), cols) };
    const row = v.selectedRow();
    if (!row) return { title: 'detail', lines: [line(v.total() ? 'reading back from the capture…' : 'no row selected', 'dim')] };
    const log = v.log()!;
    const lines = wrapLines(detailLines(row, { store: v.store, log, framesLog: c.logs.frames, payloadView: v.payloadView, treeDepth: v.treeDepth }, cols), cols);
    return { title: `detail (${v.payloadView}; x switches)`, lines };
  }

  #onKey(ch: string | undefined, key: blessed.Widgets.Events.IKeyEventArg | undefined): void {
    if (this.#destroyed) return;
    const name = key?.full ?? ch ?? '';
    if (this.#searchInput !== null) {
      this.#onSearchKey(ch, name);
      return;
    }
    if (this.#intercept?.prompting) {
      this.#intercept.key(name, ch);
      this.#render();
      return;
    }
    if (this.#intercept) this.#intercept.notice = null;
    const context = keyContext(this.#view);
    const action = actionFor(context, name) ?? (ch ? actionFor(context, ch) : undefined);
    if (action && INTERCEPT_ACTIONS.has(action)) {
      // Acting on live traffic (ui/intercept-keys.ts); a recorded capture has nothing to act on.
      if (this.#intercept) {
        this.#intercept.listOpen = context === 'held';
        this.#intercept.perform(action as InterceptKeyAction, this.#view.connection()?.id ?? null);
      }
      else this.#view.notice = 'acting on traffic needs the live proxy';
      this.#render();
      return;
    }
    if (!action) return;
    runCommand(action, this.#host);
    this.#render();
  }

  #onSearchKey(ch: string | undefined, name: string): void {
    if (name === 'escape' || name === 'C-c') {
      this.#searchInput = null;
    } else if (name === 'enter') {
      const pattern = this.#searchInput ?? '';
      this.#searchInput = null;
      if (this.#promptKind === 'fields') this.#view.setFieldFilter(pattern);
      else if (pattern) this.#search(pattern, 1);
    } else if (name === 'backspace') {
      this.#searchInput = this.#searchInput!.slice(0, -1);
    } else if (name === 'return' || name === 'linefeed') {
      return;
    } else if (ch && ch.length === 1 && ch >= ' ') {
      this.#searchInput += ch;
    } else {
      return;
    }
    this.#render();
  }

  #search(pattern: string, direction: 1 | -1): void {
    const file = this.#options.captureFile;
    const spill = this.#options.spill ?? null;
    const lines: LineSource | undefined = spill
      ? (start) => spill.records(start)
      : file !== null && this.#options.captureIndex
        ? (start) => readCaptureLines(file, { start })
        : undefined;
    void this.#view.find(pattern, direction, lines).finally(() => this.#render());
  }

  /** What the command table (commands.ts) may ask of the dashboard. */
  readonly #host: CommandHost = ((dashboard: BlessedDashboard): CommandHost => ({
    get view() {
      return dashboard.#view;
    },
    get zoom() {
      return dashboard.#zoom;
    },
    set zoom(on: boolean) {
      dashboard.#zoom = on;
    },
    startSearch: () => {
      dashboard.#promptKind = 'search';
      dashboard.#searchInput = '';
    },
    startFieldFilter: () => {
      dashboard.#promptKind = 'fields';
      dashboard.#searchInput = (dashboard.#view.filter.fields ?? []).map((t) => `${t.name}:${t.glob}`).join(' ');
    },
    searchAgain: (direction) => dashboard.#search('', direction),
    quit: () => {
      if (dashboard.#quitting) return;
      dashboard.#quitting = true;
      dashboard.#view.notice = dashboard.#options.captureFile ? 'quitting: closing connections and flushing the capture…' : 'quitting: closing connections…';
      dashboard.#options.onQuit();
    },
    wake: () => dashboard.#dirty(),
  }))(this);

  #onMouse(data: blessed.Widgets.Events.IMouseEventArg): void {
    if (this.#destroyed) return;
    const box = (p: Pane): PaneBox => ({ left: Number(p.box.aleft), top: Number(p.box.atop), width: Number(p.box.width), height: Number(p.box.height) });
    // blessed reports wheel turns as actions its typings do not list.
    const report = { x: data.x, y: data.y, action: data.action as string };
    if (mouseCommand(this.#view, report, { connections: box(this.#conns), log: box(this.#log), detail: box(this.#detail) })) this.#render();
  }
}

/**
 * `FRAMETAP_DASHBOARD_STATS=FILE` (used by bench/dashboard.ts): rewrite FILE every 250 ms with the
 * redraw count, messages seen and RSS, so a bench can read them from a dashboard in another process.
 */
function memory(): { rss: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function startStatsFile(file: string, snapshot: () => object): NodeJS.Timeout {
  let writing = false;
  const write = (): void => {
    if (writing) return;
    writing = true;
    // Asynchronous, so the measurement does not block the loop it measures.
    // O_NOFOLLOW: a link planted at the temporary name is refused, not written through.
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW;
    fsp
      .open(`${file}.tmp`, flags, 0o600)
      .then((handle) => handle.writeFile(JSON.stringify(snapshot())).finally(() => handle.close()))
      .then(() => fsp.rename(`${file}.tmp`, file))
      .catch(() => {})
      .finally(() => (writing = false));
  };
  write();
  const timer = setInterval(write, 250);
  timer.unref();
  return timer;
}

/**
 * blessed 0.1.81 reads only the legacy terminfo format (magic 0432). ncurses 6 compiles entries such as
 * Debian's xterm-256color and tmux-256color in the extended-number format (magic 01036, 32-bit numbers),
 * so blessed misreads the string table, fails to compile a capability (the first one it trips on is
 * the extended `Setulc`), console.error()s "Error on xterm-256color.Setulc" with the generated code,
 * and then falls back to its own bundled legacy entry of the same name (or plain xterm), which is what
 * it uses from then on. The program's options cannot point tput at the bundled file directly, so the
 * fallback is kept and only blessed's console.error is silenced while the terminal is set up.
 * Upstream: https://github.com/chjj/blessed/issues/345 (Setulc).
 */
function createScreen(): blessed.Widgets.Screen {
  installTerminalWidths();
  const consoleError = console.error;
  console.error = () => {};
  try {
    const program = blessed.program({
      input: process.stdin,
      output: process.stdout,
      terminal: process.env.TERM || 'xterm',
      tput: true,
      buffer: true,
      zero: true,
      // Unicode whatever LANG/LC_* say: blessed otherwise prints `?` for every non-ASCII character.
      forceUnicode: true,
    } as unknown as blessed.Widgets.IScreenOptions);
    const screen = blessed.screen({
      program,
      smartCSR: true,
      autoPadding: true,
      warnings: false,
      fullUnicode: true,
      forceUnicode: true,
      title: 'frametap',
    } as blessed.Widgets.IScreenOptions);
    // Box drawing as the characters themselves (┌─┐), never through the terminal's alternate
    // character set: tmux and others draw ACS `lqqk` depending on the locale and terminfo.
    (program as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
    return screen;
  } finally {
    console.error = consoleError;
  }
}

/**
 * While the screen is up, anything written to stderr would tear the drawing: hold it, show its last
 * line in the status bar, and write it all out once the terminal is restored.
 */
function holdStderr(onLine: (text: string) => void): () => void {
  const original = process.stderr.write;
  const held: string[] = [];
  const hold = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (held.length < 200) held.push(text);
    onLine(text);
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stderr.write;
  process.stderr.write = hold;
  return () => {
    if (process.stderr.write === hold) process.stderr.write = original;
    for (const text of held) original.call(process.stderr, text);
  };
}
