/**
 * A packet capture read back as frametap events (capture-format.md "pcapng captures"): each TCP
 * stream is reassembled, the HTTP upgrade found in its bytes, and each WebSocket connection fed
 * through a `Session`, the same protocol core and session model as live traffic.
 *
 * - frametap's own pcapng: the local-use records name each connection's legs; a sender's frames
 *   come from the leg it sent on (the client's from the client leg, the server's from the upstream
 *   leg), the request as received from the client leg, as forwarded and the answer from the
 *   upstream leg. Events that packets cannot carry come from the records. Order is block order.
 * - a foreign capture (tcpdump, dumpcap, Wireshark) of plain ws:// traffic: every TCP connection
 *   that starts with an HTTP request is one connection, numbered in the order the requests end;
 *   an upgrade becomes `open`, `handshake` and the frames, any other request one `http` event.
 */
import { EventBus } from '../session/event-bus.js';
import type { CaptureHeader, EndEvent, SessionEvent, Side, TcpEnd, TcpEnds } from '../session/events.js';
import { Session } from '../session/session.js';
import { headerValues } from '../protocol/handshake.js';
import type { CaptureRecord } from './block-reader.js';
import { parseCaptureLine } from '../capture/jsonl-reader.js';
import type { FtapRecord } from './ftap-records.js';
import { headEnd, looksLikeRequestStart, MAX_HEAD_BYTES, parseRequestHead, parseResponseHead } from './http-head.js';
import { endpointString, tcpSegmentOf, type TcpSegment } from './link-layer.js';
import { StreamReassembler } from './tcp-reassembly.js';
import { FTAP_VERSION, LEG_INTERFACE } from './pcapng-format.js';

export interface PacketReplayOptions {
  /** Where the events go. */
  readonly bus: EventBus;
  /** Bytes kept per frame and message; a frametap file's own setting wins. */
  readonly maxPayload: number;
  readonly onWarning?: (message: string) => void;
}

/** Packets of connections whose `open` record has not come yet (frametap files), at most this many and bytes. */
const MAX_EARLY_PACKETS = 4096;
const MAX_EARLY_BYTES = 16 * 1024 * 1024;
/** TCP connections tracked at once in a foreign capture. */
const MAX_STREAMS = 100_000;

/** Collects one HTTP head from the start of a stream. */
class HeadCollector {
  #parts: Buffer[] = [];
  #bytes = 0;
  head: Buffer | null = null;
  failed = false;

