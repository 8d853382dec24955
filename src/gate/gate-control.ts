/**
 * What the dashboard does to live traffic (issue 13 "Ways to act"): breakpoints, the held
 * messages of every connection, and the commands on them and on connections. No screen here: the
 * dashboard's keys call these, and tests call them directly.
 */
import type { Side } from '../session/events.js';
import type { OutMessage } from './actions.js';
import { BreakpointSource, handshakeBreakpoint, type HandshakeStage } from './breakpoints.js';
import type { Actor, GateIntercept } from './actions.js';
import type { ConnectionContext } from './policy.js';
import type { ConnectionGate } from './connection-gate.js';
import type { HeldMessage } from './direction-gate.js';
import type { GateSetup } from './gate-setup.js';

export interface HeldEntry extends HeldMessage {
  readonly conn: number;
}

const USER = { by: 'user' } as const;

/** An upgrade request, or the upstream's 101 to it, held at a breakpoint. */
export interface HeldHandshake {
  readonly conn: number;
  readonly target: string;
  /** `request`: not sent upstream yet; `response`: the upstream said 101, the client has not heard it. */
  readonly stage: HandshakeStage;
}

interface PendingHandshake {
  readonly target: string;
  readonly stage: HandshakeStage;
  readonly settle: (decision: 'forward' | 'drop', by: 'user' | 'timeout' | 'gone') => void;
}

export class GateControl {
  readonly breakpoints: BreakpointSource;
  readonly #setup: GateSetup;
  readonly #handshakes = new Map<number, PendingHandshake>();

  /** Adds the dashboard's breakpoints to `setup` (held without timeout unless `--hold-timeout`). */
  constructor(setup: GateSetup) {
    this.#setup = setup;
    this.breakpoints = new BreakpointSource(setup.holdTimeoutMs, () => setup.notifyChanged());
    setup.addSource(this.breakpoints);
    const breakpoints = this.breakpoints;
    setup.handshakeHolder = {
      get active() {
        return breakpoints.enabled && breakpoints.list.some((b) => b.handshake === 'request');
      },
      hold: (ctx, intercept, timeoutMs) => this.#holdHandshake(ctx, intercept, timeoutMs, 'request'),
      holdsResponse: (target) => handshakeBreakpoint(breakpoints, target, 'response') !== null,
      holdResponse: (ctx, intercept, timeoutMs) => this.#holdHandshake(ctx, intercept, timeoutMs, 'response'),
      cancel: (conn) => {
        const h = this.#handshakes.get(conn);
        h?.settle('forward', 'gone');
      },
    };
  }

