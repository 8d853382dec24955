/**
 * Drives one DirectionGate the way the relay does: each chunk goes to the gate (`bytes`), then to a
 * real DirectionInspector whose frame and message events go to the gate. What the gate writes is
 * collected, to be read back with ws's own Receiver.
 */
import { DirectionInspector } from '../../src/protocol/direction-inspector.js';
import type { DeflateDirectionParams } from '../../src/protocol/wire-events.js';
import { DirectionGate, type DirectionPolicy, type GateClock, type GateLimits } from '../../src/gate/direction-gate.js';
import type { Actor, GateIntercept, MessageView, OutMessage, Step, Verdict } from '../../src/gate/actions.js';
import type { Side } from '../../src/session/events.js';
import { randomMaskKeys } from '../../src/gate/framer.js';

/** A clock the test moves by hand. */
export class ManualClock implements GateClock {
  t = 1000;
  #timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  later(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.#timers.filter((x) => x.live && x.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
  get pending(): number {
    return this.#timers.filter((x) => x.live).length;
  }
}

/** A policy from a function; `active` can be flipped. */
export class TestPolicy implements DirectionPolicy {
  isActive: boolean;
  seen: MessageView[] = [];
  constructor(
    readonly decideFn: (view: MessageView) => Verdict | Promise<Verdict> = () => [],
    readonly controlFn: (opcode: 0x9 | 0xa) => Actor | null = () => null,
    active = true,
  ) {
    this.isActive = active;
  }
  active(): boolean {
    return this.isActive;
  }
  decide(view: MessageView): Verdict | Promise<Verdict> {
    this.seen.push(view);
    return this.decideFn(view);
  }
  control(opcode: 0x9 | 0xa): Actor | null {
    return this.controlFn(opcode);
  }
}

export interface HarnessOptions {
  readonly from: Side;
  readonly policy: TestPolicy;
  readonly deflate?: DeflateDirectionParams | null;
  readonly limits?: GateLimits;
  readonly holdTimeoutMs?: number | null;
  readonly masks?: () => Uint8Array;
}

export class GateHarness {
  readonly writes: Buffer[][] = [];
  readonly intercepts: GateIntercept[] = [];
  readonly problems: string[] = [];
  readonly answers: Array<{ what: { message: OutMessage } | { close: { code: number; reason: string } }; step: Step }> = [];
  readonly cuts: Step[] = [];
  readonly pauses: boolean[] = [];
  drained = false;
  readonly clock = new ManualClock();
  readonly gate: DirectionGate;
  readonly inspector: DirectionInspector;

  constructor(options: HarnessOptions) {
    this.gate = new DirectionGate({
      from: options.from,
      deflate: options.deflate ?? null,
      policy: options.policy,
      masks: options.masks ?? randomMaskKeys(),
      clock: this.clock,
      ...(options.limits ? { limits: options.limits } : {}),
      holdTimeoutMs: options.holdTimeoutMs ?? null,
      sink: {
        write: (parts) => this.writes.push([...parts]),
        intercept: (e) => this.intercepts.push(e),
        backpressure: (p) => this.pauses.push(p),
        answer: (what, step) => this.answers.push({ what, step }),
        cut: (step) => this.cuts.push(step),
        problem: (d) => this.problems.push(d),
        drained: () => (this.drained = true),
      },
    });
    this.inspector = new DirectionInspector({
      from: options.from,
      maxPayload: 1 << 20,
      deflate: options.deflate ?? null,
      onEvent: (e) => {
        if (e.kind === 'frame') this.gate.frame(e);
        else if (e.kind === 'message') this.gate.message(e);
      },
    });
  }

  push(...chunks: Buffer[]): void {
    for (const chunk of chunks) {
      this.gate.push(chunk, (c) => this.inspector.push(c, this.clock.now()));
    }
  }

  /** Wait (event-loop turns, for inflates) until `predicate` holds; fails after 5 s. */
  async until(predicate: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setImmediate(r));
    }
  }

  async end(): Promise<void> {
    await this.inspector.end(this.clock.now());
    this.gate.end();
  }

  get output(): Buffer {
    return Buffer.concat(this.writes.flat());
  }

  actions(): string[] {
    return this.intercepts.map((i) => `${i.action}${i.ref ? `#${i.ref.index}` : ''} by ${i.by}${i.name ? ` ${i.name}` : ''}`);
  }
}
