/**
 * Decoding and pairing for every connection seen on a bus (sans-io: it is fed events, times come
 * from them). One `ConnectionApp` per connection holds the app-protocol context (the view and
 * its per-direction state) and the pair tracker. Sinks (line log, dashboard) own one `AppViews`
 * and call `observe` for each event; nothing here runs on the relay's path.
 */
import type { JsonPath } from '../replay/json-path.js';
import type { SessionEvent, Side } from '../session/events.js';
import { messageData } from '../session/event-data.js';
import { AppProtocolContext, type Redecoder } from './app-context.js';
import { scalarAt } from './json-path-get.js';
import { type DecodeLimits } from './limits.js';
import { ms, type PairOptions, type PairOutcome, type PairStats, PairTracker, type Unanswered } from './pairing.js';
import type { ProtoSchema } from './protobuf-schema.js';
import type { AppMessage, DecodeResult, ViewName } from './types.js';

export interface AppViewOptions {
  /** `--view NAME`. */
  readonly view?: ViewName;
  /** `--pair PATH`: pair by this JSON path instead of the protocols' ids. */
  readonly pairPath?: JsonPath;
  /** `--proto/--proto-type`. */
  readonly schema?: ProtoSchema;
  readonly pair?: Partial<PairOptions>;
  readonly limits?: DecodeLimits;
}

/** What one data message decoded to, and how it paired. */
export interface MessageAppView {
  readonly results: readonly DecodeResult[];
  readonly pairs: readonly PairOutcome[];
  /** The summaries joined with ` | `, a reply's latency after it; null when nothing decoded. */
  readonly summary: string | null;
  /** Decodes the message's bytes again to `results` (ConnectionApp.messageOrLater), when that needs nothing else. */
  readonly again?: (bytes: Uint8Array) => readonly DecodeResult[];
}

export class ConnectionApp {
  readonly context: AppProtocolContext;
  readonly tracker: PairTracker;
  readonly #pairPath: JsonPath | undefined;
  /** messageOrLater's decoders, one per Redecoder (not a closure per message). */
  readonly #later = new Map<Redecoder, (bytes: Uint8Array) => MessageAppView>();

  constructor(options: AppViewOptions, handshake: { readonly target?: string; readonly protocol?: string | null } = {}) {
    this.context = new AppProtocolContext({ ...options, ...handshake });
    this.tracker = new PairTracker(options.pair);
    this.#pairPath = options.pairPath;
  }

  message(from: Side, opcode: 1 | 2, bytes: Uint8Array, t: number, truncated = false): MessageAppView {
    return this.#message({ from, opcode, bytes, t, truncated });
  }