  /** Adds bytes; returns what follows the head once it is complete (null while collecting). */
  add(bytes: Buffer): Buffer | null {
    if (this.head !== null || this.failed) return bytes;
    this.#parts.push(Buffer.from(bytes));
    this.#bytes += bytes.length;
    const all = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    this.#parts = [all];
    const end = headEnd(all, Math.max(0, this.#bytes - bytes.length - 3));
    if (end < 0) {
      if (this.#bytes > MAX_HEAD_BYTES) {
        this.failed = true;
        this.#parts = [];
      }
      return null;
    }
    this.head = all.subarray(0, end);
    this.#parts = [];
    return all.subarray(end);
  }
}

type Role = 'request' | 'forwarded' | 'response' | 'ignored';

interface Stream {
  readonly conn: Conn;
  readonly role: Role;
  /** The side that sends on this stream. */
  readonly from: Side;
  readonly reasm: StreamReassembler;
  endedBy: TcpEnd | null;
  /** Its key in the stream table (removed once the stream and its connection are over). */
  readonly key: string;
}

interface PendingHandshake {
  readonly t: number;
  readonly answered: boolean;
  readonly forwarded: boolean;
}

class Conn {
  session: Session | null = null;
  readonly request = new HeadCollector();
  readonly forwarded = new HeadCollector();
  readonly response = new HeadCollector();
  /** frametap files: the handshake record, until the heads it needs are complete. */
  pending: PendingHandshake | null = null;
  handshaken = false;
  /** Bytes after the heads that came before the handshake could be made. */
  held: { from: Side; bytes: Buffer; t: number }[] = [];
  readonly ends: { client: TcpEnd | null; server: TcpEnd | null } = { client: null, server: null };
  finished = false;
  /** Resolves once the session's `end` is out (set when `finished`). */
  ending: Promise<void> | null = null;
  /** The `end` is out. */
  ended = false;
  /** Foreign captures: the connection is a plain HTTP request (no upgrade) or not HTTP at all. */
  ignored = false;
  httpStart = 0;
  /** Its streams' keys in the stream table. */
  readonly keys: string[] = [];
  constructor(readonly id: number, readonly client: string, readonly server: string) {}
}

export class PacketReplay {
  header: CaptureHeader | null = null;
  readonly #bus: EventBus;
  /** Sessions publish here; forwarded to #bus (with `end.tcp` added from the records). */
  readonly #inner: EventBus;
  #maxPayload: number;
  readonly #warn: (message: string) => void;
  #mode: 'frametap' | 'foreign' | null = null;
  #clock = 0;
  #lastT = 0;
  readonly #streams = new Map<string, Stream>();
  readonly #conns = new Map<number, Conn>();
  /** frametap files: `end.tcp` of each ended connection, added to the session's `end`. */
  readonly #endTcp = new Map<number, TcpEnds>();
  readonly #early: CaptureRecord[] = [];
  #earlyDropped = 0;
  #earlyBytes = 0;
  #nextConn = 1;
  #warnedVersion = false;
  /**
   * The connection fed last. Its session may still owe events (compressed messages inflate on
   * zlib's thread pool); before any other connection's events, or an event of none, they are
   * awaited, so events across connections come out in block order (capture-format.md: "order is
   * the file's block order"), not in the order inflates finish. Every other connection is settled.
   */
  #last: Conn | null = null;
  /** Records handed in while an earlier one waits for `#last`, and the wait for them all. */
  readonly #backlog: CaptureRecord[] = [];
  #waiting: Promise<void> | null = null;

  constructor(options: PacketReplayOptions) {
    this.#bus = options.bus;
    this.#maxPayload = options.maxPayload;
    this.#warn = options.onWarning ?? (() => {});
    this.#inner = new EventBus();
    this.#inner.subscribe('packet replay', (event) => this.#bus.publish(this.#withTcp(event)));
  }

  #withTcp(event: SessionEvent): SessionEvent {
    if (event.type !== 'end') return event;
    const tcp = this.#endTcp.get(event.conn);
    if (tcp === undefined) return event;
    this.#endTcp.delete(event.conn);
    const withTcp: EndEvent = { ...event, tcp };
    return withTcp;
  }

  /**
   * The next record in block order. When it returns a promise, the previous connection still owes
   * events and the record waits (as do the records handed in after it, in order) until they are
   * out: await it before handing in more, which keeps what waits to one read's records.
   */
  record(record: CaptureRecord): Promise<void> | null {
    if (this.#waiting !== null) {
      this.#backlog.push(record);
      return this.#waiting;
    }
    const wait = this.#take(record);
    if (wait === null) return null;
    this.#waiting = this.#drain(wait);
    return this.#waiting;
  }

  async #drain(wait: Promise<void>): Promise<void> {
    await wait;
    for (let i = 0; i < this.#backlog.length; i++) {
      const next = this.#take(this.#backlog[i]!);
      if (next !== null) await next;
    }
    this.#backlog.length = 0;
    this.#waiting = null;
  }

