/**
 * The gate of one direction of a connection: it sits between decoding and forwarding and decides,
 * message by message, what the receiver gets (cli.md "Changing the traffic"; issue 13).
 *
 * Sans-io: it is given the direction's bytes (`bytes`, before the inspector sees them) and the
 * inspector's frame and message events (`frame`, `message`), and it answers through a sink (bytes
 * to write toward the receiver, `intercept` events, backpressure). Its only clock is the injected
 * one (delays, hold timeouts).
 *
 * Modes:
 * - `pass`: nothing applies: every chunk is written as it arrives, byte for byte (the default).
 * - `draining`: something started to apply: chunks wait, and frames that belong to a message that
 *   was already on its way are written as they are, until the stream reaches a message boundary.
 * - `gate`: frame by frame after decoding. A data message's frames are kept until its message
 *   event (inflate may make that asynchronous), then the policy decides. An unchanged message goes
 *   out as its original frames; a changed or injected one is framed by frametap. Order is kept;
 *   ping and pong go ahead of what waits (RFC 6455 §5.4 lets control frames go amid a fragmented
 *   message, which keeps heartbeats alive while a person edits); the sender's close waits for
 *   everything before it.
 * - `broken`: the sender broke framing (or inspection stopped): what is kept goes out in order and
 *   the rest of the stream is relayed byte for byte; nothing applies any more.
 */
import { ByteQueue } from '../protocol/byte-queue.js';
import { Opcode } from '../protocol/constants.js';
import type { Side } from '../session/events.js';
import type { Actor, GateIntercept, MessageView, OutMessage, Step, Verdict } from './actions.js';
import { closeParts, controlParts, messageParts, type MaskKeySource } from './framer.js';
import { maskedCopy } from '../protocol/frame-encoder.js';
import type { FrameHeader } from '../protocol/frame-decoder.js';
import type { WireFrame } from '../protocol/wire-events.js';

/** The message fields the gate reads (a protocol `WireMessage` fits). */
export interface GateMessage {
  readonly opcode: 1 | 2;
  readonly compressed: boolean;
  readonly length: number;
  /** Kept decoded bytes. */
  readonly data: Buffer;
  readonly truncated: boolean;
  readonly utf8Valid: boolean;
}

/** What decides for one direction; the connection's policy bound to this direction and path. */
export interface DirectionPolicy {
  /** Whether anything may act on this direction now; false keeps (or puts back) the byte-for-byte relay. */
  active(): boolean;
  /** The steps for a message; a promise for a script hook (time-boxed by the policy). */
  decide(view: MessageView): Verdict | Promise<Verdict>;
  /** A step for a ping or pong (`swallow`), or null to forward it. */
  control(opcode: 0x9 | 0xa, payload: Buffer): Actor | null;
}

export interface GateSink {
  /** Bytes toward the receiver, in order; the parts may be views of received chunks (never modify them). */
  write(parts: readonly Buffer[]): void;
  intercept(event: GateIntercept): void;
  /** Stop (true) or resume (false) reading the sender: the gate holds as much as its bound allows. */
  backpressure(paused: boolean): void;
  /** frametap answers the sender (`respond`, or a close toward the sender): the other direction sends it. */
  answer(what: { readonly message: OutMessage } | { readonly close: { readonly code: number; readonly reason: string } }, step: Step, ref: MessageRef): void;
  /** Cut the TCP connection (both legs, a reset). */
  cut(step: Step): void;
  /** Something could not be done as asked (reported as an `error` event); the message went on. */
  problem(detail: string): void;
  /** The sender's stream ended and everything kept has been written: end the receiver's side. */
  drained(): void;
}

export interface GateClock {
  now(): number;
  /** Call `fn` after `ms`; returns a cancel function. */
  later(fn: () => void, ms: number): () => void;
}

export interface GateLimits {
  /** Bytes kept behind a held or undecided message before reading the sender pauses. */
  readonly maxBytes: number;
  /** Messages kept likewise (a million tiny messages are a million objects). */
  readonly maxMessages: number;
}

/** Defaults: room for a typical chat or trading session's backlog while a person edits. */
export const DEFAULT_GATE_LIMITS: GateLimits = { maxBytes: 16 * 1024 * 1024, maxMessages: 10_000 };

/** How long a rule's or script's hold lasts when neither it nor `--hold-timeout` says. */
export const DEFAULT_AUTOMATIC_HOLD_MS = 30_000;

