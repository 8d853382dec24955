/**
 * One proxied connection: its id, clocks and counters, one protocol inspector per direction, and
 * the capture-form events it publishes (capture-format.md). It is fed bytes and never touches a
 * socket: the proxy's tee hands it a read-only copy of each chunk after relaying it.
 */
import { DirectionInspector } from '../protocol/direction-inspector.js';
import type { InflateLimiter } from '../protocol/inflate-limiter.js';
import { analyzeHandshake } from '../protocol/handshake.js';
import { CloseCode, MAX_CONTROL_PAYLOAD, Opcode } from '../protocol/constants.js';
import type { DeflateDirectionParams, NegotiatedDeflate, WireEvent, WireFrame } from '../protocol/wire-events.js';
import type { GateIntercept } from '../gate/actions.js';
import { interceptEvent } from '../gate/intercept-event.js';
import type { EventBus } from './event-bus.js';
import type {
  ErrorEvent,
  ErrorStage,
  FrameEvent,
  HandshakeEvent,
  HandshakeRequest,
  HandshakeResponse,
  InterceptEvent,
  Leg,
  RawHeaders,
  Side,
  SessionEvent,
  TcpEnd,
} from './events.js';
import { Redactor } from './redact.js';
import { assert } from '../errors.js';

/** Wall-clock ms since the epoch with sub-ms resolution (capture-format `t`). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface SessionOptions {
  readonly conn: number;
  readonly bus: EventBus;
  /** Bytes kept per frame and per message (`--max-payload`). */
  readonly maxPayload: number;
  readonly redactor?: Redactor;
  /** Shared bound on concurrent inflates across the proxy's connections (none: unbounded). */
  readonly inflateLimiter?: InflateLimiter | null;
  /** Clock for events not stamped by the inspector (open, handshake, error, end). */
  readonly now?: () => number;
}

export interface HandshakeInput {
  /** The upgrade request as the client sent it. */
  readonly request: HandshakeRequest;
  /** Headers as sent upstream, when frametap changed them (Host rewrite, `-H`). */
  readonly forwarded?: RawHeaders;
  /** The upstream's answer with its raw header list; null when it never answered. */
  readonly response: HandshakeResponse | null;
}

/**
 * What one direction's relay hands the session: the bytes it forwarded (read-only, already on their
 * way), and how the sender's stream ended.
 */
export interface DirectionSink {
  data(chunk: Buffer, t: number): void;
  end(t: number, how: TcpEnd): Promise<void>;
}

/**
 * A gate's view of one direction's inspector: its events as they come (stream order, before the
 * wire-order merge with the other direction), and the moment it stops.
 */
export interface WireTap {
  event(event: WireEvent): void;
  /** Inspection of this direction stopped (a limit or a failure): nothing more will come. */
  stopped(): void;
}

/** A connection event waiting in a direction's queue for the other direction to catch up. */
type Queued = WireEvent | { readonly kind: 'error'; readonly t: number; readonly event: ErrorEvent | InterceptEvent };

interface DirectionState {
  readonly from: Side;
  inspector: DirectionInspector | null;
  /** Inspect this direction (with these deflate parameters) once its first bytes arrive. */
  inspect: boolean;
  /** The deflate parameters the inspector is made with. */
  deflate: DeflateDirectionParams | null;
  ended: Promise<void> | null;
  /** How the sender's TCP stream ended (capture-format `end.tcp`), null while open. */
  tcp: TcpEnd | null;
  bytes: number;
  frames: number;
  /** This side sent a (complete) close frame. */
  closed: boolean;
  /**
   * Wire order (capture-format "Order"): events delivered by this direction's inspector that wait
   * for the other direction's earlier ones (held behind its inflate). Never the relay: only events.
   */
  queue: Queued[] | null;
  head: number;
  /** The gate reading this direction's events, if any. */
  tap: WireTap | null;
  /** A gate writes what this direction's receiver gets (so it is not "relayed as read"). */
  gated: boolean;
  /**
   * The earliest `t` this direction's inspector may still deliver: +Infinity when it is idle (its
   * next events come from bytes not yet received), else the `t` of what it last delivered (it
   * delivers in stream order).
   */
  lowerBound: number;
}