  #take(record: CaptureRecord): Promise<void> | null {
    if (record.kind === 'frametap') {
      this.#mode ??= 'frametap';
      const parsed = this.#parseFtap(record.version, record.json);
      if (parsed === null) return null;
      // The header and the settings publish nothing.
      if (parsed.type === 'capture' || parsed.type === 'settings') {
        this.#frametapRecord(parsed);
        return null;
      }
      const target = this.#ftapTarget(parsed);
      const wait = this.#turn(target);
      if (wait === null) {
        this.#frametapRecord(parsed);
        return null;
      }
      return wait.then(() => this.#frametapRecord(parsed));
    }
    if (this.#mode === null) this.#mode = record.iface.name === LEG_INTERFACE.client || record.iface.name === LEG_INTERFACE.upstream ? 'frametap' : 'foreign';
    if (record.t > 0) this.#lastT = record.t;
    const segment = tcpSegmentOf(record.iface.linkType, record.data);
    if (segment === null) return null;
    const stream = this.#streamOf(record, segment);
    if (stream === null) return null;
    const wait = this.#turn(stream.conn);
    if (wait === null) {
      this.#segment(stream, segment, record.t);
      return null;
    }
    return wait.then(() => this.#segment(stream, segment, record.t));
  }

  /** The capture is over: streams left open are ended here, then every `end` is awaited. */
  async finish(): Promise<void> {
    await this.#waiting;
    for (const stream of [...this.#streams.values()]) {
      const gap = stream.reasm.finish();
      if (gap === null) continue;
      await this.#turn(stream.conn);
      this.#gap(stream, gap, this.#lastT);
    }
    for (const conn of [...this.#conns.values()]) {
      // A frametap capture without a connection's `end` record was cut short: like a JSON Lines
      // capture cut by a crash, it has no `end` for it. A foreign capture simply stopped recording.
      if (this.#mode !== 'foreign') continue;
      await this.#turn(conn);
      this.#finishConn(conn, this.#lastT, false);
    }
    // The last connection's events, and (a capture cut short) its inflates still in flight, are
    // awaited, not raced against a few event-loop turns (which lost most compressed messages).
    await this.#turn(null);
  }

  /**
   * Before events of `conn` (null: events of no connection), the connection fed before it
   * delivers everything it owes. Null when nothing needs waiting for.
   */
  #turn(conn: Conn | null): Promise<void> | null {
    const last = this.#last;
    if (last === conn) return null;
    if (last === null || settled(last)) {
      this.#last = conn;
      return null;
    }
    const done = last.finished ? last.ending! : last.session!.whenIdle();
    return done.then(() => {
      this.#last = conn;
    });
  }

  /** The packet's stream: known, or new in a foreign capture; null when it starts none (a frametap file's early packet is kept for its `open`). */
  #streamOf(record: CaptureRecord & { kind: 'packet' }, segment: TcpSegment): Stream | null {
    const key = `${endpointString(segment.src, segment.srcPort)}>${endpointString(segment.dst, segment.dstPort)}`;
    const stream = this.#streams.get(key);
    if (stream !== undefined) return stream;
    if (this.#mode === 'frametap') {
      if (this.#early.length < MAX_EARLY_PACKETS && this.#earlyBytes + record.data.length <= MAX_EARLY_BYTES) {
        this.#early.push({ ...record, data: Buffer.from(record.data) });
        this.#earlyBytes += record.data.length;
      } else if (this.#earlyDropped++ === 0) this.#warn('packets of connections the capture never opened are skipped');
      return null;
    }
    return this.#foreignStream(segment, key);
  }

  #newSession(conn: Conn): Session {
    return new Session({ conn: conn.id, bus: this.#inner, maxPayload: this.#maxPayload, now: () => this.#clock });
  }

  // ── frametap's own files ──────────────────────────────────────────────────────────────────

  #parseFtap(version: number, json: string): FtapRecord | null {
    if (version !== FTAP_VERSION && !this.#warnedVersion) {
      this.#warnedVersion = true;
      this.#warn(`this capture's frametap records are version ${version}, this frametap reads version ${FTAP_VERSION}: reading what it knows`);
    }
    let record: unknown;
    try {
      record = JSON.parse(json);
    } catch {
      this.#warn('a corrupt frametap record was skipped');
      return null;
    }
    return typeof record === 'object' && record !== null && !Array.isArray(record) ? (record as FtapRecord) : null;
  }

  /** The connection whose events a record makes (null: an event of none, or one not known). */
  #ftapTarget(record: FtapRecord): Conn | null {
    switch (record.type) {
      case 'open':
        // A new connection: what the connection fed before still owes comes out before its `open`.
        return null;
      case 'handshake':
      case 'end':
        return this.#conns.get(record.conn) ?? null;
      case 'event': {
        const conn = (record.event as { conn?: unknown } | null)?.conn;
        return typeof conn === 'number' ? (this.#conns.get(conn) ?? null) : null;
      }
      default:
        return null;
    }
  }

  #frametapRecord(record: FtapRecord): void {
    switch (record.type) {
      case 'capture':
        this.header ??= record;
        return;
      case 'settings':
        if (Number.isSafeInteger(record.maxPayload) && record.maxPayload >= 0) this.#maxPayload = record.maxPayload;
        return;
      case 'open': {
        const conn = new Conn(record.conn, record.client, record.target);
        this.#conns.set(record.conn, conn);
        this.#clock = record.t;
        conn.session = this.#newSession(conn);
        conn.session.open(record.client, record.target);
        const legs = record.legs;
        const register = (client: string, server: string, up: Role, down: Role): void => {
          const upKey = `${client}>${server}`;
          const downKey = `${server}>${client}`;
          this.#streams.set(upKey, { conn, role: up, from: 'client', reasm: new StreamReassembler(), endedBy: null, key: upKey });
          this.#streams.set(downKey, { conn, role: down, from: 'server', reasm: new StreamReassembler(), endedBy: null, key: downKey });
          conn.keys.push(upKey, downKey);
        };
        register(legs.client.client, legs.client.server, 'request', 'ignored');
        register(legs.upstream.client, legs.upstream.server, 'forwarded', 'response');
        this.#last = conn;
        this.#replayEarly();
        return;
      }
      case 'handshake': {
        const conn = this.#conns.get(record.conn);
        if (!conn) return;
        conn.pending = { t: record.t, answered: record.answered, forwarded: record.forwarded };
        this.#tryHandshake(conn);
        return;
      }
      case 'end': {
        const conn = this.#conns.get(record.conn);
        if (!conn) return;
        if (record.tcp) this.#endTcp.set(record.conn, record.tcp);
        if (record.tcp && conn.session) {
          // The streams' ends as the live run saw them (the FIN/RST packets follow this record).
          if (record.tcp.client) void conn.session.endOf('client', record.t, record.tcp.client);
          if (record.tcp.server) void conn.session.endOf('server', record.t, record.tcp.server);
        }
        if (!conn.handshaken && conn.session) {
          // The heads never completed in the file: make the handshake from what there is.
          this.#tryHandshake(conn, true);
        }
        this.#finishConn(conn, record.t, record.shutdown === true);
        this.#forget(conn);
        return;
      }
      case 'event': {
        // Validated as a capture line is (a record is written by frametap, but read from any file).
        const event = record.event && typeof record.event === 'object' ? parseCaptureLine(JSON.stringify(record.event)) : null;
        if (event !== null && event.type !== 'capture') this.#bus.publish(event);
        return;
      }
      default:
        return;
    }
  }

  /** The packets that came before their connection's `open`: of the connection just opened, or kept again. */
  #replayEarly(): void {
    if (this.#early.length === 0) return;
    const early = this.#early.splice(0);
    this.#earlyBytes = 0;
    for (const r of early) {
      if (r.kind !== 'packet') continue;
      const segment = tcpSegmentOf(r.iface.linkType, r.data);
      const stream = segment === null ? null : this.#streamOf(r, segment);
      if (stream !== null) this.#segment(stream, segment!, r.t);
    }
  }

  // ── foreign captures ──────────────────────────────────────────────────────────────────────

  #foreignStream(segment: TcpSegment, key: string): Stream | null {
    // A new TCP connection starts with a SYN (without ACK) from the client, or, when the capture
    // began mid-connection, with the client's request bytes.
    const opening = segment.syn && !segment.ackFlag;
    if (!opening && !(segment.payload.length > 0 && looksLikeRequestStart(segment.payload))) return null;
    if (this.#streams.size >= MAX_STREAMS) return null;
    const client = endpointString(segment.src, segment.srcPort);
    const server = endpointString(segment.dst, segment.dstPort);
    // The id is given when the request head is complete; 0 until then.
    const conn = new Conn(0, client, server);
    const downKey = `${server}>${client}`;
    const up: Stream = { conn, role: 'request', from: 'client', reasm: new StreamReassembler(), endedBy: null, key };
    const down: Stream = { conn, role: 'response', from: 'server', reasm: new StreamReassembler(), endedBy: null, key: downKey };
    this.#streams.set(key, up);
    this.#streams.set(downKey, down);
    conn.keys.push(key, downKey);
    return up;
  }

  /** Foreign: the request head is complete. */
  #foreignRequest(conn: Conn, t: number): void {
    const request = parseRequestHead(conn.request.head!);
    if (request === null) {
      conn.ignored = true;
      return;
    }
    const upgrade = headerValues(request.headers, 'upgrade').some((v) => v.toLowerCase().split(/\s*,\s*/).includes('websocket'));
    (conn as { id: number }).id = this.#nextConn++;
    this.#conns.set(conn.id, conn);
    conn.httpStart = t;
    if (!upgrade) return;
    const host = headerValues(request.headers, 'host')[0] ?? conn.server;
    const target = /^[a-z]+:\/\//i.test(request.target) ? request.target : `ws://${host}${request.target}`;
    this.#clock = t;
    conn.session = this.#newSession(conn);
    conn.session.open(conn.client, target);
  }

  // ── both ──────────────────────────────────────────────────────────────────────────────────

  #segment(stream: Stream, segment: TcpSegment, t: number): void {
    const result = stream.reasm.segment(segment.seq, segment.payload, segment, segment.declaredLength);
    for (const piece of result.data) this.#data(stream, piece, t);
    if (result.gap !== null) this.#gap(stream, result.gap, t);
    if (result.ended) {
      stream.endedBy = segment.rst ? 'reset' : 'fin';
      this.#streamEnded(stream, t, segment.rst);
    }
    this.#forget(stream.conn);
  }

  /**
   * Memory stays bounded over a long capture: a finished connection's streams leave the table once
   * they are over (a frametap file's FIN/RST packets follow its `end` record). A late retransmission
   * of a forgotten foreign stream starts nothing (it is no SYN and no request).
   */
  #forget(conn: Conn): void {
    if (!conn.finished) return;
    const open = conn.keys.filter((k) => {
      const s = this.#streams.get(k);
      return s !== undefined && s.reasm.started && !s.reasm.ended && !s.reasm.broken;
    });
    if (open.length > 0 && this.#mode === 'frametap') return;
    for (const k of conn.keys) this.#streams.delete(k);
    conn.keys.length = 0;
    if (conn.id !== 0) this.#conns.delete(conn.id);
  }

  #data(stream: Stream, bytes: Buffer, t: number): void {
    const conn = stream.conn;
    if (conn.ignored || conn.finished) return;
    this.#clock = t;
    switch (stream.role) {
      case 'ignored':
        return;
      case 'forwarded':
        conn.forwarded.add(bytes);
        this.#tryHandshake(conn);
        return;
      case 'request': {
        const wasDone = conn.request.head !== null;
        const rest = conn.request.add(bytes);
        if (conn.request.failed) {
          if (this.#mode === 'foreign') conn.ignored = true;
          return;
        }
        if (rest === null) return;
        if (!wasDone && this.#mode === 'foreign') {
          this.#foreignRequest(conn, t);
          if (conn.ignored) return;
        }
        if (rest.length > 0) this.#payload(conn, 'client', rest, t);
        this.#tryHandshake(conn);
        return;
      }
      case 'response': {
        const rest = conn.response.add(bytes);
        if (conn.response.failed) {
          if (this.#mode === 'foreign') conn.ignored = true;
          return;
        }
        if (rest === null) return;
        if (rest.length > 0) this.#payload(conn, 'server', rest, t);
        this.#tryHandshake(conn);
        return;
      }
    }
  }

  #payload(conn: Conn, from: Side, bytes: Buffer, t: number): void {
    if (!conn.handshaken) {
      conn.held.push({ from, bytes: Buffer.from(bytes), t });
      return;
    }
    if (!conn.session?.upgraded) return;
    this.#clock = t;
    conn.session.push(from, bytes, t);
  }

  #tryHandshake(conn: Conn, force = false): void {
    if (conn.handshaken || conn.session === null || conn.request.head === null) return;
    let t: number;
    let answered: boolean;
    let forwarded = false;
    if (this.#mode === 'frametap') {
      const pending = conn.pending ?? (force ? { t: this.#clock, answered: true, forwarded: false } : null);
      if (pending === null) return;
      forwarded = pending.forwarded && conn.forwarded.head !== null;
      if (!force && pending.forwarded && conn.forwarded.head === null) return;
      if (!force && pending.answered && conn.response.head === null) return;
      answered = pending.answered && conn.response.head !== null;
      t = pending.t;
    } else {
      if (conn.response.head === null && !force) return;
      answered = conn.response.head !== null;
      t = this.#clock;
    }
    const request = parseRequestHead(conn.request.head);
    if (request === null) return;
    const response = answered ? parseResponseHead(conn.response.head!) : null;
    const forwardedHead = forwarded ? parseRequestHead(conn.forwarded.head!) : null;
    conn.handshaken = true;
    const saved = this.#clock;
    this.#clock = t;
    conn.session.handshake({ request, ...(forwardedHead ? { forwarded: forwardedHead.headers } : {}), response });
    this.#clock = saved;
    const held = conn.held;
    conn.held = [];
    for (const h of held) this.#payload(conn, h.from, h.bytes, h.t);
  }

  #gap(stream: Stream, gap: string, t: number): void {
    const conn = stream.conn;
    if (stream.role === 'ignored' || conn.session === null || conn.finished) return;
    this.#clock = t;
    // capture-format-notes.md: stage `reassembly`; what the sender sent after the hole cannot be
    // framed, so that direction's inspection ends here.
    conn.session.error('reassembly', new Error(`${stream.from} stream: ${gap}`), stream.from);
    if (stream.role === 'request' || stream.role === 'response') void conn.session.endOf(stream.from, t);
  }

  #streamEnded(stream: Stream, t: number, reset: boolean): void {
    const conn = stream.conn;
    if (stream.role === 'request' || stream.role === 'response') conn.ends[stream.from] = stream.endedBy;
    if (this.#mode === 'frametap') {
      if ((stream.role === 'request' || stream.role === 'response') && conn.session && conn.handshaken) void conn.session.endOf(stream.from, t);
      return;
    }
    // Foreign: a plain HTTP request reports when its answer's head is in; the connection ends on
    // a reset or when both directions are over.
    if (conn.session && conn.handshaken && (stream.role === 'request' || stream.role === 'response')) {
      void conn.session.endOf(stream.from, t, stream.endedBy ?? 'fin');
      if (reset) void conn.session.endOf(stream.from === 'client' ? 'server' : 'client', t, 'cut');
    }
    if (reset || (conn.ends.client !== null && conn.ends.server !== null)) this.#finishConn(conn, t, false);
  }

