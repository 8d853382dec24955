/**
 * A bound on how many zlib inflate operations run at once across every connection of a proxy.
 * ws does the same for the same reason (lib/limiter.js, "We limit zlib concurrency, which prevents
 * severe memory fragmentation"); zlib's work also runs on libuv's small thread pool, which a flood of
 * compressed connections would otherwise fill. Waiters are served first come, first served, so no
 * connection starves; what waits is bounded per direction by the inspector's inflate-lag limit.
 * With the wire-order rule, a connection whose inflate waits here holds its other direction's later
 * events too (never the relay): `stats` reports how long operations waited.
 */
export const DEFAULT_INFLATE_CONCURRENCY = 10;

export interface InflateLimiterStats {
  readonly operations: number;
  /** Operations that had to wait for a slot. */
  readonly waited: number;
  /** Total and longest wait, ms. */
  readonly waitMs: number;
  readonly maxWaitMs: number;
  /** Most operations waiting at once. */
  readonly maxQueued: number;
}

export class InflateLimiter {
  readonly concurrency: number;
  #active = 0;
  #queue: Array<{ readonly run: () => void; readonly since: number }> = [];
  #head = 0;
  #operations = 0;
  #waited = 0;
  #waitMs = 0;
  #maxWaitMs = 0;
  #maxQueued = 0;

  constructor(concurrency: number = DEFAULT_INFLATE_CONCURRENCY) {
    this.concurrency = Math.max(1, concurrency);
  }

  /** Runs `run` once a slot is free (now, if one is); `run` must lead to exactly one `release()`. */
  acquire(run: () => void): void {
    this.#operations++;
    if (this.#active < this.concurrency) {
      this.#active++;
      run();
      return;
    }
    this.#queue.push({ run, since: performance.now() });
    this.#maxQueued = Math.max(this.#maxQueued, this.#queue.length - this.#head);
  }

  release(): void {
    if (this.#head < this.#queue.length) {
      const next = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as never;
      if (this.#head === this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      const waited = performance.now() - next.since;
      this.#waited++;
      this.#waitMs += waited;
      this.#maxWaitMs = Math.max(this.#maxWaitMs, waited);
      next.run();
      return;
    }
    this.#active = Math.max(0, this.#active - 1);
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  get stats(): InflateLimiterStats {
    return { operations: this.#operations, waited: this.#waited, waitMs: this.#waitMs, maxWaitMs: this.#maxWaitMs, maxQueued: this.#maxQueued };
  }
}