  #message(m: AppMessage, again?: (bytes: Uint8Array) => readonly DecodeResult[]): MessageAppView {
    const { from, opcode, bytes, t } = m;
    const results = this.context.push(m);
    const pairs: PairOutcome[] = [];
    for (const r of results) {
      if (!r.ok) continue;
      if (this.#pairPath !== undefined) {
        const key = r.json !== undefined ? scalarAt(r.json, this.#pairPath) : null;
        if (key !== null) pairs.push(this.tracker.observeEither(from, t, `path:${JSON.stringify(key)}`, r.summary));
      } else if (r.pair) pairs.push(this.tracker.observe(from, t, r.pair, r.summary));
    }
    // A plain JSON payload that no view decoded can still pair by --pair.
    if (results.length === 0 && this.#pairPath !== undefined && opcode === 1) {
      pairs.push(...this.#pairRawJson(from, bytes, t));
    }
    const view = { results, pairs, summary: summarize(results, pairs) };
    return again ? { ...view, again } : view;
  }

  /**
   * `message`, or for later when decoding it now could change nothing (AppProtocolContext.redecoder:
   * no state, no pairing) and `--pair PATH` is not asked (it pairs by a decoded field): then a
   * function of the message's bytes giving what `message` would have. A message decoded now that
   * could be decoded again to the same results carries how (`again`), so that its tree need not be kept.
   */
  messageOrLater(from: Side, opcode: 1 | 2, bytes: Uint8Array, t: number, truncated = false): MessageAppView | ((bytes: Uint8Array) => MessageAppView) {
    const m: AppMessage = { from, opcode, bytes, t, truncated };
    const re = this.context.redecoder(m);
    if (re === null) return this.#message(m);
    if (re.pairs || this.#pairPath !== undefined) return this.#message(m, re.decode);
    let later = this.#later.get(re);
    if (later === undefined) {
      later = (bytes) => {
        const results = re.decode(bytes);
        return { results, pairs: [], summary: summarize(results, []) };
      };
      this.#later.set(re, later);
    }
    return later;
  }

  #pairRawJson(from: Side, bytes: Uint8Array, t: number): PairOutcome[] {
    try {
      const key = scalarAt(JSON.parse(Buffer.from(bytes).toString('utf8')), this.#pairPath!);
      return key === null ? [] : [this.tracker.observeEither(from, t, `path:${JSON.stringify(key)}`)];
    } catch {
      return [];
    }
  }

  expire(now: number): Unanswered[] {
    return this.tracker.expire(now);
  }

  stats(): PairStats {
    return this.tracker.stats();
  }
}

function summarize(results: readonly DecodeResult[], pairs: readonly PairOutcome[]): string | null {
  if (results.length === 0) return null;
  const text = results.map((r) => r.summary).join(' | ');
  const reply = pairs.find((p): p is Extract<PairOutcome, { kind: 'reply' }> => p.kind === 'reply');
  if (reply) return `${text} (reply in ${ms(reply.latencyMs)})`;
  const dropped = pairs.find((p) => p.kind === 'dropped' && p.first);
  if (dropped) return `${text} (open-request limit reached: not paired)`;
  return text;
}

export type AppNote =
  | { readonly kind: 'message'; readonly conn: number; readonly view: MessageAppView }
  | { readonly kind: 'unanswered'; readonly conn: number; readonly items: readonly Unanswered[] }
  | { readonly kind: 'end'; readonly conn: number; readonly stats: PairStats; readonly unanswered: readonly Unanswered[] };

/** From `observeDeferring`: a message to decode later from its bytes (ConnectionApp.messageOrLater). */
export interface MessageLaterNote {
  readonly kind: 'message-later';
  readonly conn: number;
  readonly decode: (bytes: Uint8Array) => MessageAppView;
}

/** Per-bus state: one ConnectionApp per open connection, dropped at its `end`. */
export class AppViews {
  readonly #conns = new Map<number, ConnectionApp>();
  constructor(readonly options: AppViewOptions = {}) {}

  #get(conn: number, handshake?: { target: string; protocol: string | null }): ConnectionApp {
    let app = this.#conns.get(conn);
    if (app === undefined) {
      app = new ConnectionApp(this.options, handshake);
      this.#conns.set(conn, app);
    }
    return app;
  }

  /** Feeds one event; returns what it adds to the views (decoded message, expired requests, final stats). */
  observe(event: SessionEvent): AppNote[] {
    return this.#observe(event, false) as AppNote[];
  }

  /** `observe`, but a message whose decoding can wait (nothing depends on it now) comes back as `message-later`. */
  observeDeferring(event: SessionEvent): (AppNote | MessageLaterNote)[] {
    return this.#observe(event, true);
  }

  #observe(event: SessionEvent, defer: boolean): (AppNote | MessageLaterNote)[] {
    switch (event.type) {
      case 'handshake':
        this.#conns.set(event.conn, new ConnectionApp(this.options, { target: event.request.target, protocol: event.protocol }));
        return [];
      case 'message': {
        const app = this.#get(event.conn);
        const notes: (AppNote | MessageLaterNote)[] = [];
        const expired = app.expire(event.t);
        if (expired.length > 0) notes.push({ kind: 'unanswered', conn: event.conn, items: expired });
        const bytes = messageData(event);
        const view = defer ? app.messageOrLater(event.from, event.opcode, bytes, event.t, event.truncated) : app.message(event.from, event.opcode, bytes, event.t, event.truncated);
        if (typeof view === 'function') notes.push({ kind: 'message-later', conn: event.conn, decode: view });
        else notes.push({ kind: 'message', conn: event.conn, view });
        return notes;
      }
      case 'end': {
        const app = this.#conns.get(event.conn);
        if (app === undefined) return [];
        this.#conns.delete(event.conn);
        // A request still open when its connection ends got no reply: it counts as unanswered.
        const unanswered = app.expire(Number.POSITIVE_INFINITY);
        return [{ kind: 'end', conn: event.conn, stats: app.stats(), unanswered }];
      }
      default:
        return [];
    }
  }

  /** Expires requests past the timeout at `now` on every connection (a live timer calls this). */
  tick(now: number): AppNote[] {
    const notes: AppNote[] = [];
    for (const [conn, app] of this.#conns) {
      const items = app.expire(now);
      if (items.length > 0) notes.push({ kind: 'unanswered', conn, items });
    }
    return notes;
  }

  stats(conn: number): PairStats | null {
    return this.#conns.get(conn)?.stats() ?? null;
  }

  /** Live figures of an open connection, read when shown (null when it is not known). */
  connectionStats(conn: number): (() => PairStats) | null {
    const app = this.#conns.get(conn);
    return app ? () => app.stats() : null;
  }
}