  /** Upgrade requests and 101 responses held at a breakpoint, oldest first. */
  heldHandshakes(): HeldHandshake[] {
    return [...this.#handshakes].map(([conn, h]) => ({ conn, target: h.target, stage: h.stage }));
  }

  /** `a` on a held upgrade request (it goes to the upstream) or 101 (it goes to the client). */
  forwardHandshake(conn: number): boolean {
    const h = this.#handshakes.get(conn);
    h?.settle('forward', 'user');
    return h !== undefined;
  }

  /** `d` on a held upgrade request or 101: frametap refuses the client (403); a 101's upstream connection is closed. */
  dropHandshake(conn: number): boolean {
    const h = this.#handshakes.get(conn);
    h?.settle('drop', 'user');
    return h !== undefined;
  }

  #holdHandshake(
    ctx: ConnectionContext,
    intercept: (event: GateIntercept) => void,
    timeoutMs: number | null,
    stage: HandshakeStage,
  ): Promise<{ status: number; body: string; actor: Actor } | null> {
    const bp = handshakeBreakpoint(this.breakpoints, ctx.target, stage);
    if (bp === null) return Promise.resolve(null);
    const actor: Actor = { by: 'user', name: `breakpoint ${bp.id}` };
    // The request is the client's; the 101 is the upstream's (capture-format `intercept`: `from` is the sender).
    const from = stage === 'request' ? 'client' : 'server';
    const what = stage === 'request' ? 'upgrade request' : '101 response';
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const settle = (decision: 'forward' | 'drop', by: 'user' | 'timeout' | 'gone'): void => {
        if (this.#handshakes.get(ctx.conn)?.settle !== settle) return;
        this.#handshakes.delete(ctx.conn);
        if (timer) clearTimeout(timer);
        if (by === 'gone') resolve(null);
        else if (decision === 'forward') {
          intercept({ from, action: 'release', by: 'user', detail: by === 'timeout' ? `${what}, after the hold timeout (${timeoutMs} ms)` : what });
          resolve(null);
        } else resolve({ status: 403, body: `frametap: the ${what} was dropped at a breakpoint\n`, actor: { by: 'user', name: actor.name! } });
      };
      this.#handshakes.set(ctx.conn, { target: ctx.target, stage, settle });
      // Listed first, then announced: whoever hears of the hold finds it held.
      intercept({ from, action: 'hold', ...actor, detail: `${what} ${ctx.target}` });
      if (timeoutMs !== null) timer = setTimeout(() => settle('forward', 'timeout'), timeoutMs);
    });
  }

  /** The gate of a live connection, or null (ended, or never upgraded). */
  connection(conn: number): ConnectionGate | null {
    return this.#setup.live(conn);
  }

  /** Every held message, by connection, oldest first. */
  held(): HeldEntry[] {
    const out: HeldEntry[] = [];
    for (const [conn, gate] of this.#setup.liveGates()) {
      for (const side of ['client', 'server'] as const) for (const h of gate.of(side).held()) out.push({ conn, ...h });
    }
    return out;
  }

  /** `a`: forward a held message unchanged. */
  forward(conn: number, from: Side, index: number): boolean {
    return this.connection(conn)?.of(from).release(index, null) ?? false;
  }

  /** `A`: forward everything held, on every connection (held upgrade requests too). */
  forwardAll(): number {
    let n = 0;
    for (const conn of [...this.#handshakes.keys()]) if (this.forwardHandshake(conn)) n++;
    for (const [, gate] of this.#setup.liveGates()) n += gate.client.releaseAll() + gate.server.releaseAll();
    return n;
  }

  /** `e`: send an edited message instead of a held one. */
  edit(conn: number, from: Side, index: number, message: OutMessage): boolean {
    return this.connection(conn)?.of(from).release(index, { edit: message }) ?? false;
  }

  /** `d`: drop a held message. */
  drop(conn: number, from: Side, index: number): boolean {
    return this.connection(conn)?.of(from).release(index, { drop: true }) ?? false;
  }

  /** `i`: inject a message toward one side. */
  inject(conn: number, toward: Side, message: OutMessage): boolean {
    const gate = this.connection(conn);
    if (!gate) return false;
    gate.inject(toward, message, USER);
    return true;
  }

  /** `K`: close toward one side or both. */
  close(conn: number, toward: Side | 'both', code: number, reason: string): boolean {
    const gate = this.connection(conn);
    if (!gate) return false;
    gate.close(toward, code, reason, USER);
    return true;
  }

  /** `P`: ping one side. */
  ping(conn: number, toward: Side, payload = Buffer.alloc(0)): boolean {
    const gate = this.connection(conn);
    if (!gate) return false;
    gate.ping(toward, payload, USER);
    return true;
  }

  /** `X`: cut the TCP connection (a 1006 end). */
  cut(conn: number): boolean {
    const gate = this.connection(conn);
    if (!gate) return false;
    gate.cut(USER);
    return true;
  }

  /** Interception off: breakpoints stop holding and everything held goes on unchanged. */
  interceptionOff(): number {
    this.breakpoints.setEnabled(false);
    const handshakes = [...this.#handshakes.keys()];
    for (const conn of handshakes) this.forwardHandshake(conn);
    return this.forwardAll() + handshakes.length;
  }

  interceptionOn(): void {
    this.breakpoints.setEnabled(true);
  }
}
