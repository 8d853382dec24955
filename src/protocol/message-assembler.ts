/**
 * The per-direction layer above the frame decoder: turns decode events into wire events. It joins
 * continuations (RFC 6455 §5.4), lets control frames interleave, checks UTF-8 across fragments
 * (§8.1), parses close bodies (§5.5.1), and inflates compressed messages (RFC 7692) one at a time.
 *
 * Order of events for one frame: framing violations, then the frame; for a close frame, the
 * violations about its body, then the close; for the last frame of a data message, content
 * violations (invalid-utf8, inflate-failed; their offset is the message's first frame), then the
 * message. A failed inflate yields a message with no data and length 0, because how much inflated
 * before the error depends on how TCP cut the input. A data frame that broke a framing rule still
 * joins its message, which then gets no content violation (capture format). Uncompressed traffic is handled
 * synchronously; while a compressed message inflates, later input waits in a backlog so that the
 * order is kept.
 */
import { Opcode, VIOLATION_CODES, type ViolationRule } from './constants.js';
import { opensMessage, type DecodeEvent, type FrameHeader, type IncompleteFrame, type MessageHeader } from './frame-decoder.js';
import { MessageInflater, type InflateResult } from './permessage-deflate.js';
import type { InflateLimiter } from './inflate-limiter.js';
import { isValidCloseCode, isValidUtf8, Utf8Validator } from './validation.js';
import type { DeflateDirectionParams, WireEvent } from './wire-events.js';

export interface MessageAssemblerOptions {
  /** Bytes kept per frame and per message. */
  readonly maxPayload: number;
  /** This sender's negotiated permessage-deflate parameters, or null. */
  readonly deflate: DeflateDirectionParams | null;
  readonly onEvent: (event: WireEvent) => void;
  /**
   * Called when the assembler becomes idle again after an inflate (never from inside `handle`):
   * whoever orders this direction's events against another's can let the other's go.
   */
  readonly onIdle?: () => void;
  /**
   * Called once when inspection of this direction stops for good (a limit hit, or a throwing
   * onEvent), whether in `handle` or later from an inflate callback. No events follow.
   */
  readonly onFailure?: (error: unknown) => void;
  /**
   * Frames one data message may have before inspection of the direction stops (default
   * DEFAULT_MAX_FRAGMENTS): bytes alone are no bound on work, a million 1-byte fragments are a
   * million frame events.
   */
  readonly maxFragments?: number;
  /** Shared bound on concurrent inflates across connections (none: unbounded). */
  readonly inflateLimiter?: InflateLimiter | null;
}

/** capture-format has no limit on fragments; this one bounds the work one message can cause. */
export const DEFAULT_MAX_FRAGMENTS = 100_000;

/** A limit of the protocol core was hit: inspection of the direction stops, relaying goes on. */
export class InspectionLimitError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Input the assembler accepts: decoder events, or the frame the end of the stream cut off. */
export type AssemblerInput = DecodeEvent | { readonly kind: 'incomplete'; readonly frame: IncompleteFrame };

interface Pending {
  readonly events: readonly AssemblerInput[];
  readonly t: number;
  next: number;
}

const EMPTY = Buffer.alloc(0);

/** Decode events of one direction in, wire events out (frames, messages, closes, violations), in order. */
export class MessageAssembler {
  readonly #maxPayload: number;
  readonly #deflate: DeflateDirectionParams | null;
  readonly #onEvent: (event: WireEvent) => void;
  readonly #onIdle: (() => void) | undefined;
  readonly #onFailure: ((error: unknown) => void) | undefined;
  readonly #maxFragments: number;
  readonly #inflateLimiter: InflateLimiter | null;

  // The frame in progress. Its kept payload is one view while the pieces are adjacent in memory
  // (one chunk, or the decoder's unmask buffer), else it is copied into #frameBuffer as it arrives.
  #frame: FrameHeader | null = null;
  #frameView: Buffer | null = null;
  #frameBuffer: Buffer | null = null;
  #frameKept = 0;

  // The data message in progress. What a message is (its opcode, whether it is compressed, which
  // frames belong to it) is the decoder's to say, on each header: this layer keeps the header
  // that opened the message, never a copy of its fields, and counts and collects its content.
  /** The header of the open message's first frame, null when no message is open. */
  #message: MessageHeader | null = null;
  #messageFrames = 0;
  #messageLength = 0;
  #messageViolated = false;
  /**
   * Kept bytes of the message: the first frame's kept payload as a view, then, from the second
   * fragment on, one growing copy (one object however many fragments: a million 1-byte fragments
   * must not be a million Buffer views).
   */
  #messageFirst: Buffer | null = null;
  #messageJoined: Buffer | null = null;
  #messageKept = 0;
  #utf8: Utf8Validator | null = null;
  #inflater: MessageInflater | null = null;