  #finishConn(conn: Conn, t: number, shutdown: boolean): void {
    if (conn.finished) return;
    conn.finished = true;
    this.#clock = t;
    if (this.#mode === 'foreign') {
      if (conn.id === 0 || conn.ignored) return;
      if (conn.session === null) {
        this.#httpEvent(conn, t);
        return;
      }
      if (!conn.handshaken) this.#tryHandshake(conn, true);
      this.#endTcp.set(conn.id, { client: conn.ends.client ?? 'cut', server: conn.ends.server ?? 'cut' });
    }
    const session = conn.session;
    if (session === null) return;
    if (!conn.handshaken) {
      conn.handshaken = true;
      session.handshake({ request: parseRequestHead(conn.request.head ?? Buffer.alloc(0)) ?? { method: 'GET', target: '/', httpVersion: '1.1', headers: [] }, response: null });
    }
    conn.ending = session.finish({ shutdown }).then(() => {
      conn.ended = true;
    });
  }

  #httpEvent(conn: Conn, t: number): void {
    const request = conn.request.head ? parseRequestHead(conn.request.head) : null;
    if (request === null) return;
    const response = conn.response.head ? parseResponseHead(conn.response.head) : null;
    this.#bus.publish({
      type: 'http',
      conn: conn.id,
      t,
      method: request.method,
      target: request.target,
      status: response ? response.status : null,
      durationMs: Math.round((t - conn.httpStart) * 1000) / 1000,
    });
  }
}

/** A connection has delivered every event it owes (its `end` too, once it is finishing). */
function settled(conn: Conn): boolean {
  if (conn.session === null) return true;
  if (conn.finished) return conn.ending === null || conn.ended;
  return conn.session.idle;
}
