/**
 * `--max-capture SIZE` (cli.md): once the capture file reaches SIZE, its `frame` and `message`
 * events are no longer written, and one `error` event of stage `capture` says so. Every other
 * event (`open`, `handshake`, `close`, `violation`, `intercept`, `end`, …) still is, so each
 * connection keeps its `end`. It bounds what a peer can make frametap write: 1-byte fragments cost
 * about 60 times their wire size as JSON Lines (issue 11). The relay is never touched.
 */
import type { ErrorEvent, SessionEvent } from '../session/events.js';

export class CaptureLimit {
  readonly maxBytes: number;
  #reached = false;
  #dropped = 0;

  constructor(maxBytes: number) {
    if (!(Number.isSafeInteger(maxBytes) && maxBytes > 0)) throw new RangeError(`--max-capture must be a positive byte count, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Whether the limit was reached. */
  get reached(): boolean {
    return this.#reached;
  }

  /** Frames and messages left out so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Whether `event` is written to a capture that is `size` bytes long so far. `notice` is the one
   * `error` event to publish, on the first event left out.
   */
  admit(event: SessionEvent, size: number): { readonly write: boolean; readonly notice: ErrorEvent | null } {
    if (event.type !== 'frame' && event.type !== 'message') return { write: true, notice: null };
    if (!this.#reached && size < this.maxBytes) return { write: true, notice: null };
    this.#dropped++;
    if (this.#reached) return { write: false, notice: null };
    this.#reached = true;
    return {
      write: false,
      notice: {
        type: 'error',
        t: event.t,
        stage: 'capture',
        detail: `the capture reached --max-capture ${formatSize(this.maxBytes)}: frames and messages are no longer written (open, handshake, close, violation, intercept and end still are); the relay goes on`,
      },
    };
  }
}

/** 1048576 → `1m`, 65536 → `64k`, else bytes: as the flag is written. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024]] as const) {
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes} bytes`;
}