  // Ordering behind an inflate.
  #blocked = false;
  #backlog: Pending[] = [];
  #idle: Array<() => void> = [];
  #disposed = false;
  #failure: unknown = null;

  constructor(options: MessageAssemblerOptions) {
    this.#maxPayload = Math.max(0, options.maxPayload);
    this.#deflate = options.deflate;
    this.#onEvent = options.onEvent;
    this.#onIdle = options.onIdle;
    this.#onFailure = options.onFailure;
    this.#maxFragments = options.maxFragments ?? DEFAULT_MAX_FRAGMENTS;
    this.#inflateLimiter = options.inflateLimiter ?? null;
  }

  /** Nothing is waiting for an inflate. */
  get idle(): boolean {
    return !this.#blocked && this.#backlog.length === 0;
  }

  /** Compressed bytes waiting for zlib. */
  get inflateQueued(): number {
    return this.#inflater?.queuedBytes ?? 0;
  }

  /** Decode events waiting behind an inflate (a measure of inspection lag, for backpressure). */
  get pending(): number {
    let count = 0;
    for (const p of this.#backlog) count += p.events.length - p.next;
    return count;
  }

  /** Handle the events of one push; `t` goes into the events they complete. */
  handle(events: readonly AssemblerInput[], t: number): void {
    if (this.#disposed || events.length === 0) return;
    if (!this.idle) {
      this.#backlog.push({ events, t, next: 0 });
      return;
    }
    const next = this.#process(events, 0, t);
    if (next < events.length) this.#backlog.push({ events, t, next });
  }

  /** Resolves once every event handed in so far has been delivered. */
  whenIdle(): Promise<void> {
    if (this.idle || this.#disposed) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** No more events; release the inflater. */
  dispose(): void {
    this.#disposed = true;
    this.#backlog = [];
    this.#inflater?.close();
    this.#inflater = null;
    this.#frameView = this.#frameBuffer = this.#messageFirst = this.#messageJoined = null;
    this.#wakeIdle();
  }

  /** Process from `start`; returns the index after the event that blocked, or `events.length`. */
  #process(events: readonly AssemblerInput[], start: number, t: number): number {
    for (let i = start; i < events.length; i++) {
      const event = events[i]!;
      switch (event.kind) {
        case 'header':
          this.#onHeader(event);
          break;
        case 'payload':
          this.#onPayload(event.data);
          break;
        case 'frame-end':
          this.#onFrameEnd(t);
          break;
        case 'violation':
          this.#emit({ kind: 'violation', t, rule: event.rule, code: event.code, detail: event.detail, offset: event.offset });
          break;
        case 'incomplete':
          this.#onIncomplete(event.frame, t);
          break;
      }
      if (this.#blocked || this.#disposed) return i + 1;
    }
    return events.length;
  }

  #emit(event: WireEvent): void {
    if (this.#disposed) return;
    try {
      this.#onEvent(event);
    } catch (err) {
      // A throwing consumer must not break the relay, nor surface from a zlib callback: stop here.
      this.#fail(err ?? new Error('onEvent threw'));
    }
  }

  #fail(error: unknown): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    this.dispose();
    this.#onFailure?.(error);
  }

  /** What stopped the assembler: a limit hit, an exception thrown by onEvent, or null. */
  get failure(): unknown {
    return this.#failure;
  }

  #onHeader(header: FrameHeader): void {
    this.#frame = header;
    this.#frameView = null;
    this.#frameBuffer = null;
    this.#frameKept = 0;
    if (header.message === 0) return;
    if (opensMessage(header)) {
      // A new message while one is open (expected-continuation, already reported): the open one is lost.
      if (this.#message !== null) this.#abandonMessage();
      this.#message = header;
      this.#messageFrames = 0;
      this.#messageLength = 0;
      this.#messageViolated = false;
      this.#messageFirst = this.#messageJoined = null;
      this.#messageKept = 0;
      if (header.compressed) {
        this.#inflater ??= new MessageInflater({
          noContextTakeover: this.#deflate?.noContextTakeover ?? false,
          maxPayload: this.#maxPayload,
          limiter: this.#inflateLimiter,
        });
        this.#inflater.begin(header.message === Opcode.Text);
      } else if (header.message === Opcode.Text) {
        this.#utf8 ??= new Utf8Validator();
        this.#utf8.reset();
      }
    }
    if (this.#message === null) return;
    if (++this.#messageFrames > this.#maxFragments) {
      this.#fail(
        new InspectionLimitError(
          'FRAGMENT_LIMIT',
          `a message of more than ${this.#maxFragments} fragments: inspection of this direction stopped to bound the work per message (limit ${this.#maxFragments} fragments); relaying goes on`,
        ),
      );
      return;
    }
    this.#messageLength += header.length;
    if (header.violated) this.#messageViolated = true;
  }

  #onPayload(data: Buffer): void {
    const frame = this.#frame;
    if (!frame) return;
    const room = this.#maxPayload - this.#frameKept;
    if (room > 0) this.#keep(data.length <= room ? data : data.subarray(0, room), frame);
    if (frame.message === 0 || this.#message === null) return;
    if (frame.compressed) this.#inflater!.write(data);
    else if (frame.message === Opcode.Text) this.#utf8!.push(data);
  }

  #keep(kept: Buffer, frame: FrameHeader): void {
    const view = this.#frameView;
    const buffer = this.#frameBuffer;
    if (buffer !== null) kept.copy(buffer, this.#frameKept);
    else if (view === null) this.#frameView = kept;
    else if (kept.buffer === view.buffer && kept.byteOffset === view.byteOffset + view.length) {
      this.#frameView = Buffer.from(view.buffer, view.byteOffset, view.length + kept.length);
    } else {
      const joined = Buffer.allocUnsafe(Math.min(frame.length, this.#maxPayload));
      view.copy(joined, 0);
      kept.copy(joined, view.length);
      this.#frameBuffer = joined;
      this.#frameView = null;
    }
    this.#frameKept += kept.length;
  }

  /** Appends a later fragment's kept bytes to the message's one growing copy (doubling, up to maxPayload). */
  #appendKept(part: Buffer): void {
    const need = this.#messageKept + part.length;
    let joined = this.#messageJoined;
    if (joined === null || joined.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(this.#maxPayload, Math.max(need, 2 * need, 256)));
      if (joined === null) this.#messageFirst!.copy(grown, 0);
      else joined.copy(grown, 0, 0, this.#messageKept);
      joined = this.#messageJoined = grown;
    }
    part.copy(joined, this.#messageKept);
  }

  #framePayload(): Buffer {
    if (this.#frameBuffer !== null) return this.#frameBuffer.subarray(0, this.#frameKept);
    return this.#frameView ?? EMPTY;
  }

  #onFrameEnd(t: number): void {
    const frame = this.#frame;
    if (!frame) return;
    this.#frame = null;
    const payload = this.#framePayload();
    this.#frameView = this.#frameBuffer = null;
    const message = frame.message !== 0 ? this.#message : null;
    if (message !== null && !frame.compressed) {
      const room = this.#maxPayload - this.#messageKept;
      if (room > 0 && payload.length > 0) {
        const part = payload.length <= room ? payload : payload.subarray(0, room);
        if (this.#messageFirst === null) this.#messageFirst = part;
        else this.#appendKept(part);
        this.#messageKept += part.length;
      }
    }
    this.#emit({ kind: 'frame', t, header: frame, payload, truncated: frame.length > payload.length, incompleteReceived: undefined });
    if (frame.opcode === Opcode.Close) this.#onClose(frame, payload, t);
    else if (message !== null && frame.fin) this.#finishMessage(message, t);
  }

  /** RFC 6455 §5.5.1: an optional body of a 2-byte status code and a UTF-8 reason. */
  #onClose(frame: FrameHeader, body: Buffer, t: number): void {
    // A frame that broke a framing rule is not checked for content rules as well (capture format).
    const check = !frame.violated;
    let code: number | null = null;
    let reason = '';
    if (frame.length === 1) {
      // RFC 6455 §5.5.1: "the first two bytes of the body MUST be a 2-byte unsigned integer".
      if (check) this.#violation('invalid-close-body', 'close frame with a 1-byte body (a status code takes 2)', frame.offset, t);
    } else if (body.length >= 2) {
      code = body.readUInt16BE(0);
      const reasonBytes = body.subarray(2);
      reason = reasonBytes.toString('utf8');
      if (check && !isValidCloseCode(code)) {
        // RFC 6455 §7.4: 1005, 1006 and 1015 MUST NOT be sent; other codes outside the defined ranges are not sendable.
        this.#violation('invalid-close-code', `close code ${code} must not be sent on the wire`, frame.offset, t);
      }
      if (check && !isValidUtf8(reasonBytes)) {
        // RFC 6455 §5.5.1: after the code, "the body MAY contain UTF-8-encoded data with value /reason/".
        this.#violation('invalid-close-reason', 'close reason is not valid UTF-8', frame.offset, t);
      }
    }
    this.#emit({ kind: 'close', t, code, reason });
  }

  #violation(rule: ViolationRule, detail: string, offset: number, t: number): void {
    this.#emit({ kind: 'violation', t, rule, code: VIOLATION_CODES[rule], detail, offset });
  }

  /** The last frame of `message` (the header of its first frame) ended. */
  #finishMessage(message: MessageHeader, t: number): void {
    this.#message = null;
    if (message.compressed) {
      const frames = this.#messageFrames;
      const violated = this.#messageViolated;
      this.#blocked = true;
      this.#inflater!.finish((result) => this.#onInflated(result, message, frames, violated, t));
      return;
    }
    const first = this.#messageFirst;
    const joined = this.#messageJoined;
    // A message of one frame shares that frame's buffer: no second copy.
    const data = first === null ? EMPTY : joined === null ? first : joined.subarray(0, this.#messageKept);
    this.#messageFirst = this.#messageJoined = null;
    const utf8Valid = message.message === Opcode.Binary || this.#utf8!.end();
    if (!utf8Valid && !this.#messageViolated) {
      // RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_".
      this.#violation('invalid-utf8', `text message of ${this.#messageLength} bytes is not valid UTF-8`, message.offset, t);
    }
    this.#emit({
      kind: 'message',
      t,
      opcode: message.message,
      compressed: false,
      frames: this.#messageFrames,
      length: this.#messageLength,
      data,
      truncated: this.#messageLength > data.length,
      utf8Valid,
    });
  }

  #onInflated(result: InflateResult, message: MessageHeader, frames: number, violated: boolean, t: number): void {
    if (this.#disposed) return;
    const opcode = message.message;
    const offset = message.offset;
    const failed = result.error !== null;
    // capture-format: a message with a frame that broke a framing rule is not checked for content rules.
    if (failed && !violated) {
      // Payload that cannot be decompressed is data "not consistent with the type of the message": 1007 (RFC 6455 §7.4.1).
      this.#violation('inflate-failed', `compressed message does not inflate (${result.error})`, offset, t);
    } else if (!result.utf8Valid && opcode === Opcode.Text && !violated) {
      this.#violation('invalid-utf8', `text message of ${result.length} inflated bytes is not valid UTF-8`, offset, t);
    }
    this.#emit({
      kind: 'message',
      t,
      opcode,
      compressed: true,
      frames,
      // How much inflated before the error depends on how TCP cut the input: report none, so the
      // same bytes always give the same events.
      length: failed ? 0 : result.length,
      data: failed ? EMPTY : result.data,
      truncated: !failed && result.length > result.data.length,
      utf8Valid: opcode === Opcode.Binary || failed || result.utf8Valid,
    });
    this.#blocked = false;
    this.#drain();
  }

  #drain(): void {
    while (!this.#blocked && !this.#disposed && this.#backlog.length > 0) {
      const pending = this.#backlog[0]!;
      pending.next = this.#process(pending.events, pending.next, pending.t);
      if (pending.next >= pending.events.length) this.#backlog.shift();
    }
    if (this.idle && !this.#disposed) {
      this.#wakeIdle();
      this.#onIdle?.();
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idle;
    this.#idle = [];
    for (const wake of waiters) wake();
  }

  #abandonMessage(): void {
    if (this.#message?.compressed) this.#inflater?.abandon();
    this.#message = null;
    this.#messageFirst = this.#messageJoined = null;
  }

  #onIncomplete(incomplete: IncompleteFrame, t: number): void {
    const frame = incomplete.header;
    const payload = this.#frame === frame ? this.#framePayload() : EMPTY;
    this.#frame = null;
    this.#frameView = this.#frameBuffer = null;
    this.#emit({ kind: 'frame', t, header: frame, payload, truncated: incomplete.received > payload.length, incompleteReceived: incomplete.received });
    if (this.#message !== null) this.#abandonMessage();
  }
}
