/**
 * The upgraded connections a proxy (reverse or forward) has open: capture backpressure applied to
 * all of them, gate changes passed to each, and an orderly shutdown.
 */
import type { UpgradeConnection } from './connection.js';
import type { GateSetup } from '../gate/gate-setup.js';

export class LiveConnections {
  readonly #live = new Set<UpgradeConnection>();
  #throttled = false;
  readonly #stopWatchingGate: (() => void) | undefined;

  constructor(gate: GateSetup | null) {
    this.#stopWatchingGate = gate?.onChange(() => {
      for (const c of this.#live) c.refreshGate();
    });
  }

  // Handed to every connection: one function per proxy, not a closure per connection (bench/memory.ts).
  readonly isThrottled = (): boolean => this.#throttled;
  readonly forget = (connection: UpgradeConnection): void => void this.#live.delete(connection);

  add(connection: UpgradeConnection): void {
    this.#live.add(connection);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Capture backpressure: pause or resume reading on every relayed socket, and on those to come. */
  throttle(paused: boolean): void {
    this.#throttled = paused;
    for (const c of this.#live) c.throttle(paused);
  }

  /** Ends every open connection (`end` with `shutdown: true`) and stops following the gate. */
  shutdown(): Promise<void> {
    this.#stopWatchingGate?.();
    return Promise.all([...this.#live].map((c) => c.shutdown())).then(() => {});
  }
}
