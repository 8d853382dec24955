/**
 * When each captured step is played again. Pure: the schedule comes from the captured times and the
 * pace, and the runner waits through a Clock the caller provides (a real one in the CLI, a virtual
 * one in tests), so "original honours the captured gaps" is checked without sleeping.
 */
import { UsageError } from '../errors.js';

export type Pace =
  | { readonly kind: 'original' }
  | { readonly kind: 'fast' }
  | { readonly kind: 'factor'; readonly factor: number }
  | { readonly kind: 'reactive' };

/** `original`, `fast`, `reactive` or a speed factor like `2x` / `0.5x` (2x is twice as fast). */
export function parsePace(value: string): Pace {
  if (value === 'original' || value === 'fast' || value === 'reactive') return { kind: value };
  const m = /^(\d+(?:\.\d+)?|\.\d+)x$/i.exec(value.trim());
  const factor = m ? Number(m[1]) : NaN;
  if (!Number.isFinite(factor) || factor <= 0) {
    throw new UsageError(`bad --pace '${value}': expected original, fast, reactive or a speed factor like 2x or 0.5x`);
  }
  return factor === 1 ? { kind: 'original' } : { kind: 'factor', factor };
}

/** A captured step as pacing sees it. */
export interface Timed {
  /** Captured time, ms after the connection started. */
  readonly at: number;
  /** Messages of the other side that came before this step in the capture. */
  readonly before: number;
}

/**
 * When a step may run: once `awaitOther` messages of the other side have arrived, and `delayMs`
 * after the reference point (`start`: the connection start; `trigger`: the arrival of the awaited
 * message, or the start when nothing is awaited). Steps run in order, never before the previous one.
 */
export interface Gate {
  readonly awaitOther: number;
  readonly delayMs: number;
  readonly from: 'start' | 'trigger';
}

/** The replay client's gates: the client steps of one connection under a pace. */
export function clientGates(steps: readonly Timed[], pace: Pace): Gate[] {
  return steps.map((s) => {
    switch (pace.kind) {
      case 'original':
        return { awaitOther: 0, delayMs: s.at, from: 'start' };
      case 'factor':
        return { awaitOther: 0, delayMs: s.at / pace.factor, from: 'start' };
      case 'fast':
        return { awaitOther: 0, delayMs: 0, from: 'start' };
      case 'reactive':
        return { awaitOther: s.before, delayMs: 0, from: 'trigger' };
    }
  });
}

/**
 * The mock server's gates: steps are grouped into batches by the client message that preceded
 * them; a batch starts as soon as that message arrives (the first batch at once), and keeps the
 * captured spacing inside the batch.
 */
export function batchGates(steps: readonly Timed[]): Gate[] {
  let batchStart = 0;
  return steps.map((s, i) => {
    if (i === 0 || steps[i - 1]!.before !== s.before) batchStart = s.at;
    return { awaitOther: s.before, delayMs: Math.max(0, s.at - batchStart), from: 'trigger' };
  });
}

/** Where a connection starts relative to the first one, for `--conn all`. */
export function startOffset(capturedOffsetMs: number, pace: Pace): number {
  switch (pace.kind) {
    case 'fast':
      return 0;
    case 'factor':
      return capturedOffsetMs / pace.factor;
    case 'original':
    case 'reactive':
      return capturedOffsetMs;
  }
}

/** Time source and waiting; `sleep` resolves early (without error) when `signal` aborts. */
export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** A wait on the other side that did not end within `--timeout`. */
export class PaceTimeout extends Error {
  override readonly name = 'PaceTimeout';
  constructor(
    readonly awaited: number,
    readonly arrived: number,
    readonly timeoutMs: number,
  ) {
    super(`waited ${timeoutMs / 1000} s for message #${awaited} of the peer, ${arrived} arrived`);
  }
}

/** Arrival times of the other side's messages, with waits bounded by a timeout. */
export class Arrivals {
  readonly #times: number[] = [];
  #waiters: Array<{ readonly count: number; readonly wake: () => void }> = [];
  #closed = false;

  constructor(readonly clock: Clock) {}

  get count(): number {
    return this.#times.length;
  }

  /** Clock time when message #k (1-based) arrived. */
  timeOf(k: number): number | undefined {
    return this.#times[k - 1];
  }

  arrived(): void {
    this.#times.push(this.clock.now());
    this.#wake();
  }

  /** No more messages will come (the peer closed): waiters stop waiting. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    const ready = this.#waiters.filter((w) => this.#closed || w.count <= this.#times.length);
    this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.wake();
  }

  /**
   * Resolves once `count` messages arrived or the peer is gone (check `count` after); rejects with
   * PaceTimeout after `timeoutMs`.
   */
  async waitFor(count: number, timeoutMs: number): Promise<void> {
    if (count <= this.#times.length || this.#closed) return;
    const abort = new AbortController();
    let timedOut = false;
    const reached = new Promise<void>((resolve) => this.#waiters.push({ count, wake: resolve }));
    const timer = this.clock.sleep(timeoutMs, abort.signal).then(() => {
      timedOut = !abort.signal.aborted;
    });
    await Promise.race([reached.then(() => abort.abort()), timer]);
    if (timedOut && count > this.#times.length && !this.#closed) throw new PaceTimeout(count, this.#times.length, timeoutMs);
    abort.abort();
  }
}

export interface RunOptions<S> {
  readonly steps: readonly S[];
  readonly gates: readonly Gate[];
  readonly other: Arrivals;
  readonly timeoutMs: number;
  /** Clock time the connection started. */
  readonly startedAt: number;
  readonly run: (step: S, index: number) => void | Promise<void>;
  /** Stop early (the connection is gone); the runner returns the steps done so far. */
  readonly signal?: AbortSignal;
}

/** Runs the steps in order, each once its gate opens. Returns how many steps ran. */
export async function runSchedule<S>(options: RunOptions<S>): Promise<number> {
  const { steps, gates, other, timeoutMs, startedAt, signal } = options;
  const clock = other.clock;
  for (let i = 0; i < steps.length; i++) {
    if (signal?.aborted) return i;
    const gate = gates[i]!;
    await other.waitFor(gate.awaitOther, timeoutMs);
    if (signal?.aborted) return i;
    const ref = gate.from === 'start' || gate.awaitOther === 0 ? startedAt : (other.timeOf(gate.awaitOther) ?? clock.now());
    const wait = ref + gate.delayMs - clock.now();
    if (wait > 0) await clock.sleep(wait, signal);
    if (signal?.aborted) return i;
    await options.run(steps[i]!, i);
  }
  return steps.length;
}
