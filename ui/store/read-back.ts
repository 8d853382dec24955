/**
 * Rows evicted from memory, read back from the capture on demand: one read per row at a time, a
 * small cache, and rows the capture cannot give back remembered as gone (so a redraw does not ask
 * again). A whole-message frame read back borrows its message again (the capture keeps the payload
 * there, capture-format.md).
 */
import { Opcode } from '../../src/protocol/constants.js';
import type { MessageEvent, SessionEvent } from '../../src/session/events.js';
import type { PendingRow, Row, RowFilter, RowLog } from './row-log.js';
import type { RowApp } from '../app-view.js';
import { fieldsMatch, type FieldTerm } from '../field-filter.js';

/** Decodes messages fed in capture order (DashboardStore.appDecoder). */
export type FieldDecoder = (e: SessionEvent) => RowApp | undefined;

export type ReadBack = (offset: number, length: number) => Promise<SessionEvent | null>;

export class RowReader {
  readonly #read: ReadBack | undefined;
  readonly #arrived: () => void;
  readonly #loading = new Set<string>();
  readonly #unreadable = new Set<string>();
  readonly #full = new Map<string, SessionEvent>();
  readonly #resolving = new WeakSet<RowLog>();

  /** `arrived`: called when a row or payload asked for came back (or turned out to be gone). */
  constructor(read: ReadBack | undefined, arrived: () => void) {
    this.#read = read;
    this.#arrived = arrived;
  }

  /**
   * The row at raw `index` of a log: from memory, or read back from the capture (then `pending`
   * until it arrives and onChange fires). null when it can no longer be had.
   */
  row(log: RowLog, index: number): Row | PendingRow | null {
    const hit = log.get(index);
    if (hit) return hit;
    const loc = log.location(index);
    if (!loc || !this.#read) return null;
    const key = `${loc.offset}`;
    if (this.#unreadable.has(key)) return null;
    if (!this.#loading.has(key)) {
      this.#loading.add(key);
      const failed = (): void => {
        // Asked again on every redraw otherwise; the row shows as gone instead.
        if (this.#unreadable.size > 10_000) this.#unreadable.clear();
        this.#unreadable.add(key);
      };
      this.#read(loc.offset, loc.length).then(
        async (event) => {
          const row: Row | null = event ? { index, event, slim: false } : null;
          if (row) row.message = await this.#borrowedMessage(log, row);
          this.#loading.delete(key);
          if (row) log.remember(row, 4096);
          else failed();
          this.#arrived();
        },
        () => {
          this.#loading.delete(key);
          failed();
          this.#arrived();
        },
      );
    }
    return { index, pending: true };
  }

  /** For a frame read back without its payload: the message that carries it (in memory or read back too). */
  async #borrowedMessage(log: RowLog, row: Row): Promise<MessageEvent | undefined> {
    const e = row.event;
    if (e.type !== 'frame' || e.payload !== undefined || (e.opcode !== Opcode.Text && e.opcode !== Opcode.Binary)) return undefined;
    const partner = log.partner;
    const other = log.link(row.index);
    if (!partner || other === null) return undefined;
    const kept = partner.get(other);
    if (kept) return kept.event.type === 'message' ? kept.event : undefined;
    const loc = partner.location(other);
    if (!loc || !this.#read) return undefined;
    const m = await this.#read(loc.offset, loc.length).catch(() => null);
    return m?.type === 'message' ? m : undefined;
  }

  /**
   * Decides the field filter for rows evicted before it was set: reads each back in order, decodes
   * it (a whole-message frame through its message) and records the verdict, so the filtered log
   * grows as they are decided. One pass per log at a time; stops when `current` says the filter
   * changed. Without a capture the rows cannot be decoded and do not match.
   */
  async resolveFields(log: RowLog, filter: RowFilter, decoder: () => FieldDecoder | null, current: () => boolean): Promise<void> {
    if (this.#resolving.has(log)) return;
    this.#resolving.add(log);
    const terms = filter.fields ?? [];
    const decode = decoder();
    try {
      let n = 0;
      for (let i = log.fieldPending(filter); i !== null; i = log.fieldPending(filter)) {
        const match = await this.#fieldMatch(log, i, terms, decode);
        if (!current()) return;
        log.resolveField(filter, i, match);
        // Redraw now and then, not once per row.
        if (++n % 256 === 0) this.#arrived();
      }
    } finally {
      this.#resolving.delete(log);
      this.#arrived();
    }
  }

  async #fieldMatch(log: RowLog, index: number, terms: readonly FieldTerm[], decode: FieldDecoder | null): Promise<boolean> {
    const loc = log.location(index);
    if (!decode || !loc || !this.#read) return false;
    const event = await this.#read(loc.offset, loc.length).catch(() => null);
    if (!event) return false;
    const message = event.type === 'frame' ? await this.#borrowedMessage(log, { index, event, slim: false }) : event;
    return message !== undefined && fieldsMatch(terms, decode(message)?.fieldText);
  }

  /** The whole event of a row: itself when not slim, else read back (null while loading). */
  fullEvent(log: RowLog, row: Row): SessionEvent | null {
    if (!row.slim) return row.event;
    const loc = log.location(row.index);
    if (!loc || !this.#read) return row.event;
    const key = `full:${loc.offset}`;
    const cached = this.#full.get(key);
    if (cached) return cached;
    if (this.#unreadable.has(key)) return row.event;
    if (!this.#loading.has(key)) {
      this.#loading.add(key);
      const settle = (event: SessionEvent | null): void => {
        this.#loading.delete(key);
        if (event) {
          this.#full.clear();
          this.#full.set(key, event);
        } else {
          this.#unreadable.add(key);
        }
        this.#arrived();
      };
      this.#read(loc.offset, loc.length).then(settle, () => settle(null));
    }
    return null;
  }

}
