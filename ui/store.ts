/**
 * The dashboard's view model: SessionEvents in, connections and rows out. Pure (no blessed, no files):
 * the dashboard injects how evicted rows are read back from the capture.
 *
 * Memory stays bounded however long a connection runs: rows live in one global FIFO of at most
 * `maxRows`; an evicted row keeps only its class byte (for filtering) and its (offset, length) in the
 * capture file, and is read back on demand when the user scrolls to it (cf. mitmproxy's bounded
 * `deque(maxlen)` event log, urwid's ListWalker asking only for visible rows).
 */
import { messageText } from '../src/session/event-data.js';
import { isControlOpcode, Opcode } from '../src/protocol/constants.js';
import { AppViews, type AppViewOptions } from '../src/appproto/connection-app.js';
import type { PairStats } from '../src/appproto/pairing.js';
import { rowApp, type RowApp } from './app-view.js';
import type {
  CloseEvent,
  EndEvent,
  ErrorEvent,
  FrameEvent,
  HandshakeEvent,
  MessageEvent,
  SessionEvent,
  Side,
  TunnelEvent,
} from '../src/session/events.js';

/** Forward mode: raw tunnels kept for the connections pane (the newest). */
const MAX_TUNNELS = 200;

export type LogMode = 'frames' | 'messages';
export type DirectionFilter = 'both' | 'client' | 'server';
export type ConnState = 'connecting' | 'open' | 'closing' | 'closed';

export interface RowFilter {
  readonly direction: DirectionFilter;
  readonly text: boolean;
  readonly binary: boolean;
  readonly control: boolean;
  /** false hides ping and pong frames. */
  readonly pingPong: boolean;
}

export const DEFAULT_FILTER: RowFilter = { direction: 'both', text: true, binary: true, control: true, pingPong: true };

/** Row class bits, one byte per row kept for every row ever seen (filters work on evicted rows too). */
const C_SERVER = 1;
const C_TEXT = 2;
const C_BINARY = 4;
const C_CONTROL = 8;
const C_PINGPONG = 16;
/** violations, errors, close events: shown whatever the kind filter says. */
const C_NOTICE = 32;

export interface Row {
  /** Position in its log (frames or messages), from 0, stable for the life of the connection. */
  readonly index: number;
  readonly event: SessionEvent;
  /** The payload was cut to a preview to bound memory; the whole event is in the capture. */
  readonly slim: boolean;
  /** Message rows: frames-log indexes of the message's first and last data frame. */
  readonly frames?: readonly [first: number, last: number];
  /**
   * Frame rows of a whole uncompressed message: the capture leaves the payload out of such a frame
   * (capture-format.md), so the row borrows it from the message that follows.
   */
  message?: MessageEvent;
  /** Message rows of a compressed message: its frames' payload bytes on the wire. */
  wireLength?: number;
  /** Message rows, and frame rows of a whole message by itself: what the payload decoded to (ui/app-view.ts). */
  app?: RowApp;
}

export interface PendingRow {
  readonly index: number;
  readonly pending: true;
}

export interface ConnectionView {
  readonly id: number;
  client: string;
  target: string;
  path: string;
  state: ConnState;
  openedAt: number;
  endedAt: number | null;
  handshake: HandshakeEvent | null;
  readonly closes: CloseEvent[];
  end: EndEvent | null;
  readonly errors: ErrorEvent[];
  readonly messages: { client: number; server: number };
  readonly bytes: { client: number; server: number };
  readonly frameCount: { client: number; server: number };
  violations: number;
  /** Last ping→pong round trip, ms. */
  rttMs: number | null;
  /** Saw a frame; a connection with messages and no frames comes from a HAR (messages only). */
  hasFrames: boolean;
  readonly logs: { readonly frames: RowLog; readonly messages: RowLog };
  /** Request/reply pairing figures (docs/app-protocols.md); null when decoding is off. */
  appStats: (() => PairStats) | null;
  /** Internal bookkeeping. */
  readonly pings: Map<string, { readonly from: Side; readonly t: number }>;
  readonly dataOpcode: { client: number; server: number };
  readonly messageFirstFrame: { client: number; server: number };
  readonly lastDataFrame: { client: number; server: number };
}