function direction(from: Side): DirectionState {
  // `queue` is made when an event is first held: most connections never hold one.
  return { from, inspector: null, inspect: false, deflate: null, ended: null, tcp: null, bytes: 0, frames: 0, closed: false, queue: null, head: 0, lowerBound: Infinity, tap: null, gated: false };
}

export class Session {
  readonly conn: number;
  readonly #bus: EventBus;
  readonly #maxPayload: number;
  readonly #redactor: Redactor;
  readonly #now: () => number;
  readonly #inflateLimiter: InflateLimiter | null;
  #openedAt = 0;
  #upgraded = false;
  #handshook = false;
  readonly #client: DirectionState = direction('client');
  readonly #server: DirectionState = direction('server');
  /** Whether a sink wants raw `chunk` events (decided at the handshake, as inspection is). */
  #chunks = false;
  #initiator: Side | null = null;
  #closeCode: number | null = null;
  #closeReason = '';
  /** Waiting for the close event that follows the initiator's close frame. */
  #awaitingCloseBody = false;
  #finished: Promise<void> | null = null;
  /** A gate needs the inspectors whatever the sinks want. */
  #inspectAlways = false;
  #deflate: NegotiatedDeflate | null = null;

  constructor(options: SessionOptions) {
    this.conn = options.conn;
    this.#bus = options.bus;
    this.#maxPayload = options.maxPayload;
    this.#redactor = options.redactor ?? new Redactor([]);
    this.#now = options.now ?? preciseNow;
    this.#inflateLimiter = options.inflateLimiter ?? null;
  }

  get upgraded(): boolean {
    return this.#upgraded;
  }

  get finished(): boolean {
    return this.#finished !== null;
  }

