/**
 * The dashboard's view model: SessionEvents in, connections and rows out. Pure (no blessed, no files):
 * the dashboard injects how evicted rows are read back from the capture.
 *
 * Memory stays bounded however long a connection runs: rows live in one global FIFO of at most
 * `maxRows`; an evicted row keeps only its class byte (for filtering) and its (offset, length) in the
 * capture file, and is read back on demand when the user scrolls to it (cf. mitmproxy's bounded
 * `deque(maxlen)` event log, urwid's ListWalker asking only for visible rows).
 */
import { messageData, messageText } from '../src/session/event-data.js';
import { isControlOpcode, Opcode } from '../src/protocol/constants.js';
import { AppViews, type AppViewOptions } from '../src/appproto/connection-app.js';
import type { PairStats } from '../src/appproto/pairing.js';
import { rowApp, type RowApp } from './app-view.js';
import { ConnectionApp } from '../src/appproto/connection-app.js';
import type {
  CloseEvent,
  EndEvent,
  ErrorEvent,
  FrameEvent,
  HandshakeEvent,
  HttpEvent,
  MessageEvent,
  SessionEvent,
  Side,
  TunnelEvent,
} from '../src/session/events.js';
import { RateMeter } from './store/rate-meter.js';
import { RowReader } from './store/read-back.js';
import { CaptureLocations } from './store/capture-locations.js';
import { C_BINARY, C_CONTROL, C_NOTICE, C_PINGPONG, C_SERVER, C_TEXT, RowLog, type PendingRow, type Row, type RowFilter } from './store/row-log.js';

export { DEFAULT_FILTER, RowLog, type DirectionFilter, type LogMode, type PendingRow, type Row, type RowFilter } from './store/row-log.js';

/** Forward mode: raw tunnels kept for the connections pane (the newest). */
const MAX_TUNNELS = 200;
/** Plain HTTP requests kept for the connections pane (the newest); all are counted. */
const MAX_HTTP = 200;

