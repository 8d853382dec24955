/**
 * The two gates of one connection and what crosses between them: an answer to a sender (`respond`,
 * a close toward the sender) goes out on the other direction; a cut ends both. Sans-io like the
 * gates: the relay gives it bytes and inspector events and does what its `io` is told.
 */
import type { NegotiatedDeflate } from '../protocol/wire-events.js';
import type { Side } from '../session/events.js';
import type { Actor, GateIntercept, OutMessage, Step } from './actions.js';
import { DirectionGate, type GateClock, type GateLimits } from './direction-gate.js';
import { randomMaskKeys, type MaskKeySource } from './framer.js';
import type { ConnectionPolicy } from './policy.js';

export interface ConnectionGateIo {
  /** Bytes toward `toward` (the receiver), in order. */
  write(toward: Side, parts: readonly Buffer[]): void;
  /** Stop or resume reading what `from` sends. */
  pause(from: Side, paused: boolean): void;
  /** `from`'s stream ended and all of it went out: end the TCP stream toward the other side. */
  drained(from: Side): void;
  /** Reset both TCP connections (a 1006 end). */
  cut(): void;
  intercept(event: GateIntercept): void;
  problem(detail: string, from: Side): void;
}

export interface ConnectionGateOptions {
  readonly policy: ConnectionPolicy;
  /** Negotiated permessage-deflate, or null. */
  readonly deflate: NegotiatedDeflate | null;
  readonly io: ConnectionGateIo;
  readonly clock?: GateClock;
  readonly masks?: MaskKeySource;
  readonly limits?: GateLimits;
  readonly holdTimeoutMs?: number | null;
}

/** A real clock for the product. */
export const SYSTEM_CLOCK: GateClock = {
  now: () => performance.now(),
  later: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

export class ConnectionGate {
  readonly client: DirectionGate;
  readonly server: DirectionGate;
  readonly #io: ConnectionGateIo;
  #cut = false;
  #cancelCutTimer: (() => void) | null = null;
  readonly #clock: GateClock;

  constructor(options: ConnectionGateOptions) {
    const io = options.io;
    this.#io = io;
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    const masks = options.masks ?? randomMaskKeys();
    const make = (from: Side): DirectionGate => {
      const toward: Side = from === 'client' ? 'server' : 'client';
      return new DirectionGate({
        from,
        deflate: options.deflate ? options.deflate[from] : null,
        policy: options.policy.direction(from),
        masks,
        clock: this.#clock,
        ...(options.limits ? { limits: options.limits } : {}),
        holdTimeoutMs: options.holdTimeoutMs ?? null,
        sink: {
          write: (parts) => io.write(toward, parts),
          intercept: (e) => io.intercept(e),
          backpressure: (paused) => io.pause(from, paused),
          answer: (what, step, ref) => this.#answer(toward, what, step, ref),
          cut: (step) => this.cut(step),
          problem: (detail) => io.problem(detail, from),
          drained: () => io.drained(from),
        },
      });
    };
    this.client = make('client');
    this.server = make('server');
  }

  /** The gate of what `from` sends. */
  of(from: Side): DirectionGate {
    return from === 'client' ? this.client : this.server;
  }

  /** The policy may have changed: each direction starts or stops gating at its next message boundary. */
  refresh(): void {
    this.client.refresh();
    this.server.refresh();
  }

  /** Inject a message toward `toward`, frametap speaking for the other side. */
  inject(toward: Side, message: OutMessage, actor: Actor): void {
    this.of(toward === 'server' ? 'client' : 'server').inject(message, { kind: 'forward', ...actor });
  }

  /** Close toward one side or both (`K`, a rule, a script). */
  close(toward: Side | 'both', code: number, reason: string, actor: Actor): void {
    const step: Step = { kind: 'close', code, reason, toward, ...actor };
    if (toward !== 'client') this.client.close(code, reason, step);
    if (toward !== 'server') this.server.close(code, reason, step);
  }

  /** Ping `toward`, frametap speaking for the other side. */
  ping(toward: Side, payload: Buffer, actor: Actor): void {
    this.of(toward === 'server' ? 'client' : 'server').ping(payload, { kind: 'forward', ...actor });
  }

  /** Cut both TCP connections now (a 1006 end). */
  cut(actor: Actor): void {
    if (this.#cut) return;
    this.#cut = true;
    this.#io.intercept({ from: 'client', action: 'cut', by: actor.by, ...(actor.name !== undefined ? { name: actor.name } : {}) });
    this.dispose();
    this.#io.cut();
  }

  /** `cut-after=TIME`. */
  cutAfter(ms: number, actor: Actor): void {
    this.#cancelCutTimer = this.#clock.later(() => this.cut(actor), ms);
  }

  dispose(): void {
    this.#cancelCutTimer?.();
    this.client.dispose();
    this.server.dispose();
  }

  /**
   * An answer to the sender of a message: written by the gate of the other direction, which speaks
   * for the receiver. `toward` is the side that was to receive the message.
   */
  #answer(toward: Side, what: { readonly message: OutMessage } | { readonly close: { readonly code: number; readonly reason: string } }, step: Step, ref: { from: Side; index: number }): void {
    const other = this.of(toward);
    if ('message' in what) other.inject(what.message, step);
    else other.close(what.close.code, what.close.reason, step, ref);
  }
}
