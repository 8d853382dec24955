/**
 * The protocol core's facade for one direction of a connection: bytes in (a read-only copy of what
 * was relayed), wire events out, in stream order. FrameDecoder → MessageAssembler; inflating is
 * the only asynchronous step, and only compressed messages pay for it.
 */
import { FrameDecoder } from './frame-decoder.js';
import { MessageAssembler } from './message-assembler.js';
import type { InflateLimiter } from './inflate-limiter.js';
import type { DeflateDirectionParams, Sender, WireEvent } from './wire-events.js';

export interface DirectionInspectorOptions {
  /** Who sends on this direction: 'client' frames must be masked, 'server' frames must not. */
  readonly from: Sender;
  /** Bytes kept per frame and per message. */
  readonly maxPayload: number;
  /** Negotiated permessage-deflate parameters of this sender, or null. */
  readonly deflate: DeflateDirectionParams | null;
  /** Events in stream order. */
  readonly onEvent: (event: WireEvent) => void;
  /** The direction caught up after an inflate: every event of the bytes pushed so far is out. */
  readonly onIdle?: () => void;
  /**
   * Inspection of this direction stopped for good (a limit, or an internal failure), reported once,
   * whether during `push` or later from an inflate callback. Relaying is not affected.
   */
  readonly onFailure?: (error: unknown) => void;
  /** Frames per data message before inspection stops (MessageAssembler's DEFAULT_MAX_FRAGMENTS). */
  readonly maxFragments?: number;
  /** Shared bound on concurrent inflates across connections. */
  readonly inflateLimiter?: InflateLimiter | null;
  /**
   * Bytes that may wait for inflate (input behind a pending inflate, plus compressed input zlib has
   * not taken) before inspection of this direction stops; default DEFAULT_MAX_INFLATE_LAG.
   */
  readonly maxInflateLag?: number;
}

/**
 * Inflating can be slower than the wire (a stream of small messages that each inflate to
 * gigabytes). The relay never waits for it, so what waits must be bounded: past this, inspection
 * of the direction stops with a failure the session reports, and relaying goes on.
 */
export const DEFAULT_MAX_INFLATE_LAG = 16 * 1024 * 1024;

/** Inspects one direction of a WebSocket connection: FrameDecoder → MessageAssembler → onEvent. */
export class DirectionInspector {
  readonly #decoder: FrameDecoder;
  readonly #assembler: MessageAssembler;
  readonly #maxInflateLag: number;
  /** Bytes handed in since the assembler was last idle (they wait behind an inflate). */
  #lag = 0;
  #failure: unknown = null;
  readonly #onFailure: ((error: unknown) => void) | undefined;
  #ended = false;
  #disposed = false;

  constructor(options: DirectionInspectorOptions) {
    this.#decoder = new FrameDecoder({ from: options.from, maxPayload: options.maxPayload, deflate: options.deflate !== null });
    this.#onFailure = options.onFailure;
    const inspector = this;
    this.#assembler = new MessageAssembler({
      maxPayload: options.maxPayload,
      deflate: options.deflate,
      onEvent: options.onEvent,
      // A method, not an arrow property (which tsx names: a property dictionary per inspector).
      onFailure(error: unknown) {
        inspector.#fail(error);
      },
      ...(options.onIdle ? { onIdle: options.onIdle } : {}),
      ...(options.maxFragments !== undefined ? { maxFragments: options.maxFragments } : {}),
      inflateLimiter: options.inflateLimiter ?? null,
    });
    this.#maxInflateLag = options.maxInflateLag ?? DEFAULT_MAX_INFLATE_LAG;
  }

  /**
   * Inspect the next bytes of the stream. Never throws, never mutates `chunk` (it may still be
   * queued on the other socket). Events go to onEvent synchronously when no inflate is pending,
   * otherwise they queue behind it. `t` is carried into the events this chunk completes.
   */
  push(chunk: Buffer, t: number): void {
    if (this.#disposed || this.#ended || this.stopped) return;
    try {
      const assembler = this.#assembler;
      // What waits is what came since the assembler was last idle: if it was idle before this
      // chunk, only this chunk can be waiting (an idle spell between pushes resets the count).
      const before = assembler.idle ? 0 : this.#lag;
      const events = this.#decoder.push(chunk);
      if (events.length > 0) assembler.handle(events, t);
      this.#lag = assembler.idle ? 0 : before + chunk.length;
      const behind = this.#lag + assembler.inflateQueued;
      if (behind > this.#maxInflateLag) {
        throw new Error(
          `inspection fell ${Math.round(behind / 1024)} KiB behind inflating (limit ${Math.round(this.#maxInflateLag / 1024)} KiB): ` +
            'stopped for this direction to keep memory bounded; relaying goes on',
        );
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * The TCP stream ended: report a frame in progress as incomplete, then resolve once every event
   * (including pending inflates) has been delivered.
   */
  end(t: number): Promise<void> {
    if (!this.#disposed && !this.#ended && !this.stopped) {
      this.#ended = true;
      try {
        const incomplete = this.#decoder.end();
        if (incomplete) this.#assembler.handle([{ kind: 'incomplete', frame: incomplete }], t);
      } catch (err) {
        this.#fail(err);
      }
    }
    this.#ended = true;
    return this.#assembler.whenIdle();
  }

  /** Every event of the bytes pushed so far has been delivered (no inflate in flight). */
  get idle(): boolean {
    return this.#assembler.idle;
  }

  /** Resolves once every event of the bytes pushed so far has been delivered (no inflate in flight). */
  whenIdle(): Promise<void> {
    return this.#assembler.whenIdle();
  }

  /** Inspection of this direction stopped (length-msb-set, length-too-large, or an internal failure). */
  get stopped(): boolean {
    return this.failure !== null || this.#decoder.stopped;
  }

  /**
   * Decode events queued behind a pending inflate. Relaying never waits for inspection; a caller
   * that wants bounded memory under a flood of compressed messages can throttle while this grows.
   */
  get pending(): number {
    return this.#assembler.pending;
  }

  /** The internal failure that stopped inspection (our bug, or a throwing onEvent), or null. */
  get failure(): unknown {
    return this.#failure ?? this.#assembler.failure;
  }

  /** Release the inflater; no more events after this. */
  dispose(): void {
    this.#disposed = true;
    this.#assembler.dispose();
  }

  #fail(err: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = err ?? new Error('unknown failure');
    this.#assembler.dispose();
    this.#onFailure?.(this.#failure);
  }
}