export type ConnState = 'connecting' | 'open' | 'closing' | 'closed';

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
  /** Plain HTTP requests relayed (`http` events), newest last, at most MAX_HTTP: listed on demand. */
  readonly httpRecent: HttpEvent[] = [];
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
  readonly #onChange: () => void;
  readonly #indexed: boolean;
  readonly #app: AppViews | null;
  /** Global FIFO of the logs of retained rows (ring buffer). */
  #fifo: (RowLog | undefined)[] = [];
  #fifoHead = 0;
  #fifoSize = 0;
  readonly #reader: RowReader;
  readonly #locations = new CaptureLocations();
  readonly #rates: RateMeter;

  constructor(options: StoreOptions = {}) {
    this.#indexed = options.readBack !== undefined;
    this.#app = options.app === null ? null : new AppViews(options.app ?? {});
    this.#maxRows = this.#indexed ? (options.maxRows ?? 20_000) : Infinity;
    this.#slimOver = this.#indexed ? (options.slimOver ?? 2048) : Infinity;
    this.#maxConnections = options.maxConnections ?? 2000;
    this.#onChange = options.onChange ?? (() => {});
    this.#reader = new RowReader(options.readBack, options.onReadBack ?? this.#onChange);
    this.#rates = new RateMeter(options.now ?? Date.now);
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

  /** JsonlWriter.onLine: where an event landed in the capture (see CaptureLocations). */
  located(event: SessionEvent, offset: number, length: number): void {
    this.#locations.located(event, offset, length);
  }

  ingest(e: SessionEvent): void {
    if (e.t > this.lastT) this.lastT = e.t;
    // Decoding that nothing waits for (no pairing, no state) is left for when a row is shown or searched.
    // Only these event types say anything to the app-protocol views (AppViews.observe).
    const notes = e.type === 'message' || e.type === 'handshake' || e.type === 'end' ? this.#app?.observeDeferring(e) : undefined;
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
        // Recorded without frames (a HAR): the message's bytes are all there is to count.
        this.#count(1, c.hasFrames ? 0 : e.length);
        const first = c.messageFirstFrame[e.from];
        const frames: readonly [number, number] | undefined =
          c.hasFrames && first >= 0 ? [first, c.lastDataFrame[e.from]] : undefined;
        c.messageFirstFrame[e.from] = -1;
        const cls = (e.from === 'server' ? C_SERVER : 0) | (e.opcode === 1 ? C_TEXT : C_BINARY);
        const row = this.#append(c.logs.messages, cls, e, frames);
        const note = notes?.find((n) => n.kind === 'message' || n.kind === 'message-later');
        if (note?.kind === 'message') row.app = rowApp(note.view, !row.slim);
        else if (note?.kind === 'message-later') {
          // A slim row keeps only a preview of the bytes: decode the whole payload now, as before.
          if (row.slim) row.app = rowApp(note.decode(e.data), false);
          else row.appLater = note.decode;
        }
        if (c.appStats === null) c.appStats = this.#app?.connectionStats(e.conn) ?? null;
        if (frames && e.compressed) row.wireLength = wireLength(c.logs.frames, frames, e.from);
        if (frames && frames[0] === frames[1]) {
          c.logs.frames.setLink(frames[0], row.index);
          const f = c.logs.frames.get(frames[0]);
          if (f && f.event.type === 'frame' && f.event.payload === undefined) {
            f.message = row.event as MessageEvent;
            // Decoded from the same bytes (the message's), when shown.
            if (row.appLater) f.appLater = row.appLater;
            else f.app = row.app;
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
        this.httpRecent.push(e);
        if (this.httpRecent.length > MAX_HTTP) this.httpRecent.shift();
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
        logs: pairedLogs(this.#indexed),
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
    if (this.#indexed) this.#locations.await(log, index, event);
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

  /**
   * What a row keeps of an event: a copy with the payload cut to a preview (`cut`) when it is large
   * and rows can be read back, and in any case its own copy of the payload bytes when they are a
   * view into a larger received chunk, which a row must not keep alive.
   */
  #keep(e: SessionEvent): { readonly event: SessionEvent; readonly cut: boolean } {
    const max = this.#slimOver;
    if (e.type === 'frame' && e.payload !== undefined) {
      const cut = e.payload.length > max;
      if (cut || isView(e.payload)) return { event: { ...e, payload: copyOf(e.payload, max) }, cut };
    }
    if (e.type === 'message') {
      const cut = e.data.length > max;
      if (cut || isView(e.data)) return { event: { ...e, data: copyOf(e.data, max) }, cut };
    }
    return { event: e, cut: false };
  }

  #count(messages: number, bytes: number): void {
    this.totalMessages += messages;
    this.totalBytes += bytes;
    this.#rates.count(messages, bytes);
  }

  /** Messages and frame bytes per second over the last full seconds. */
  rates(): { messages: number; bytes: number } {
    return this.#rates.rates();
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
   * until it arrives and onReadBack fires). null when it can no longer be had.
   */
  row(log: RowLog, index: number): Row | PendingRow | null {
    return this.#reader.row(log, index);
  }

  /** The whole event of a row: itself when not slim, else read back (null while loading). */
  fullEvent(log: RowLog, row: Row): SessionEvent | null {
    return this.#reader.fullEvent(log, row);
  }

  /** Reads back and decodes the rows evicted before a field filter was set (RowReader.resolveFields). */
  resolveFields(conn: number, log: RowLog, filter: RowFilter, current: () => boolean): Promise<void> {
    return this.#reader.resolveFields(log, filter, () => this.appDecoder(conn), current);
  }

  /**
   * A fresh decoder for one pass over a connection's rows read back from the capture (search and
   * the field filter over evicted rows): messages decode as they did live, with the connection's
   * subprotocol and URL choosing the view; fed in capture order, since decoding keeps
   * per-direction state. Other events decode to nothing. null when decoding is off.
   */
  appDecoder(conn: number): ((e: SessionEvent) => RowApp | undefined) | null {
    if (this.#app === null) return null;
    const hs = this.connections.get(conn)?.handshake;
    const app = new ConnectionApp(this.#app.options, hs ? { target: hs.request.target, protocol: hs.protocol } : {});
    return (e) => {
      if (e.type !== 'message' || e.conn !== conn) return undefined;
      return rowApp(app.message(e.from, e.opcode, messageData(e), e.t, e.truncated), false);
    };
  }
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

function pairedLogs(indexed: boolean): { frames: RowLog; messages: RowLog } {
  const frames = new RowLog(indexed);
  const messages = new RowLog(indexed);
  frames.partner = messages;
  messages.partner = frames;
  return { frames, messages };
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

/** Its own copy of the first `max` bytes of `b` (small ones from Node's shared pool). */
function copyOf(b: Buffer, max: number): Buffer {
  const n = Math.min(b.length, max);
  const out = Buffer.allocUnsafe(n);
  b.copy(out, 0, 0, n);
  return out;
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
