/**
 * Request/reply pairing and latency for one connection (sans-io: times come from the events).
 * A request is open until a reply with its key comes from the other side; past `timeoutMs` it is
 * unanswered. Open requests are bounded in count (`maxOutstanding`); past it new requests are
 * not tracked and the limit is reported once.
 */
import type { Side } from '../session/events.js';
import type { PairMark } from './types.js';

export interface PairOptions {
  /** `--pair-timeout` in ms (default 30 s). */
  readonly timeoutMs: number;
  /** Open requests tracked per connection. */
  readonly maxOutstanding: number;
  /** Latencies kept for p50/p99 (the most recent ones). */
  readonly window: number;
}

/** Characters of a request's summary kept while it is open. */
const LABEL_CHARS = 120;

export const DEFAULT_PAIR_OPTIONS: PairOptions = { timeoutMs: 30_000, maxOutstanding: 10_000, window: 10_000 };

export type PairOutcome =
  | { readonly kind: 'request'; readonly key: string }
  | { readonly kind: 'reply'; readonly key: string; readonly latencyMs: number; readonly requestT: number; readonly request: string }
  /** A reply whose request was never seen (or already answered, or expired). */
  | { readonly kind: 'unmatched'; readonly key: string }
  /** A later item of a stream whose request was already answered (graphql `next`). */
  | { readonly kind: 'stream'; readonly key: string }
  /** Not tracked: `maxOutstanding` requests are open. `first` on the first one dropped. */
  | { readonly kind: 'dropped'; readonly key: string; readonly first: boolean };

export interface Unanswered {
  readonly from: Side;
  readonly key: string;
  readonly t: number;
  /** The request's summary. */
  readonly request: string;
}

interface Open {
  readonly t: number;
  readonly request: string;
}

export interface PairStats {
  readonly requests: number;
  readonly replies: number;
  readonly unanswered: number;
  readonly open: number;
  readonly unmatched: number;
  readonly dropped: number;
  /** Median and 99th percentile of the latencies in the window (ms), null before the first reply. */
  readonly p50: number | null;
  readonly p99: number | null;
}

export class PairTracker {
  readonly options: PairOptions;
  /** `requester|key` → times of the open requests, oldest first. */
  readonly #open = new Map<string, Open[]>();
  #openCount = 0;
  readonly #latencies: number[] = [];
  /** The window sorted, made when stats are read after a new reply. */
  #sorted: number[] | null = null;
  #next = 0;
  #requests = 0;
  #replies = 0;
  #unanswered = 0;
  #unmatched = 0;
  #dropped = 0;

  constructor(options: Partial<PairOptions> = {}) {
    this.options = { ...DEFAULT_PAIR_OPTIONS, ...options };
  }

  /** One message's pairing mark from `from` at `t`; `label` names the message (its summary). */
  observe(from: Side, t: number, mark: PairMark, fullLabel = mark.key): PairOutcome {
    // Open requests are kept by the thousand: their labels are kept short.
    const label = fullLabel.length > LABEL_CHARS ? `${fullLabel.slice(0, LABEL_CHARS)}…` : fullLabel;
    const other: Side = from === 'client' ? 'server' : 'client';
    const { key } = mark;
    if (mark.role === 'request') return this.#request(from, t, key, label);
    const slot = `${other}|${key}`;
    const times = this.#open.get(slot);
    if (times === undefined) {
      if (mark.role === 'reply-stream') return { kind: 'stream', key };
      this.#unmatched++;
      return { kind: 'unmatched', key };
    }
    const { t: requestT, request } = times.shift()!;
    if (times.length === 0) this.#open.delete(slot);
    this.#openCount--;
    this.#replies++;
    const latencyMs = Math.max(0, t - requestT);
    if (this.#latencies.length < this.options.window) this.#latencies.push(latencyMs);
    else this.#latencies[this.#next] = latencyMs;
    this.#next = (this.#next + 1) % this.options.window;
    this.#sorted = null;
    return { kind: 'reply', key, latencyMs, requestT, request };
  }

  /**
   * `--pair` by a user's path: a key open from the other side makes this a reply, else a request.
   */
  observeEither(from: Side, t: number, key: string, label = key): PairOutcome {
    const other: Side = from === 'client' ? 'server' : 'client';
    return this.observe(from, t, { role: this.#open.has(`${other}|${key}`) ? 'reply' : 'request', key }, label);
  }

  #request(from: Side, t: number, key: string, request: string): PairOutcome {
    if (this.#openCount >= this.options.maxOutstanding) {
      this.#dropped++;
      return { kind: 'dropped', key, first: this.#dropped === 1 };
    }
    const slot = `${from}|${key}`;
    const times = this.#open.get(slot);
    if (times) times.push({ t, request });
    else this.#open.set(slot, [{ t, request }]);
    this.#openCount++;
    this.#requests++;
    return { kind: 'request', key };
  }

  /** Requests open longer than the timeout at `now` (all of them with `now` = Infinity): removed, counted and returned. */
  expire(now: number): Unanswered[] {
    const out: Unanswered[] = [];
    if (this.#openCount === 0) return out;
    for (const [slot, times] of this.#open) {
      while (times.length > 0 && now - times[0]!.t >= this.options.timeoutMs) {
        const bar = slot.indexOf('|');
        const open = times.shift()!;
        out.push({ from: slot.slice(0, bar) as Side, key: slot.slice(bar + 1), t: open.t, request: open.request });
      }
      if (times.length === 0) this.#open.delete(slot);
    }
    this.#openCount -= out.length;
    this.#unanswered += out.length;
    return out;
  }

  stats(): PairStats {
    this.#sorted ??= [...this.#latencies].sort((a, b) => a - b);
    const sorted = this.#sorted;
    return {
      requests: this.#requests,
      replies: this.#replies,
      unanswered: this.#unanswered,
      open: this.#openCount,
      unmatched: this.#unmatched,
      dropped: this.#dropped,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
    };
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1]!;
}

/** `12 req / 11 rep, p50 1.2 ms, p99 8.0 ms, 1 unanswered`. */
export function formatPairStats(s: PairStats): string {
  const parts = [`${s.requests} req / ${s.replies} rep`];
  if (s.p50 !== null) parts.push(`p50 ${ms(s.p50)}`, `p99 ${ms(s.p99!)}`);
  if (s.unanswered > 0) parts.push(`${s.unanswered} unanswered`);
  if (s.open > 0) parts.push(`${s.open} open`);
  if (s.dropped > 0) parts.push(`${s.dropped} not tracked (open-request limit)`);
  return parts.join(', ');
}

export function ms(v: number): string {
  return v < 10 ? `${v.toFixed(2)} ms` : v < 1000 ? `${v.toFixed(1)} ms` : `${(v / 1000).toFixed(2)} s`;
}