  /** A client connected and asked to upgrade to `target` (the full upstream URL). */
  open(client: string, target: string): void {
    this.#openedAt = this.#now();
    if (!this.#bus.wants('open')) return;
    this.#publish({ type: 'open', conn: this.conn, t: this.#openedAt, client, target: this.#redactor.target(target) });
  }

  /**
   * The upstream answered (or never did). On a 101 the inspectors are set up with the negotiated
   * permessage-deflate parameters; handshake violations are published as the server's.
   */
  handshake(input: HandshakeInput): void {
    assert(!this.#handshook, `conn ${this.conn}: a second handshake`);
    this.#handshook = true;
    const t = this.#now();
    const response = input.response;
    this.#upgraded = response !== null && response.status === 101;
    const analysis = response ? analyzeHandshake(input.forwarded ?? input.request.headers, { status: response.status, headers: response.headers }) : null;
    this.#chunks = this.#upgraded && this.#bus.wants('chunk');
    if (this.#upgraded && analysis) this.#deflate = analysis.deflate;
    if (this.#upgraded && analysis && (this.#inspectAlways || this.#wantsInspection())) {
      // Made on a direction's first bytes: an idle connection costs no decoder (bench/memory.ts).
      const deflate = analysis.deflate;
      this.#client.inspect = this.#server.inspect = true;
      this.#client.deflate = deflate ? deflate.client : null;
      this.#server.deflate = deflate ? deflate.server : null;
    }
    if (this.#bus.wants('handshake')) {
      const r = this.#redactor;
      const event: HandshakeEvent = {
        type: 'handshake',
        conn: this.conn,
        t,
        request: { ...input.request, target: r.target(input.request.target), headers: r.headers(input.request.headers) },
        ...(input.forwarded ? { forwarded: { headers: r.headers(input.forwarded) } } : {}),
        response: response ? { ...response, headers: r.headers(response.headers) } : null,
        upgraded: this.#upgraded,
        accept: analysis ? analysis.accept : 'missing',
        protocol: analysis ? analysis.protocol : null,
        extensions: analysis ? analysis.extensions : [],
      };
      this.#publish(event);
    }
    if (this.#upgraded && analysis && this.#bus.wants('violation')) {
      for (const v of analysis.violations) {
        this.#publish({ type: 'violation', conn: this.conn, t, from: 'server', code: v.code, rule: v.rule, detail: v.detail });
      }
    }
  }

  /**
   * A gate will sit on this connection: inspect both directions whatever the sinks want, and hand
   * each direction's events to its tap. Called before `handshake`.
   */
  gate(taps: { readonly client: WireTap; readonly server: WireTap }): void {
    this.#inspectAlways = true;
    this.#client.tap = taps.client;
    this.#server.tap = taps.server;
    this.#client.gated = this.#server.gated = true;
  }

  /** Whether `wire` publishes anything (a packet capture is being written). */
  get wantsChunks(): boolean {
    return this.#chunks || this.#bus.wants('chunk');
  }

  /** permessage-deflate as negotiated in the 101, or null. */
  get deflate(): NegotiatedDeflate | null {
    return this.#deflate;
  }

  /** frametap changed the traffic (capture-format `intercept`), in wire order with the rest. */
  intercept(intercept: GateIntercept, from: Side): void {
    if (!this.#bus.wants('intercept')) return;
    const event = interceptEvent(this.conn, this.#now(), intercept, this.#maxPayload);
    const dir = from === 'server' ? this.#server : this.#client;
    if (drained(this.#client) && drained(this.#server)) this.#publish(event);
    else {
      hold(dir, { kind: 'error', t: event.t, event });
      this.#flush();
    }
  }

  /** The sink the relay of `from`'s direction feeds. */
  direction(from: Side): DirectionSink {
    return new SessionDirection(this, from);
  }

  /**
   * Bytes as they crossed one TCP leg (`chunk` events, for packet captures): the handshake heads,
   * and whatever frametap wrote that differs from what it read. Nothing when no sink wants them.
   */
  wire(leg: Leg, from: Side, bytes: Buffer, t: number): void {
    if (this.#chunks || this.#bus.wants('chunk')) this.#publish({ type: 'chunk', conn: this.conn, t, leg, from, bytes });
  }

  /**
   * A chunk `from` sent, already relayed untouched. Read-only: the chunk may still sit in the other
   * socket's write queue (STYLE.md §5). A failure of the inspector stops inspecting that direction,
   * never the relay.
   */
  push(from: Side, chunk: Buffer, t: number): void {
    const dir = from === 'client' ? this.#client : this.#server;
    dir.bytes += chunk.length;
    if (this.#chunks) {
      // Relayed as read: the same bytes crossed the sender's leg and then the other leg (a gate
      // reports what it wrote itself, through `wire`).
      this.#publish({ type: 'chunk', conn: this.conn, t, leg: from === 'client' ? 'client' : 'upstream', from, bytes: chunk });
      if (!dir.gated) this.#publish({ type: 'chunk', conn: this.conn, t, leg: from === 'client' ? 'upstream' : 'client', from, bytes: chunk });
    }
    let inspector = dir.inspector;
    if (inspector === null) {
      if (!dir.inspect || dir.ended !== null) return;
      inspector = dir.inspector = this.#inspector(from, dir.deflate);
      dir.inspect = false;
    }
    const wasIdle = dir.lowerBound === Infinity;
    // The inspector never throws: a limit or an internal failure stops it and is reported through
    // its onFailure, once.
    inspector.push(chunk, t);
    // Became busy with this chunk: what it still owes carries this chunk's `t` or later.
    if (dir.inspector !== null && !inspector.idle && wasIdle) dir.lowerBound = t;
  }

  /**
   * Every event of the bytes pushed so far is out: no inflate in flight, nothing held for wire
   * order (what `whenIdle` waits for, without a promise).
   */
  get idle(): boolean {
    const c = this.#client;
    const s = this.#server;
    return (c.inspector?.idle ?? true) && (s.inspector?.idle ?? true) && drained(c) && drained(s);
  }

  /**
   * Resolves once both directions have delivered every event of the bytes pushed so far (inflates
   * done, events held for wire order out), without ending anything: a capture read back that stops
   * with the connection still open (cut short by a crash) still shows every message it holds.
   */
  async whenIdle(): Promise<void> {
    await Promise.all([this.#client.inspector?.whenIdle(), this.#server.inspector?.whenIdle()]);
  }

  /**
   * `from`'s byte stream ended (`how`: FIN, reset, or cut by frametap): a frame in progress is
   * reported incomplete. Resolves once every event of that direction is out.
   */
  endOf(from: Side, t: number = this.#now(), how: TcpEnd = 'cut'): Promise<void> {
    const dir = from === 'client' ? this.#client : this.#server;
    dir.tcp ??= how;
    if (dir.ended) return dir.ended;
    const inspector = dir.inspector;
    dir.ended = (inspector ? inspector.end(t).catch(() => {}) : Promise.resolve()).then(() => {
      dir.lowerBound = Infinity;
      this.#flush();
    });
    // `end` may have delivered the incomplete frame synchronously; if the direction is idle now, the
    // other one's held events can go at once.
    if (!inspector || inspector.idle) {
      dir.lowerBound = Infinity;
      this.#flush();
    }
    return dir.ended;
  }

  /** Something failed that is not the peers' protocol (capture-format `error`). */
  error(stage: ErrorStage, error: unknown, from?: Side): void {
    if (!this.#bus.wants('error')) return;
    const code = errorCode(error);
    const event: ErrorEvent = {
      type: 'error',
      conn: this.conn,
      t: this.#now(),
      stage,
      ...(code ? { code } : {}),
      detail: error instanceof Error ? error.message : String(error),
      ...(from ? { from } : {}),
    };
    // After everything already received, in wire order: behind events still held, if any.
    const dir = from === 'server' ? this.#server : this.#client;
    if (drained(this.#client) && drained(this.#server)) this.#publish(event);
    else {
      hold(dir, { kind: 'error', t: event.t, event });
      this.#flush();
    }
  }

  /**
   * The connection is gone: publishes `end` exactly once, after every event of both directions
   * (later calls return the same promise). `shutdown`: frametap closed it.
   */
  finish(options: { readonly shutdown?: boolean } = {}): Promise<void> {
    if (this.#finished) return this.#finished;
    const t = this.#now();
    this.#finished = Promise.all([this.endOf('client', t), this.endOf('server', t)]).then(() => {
      this.#client.inspector?.dispose();
      this.#server.inspector?.dispose();
      this.#client.lowerBound = this.#server.lowerBound = Infinity;
      this.#flush();
      this.#publishEnd(t, options.shutdown === true);
    });
    return this.#finished;
  }

  #publishEnd(t: number, shutdown: boolean): void {
    if (!this.#bus.wants('end')) return;
    // capture-format `end`: code/reason from the first close frame (1005 for an empty body,
    // RFC 6455 §7.1.5), 1006 when the TCP connection ended without one (§7.1.5); clean only when
    // both close frames were exchanged before the TCP close (§7.1.4). A shutdown by frametap is
    // always 1006 with no initiator.
    const anyClose = this.#initiator !== null && !shutdown;
    this.#publish({
      type: 'end',
      conn: this.conn,
      t,
      code: anyClose ? (this.#closeCode ?? CloseCode.NoStatusReceived) : CloseCode.AbnormalClosure,
      reason: anyClose ? this.#closeReason : '',
      initiator: anyClose ? this.#initiator : null,
      clean: !shutdown && this.#client.closed && this.#server.closed,
      durationMs: Math.round((t - this.#openedAt) * 1000) / 1000,
      bytes: { client: this.#client.bytes, server: this.#server.bytes },
      frames: { client: this.#client.frames, server: this.#server.frames },
      ...(shutdown ? { shutdown: true as const } : {}),
      // capture-format: null for a leg that never carried a WebSocket (a failed dial, a refusal).
      tcp: this.#upgraded ? { client: this.#client.tcp ?? 'cut', server: this.#server.tcp ?? 'cut' } : { client: null, server: null },
    });
  }

  /**
   * Whether anything the inspectors produce is wanted. With no subscriber for any of it (`--ui none`
   * without `-w`) the bytes are relayed and counted but not decoded. Sinks subscribe before the
   * proxy listens, so this is decided once per connection.
   */
  #wantsInspection(): boolean {
    const bus = this.#bus;
    return bus.wants('frame') || bus.wants('message') || bus.wants('close') || bus.wants('violation') || bus.wants('end') || bus.wants('error');
  }

  #inspector(from: Side, deflate: ConstructorParameters<typeof DirectionInspector>[0]['deflate']): DirectionInspector {
    const dir = from === 'client' ? this.#client : this.#server;
    // Payload bytes are kept only for sinks that show them: with none (a pcapng recording, which
    // has the bytes already, or `--ui none` counting ends) only what a close frame can carry is
    // kept, for its code and reason; UTF-8 and inflate are still judged on every byte.
    const payloads = this.#bus.wants('frame') || this.#bus.wants('message');
    const session = this;
    return new DirectionInspector({
      from,
      maxPayload: payloads ? this.#maxPayload : Math.min(this.#maxPayload, MAX_CONTROL_PAYLOAD),
      deflate,
      inflateLimiter: this.#inflateLimiter,
      // Methods, not arrow properties: tsx (esbuild's keepNames) names every arrow property, and a
      // named function carries a property dictionary of its own (~300 bytes each, per direction).
      onEvent(event: WireEvent) {
        dir.tap?.event(event);
        session.#onWire(dir, event);
      },
      onIdle() {
        dir.lowerBound = Infinity;
        session.#flush();
      },
      onFailure(failure: unknown) {
        const inspector = dir.inspector;
        dir.inspector = null;
        dir.lowerBound = Infinity;
        inspector?.dispose();
        dir.tap?.stopped();
        // Named: the limit (or failure), the connection and the direction (`conn`, `from`).
        session.error('relay', failure, from);
      },
    });
  }

  /**
   * An event of `dir`'s inspector. It goes out now unless the other direction may still deliver
   * something that arrived earlier (capture-format "Order": wire order across both directions).
   */
  #onWire(dir: DirectionState, event: WireEvent): void {
    if (dir.lowerBound !== Infinity) dir.lowerBound = event.t;
    const other = dir === this.#client ? this.#server : this.#client;
    if (drained(dir) && drained(other) && event.t <= other.lowerBound) {
      this.#process(dir.from, event);
      return;
    }
    hold(dir, event);
    this.#flush();
  }

  /** Publishes held events in `t` order for as long as neither direction can still deliver an earlier one. */
  #flush(): void {
    const c = this.#client;
    const s = this.#server;
    for (;;) {
      const a = firstHeld(c);
      const b = firstHeld(s);
      if (a === null && b === null) break;
      const takeClient = a !== null && (b === null || a.t <= b.t);
      const dir = takeClient ? c : s;
      const other = takeClient ? s : c;
      const next = (takeClient ? a : b)!;
      if (next.t > other.lowerBound) break;
      dir.head++;
      if (next.kind === 'error') this.#publish(next.event);
      else this.#process(dir.from, next);
    }
    compact(c);
    compact(s);
  }

  #process(from: Side, event: WireEvent): void {
    switch (event.kind) {
      case 'frame':
        return this.#onFrame(from, event);
      case 'message': {
        if (!this.#bus.wants('message')) return;
        return this.#publish({
          type: 'message',
          conn: this.conn,
          t: event.t,
          from,
          opcode: event.opcode,
          compressed: event.compressed,
          frames: event.frames,
          length: event.length,
          data: event.data,
          ...(event.utf8Valid ? {} : { invalidUtf8: true as const }),
          truncated: event.truncated,
        });
      }
      case 'close':
        if (this.#awaitingCloseBody && this.#initiator === from) {
          this.#awaitingCloseBody = false;
          this.#closeCode = event.code;
          this.#closeReason = event.reason;
        }
        if (!this.#bus.wants('close')) return;
        return this.#publish({ type: 'close', conn: this.conn, t: event.t, from, code: event.code, reason: event.reason });
      case 'violation':
        if (!this.#bus.wants('violation')) return;
        return this.#publish({
          type: 'violation',
          conn: this.conn,
          t: event.t,
          from,
          code: event.code,
          rule: event.rule,
          detail: event.detail,
          offset: event.offset,
        });
    }
  }

  #onFrame(from: Side, frame: WireFrame): void {
    const dir = from === 'client' ? this.#client : this.#server;
    const header = frame.header;
    dir.frames++;
    const complete = frame.incompleteReceived === undefined;
    if (header.opcode === Opcode.Close && complete && !dir.closed) {
      dir.closed = true;
      if (this.#initiator === null) {
        this.#initiator = from;
        this.#awaitingCloseBody = true;
      }
    }
    if (!this.#bus.wants('frame')) return;
    // capture-format `frame`: a whole uncompressed data message in one frame leaves its payload to
    // the `message` that follows; every other frame carries it.
    const isData = header.opcode === Opcode.Text || header.opcode === Opcode.Binary;
    const omit = isData && header.fin && !header.rsv1 && !header.violated && complete;
    // The capture event is the one object made here per frame: optional keys are added in the
    // capture's key order (a line reads as before) instead of spread from temporary objects.
    const event: FrameEventDraft = {
      type: 'frame',
      conn: this.conn,
      t: frame.t,
      from,
      fin: header.fin,
      rsv1: header.rsv1,
      rsv2: header.rsv2,
      rsv3: header.rsv3,
      opcode: header.opcode,
      masked: header.masked,
      length: header.length,
    };
    if (header.maskKey !== null) event.maskKey = maskKeyHex(header.maskKey);
    if (!omit) event.payload = frame.payload;
    event.truncated = frame.truncated;
    if (!complete) {
      event.incomplete = true;
      event.received = frame.incompleteReceived;
    }
    this.#publish(event as FrameEvent);
  }

  #publish(event: SessionEvent): void {
    this.#bus.publish(event);
  }
}

/** A FrameEvent while `#onFrame` fills it in key order (`truncated` comes after the optional `maskKey` and `payload`). */
type FrameEventDraft = Omit<{ -readonly [K in keyof FrameEvent]: FrameEvent[K] }, 'truncated'> & { truncated?: boolean };

/** One direction's sink: methods, not two closures per direction of every connection (bench/memory.ts). */
class SessionDirection implements DirectionSink {
  readonly #session: Session;
  readonly #from: Side;

  constructor(session: Session, from: Side) {
    this.#session = session;
    this.#from = from;
  }

  data(chunk: Buffer, t: number): void {
    this.#session.push(this.#from, chunk, t);
  }

  end(t: number, how: TcpEnd): Promise<void> {
    return this.#session.endOf(this.#from, t, how);
  }
}

/** Nothing of `d` is held. */
function drained(d: DirectionState): boolean {
  return d.queue === null || d.head === d.queue.length;
}

/** The first event `d` holds, or null. */
function firstHeld(d: DirectionState): Queued | null {
  return d.queue !== null && d.head < d.queue.length ? d.queue[d.head]! : null;
}

function hold(d: DirectionState, queued: Queued): void {
  (d.queue ??= []).push(queued);
}

/** Drops a direction's queue once all it held is out (no array per flush). */
function compact(d: DirectionState): void {
  if (d.queue !== null && d.head === d.queue.length) {
    d.queue = null;
    d.head = 0;
  }
}

function maskKeyHex(key: number): string {
  return key.toString(16).padStart(8, '0');
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
