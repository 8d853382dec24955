/**
 * Where each row's event landed in the capture file, as the capture writer reports it
 * (JsonlWriter.onLine), so an evicted row can be read back. The writer sees the bus's events in the
 * order the store does and writes them in that order, so the rows waiting for a location are a
 * FIFO: a located event is at (or, if the writer skipped some, near) its front.
 */
import type { SessionEvent } from '../../src/session/events.js';
import type { RowLog } from './row-log.js';

/** Rows whose capture offset is not known yet (still in the writer's queue). */
const MAX_UNLOCATED = 200_000;
/** How far past the front of the waiting rows a located event is looked for. */
const LOCATE_LOOKAHEAD = 64;
/** Events located before the store saw them, kept until it does. */
const MAX_EARLY = 10_000;

export class CaptureLocations {
  /** Rows waiting for their capture location, in bus order (parallel arrays, head index). */
  #pendingEvents: SessionEvent[] = [];
  #pendingLogs: RowLog[] = [];
  #pendingIndex: number[] = [];
  #pendingHead = 0;
  readonly #early = new Map<SessionEvent, { offset: number; length: number }>();

  /** JsonlWriter.onLine: `event` landed at `offset` (`length` bytes) in the capture. */
  located(event: SessionEvent, offset: number, length: number): void {
    const events = this.#pendingEvents;
    const end = Math.min(events.length, this.#pendingHead + LOCATE_LOOKAHEAD);
    let at = -1;
    for (let i = this.#pendingHead; i < end; i++) {
      if (events[i] === event) {
        at = i;
        break;
      }
    }
    if (at < 0) {
      // Reported before the store saw it (a writer subscribed after the store), or not a row at all.
      if (isRowEvent(event)) {
        this.#early.set(event, { offset, length });
        if (this.#early.size > MAX_EARLY) this.#early.delete(this.#early.keys().next().value!);
      }
      return;
    }
    let i = at;
    while (i < events.length && events[i] === event) {
      this.#pendingLogs[i]!.setLocation(this.#pendingIndex[i]!, offset, length);
      i++;
    }
    // Rows before `at` were never written: they cannot be read back.
    for (let j = this.#pendingHead; j < i; j++) events[j] = undefined!;
    this.#pendingHead = i;
    this.#compact();
  }

  /** A row whose event the writer has not placed yet. */
  await(log: RowLog, index: number, event: SessionEvent): void {
    if (this.#early.size > 0) {
      const early = this.#early.get(event);
      if (early) {
        log.setLocation(index, early.offset, early.length);
        // An event can make two rows (a ping: frames and messages); keep it for the second.
        return;
      }
    }
    this.#pendingEvents.push(event);
    this.#pendingLogs.push(log);
    this.#pendingIndex.push(index);
    // Rows wait while the writer's queue (bounded by its backpressure) drains; a writer that failed
    // reports nothing more, so past a generous bound the oldest waiting rows give up.
    if (this.#pendingEvents.length - this.#pendingHead > MAX_UNLOCATED) this.#pendingHead++;
    this.#compact();
  }

  #compact(): void {
    const head = this.#pendingHead;
    if (head < 4096 || head * 2 < this.#pendingEvents.length) return;
    this.#pendingEvents.splice(0, head);
    this.#pendingLogs.splice(0, head);
    this.#pendingIndex.splice(0, head);
    this.#pendingHead = 0;
  }
}

/** Event types that become rows of a log. */
function isRowEvent(e: SessionEvent): boolean {
  return e.type === 'frame' || e.type === 'message' || e.type === 'close' || e.type === 'violation' || (e.type === 'error' && e.conn !== undefined);
}