export interface DirectionGateOptions {
  /** The sender of this direction; frametap's own frames on it speak for this side. */
  readonly from: Side;
  /** The sender's permessage-deflate parameters, or null without it. */
  readonly deflate: { readonly noContextTakeover: boolean } | null;
  readonly policy: DirectionPolicy;
  readonly sink: GateSink;
  readonly masks: MaskKeySource;
  readonly clock: GateClock;
  readonly limits?: GateLimits;
  /** `--hold-timeout`: held messages go on unchanged after this many ms; null never. */
  readonly holdTimeoutMs?: number | null;
}

export interface MessageRef {
  readonly from: Side;
  readonly index: number;
}

type Mode = 'pass' | 'draining' | 'gate' | 'broken';

interface MessageItem {
  readonly kind: 'message';
  readonly index: number;
  readonly arrived: number;
  /** The message's frames as received: views of the read chunks (a frame spanning chunks is several parts). */
  readonly frames: Buffer[];
  /** Byte size of each frame, in order (to find the frames in `frames` again). */
  readonly frameSizes: number[];
  bytes: number;
  /** RSV1 on the first frame (RFC 7692 §6). */
  readonly compressed: boolean;
  message: GateMessage | null;
  state: 'assembling' | 'deciding' | 'ready' | 'held';
  steps: Verdict;
  releaseAt: number;
  cancelHold: (() => void) | null;
}

interface PartsItem {
  readonly kind: 'parts';
  readonly parts: readonly Buffer[];
  readonly bytes: number;
  /** The sender's own close frame: after it, this direction carries nothing more. */
  readonly close: boolean;
  /** Intercept to publish when it goes out (an injection). */
  readonly intercept: GateIntercept | null;
}

type Item = MessageItem | PartsItem;

/** A held message as the dashboard lists it. */
export interface HeldMessage {
  readonly ref: MessageRef;
  readonly view: MessageView;
}

export class DirectionGate {
  readonly #o: DirectionGateOptions;
  readonly #from: Side;
  readonly #limits: GateLimits;
  readonly #takeover: boolean;
  #mode: Mode;
  /** Bytes of the stream not yet framed (pending frames), starting at #pendingStart. */
  readonly #pending = new ByteQueue();
  #pendingStart = 0;
  /** Stream offset up to which `pass` mode has written. */
  #written = 0;
  /** `pass`/`draining`: a data message is open (its first frame seen, not its last). */
  #open = false;
  /** Messages begun while passing through, whose message events are still to come (skipped). */
  #passMessages = 0;
  /** Gate mode: items whose message event is still to come, oldest first. */
  readonly #awaiting: MessageItem[] = [];
  /** The message item being assembled (frames arriving). */
  #assembling: MessageItem | null = null;
  readonly #queue: Item[] = [];
  #queuedBytes = 0;
  #queuedMessages = 0;
  /** The sender's next message index. */
  #index = 0;
  #paused = false;
  #reencoding = false;
  /** frametap closed this direction (or the sender's close went out): nothing more goes to the receiver. */
  #closed = false;
  #ended = false;
  #drained = false;
  #disposed = false;
  #cancelTimer: (() => void) | null = null;
  /** End offset of the last frame the inspector reported. */
  #lastFrameEnd = 0;
  #timerAt = Infinity;
  #pumping = false;

  constructor(options: DirectionGateOptions) {
    this.#o = options;
    this.#from = options.from;
    this.#limits = options.limits ?? DEFAULT_GATE_LIMITS;
    // RFC 7692 §7.2.1: with context takeover the receiver's inflater keeps the LZ77 window across messages.
    this.#takeover = options.deflate !== null && !options.deflate.noContextTakeover;
    this.#mode = options.policy.active() ? 'gate' : 'pass';
  }

  get mode(): Mode {
    return this.#mode;
  }

  /** Later messages of this direction are re-framed uncompressed (after a drop or edit under context takeover). */
  get reencoding(): boolean {
    return this.#reencoding;
  }

