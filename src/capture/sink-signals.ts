/**
 * What a capture sink tells its owner: pressure (its queue is past the high-water mark, slow the
 * producers; then it drained) and problems (an `error` event of stage `capture`, for the owner to
 * publish). One place for the listeners and for "slowing down" being reported once per sink.
 */
import type { ErrorEvent } from '../session/events.js';
import { fileErrorReason } from './capture-file.js';

export type PressureListener = (high: boolean) => void;
export type ProblemListener = (event: ErrorEvent) => void;

export class SinkSignals {
  #pressure = false;
  #pressureReported = false;
  #pressureListeners: PressureListener[] = [];
  #problemListeners: ProblemListener[] = [];

  /** Whether the sink is over its high-water mark now. */
  get pressure(): boolean {
    return this.#pressure;
  }

  onPressure(cb: PressureListener): () => void {
    this.#pressureListeners = [...this.#pressureListeners, cb];
    return () => {
      this.#pressureListeners = this.#pressureListeners.filter((l) => l !== cb);
    };
  }

  onProblem(cb: ProblemListener): () => void {
    this.#problemListeners = [...this.#problemListeners, cb];
    return () => {
      this.#problemListeners = this.#problemListeners.filter((l) => l !== cb);
    };
  }

  /**
   * Pressure on or off. The first time it goes on, `notice` (when given) is also reported once:
   * to `warn` and as a problem.
   */
  setPressure(high: boolean, notice: { readonly detail: string; readonly warn: (line: string) => void } | null = null): void {
    this.#pressure = high;
    if (high && !this.#pressureReported && notice !== null) {
      this.#pressureReported = true;
      notice.warn(notice.detail);
      this.problem(notice.detail);
    }
    for (const l of this.#pressureListeners) l(high);
  }

  /**
   * Writing to `target` failed for good: said once to `warn` and as a problem (with the error's
   * code), and the producers are released (a failed sink no longer holds the relay back).
   */
  writeFailed(target: string, error: Error, warn: (line: string) => void): void {
    const detail = `writing the ${target} failed, the relay goes on without it: ${fileErrorReason(error)}`;
    warn(detail);
    if (this.#pressure) this.setPressure(false);
    this.problem(detail, (error as NodeJS.ErrnoException).code);
  }

  /** An `error` event of stage `capture` to the problem listeners. */
  problem(detail: string, code?: string): void {
    const t = performance.timeOrigin + performance.now();
    const event: ErrorEvent = code ? { type: 'error', t, stage: 'capture', code, detail } : { type: 'error', t, stage: 'capture', detail };
    for (const l of this.#problemListeners) l(event);
  }
}

/** What a sink says the first time it slows the relay. */
export function slowingNotice(target: string): string {
  return `the ${target} cannot keep up with the traffic: slowing the relay until it catches up (nothing is dropped)`;
}