/** Rows of one connection in one mode: all classes, the retained tail, and capture offsets. */
export class RowLog {
  count = 0;
  #classes = new Uint8Array(256);
  #offsets: Float64Array<ArrayBuffer> | null;
  #lengths: Uint32Array<ArrayBuffer> | null;
  /** Retained rows: raw indexes [firstRetained, count). */
  #rows: Row[] = [];
  #head = 0;
  firstRetained = 0;
  /** Rows read back from the capture, small LRU. */
  readonly #cache = new Map<number, Row>();
  #filterKey = '';
  #filtered = new Uint32Array(0);
  #filteredN = 0;
  #scanned = 0;

  constructor(indexed: boolean) {
    this.#offsets = indexed ? new Float64Array(256).fill(-1) : null;
    this.#lengths = indexed ? new Uint32Array(256) : null;
  }

  get retained(): number {
    return this.#rows.length - this.#head;
  }

  /** Appends a row whose `index` is `count` (the caller builds it with that index). */
  append(cls: number, row: Row): Row {
    const i = this.count;
    if (i === this.#classes.length) {
      this.#classes = grow(this.#classes);
      if (this.#offsets) this.#offsets = growF(this.#offsets);
      if (this.#lengths) this.#lengths = grow32(this.#lengths);
    }
    this.#classes[i] = cls;
    this.#rows.push(row);
    this.count = i + 1;
    return row;
  }

  setLocation(index: number, offset: number, length: number): void {
    if (!this.#offsets || !this.#lengths || index >= this.count) return;
    this.#offsets[index] = offset;
    this.#lengths[index] = length;
  }

  location(index: number): { offset: number; length: number } | null {
    if (!this.#offsets || !this.#lengths) return null;
    const offset = this.#offsets[index]!;
    return offset < 0 ? null : { offset, length: this.#lengths[index]! };
  }

  /** Drops the oldest retained row (the global FIFO decided it is the oldest overall). */
  evictOldest(): void {
    if (this.#head >= this.#rows.length) return;
    this.#head++;
    this.firstRetained++;
    if (this.#head > 1024 && this.#head * 2 > this.#rows.length) {
      this.#rows = this.#rows.slice(this.#head);
      this.#head = 0;
    }
  }

  /** A row in memory (retained or read back), or undefined. */
  get(index: number): Row | undefined {
    if (index >= this.firstRetained && index < this.count) return this.#rows[this.#head + index - this.firstRetained];
    const hit = this.#cache.get(index);
    if (hit) {
      this.#cache.delete(index);
      this.#cache.set(index, hit);
    }
    return hit;
  }

  remember(row: Row, cacheSize: number): void {
    this.#cache.set(row.index, row);
    while (this.#cache.size > cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
  }

  /** Whether raw row `index` passes `filter` (known for evicted rows too). */
  passes(filter: RowFilter, index: number): boolean {
    return isOpen(filter) || passes(this.#classes[index]!, filter, passMask(filter));
  }

  /** Number of rows passing `filter` (up to `limit` raw rows, for pause). */
  filteredCount(filter: RowFilter, limit = this.count): number {
    if (isOpen(filter)) return limit;
    this.#scan(filter);
    return upperBound(this.#filtered, this.#filteredN, limit);
  }

  /** Raw index of the n-th row passing `filter`. */
  rawIndex(filter: RowFilter, n: number): number {
    if (isOpen(filter)) return n;
    this.#scan(filter);
    return this.#filtered[n]!;
  }

  /** Filtered position of raw row `raw` (or of the first row after it). */
  filteredPosition(filter: RowFilter, raw: number): number {
    if (isOpen(filter)) return raw;
    this.#scan(filter);
    return lowerBound(this.#filtered, this.#filteredN, raw);
  }

  #scan(filter: RowFilter): void {
    const key = filterKey(filter);
    if (key !== this.#filterKey) {
      this.#filterKey = key;
      this.#filteredN = 0;
      this.#scanned = 0;
    }
    const mask = passMask(filter);
    for (let i = this.#scanned; i < this.count; i++) {
      if (!passes(this.#classes[i]!, filter, mask)) continue;
      if (this.#filteredN === this.#filtered.length) {
        const next = new Uint32Array(Math.max(256, this.#filtered.length * 2));
        next.set(this.#filtered);
        this.#filtered = next;
      }
      this.#filtered[this.#filteredN++] = i;
    }
    this.#scanned = this.count;
  }
}

function grow(a: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(a.length * 2);
  b.set(a);
  return b;
}
function grow32(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
function growF(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2).fill(-1);
  b.set(a);
  return b;
}

function upperBound(a: Uint32Array, n: number, limit: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const lowerBound = upperBound;

function isOpen(f: RowFilter): boolean {
  return f.direction === 'both' && f.text && f.binary && f.control && f.pingPong;
}

function filterKey(f: RowFilter): string {
  return `${f.direction}${+f.text}${+f.binary}${+f.control}${+f.pingPong}`;
}

function passMask(f: RowFilter): number {
  return (f.text ? C_TEXT : 0) | (f.binary ? C_BINARY : 0) | (f.control ? C_CONTROL : 0) | C_NOTICE;
}

function passes(cls: number, f: RowFilter, mask: number): boolean {
  if (f.direction === 'client' && cls & C_SERVER) return false;
  if (f.direction === 'server' && !(cls & C_SERVER)) return false;
  if (!f.pingPong && cls & C_PINGPONG) return false;
  return (cls & mask) !== 0;
}

/** Rows whose capture offset is not known yet (still in the writer's queue). */
const MAX_UNLOCATED = 200_000;
/** How far past the front of the waiting rows a located event is looked for. */
const LOCATE_LOOKAHEAD = 64;
/** Events located before the store saw them, kept until it does. */
const MAX_EARLY = 10_000;

export interface StoreOptions {
  /** Rows kept in memory over all connections; Infinity when the source is already in memory (view). */
  readonly maxRows?: number;
  /** Payloads longer than this (base64/text chars) are kept as a preview when rows can be read back. */
  readonly slimOver?: number;
  /** Connections kept; the oldest closed ones go first. */
  readonly maxConnections?: number;
  /** Reads an evicted row's event back from the capture. */
  readonly readBack?: (offset: number, length: number) => Promise<SessionEvent | null>;
  /** Called when new events changed what can be shown. */
  readonly onChange?: () => void;
  /** Called when rows or payloads asked for arrived from the capture (default: onChange). */
  readonly onReadBack?: () => void;
  readonly now?: () => number;
  /** App-protocol decoding (`--view`, `--pair`, …); null turns it off. */
  readonly app?: AppViewOptions | null;
}

interface RateBucket {
  second: number;
  messages: number;
  bytes: number;
}

/** The whole view model: connections, their logs, global counters and rates. */
export class DashboardStore {
  readonly connections = new Map<number, ConnectionView>();
  /** Connection ids in order of arrival. */
  readonly order: number[] = [];
  readonly errors: ErrorEvent[] = [];
  totalMessages = 0;
  /** Latest event time seen: "now" for a recorded capture. */
  lastT = 0;
  totalBytes = 0;
  httpRequests = 0;
  /** Forward mode: raw (not intercepted) CONNECT tunnels, newest last, at most MAX_TUNNELS. */
  readonly tunnels: TunnelEvent[] = [];
  /** Distinct upstream hosts seen in `open` targets, counted up to 2 (forward mode has many). */
  readonly #hosts = new Set<string>();

  get hostsSeen(): number {
    return this.#hosts.size;
  }
  readonly #maxRows: number;
  readonly #slimOver: number;
  readonly #maxConnections: number;
  readonly #readBack: StoreOptions['readBack'];
  readonly #onChange: () => void;
  readonly #onReadBack: () => void;
  readonly #now: () => number;
  readonly #indexed: boolean;
  readonly #app: AppViews | null;
  /** Global FIFO of the logs of retained rows (ring buffer). */
  #fifo: (RowLog | undefined)[] = [];
  #fifoHead = 0;
  #fifoSize = 0;
  /** Rows waiting for their capture location, in bus order (parallel arrays, head index). */
  #pendingEvents: SessionEvent[] = [];
  #pendingLogs: RowLog[] = [];
  #pendingIndex: number[] = [];
  #pendingHead = 0;
  readonly #early = new Map<SessionEvent, { offset: number; length: number }>();
  readonly #loading = new Set<string>();
  readonly #unreadable = new Set<string>();
  readonly #buckets: RateBucket[] = [];

  constructor(options: StoreOptions = {}) {
    this.#indexed = options.readBack !== undefined;
    this.#app = options.app === null ? null : new AppViews(options.app ?? {});
    this.#maxRows = this.#indexed ? (options.maxRows ?? 20_000) : Infinity;
    this.#slimOver = this.#indexed ? (options.slimOver ?? 2048) : Infinity;
    this.#maxConnections = options.maxConnections ?? 2000;
    this.#readBack = options.readBack;
    this.#onChange = options.onChange ?? (() => {});
    this.#onReadBack = options.onReadBack ?? this.#onChange;
    this.#now = options.now ?? Date.now;
    if (Number.isFinite(this.#maxRows)) this.#fifo = new Array<RowLog | undefined>(this.#maxRows);
  }

  /** Rows currently held in memory over all connections. */
  get retainedRows(): number {
    return Number.isFinite(this.#maxRows) ? this.#fifoSize : this.#countRetained();
  }

  #countRetained(): number {
    let n = 0;
    for (const c of this.connections.values()) n += c.logs.frames.retained + c.logs.messages.retained;
    return n;
  }

  /**
   * JsonlWriter.onLine: where an event landed in the capture. The writer sees the bus's events in
   * the order the store does and writes them in that order, so the rows waiting for a location are
   * a FIFO: the located event is at (or, if the writer skipped some, near) its front.
   */
  located(event: SessionEvent, offset: number, length: number): void {
    const events = this.#pendingEvents;
    const end = Math.min(events.length, this.#pendingHead + LOCATE_LOOKAHEAD);
    let at = -1;
    for (let i = this.#pendingHead; i < end; i++) {
      if (events[i] === event) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      // Reported before the store saw it (a writer subscribed after the store), or not a row at all.
      if (isRowEvent(event)) {
        this.#early.set(event, { offset, length });
        if (this.#early.size > MAX_EARLY) this.#early.delete(this.#early.keys().next().value!);
      }
      return;
    }
    let i = at;
    while (i < events.length && events[i] === event) {
      this.#pendingLogs[i]!.setLocation(this.#pendingIndex[i]!, offset, length);
      i++;
    }
    // Rows before `at` were never written: they cannot be read back.
    for (let j = this.#pendingHead; j < i; j++) events[j] = undefined!;
    this.#pendingHead = i;
    this.#compactPending();
  }

  ingest(e: SessionEvent): void {
    if (e.t > this.lastT) this.lastT = e.t;
    const notes = this.#app?.observe(e);
    switch (e.type) {
      case 'open':
        this.#conn(e.conn, e.t, e.client, e.target);
        if (this.#hosts.size < 2) this.#hosts.add(hostOf(e.target));
        break;
      case 'handshake': {
        const c = this.#conn(e.conn, e.t);
        c.handshake = e;
        if (c.path === '' || c.path === '/') c.path = e.request.target;
        if (c.state === 'connecting') c.state = e.upgraded ? 'open' : 'closed';
        if (!e.upgraded) c.endedAt = e.t;
        break;
      }
      case 'frame':
        this.#frame(e);
        break;
      case 'message': {
        const c = this.#conn(e.conn, e.t);
        if (c.state === 'connecting') c.state = 'open';
        c.messages[e.from]++;
        if (!c.hasFrames) c.bytes[e.from] += e.length;
        this.#count(1, 0);
        const first = c.messageFirstFrame[e.from];
        const frames: readonly [number, number] | undefined =
          c.hasFrames && first >= 0 ? [first, c.lastDataFrame[e.from]] : undefined;
        c.messageFirstFrame[e.from] = -1;
        const cls = (e.from === 'server' ? C_SERVER : 0) | (e.opcode === 1 ? C_TEXT : C_BINARY);
        const row = this.#append(c.logs.messages, cls, e, frames);
        const note = notes?.find((n) => n.kind === 'message');
        if (note?.kind === 'message') row.app = rowApp(note.view, !row.slim);
        if (c.appStats === null) c.appStats = this.#app?.connectionStats(e.conn) ?? null;
        if (frames && e.compressed) row.wireLength = wireLength(c.logs.frames, frames, e.from);
        if (frames && frames[0] === frames[1]) {
          const f = c.logs.frames.get(frames[0]);
          if (f && f.event.type === 'frame' && f.event.payload === undefined) {
            f.message = row.event as MessageEvent;
            f.app = row.app;
          }
        }
        break;
      }
      case 'close': {
        const c = this.#conn(e.conn, e.t);
        c.closes.push(e);
        if (c.state !== 'closed') c.state = 'closing';
        this.#append(c.logs.messages, (e.from === 'server' ? C_SERVER : 0) | C_CONTROL | C_NOTICE, e);
        break;
      }
      case 'violation': {
        const c = this.#conn(e.conn, e.t);
        c.violations++;
        const cls = (e.from === 'server' ? C_SERVER : 0) | C_NOTICE;
        this.#append(c.logs.frames, cls, e);
        this.#append(c.logs.messages, cls, e);
        break;
      }
      case 'intercept': {
        // In both logs, whatever the kind filter says, like a violation.
        const c = this.#conn(e.conn, e.t);
        const cls = (e.from === 'server' ? C_SERVER : 0) | C_NOTICE;
        this.#append(c.logs.frames, cls, e);
        this.#append(c.logs.messages, cls, e);
        break;
      }
      case 'error': {
        if (e.conn === undefined) {
          this.errors.push(e);
          if (this.errors.length > 100) this.errors.shift();
          break;
        }
        const c = this.#conn(e.conn, e.t);
        c.errors.push(e);
        if (c.errors.length > 20) c.errors.shift();
        const cls = (e.from === 'server' ? C_SERVER : 0) | C_NOTICE;
        this.#append(c.logs.frames, cls, e);
        this.#append(c.logs.messages, cls, e);
        break;
      }
      case 'end': {
        const c = this.#conn(e.conn, e.t);
        c.end = e;
        c.state = 'closed';
        const final = notes?.find((n) => n.kind === 'end');
        if (final?.kind === 'end') c.appStats = () => final.stats;
        c.endedAt = e.t;
        if (c.hasFrames) {
          c.bytes.client = e.bytes.client;
          c.bytes.server = e.bytes.server;
        }
        this.#trimConnections();
        break;
      }
      case 'http':
        this.httpRequests++;
        break;
      case 'tunnel':
        this.tunnels.push(e);
        if (this.tunnels.length > MAX_TUNNELS) this.tunnels.shift();
        break;
    }
    this.#onChange();
  }

  #conn(id: number, t: number, client = '', target = ''): ConnectionView {
    let c = this.connections.get(id);
    if (!c) {
      c = {
        id,
        client,
        target,
        path: pathOf(target),
        state: 'connecting',
        openedAt: t,
        endedAt: null,
        handshake: null,
        closes: [],
        end: null,
        errors: [],
        messages: { client: 0, server: 0 },
        bytes: { client: 0, server: 0 },
        frameCount: { client: 0, server: 0 },
        violations: 0,
        rttMs: null,
        appStats: null,
        hasFrames: false,
        logs: { frames: new RowLog(this.#indexed), messages: new RowLog(this.#indexed) },
        pings: new Map(),
        dataOpcode: { client: 0, server: 0 },
        messageFirstFrame: { client: -1, server: -1 },
        lastDataFrame: { client: -1, server: -1 },
      };
      this.connections.set(id, c);
      this.order.push(id);
    } else if (client && !c.client) {
      c.client = client;
      c.target = target;
      c.path = pathOf(target);
    }
    return c;
  }

  #frame(e: FrameEvent): void {
    const c = this.#conn(e.conn, e.t);
    c.hasFrames = true;
    if (c.state === 'connecting') c.state = 'open';
    c.frameCount[e.from]++;
    if (!c.end) c.bytes[e.from] += e.length;
    this.#count(0, e.length);
    let cls = e.from === 'server' ? C_SERVER : 0;
    if (isControlOpcode(e.opcode)) {
      cls |= C_CONTROL;
      if (e.opcode === Opcode.Ping || e.opcode === Opcode.Pong) cls |= C_PINGPONG;
      if (e.opcode === Opcode.Close && c.state === 'open') c.state = 'closing';
      this.#rtt(c, e);
    } else {
      if (e.opcode !== Opcode.Continuation) c.dataOpcode[e.from] = e.opcode;
      cls |= c.dataOpcode[e.from] === Opcode.Binary ? C_BINARY : C_TEXT;
    }
    const row = this.#append(c.logs.frames, cls, e);
    if (!isControlOpcode(e.opcode)) {
      if (c.messageFirstFrame[e.from] < 0) c.messageFirstFrame[e.from] = row.index;
      c.lastDataFrame[e.from] = row.index;
    } else if (e.opcode === Opcode.Ping || e.opcode === Opcode.Pong) {
      // Control frames are messages of their own in the messages view (RFC 6455 §5.5).
      this.#append(c.logs.messages, cls, e);
    }
  }

  /** RFC 6455 §5.5.3: a Pong "MUST have identical Application data" to the Ping it answers. */
  #rtt(c: ConnectionView, e: FrameEvent): void {
    const key = e.payload ? e.payload.toString('latin1') : '';
    if (e.opcode === Opcode.Ping) {
      if (c.pings.size > 32) c.pings.clear();
      c.pings.set(key, { from: e.from, t: e.t });
    } else if (e.opcode === Opcode.Pong) {
      const ping = c.pings.get(key);
      if (ping && ping.from !== e.from) {
        c.rttMs = e.t - ping.t;
        c.pings.delete(key);
      }
    }
  }

  #append(log: RowLog, cls: number, event: SessionEvent, frames?: readonly [number, number]): Row {
    const kept = this.#keep(event);
    const index = log.count;
    const shown = kept.event;
    const row: Row = frames ? { index, event: shown, slim: kept.cut, frames } : { index, event: shown, slim: kept.cut };
    log.append(cls, row);
    if (this.#indexed) this.#awaitLocation(log, index, event);
    if (Number.isFinite(this.#maxRows)) {
      if (this.#fifoSize === this.#maxRows) {
        const oldest = this.#fifo[this.#fifoHead]!;
        oldest.evictOldest();
        this.#fifo[this.#fifoHead] = log;
        this.#fifoHead = (this.#fifoHead + 1) % this.#maxRows;
      } else {
        this.#fifo[(this.#fifoHead + this.#fifoSize) % this.#maxRows] = log;
        this.#fifoSize++;
      }
    }
    return row;
  }

  #awaitLocation(log: RowLog, index: number, event: SessionEvent): void {
    if (this.#early.size > 0) {
      const early = this.#early.get(event);
      if (early) {
        log.setLocation(index, early.offset, early.length);
        // An event can make two rows (a ping: frames and messages); keep it for the second.
        return;
      }
    }
    this.#pendingEvents.push(event);
    this.#pendingLogs.push(log);
    this.#pendingIndex.push(index);
    // Rows wait while the writer's queue (bounded by its backpressure) drains; a writer that failed
    // reports nothing more, so past a generous bound the oldest waiting rows give up.
    if (this.#pendingEvents.length - this.#pendingHead > MAX_UNLOCATED) this.#pendingHead++;
    this.#compactPending();
  }

  #compactPending(): void {
    const head = this.#pendingHead;
    if (head < 4096 || head * 2 < this.#pendingEvents.length) return;
    this.#pendingEvents.splice(0, head);
    this.#pendingLogs.splice(0, head);
    this.#pendingIndex.splice(0, head);
    this.#pendingHead = 0;
  }

  /**
   * What a row keeps of an event: a copy with the payload cut to a preview (`cut`) when it is large
   * and rows can be read back, and in any case its own copy of the payload bytes when they are a
   * view into a larger received chunk, which a row must not keep alive.
   */
  #keep(e: SessionEvent): { readonly event: SessionEvent; readonly cut: boolean } {
    const max = this.#slimOver;
    if (e.type === 'frame' && e.payload !== undefined) {
      const cut = e.payload.length > max;
      if (cut || isView(e.payload)) return { event: { ...e, payload: Buffer.from(e.payload.subarray(0, max)) }, cut };
    }
    if (e.type === 'message') {
      const cut = e.data.length > max;
      if (cut || isView(e.data)) return { event: { ...e, data: Buffer.from(e.data.subarray(0, max)) }, cut };
    }
    return { event: e, cut: false };
  }

  #count(messages: number, bytes: number): void {
    this.totalMessages += messages;
    this.totalBytes += bytes;
    const second = Math.floor(this.#now() / 1000);
    let b = this.#buckets[this.#buckets.length - 1];
    if (!b || b.second !== second) {
      b = { second, messages: 0, bytes: 0 };
      this.#buckets.push(b);
      if (this.#buckets.length > 4) this.#buckets.shift();
    }
    b.messages += messages;
    b.bytes += bytes;
  }

  /** Messages and frame bytes per second over the last full seconds. */
  rates(): { messages: number; bytes: number } {
    const now = Math.floor(this.#now() / 1000);
    let messages = 0;
    let bytes = 0;
    let seconds = 0;
    for (const b of this.#buckets) {
      if (b.second >= now || b.second < now - 3) continue;
      messages += b.messages;
      bytes += b.bytes;
      seconds++;
    }
    return seconds ? { messages: messages / 3, bytes: bytes / 3 } : { messages: 0, bytes: 0 };
  }

  #trimConnections(): void {
    if (this.order.length <= this.#maxConnections) return;
    for (let i = 0; i < this.order.length && this.order.length > this.#maxConnections; i++) {
      const c = this.connections.get(this.order[i]!)!;
      if (c.state !== 'closed') continue;
      // Its rows stay in the FIFO until evicted; they are simply no longer reachable.
      this.connections.delete(c.id);
      this.order.splice(i, 1);
      i--;
    }
  }

  /**
   * The row at raw `index` of a log: from memory, or read back from the capture (then `pending`
   * until it arrives and onChange fires). null when it can no longer be had.
   */
  row(log: RowLog, index: number): Row | PendingRow | null {
    const hit = log.get(index);
    if (hit) return hit;
    const loc = log.location(index);
    if (!loc || !this.#readBack) return null;
    const key = `${loc.offset}`;
    if (this.#unreadable.has(key)) return null;
    if (!this.#loading.has(key)) {
      this.#loading.add(key);
      const failed = (): void => {
        // Asked again on every redraw otherwise; the row shows as gone instead.
        if (this.#unreadable.size > 10_000) this.#unreadable.clear();
        this.#unreadable.add(key);
      };
      this.#readBack(loc.offset, loc.length).then(
        (event) => {
          this.#loading.delete(key);
          if (event) log.remember({ index, event, slim: false }, 4096);
          else failed();
          this.#onReadBack();
        },
        () => {
          this.#loading.delete(key);
          failed();
          this.#onReadBack();
        },
      );
    }
    return { index, pending: true };
  }

  /** The whole event of a row: itself when not slim, else read back (null while loading). */
  fullEvent(log: RowLog, row: Row): SessionEvent | null {
    if (!row.slim) return row.event;
    const loc = log.location(row.index);
    if (!loc || !this.#readBack) return row.event;
    const key = `full:${loc.offset}`;
    const cached = this.#full.get(key);
    if (cached) return cached;
    if (this.#unreadable.has(key)) return row.event;
    if (!this.#loading.has(key)) {
      this.#loading.add(key);
      const settle = (event: SessionEvent | null): void => {
        this.#loading.delete(key);
        if (event) {
          this.#full.clear();
          this.#full.set(key, event);
        } else {
          this.#unreadable.add(key);
        }
        this.#onReadBack();
      };
      this.#readBack(loc.offset, loc.length).then(settle, () => settle(null));
    }
    return null;
  }

  readonly #full = new Map<string, SessionEvent>();
}

/** Payload bytes of a message's data frames (from `from`) in a frames-log range; undefined if evicted. */
function wireLength(frames: RowLog, [first, last]: readonly [number, number], from: Side): number | undefined {
  let sum = 0;
  for (let i = first; i <= last; i++) {
    const f = frames.get(i);
    if (!f) return undefined;
    if (f.event.type === 'frame' && f.event.from === from && !isControlOpcode(f.event.opcode)) sum += f.event.length;
  }
  return sum;
}

/** Event types that become rows of a log. */
function isRowEvent(e: SessionEvent): boolean {
  return e.type === 'frame' || e.type === 'message' || e.type === 'close' || e.type === 'violation' || (e.type === 'error' && e.conn !== undefined);
}

/** Whether the connection list should name each connection's host (forward mode: many hosts). */
export function showsHosts(store: DashboardStore): boolean {
  return store.hostsSeen > 1 || store.tunnels.length > 0;
}

/** `host[:port]` of a full URL target, '' when it has none. */
export function hostOf(target: string): string {
  try {
    return new URL(target).host;
  } catch {
    return '';
  }
}

function pathOf(target: string): string {
  if (!target) return '';
  try {
    const u = new URL(target);
    return u.pathname + u.search;
  } catch {
    return target;
  }
}

/** A Buffer that shares its memory with more than itself (a slice of a received chunk). */
function isView(b: Buffer): boolean {
  return b.buffer.byteLength > b.length;
}

/** Text a search regex is matched against: text payloads of messages and frames, close reasons, violation details. */
export function searchableText(e: SessionEvent): string | null {
  switch (e.type) {
    case 'message':
      return messageText(e);
    case 'frame':
      if (e.payload === undefined || e.rsv1 || e.opcode === Opcode.Binary) return null;
      return e.payload.toString('utf8');
    case 'close':
      return `${e.code ?? ''} ${e.reason}`;
    case 'violation':
      return `${e.rule} ${e.detail}`;
    case 'error':
      return e.detail;
    case 'intercept':
      return `${e.action} ${e.by} ${e.name ?? ''} ${e.detail ?? ''}`;
    default:
      return null;
  }
}
