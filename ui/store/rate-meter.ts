/**
 * Messages and bytes per second over the last three whole seconds, on whatever clock the owner
 * gives: wall time for live traffic, the capture's own event times for a recorded one.
 */
interface Bucket {
  second: number;
  messages: number;
  bytes: number;
}

/** Seconds averaged over. */
const WINDOW = 3;

export class RateMeter {
  readonly #buckets: Bucket[] = [];
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  count(messages: number, bytes: number): void {
    const second = Math.floor(this.#now() / 1000);
    let b = this.#buckets[this.#buckets.length - 1];
    if (!b || b.second !== second) {
      b = { second, messages: 0, bytes: 0 };
      this.#buckets.push(b);
      if (this.#buckets.length > WINDOW + 1) this.#buckets.shift();
    }
    b.messages += messages;
    b.bytes += bytes;
  }

  /** Per second over the last whole seconds (the current one is still filling). */
  rates(): { messages: number; bytes: number } {
    const now = Math.floor(this.#now() / 1000);
    let messages = 0;
    let bytes = 0;
    let seconds = 0;
    for (const b of this.#buckets) {
      if (b.second >= now || b.second < now - WINDOW) continue;
      messages += b.messages;
      bytes += b.bytes;
      seconds++;
    }
    return seconds ? { messages: messages / WINDOW, bytes: bytes / WINDOW } : { messages: 0, bytes: 0 };
  }
}