  /**
   * The next bytes of the direction. `decode` hands the same chunk to the inspector, whose frame and
   * message events come back to this gate (synchronously, or later behind an inflate). The chunk is
   * never modified.
   */
  push(chunk: Buffer, decode: (chunk: Buffer) => void): void {
    if (this.#disposed) return decode(chunk);
    if (this.#mode === 'pass' || this.#mode === 'broken') {
      this.#written += chunk.length;
      if (!this.#closed && chunk.length > 0) this.#o.sink.write([chunk]);
      return decode(chunk);
    }
    this.#pending.push(chunk);
    decode(chunk);
    this.#updateBackpressure();
  }

  /**
   * A frame of this direction, complete (from the inspector, in stream order): the decoder's header
   * record with the kept payload (a control frame's whole payload).
   */
  frame(wire: WireFrame): void {
    if (this.#disposed || this.#mode === 'broken') return;
    const frame = wire.header;
    if (frame.violated || wire.incompleteReceived !== undefined) {
      // A frame that broke framing: what follows cannot be followed safely frame by frame.
      if (this.#mode !== 'pass') this.#breakOff();
      else this.#mode = 'broken';
      return;
    }
    const isData = frame.opcode === Opcode.Text || frame.opcode === Opcode.Binary || frame.opcode === Opcode.Continuation;
    const size = frameSize(frame, this.#from);
    const end = frame.offset + size;
    this.#lastFrameEnd = end;
    if (this.#mode === 'pass') {
      this.#trackPassing(frame, isData);
      return;
    }
    if (this.#mode === 'draining') {
      if (end <= this.#pendingStart) {
        // Written whole while passing.
        this.#trackPassing(frame, isData);
        return this.#maybeGate();
      }
      if (frame.offset < this.#pendingStart || this.#open || frame.opcode === Opcode.Continuation) {
        // The rest of a frame or message that was already on its way: as it is.
        this.#trackPassing(frame, isData);
        const parts = this.#takePendingParts(end - this.#pendingStart);
        if (!this.#closed) this.#o.sink.write(parts);
        return this.#maybeGate();
      }
      this.#mode = 'gate';
    }
    if (frame.offset !== this.#pendingStart) return this.#breakOff();
    if (isData) return this.#gateData(frame, this.#takePendingParts(size), size);
    this.#gateControl(frame, wire.payload, this.#takePending(size));
  }

  /** A data message of this direction (from the inspector, in order, after its last frame). */
  message(message: GateMessage): void {
    if (this.#disposed || this.#mode === 'broken') return;
    if (this.#passMessages > 0) {
      this.#passMessages--;
      this.#index++;
      return;
    }
    const item = this.#awaiting.shift();
    if (item === undefined) return this.#breakOff();
    item.message = message;
    item.state = 'deciding';
    this.#index++;
    let verdict: Verdict | Promise<Verdict>;
    try {
      verdict = this.#o.policy.decide(this.#view(item));
    } catch (error) {
      this.#o.sink.problem(`deciding on ${this.#from} message ${item.index} failed: ${(error as Error).message}; forwarded unchanged`);
      verdict = [];
    }
    if (verdict instanceof Promise) {
      verdict.then(
        (steps) => this.#decided(item, steps),
        (error: unknown) => {
          this.#o.sink.problem(`deciding on ${this.#from} message ${item.index} failed: ${(error as Error).message}; forwarded unchanged`);
          this.#decided(item, []);
        },
      );
    } else this.#decided(item, verdict);
  }

  /**
   * The policy may have changed (a breakpoint set or cleared, a rules file reloaded): start gating
   * at the next message boundary, or go back to relaying byte for byte when nothing applies.
   */
  refresh(): void {
    if (this.#disposed) return;
    if (this.#mode === 'pass' && this.#o.policy.active()) this.#startDraining();
    else if (this.#mode === 'gate') this.#pump();
  }

  /** The sender's stream ended: what is kept still goes out (after its delays), then `drained`. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#mode === 'gate' || this.#mode === 'draining') {
      // A frame cut off by the end of the stream, and messages whose last frame never came, go as they are.
      for (const item of this.#awaiting.splice(0)) item.state = 'ready';
      this.#assembling = null;
    }
    this.#pump();
  }

  /** The inspector of this direction stopped (a limit): what is kept goes out, the rest as it comes. */
  inspectionStopped(): void {
    if (this.#disposed) return;
    if (this.#mode === 'pass') this.#mode = 'broken';
    else this.#breakOff();
  }

  /** Stop: timers cancelled, nothing more written. */
  dispose(): void {
    this.#disposed = true;
    this.#cancelTimer?.();
    for (const item of this.#queue) if (item.kind === 'message') item.cancelHold?.();
    this.#queue.length = 0;
    this.#pending.clear();
  }

  // ---- actions from outside (the dashboard, the other direction) ----

  /** Inject a message toward the receiver, speaking for the sender; it goes after what waits. */
  inject(message: OutMessage, step: Step): void {
    const parts = messageParts({ opcode: message.opcode, payload: message.data }, this.#framing());
    const intercept: GateIntercept = { from: this.#from, action: step.kind === 'respond' ? 'respond' : 'inject', by: step.by, ...named(step), message };
    this.#enqueueParts(parts, false, step.kind === 'respond' ? null : intercept);
  }

  /** Send a close frame toward the receiver now, ahead of what waits, which is then dropped. */
  close(code: number, reason: string, step: Step, ref?: MessageRef): void {
    if (this.#closed || this.#disposed) return;
    this.#switchToGate();
    this.#o.sink.intercept({ from: this.#from, action: 'close', by: step.by, ...named(step), ...(ref ? { ref } : {}), detail: `${code} ${reason}`.trim() });
    this.#o.sink.write(closeParts(code, reason, this.#framing()));
    this.#closed = true;
    for (const item of this.#queue) if (item.kind === 'message') item.cancelHold?.();
    this.#queue.length = 0;
    this.#queuedBytes = this.#queuedMessages = 0;
    this.#updateBackpressure();
    this.#pump();
  }

  /** Send a ping toward the receiver now, speaking for the sender. */
  ping(payload: Buffer, step: Step): void {
    if (this.#closed || this.#disposed) return;
    this.#switchToGate();
    this.#o.sink.intercept({ from: this.#from, action: 'ping', by: step.by, ...named(step), ...(payload.length ? { detail: payload.toString('utf8') } : {}) });
    this.#o.sink.write(controlParts(Opcode.Ping, payload.subarray(0, 125), this.#framing()));
  }

  /** Held messages, oldest first. */
  held(): readonly HeldMessage[] {
    const out: HeldMessage[] = [];
    for (const item of this.#queue) if (item.kind === 'message' && item.state === 'held') out.push({ ref: { from: this.#from, index: item.index }, view: this.#view(item) });
    return out;
  }

  /**
   * Release a held message: unchanged, replaced (`edit`) or dropped. Returns false when no message
   * with that index is held.
   */
  release(index: number, change: { readonly edit: OutMessage } | { readonly drop: true } | null, by: Step['by'] = 'user'): boolean {
    const item = this.#queue.find((i): i is MessageItem => i.kind === 'message' && i.index === index && i.state === 'held');
    if (!item) return false;
    this.#unhold(item, by, change === null);
    if (change !== null) {
      const step: Step = 'drop' in change ? { kind: 'drop', by } : { kind: 'edit', message: change.edit, by };
      item.steps = [...item.steps.filter((s) => s.kind !== 'hold'), step];
    }
    this.#pump();
    return true;
  }

  /** Release every held message unchanged (interception turned off, or `A`). */
  releaseAll(by: Step['by'] = 'user'): number {
    let n = 0;
    for (const item of this.#queue) {
      if (item.kind === 'message' && item.state === 'held') {
        this.#unhold(item, by, true);
        n++;
      }
    }
    this.#pump();
    return n;
  }

  // ---- internals ----

  #framing() {
    return { from: this.#from, masks: this.#o.masks };
  }

  /** The next `n` pending bytes as views of the chunks they arrived in (no copy when a frame spans chunks). */
  #takePendingParts(n: number): Buffer[] {
    const parts: Buffer[] = [];
    let left = Math.min(n, this.#pending.length);
    this.#pendingStart += left;
    while (left > 0) {
      const part = this.#pending.consumeUpTo(left);
      parts.push(part);
      left -= part.length;
    }
    return parts;
  }

  #takePending(n: number): Buffer {
    const raw = this.#pending.consume(Math.min(n, this.#pending.length));
    this.#pendingStart += raw.length;
    return raw;
  }

  #trackPassing(frame: FrameHeader, isData: boolean): void {
    if (!isData) return;
    if (frame.opcode !== Opcode.Continuation) {
      this.#passMessages++;
      this.#open = !frame.fin;
    } else if (frame.fin) this.#open = false;
  }

  #startDraining(): void {
    this.#mode = 'draining';
    this.#pendingStart = this.#written;
    this.#maybeGate();
  }

  /** Draining reached a message boundary with nothing of a passing frame left: gate from here. */
  #maybeGate(): void {
    if (this.#mode !== 'draining' || this.#open) return;
    // Events may lag behind the bytes (behind an inflate): the boundary is where the decoded frames end.
    if (this.#lastFrameEnd !== this.#pendingStart) return;
    this.#mode = 'gate';
    this.#pump();
  }


  #switchToGate(): void {
    if (this.#mode === 'pass') this.#startDraining();
  }

  #writeRaw(raw: Buffer): void {
    if (raw.length > 0 && !this.#closed) this.#o.sink.write([raw]);
  }

  #gateData(frame: FrameHeader, parts: Buffer[], size: number): void {
    let item = this.#assembling;
    if (frame.opcode !== Opcode.Continuation) {
      item = {
        kind: 'message',
        index: this.#index + this.#passMessages + this.#awaiting.length,
        arrived: this.#o.clock.now(),
        frames: [],
        frameSizes: [],
        bytes: 0,
        compressed: frame.rsv1,
        message: null,
        state: 'assembling',
        steps: [],
        releaseAt: 0,
        cancelHold: null,
      };
      this.#assembling = item;
      this.#awaiting.push(item);
      this.#queue.push(item);
      this.#queuedMessages++;
    }
    if (item === null) return this.#breakOff();
    for (const part of parts) item.frames.push(part);
    item.frameSizes.push(size);
    item.bytes += size;
    this.#queuedBytes += size;
    if (frame.fin) this.#assembling = null;
    this.#updateBackpressure();
  }

  /** `payload`: the frame's unmasked payload; `raw`: the frame as it came. */
  #gateControl(frame: FrameHeader, payload: Buffer, raw: Buffer): void {
    if (frame.opcode === Opcode.Ping || frame.opcode === Opcode.Pong) {
      const step = this.#o.policy.control(frame.opcode, payload);
      if (step !== null) {
        this.#o.sink.intercept({ from: this.#from, action: 'swallow', by: step.by, ...named(step), detail: frame.opcode === Opcode.Ping ? 'ping' : 'pong' });
        return;
      }
      // Ahead of what waits: heartbeats stay alive while a message is held.
      this.#writeRaw(raw);
      return;
    }
    this.#enqueueParts([raw], frame.opcode === Opcode.Close, null);
  }

  #enqueueParts(parts: readonly Buffer[], close: boolean, intercept: GateIntercept | null): void {
    if (this.#closed || this.#disposed) return;
    this.#switchToGate();
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.#queue.push({ kind: 'parts', parts, bytes, close, intercept });
    this.#queuedBytes += bytes;
    this.#pump();
  }

  #view(item: MessageItem): MessageView {
    const m = item.message!;
    const isText = m.opcode === Opcode.Text && m.utf8Valid;
    let data: Buffer | undefined;
    let text: string | null | undefined;
    const fullData = (): Buffer => (data ??= this.#fullData(item) ?? m.data);
    // `data` and `text` are made only when a source reads them: most rules never look at most
    // messages' bytes, and when the inspector kept none (no sink wants them) making them means
    // unmasking the whole message again (bench/relay.ts "rules, no match").
    return {
      from: this.#from,
      index: item.index,
      opcode: m.opcode,
      compressed: m.compressed,
      length: m.length,
      get data(): Buffer {
        return fullData();
      },
      get text(): string | null {
        if (text === undefined) text = isText ? fullData().toString('utf8') : null;
        return text;
      },
      // Only a compressed message larger than what is kept has no whole data (#fullData).
      truncated: m.truncated && item.compressed,
    };
  }

  /**
   * The whole decoded message: the inspector's bytes when it kept them all, else an uncompressed
   * message's own frames unmasked again; null for a compressed message larger than what is kept.
   */
  #fullData(item: MessageItem): Buffer | null {
    const m = item.message;
    if (m !== null && !m.truncated) return m.data;
    return item.compressed ? null : wirePayload(wholeFrames(item));
  }

  #decided(item: MessageItem, steps: Verdict): void {
    if (this.#disposed || item.state !== 'deciding') return;
    item.steps = steps;
    item.state = 'ready';
    item.releaseAt = item.arrived;
    for (const step of steps) {
      if (step.kind === 'delay') {
        item.releaseAt = Math.max(item.releaseAt, item.arrived + step.ms);
        this.#o.sink.intercept({ from: this.#from, action: 'delay', by: step.by, ...named(step), ref: this.#ref(item), detail: `${Math.round(step.ms)} ms` });
      } else if (step.kind === 'hold' && item.state !== 'held') {
        item.state = 'held';
        this.#o.sink.intercept({ from: this.#from, action: 'hold', by: step.by, ...named(step), ref: this.#ref(item) });
        // A person holds until they act (or --hold-timeout); a rule, script or fault never wedges a
        // connection by itself (issue 13: "default off in the dashboard, on for rules").
        const timeout = step.timeoutMs !== undefined ? step.timeoutMs : (this.#o.holdTimeoutMs ?? (step.by === 'user' ? null : DEFAULT_AUTOMATIC_HOLD_MS));
        if (timeout !== null) {
          item.cancelHold = this.#o.clock.later(() => {
            this.#unhold(item, step.by, true, `after the hold timeout (${timeout} ms)`);
            this.#pump();
          }, timeout);
        }
      }
    }
    this.#pump();
  }

  /** A held message may go; `announce`: it goes unchanged (an edit or drop says itself what happened). */
  #unhold(item: MessageItem, by: Step['by'], announce: boolean, detail?: string): void {
    if (item.state !== 'held') return;
    item.cancelHold?.();
    item.cancelHold = null;
    item.state = 'ready';
    if (announce) this.#o.sink.intercept({ from: this.#from, action: 'release', by, ref: this.#ref(item), ...(detail ? { detail } : {}) });
  }

  #ref(item: MessageItem): MessageRef {
    return { from: this.#from, index: item.index };
  }

  #pump(): void {
    if (this.#pumping || this.#disposed) return;
    this.#pumping = true;
    try {
      const now = this.#o.clock.now();
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!;
        if (head.kind === 'message') {
          if (head.state !== 'ready') break;
          if (head.releaseAt > now) {
            this.#wakeAt(head.releaseAt, now);
            break;
          }
          this.#queue.shift();
          this.#queuedBytes -= head.bytes;
          this.#queuedMessages--;
          this.#emitMessage(head);
        } else {
          this.#queue.shift();
          this.#queuedBytes -= head.bytes;
          if (!this.#closed) {
            if (head.intercept) this.#o.sink.intercept(head.intercept);
            this.#o.sink.write(head.parts);
          }
          // The sender's own close: what it sends after it still goes as it comes (a frame after close is its violation, reported, relayed).
        }
      }
      this.#updateBackpressure();
      if (this.#queue.length === 0 && this.#assembling === null && this.#awaiting.length === 0) {
        if (this.#ended) {
          if (this.#pending.length > 0) this.#writeRaw(this.#takePending(this.#pending.length));
          if (!this.#drained) {
            this.#drained = true;
            this.#o.sink.drained();
          }
        } else if (this.#mode === 'gate' && !this.#reencoding && !this.#closed && !this.#o.policy.active()) {
          // Nothing applies any more: back to relaying byte for byte from here.
          this.#mode = 'pass';
          this.#written = this.#pendingStart;
          if (this.#pending.length > 0) {
            this.#written += this.#pending.length;
            this.#writeRaw(this.#pending.consume(this.#pending.length));
          }
          this.#pendingStart = this.#written;
          this.#open = false;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #wakeAt(at: number, now: number): void {
    if (this.#timerAt <= at && this.#cancelTimer !== null) return;
    this.#cancelTimer?.();
    this.#timerAt = at;
    this.#cancelTimer = this.#o.clock.later(() => {
      this.#cancelTimer = null;
      this.#timerAt = Infinity;
      this.#pump();
    }, at - now);
  }

  #emitMessage(item: MessageItem): void {
    const sink = this.#o.sink;
    if (this.#closed) return;
    // The common case: nothing asked for, its own frames go out as they came.
    if (item.steps.length === 0 && !(this.#reencoding && item.compressed)) return sink.write(item.frames);
    const ref = this.#ref(item);
    let drop = false;
    let replacement: OutMessage | null = null;
    let replacedBy: Step | null = null;
    if (item.message === null) return this.#forward(item, 0, false, false);
    let fragments = 0;
    let wrongMask = false;
    let rsv1 = false;
    const after: Array<() => void> = [];
    const needData = (step: Step, what: string): Buffer | null => {
      const data = this.#fullData(item);
      if (data === null) sink.problem(`${step.by}${step.name ? ` '${step.name}'` : ''}: cannot ${what} ${this.#from} message ${item.index}: only ${item.message?.data.length ?? 0} of its ${item.message?.length ?? 0} bytes are kept`);
      return data;
    };
    for (const step of item.steps) {
      switch (step.kind) {
        case 'forward':
        case 'delay':
        case 'hold':
          break;
        case 'drop':
          drop = true;
          sink.intercept({ from: this.#from, action: 'drop', by: step.by, ...named(step), ref });
          break;
        case 'edit':
          replacement = step.message;
          replacedBy = step;
          break;
        case 'respond':
          if (step.forward !== true) drop = true;
          sink.intercept({ from: this.#from, action: 'respond', by: step.by, ...named(step), ref, message: step.message });
          after.push(() => sink.answer({ message: step.message }, step, ref));
          break;
        case 'close':
          drop = true;
          after.push(() => {
            if (step.toward !== this.#from) this.close(step.code, step.reason, step, ref);
            if (step.toward !== otherSide(this.#from)) sink.answer({ close: { code: step.code, reason: step.reason } }, step, ref);
          });
          break;
        case 'duplicate': {
          const data = needData(step, 'duplicate');
          if (data === null) break;
          const copy: OutMessage = { opcode: item.message!.opcode, data };
          after.unshift(() => {
            sink.intercept({ from: this.#from, action: 'duplicate', by: step.by, ...named(step), ref, message: copy });
            // Always uncompressed: a resent compressed copy would shift the receiver's LZ77 window (RFC 7692 §7.2.1).
            sink.write(messageParts({ opcode: copy.opcode, payload: copy.data }, this.#framing()));
          });
          break;
        }
        case 'corrupt': {
          if (step.corrupt === 'utf8') {
            if (item.message!.opcode !== Opcode.Text) break;
            const data = needData(step, 'corrupt');
            if (data === null) break;
            const bad = Buffer.alloc(Math.max(1, data.length));
            data.copy(bad);
            // 0xFF never occurs in UTF-8 (RFC 3629 §1): the receiver must fail with 1007 (RFC 6455 §8.1).
            bad[0] = 0xff;
            replacement = { opcode: 1, data: bad };
            replacedBy = step;
          } else if (step.corrupt === 'mask') wrongMask = true;
          else rsv1 = true;
          if (step.corrupt !== 'utf8') sink.intercept({ from: this.#from, action: 'corrupt', by: step.by, ...named(step), ref, detail: step.corrupt });
          break;
        }
        case 'fragment':
          fragments = step.frames;
          break;
        case 'cut':
          after.push(() => sink.cut(step));
          break;
      }
    }
    const changed = drop || replacement !== null;
    if (drop) {
      // Nothing goes out.
    } else if (replacement !== null) {
      const step = replacedBy!;
      sink.intercept({
        from: this.#from,
        action: step.kind === 'corrupt' ? 'corrupt' : 'edit',
        by: step.by,
        ...named(step),
        ref,
        message: replacement,
        ...(step.kind === 'corrupt' ? { detail: 'utf8' } : step.kind === 'edit' && step.detail ? { detail: step.detail } : {}),
      });
      sink.write(messageParts({ opcode: replacement.opcode, payload: replacement.data, fragments: fragments || 1, wrongMask, forceRsv1: rsv1 }, this.#framing()));
    } else {
      this.#forward(item, fragments, wrongMask, rsv1);
    }
    if (changed && item.compressed && this.#takeover && !this.#reencoding) {
      this.#reencoding = true;
      sink.intercept({
        from: this.#from,
        action: 'reencode',
        ...byOf(item.steps),
        ref,
        detail: 'permessage-deflate context takeover: later messages of this direction go uncompressed',
      });
    }
    for (const fn of after) fn();
  }

  /** The message itself: its own frames, or re-framed when fragmenting, corrupting or re-encoding. */
  #forward(item: MessageItem, fragments: number, wrongMask: boolean, rsv1: boolean): void {
    const sink = this.#o.sink;
    const m = item.message;
    if (m === null) {
      // Cut off by the end of the stream before its message event: as it came.
      sink.write(item.frames);
      return;
    }
    if (this.#reencoding && item.compressed) {
      const data = this.#fullData(item);
      if (data === null) {
        sink.problem(`cannot re-encode ${this.#from} message ${item.index} (${m.length} bytes, more than kept): sent as it came, the receiver may fail to inflate it`);
        sink.write(item.frames);
        return;
      }
      sink.write(messageParts({ opcode: m.opcode, payload: data, fragments: fragments || 1, wrongMask, forceRsv1: rsv1 }, this.#framing()));
      if (fragments) this.#o.sink.intercept({ from: this.#from, action: 'fragment', by: 'fault', ref: this.#ref(item), detail: `${fragments} frames` });
      return;
    }
    if (fragments === 0 && !wrongMask && !rsv1) {
      sink.write(item.frames);
      return;
    }
    const fragmentStep = item.steps.find((s) => s.kind === 'fragment');
    if (fragmentStep) sink.intercept({ from: this.#from, action: 'fragment', by: fragmentStep.by, ...named(fragmentStep), ref: this.#ref(item), detail: `${fragments} frames` });
    // The payload as it came (still compressed for a compressed message: re-framing it leaves the LZ77 stream as it is).
    const payload = wirePayload(wholeFrames(item));
    sink.write(
      messageParts(
        { opcode: m.opcode, payload, compressed: item.compressed, fragments: fragments || (rsv1 && item.compressed ? 2 : 1), wrongMask, forceRsv1: rsv1, rsv1OnEveryFrame: rsv1 && item.compressed },
        this.#framing(),
      ),
    );
  }

  /** Over the bound: pause reading the sender, unless one message alone fills it (then it streams through). */
  #updateBackpressure(): void {
    const over = this.#queuedBytes + this.#pending.length > this.#limits.maxBytes || this.#queuedMessages > this.#limits.maxMessages;
    if (over && this.#mode === 'gate') {
      const queue = this.#queue;
      // Nothing waits ahead: the message (or frame) in progress alone is over the bound.
      if (queue.length === 0 || (queue.length === 1 && queue[0] === this.#assembling)) return this.#streamThrough(this.#assembling);
    }
    if (over === this.#paused) return;
    this.#paused = over;
    this.#o.sink.backpressure(over);
  }

  /**
   * A message too large to keep whole with nothing ahead of it: it goes through as it comes
   * (nothing can act on it), and gating resumes after it.
   */
  #streamThrough(item: MessageItem | null): void {
    this.#queue.length = 0;
    this.#queuedBytes = this.#queuedMessages = 0;
    this.#assembling = null;
    // Its frame events so far were counted as a gated message; the rest come as passing ones.
    this.#open = false;
    if (item !== null) {
      this.#awaiting.pop();
      if (this.#reencoding && item.compressed) this.#o.sink.problem(`${this.#from} message ${item.index} is larger than the gate keeps (${this.#limits.maxBytes} bytes): sent as it came, not re-encoded`);
      this.#o.sink.write(item.frames);
      this.#passMessages++;
      this.#open = true;
    }
    this.#mode = 'draining';
    this.#written = this.#pendingStart;
    if (this.#pending.length > 0) {
      // The partial frame's bytes go now; the frame event for it is then "already written".
      this.#written += this.#pending.length;
      this.#writeRaw(this.#pending.consume(this.#pending.length));
    }
    this.#pendingStart = this.#written;
    if (this.#paused) {
      this.#paused = false;
      this.#o.sink.backpressure(false);
    }
  }

  /** Framing broke: write what is kept in order, as it came, and relay the rest byte for byte. */
  #breakOff(): void {
    if (this.#mode === 'broken') return;
    this.#mode = 'broken';
    for (const item of this.#queue) {
      if (item.kind === 'message') {
        item.cancelHold?.();
        this.#o.sink.write(item.frames);
      } else this.#o.sink.write(item.parts);
    }
    this.#queue.length = 0;
    this.#awaiting.length = 0;
    this.#assembling = null;
    this.#queuedBytes = this.#queuedMessages = 0;
    if (this.#pending.length > 0) {
      this.#written = this.#pendingStart + this.#pending.length;
      this.#o.sink.write([this.#pending.consume(this.#pending.length)]);
    }
    if (this.#reencoding) this.#o.sink.problem(`${this.#from} broke framing while re-encoding: the rest is relayed as it comes`);
    if (this.#paused) {
      this.#paused = false;
      this.#o.sink.backpressure(false);
    }
    if (this.#ended && !this.#drained) {
      this.#drained = true;
      this.#o.sink.drained();
    }
  }
}

/** A message's frames, each as one buffer (joined where a frame came in several parts). */
function wholeFrames(item: MessageItem): Buffer[] {
  if (item.frames.length === item.frameSizes.length) return item.frames;
  const all = Buffer.concat(item.frames, item.bytes);
  const out: Buffer[] = [];
  let at = 0;
  for (const size of item.frameSizes) {
    out.push(all.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** The unmasked payload of whole frames (RFC 6455 §5.2/§5.3), joined: what the sender framed. */
export function wirePayload(frames: readonly Buffer[]): Buffer {
  const pieces: Buffer[] = [];
  let total = 0;
  for (const frame of frames) {
    const b1 = frame[1]!;
    const len7 = b1 & 0x7f;
    let at = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
    let mask: Buffer | null = null;
    if (b1 & 0x80) {
      mask = frame.subarray(at, at + 4);
      at += 4;
    }
    const payload = frame.subarray(at);
    pieces.push(mask === null ? payload : maskedCopy(payload, mask));
    total += payload.length;
  }
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, total);
}

/** RFC 6455 §5.2 size of a frame that broke no framing rule: minimal length form, masked exactly when a client sent it. */
function frameSize(frame: FrameHeader, from: Side): number {
  const ext = frame.length <= 125 ? 0 : frame.length <= 0xffff ? 2 : 8;
  return 2 + ext + (from === 'client' ? 4 : 0) + frame.length;
}

function named(step: Actor): { readonly name?: string } {
  return step.name !== undefined ? { name: step.name } : {};
}

/** The actor of a re-encode is whoever changed the message that started it. */
function byOf(steps: Verdict): Actor {
  const s = steps.find((x) => x.kind !== 'delay' && x.kind !== 'hold' && x.kind !== 'forward');
  return s ? { by: s.by, ...named(s) } : { by: 'user' };
}

function otherSide(side: Side): Side {
  return side === 'client' ? 'server' : 'client';
}
