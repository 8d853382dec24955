/**
 * What the dashboard does to live traffic (issue 13 "Ways to act"): breakpoints, the held
 * messages of every connection, and the commands on them and on connections. No screen here: the
 * dashboard's keys call these, and tests call them directly.
 */
import type { Side } from '../session/events.js';
import type { OutMessage } from './actions.js';
import { BreakpointSource } from './breakpoints.js';
import type { ConnectionGate } from './connection-gate.js';
import type { HeldMessage } from './direction-gate.js';
import type { GateSetup } from './gate-setup.js';

export interface HeldEntry extends HeldMessage {
  readonly conn: number;
}

const USER = { by: 'user' } as const;

export class GateControl {
  readonly breakpoints: BreakpointSource;
  readonly #setup: GateSetup;

  /** Adds the dashboard's breakpoints to `setup` (held without timeout unless `--hold-timeout`). */
  constructor(setup: GateSetup) {
    this.#setup = setup;
    this.breakpoints = new BreakpointSource(setup.holdTimeoutMs, () => setup.notifyChanged());
    setup.addSource(this.breakpoints);
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

  /** `A`: forward everything held, on every connection. */
  forwardAll(): number {
    let n = 0;
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
    return this.forwardAll();
  }

  interceptionOn(): void {
    this.breakpoints.setEnabled(true);
  }
}
