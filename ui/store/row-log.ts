/**
 * One log of one connection (frames or messages): a class byte for every row ever seen (filters
 * work on evicted rows too), the retained tail of rows, their capture offsets for read-back, and
 * filtered positions. Pure: no files, no screen.
 */
import type { MessageEvent, SessionEvent } from '../../src/session/events.js';
import { appOf, type RowApp } from '../app-view.js';
import type { MessageAppView } from '../../src/appproto/connection-app.js';
import { fieldsMatch, type FieldTerm } from '../field-filter.js';

export type LogMode = 'frames' | 'messages';
export type DirectionFilter = 'both' | 'client' | 'server';

export interface RowFilter {
  readonly direction: DirectionFilter;
  readonly text: boolean;
  readonly binary: boolean;
  readonly control: boolean;
  /** false hides ping and pong frames. */
  readonly pingPong: boolean;
  /**
   * Decoded-field terms (`event:chat`, ui/field-filter.ts); none or empty: no field filter. Rows
   * evicted from memory are decided once read back and decoded (DashboardStore.resolveFields).
   */
  readonly fields?: readonly FieldTerm[];
}

export const DEFAULT_FILTER: RowFilter = { direction: 'both', text: true, binary: true, control: true, pingPong: true };

/** Row class bits, one byte per row kept for every row ever seen (filters work on evicted rows too). */
export const C_SERVER = 1;
export const C_TEXT = 2;
export const C_BINARY = 4;
export const C_CONTROL = 8;
export const C_PINGPONG = 16;
/** violations, errors, close events: shown whatever the kind filter says. */
export const C_NOTICE = 32;

export interface Row {
  /** Position in its log (frames or messages), from 0, stable for the life of the connection. */
  readonly index: number;
  readonly event: SessionEvent;
  /** The payload was cut to a preview to bound memory; the whole event is in the capture. */
  readonly slim: boolean;
  /** Message rows: frames-log indexes of the message's first and last data frame. */
  readonly frames?: readonly [first: number, last: number];
  /**
   * Frame rows of a whole uncompressed message: the capture leaves the payload out of such a frame
   * (capture-format.md), so the row borrows it from the message that follows.
   */
  message?: MessageEvent;
  /** Message rows of a compressed message: its frames' payload bytes on the wire. */
  wireLength?: number;
  /** Message rows, and frame rows of a whole message by itself: what the payload decoded to (ui/app-view.ts). */
  app?: RowApp;
  /**
   * Instead of `app` until the row is shown or searched: the decoder of the row's own payload (a
   * message whose decoding nothing else waits for; a whole-message frame's, applied to `message`).
   * A reference, not a closure per row: thousands of rows are kept. Read both through `appOf`
   * (ui/app-view.ts).
   */
  appLater?: (bytes: Uint8Array) => MessageAppView;
}

export interface PendingRow {
  readonly index: number;
  readonly pending: true;
}


/** Rows of one connection in one mode: all classes, the retained tail, and capture offsets. */
export class RowLog {
  count = 0;
  #classes = new Uint8Array(256);
  #offsets: Float64Array<ArrayBuffer> | null;
  #lengths: Uint32Array<ArrayBuffer> | null;
  /**
   * Frames log of an indexed capture: for a frame that is a whole message by itself, the index + 1
   * of that message in `partner` (0: none). The capture keeps such a frame's payload on the message
   * (capture-format.md), so a frame row read back after eviction borrows the message again.
   */
  #links: Uint32Array<ArrayBuffer> | null;
  /** The connection's other log (frames ↔ messages). */
  partner: RowLog | null = null;
  /** Retained rows: raw indexes [firstRetained, count). */
  #rows: Row[] = [];
  #head = 0;
  firstRetained = 0;
  /** Rows read back from the capture, small LRU. */
  readonly #cache = new Map<number, Row>();
  #filterKey = '';
  #filtered = new Uint32Array(0);
  #filteredN = 0;
  #scanned = 0;
  /** Field-filter verdicts for the current terms: 0 not known yet, 1 matches, 2 does not. */
  #fieldKey = '';
  #fieldState = new Uint8Array(0);

  constructor(indexed: boolean) {
    this.#offsets = indexed ? new Float64Array(256).fill(-1) : null;
    this.#lengths = indexed ? new Uint32Array(256) : null;
    this.#links = indexed ? new Uint32Array(256) : null;
  }

  get retained(): number {
    return this.#rows.length - this.#head;
  }

  /** Appends a row whose `index` is `count` (the caller builds it with that index). */
  append(cls: number, row: Row): Row {
    const i = this.count;
    if (i === this.#classes.length) {
      this.#classes = grow(this.#classes);
      if (this.#offsets) this.#offsets = growF(this.#offsets);
      if (this.#lengths) this.#lengths = grow32(this.#lengths);
      if (this.#links) this.#links = grow32(this.#links);
    }
    this.#classes[i] = cls;
    this.#rows.push(row);
    this.count = i + 1;
    return row;
  }

  setLocation(index: number, offset: number, length: number): void {
    if (!this.#offsets || !this.#lengths || index >= this.count) return;
    this.#offsets[index] = offset;
    this.#lengths[index] = length;
  }

  /** Row `index` (a whole-message frame) carries the payload of row `other` of the partner log. */
  setLink(index: number, other: number): void {
    if (this.#links && index < this.count) this.#links[index] = other + 1;
  }

  /** The partner log's row holding this row's payload, if any. */
  link(index: number): number | null {
    const v = this.#links?.[index] ?? 0;
    return v === 0 ? null : v - 1;
  }

  location(index: number): { offset: number; length: number } | null {
    if (!this.#offsets || !this.#lengths) return null;
    const offset = this.#offsets[index]!;
    return offset < 0 ? null : { offset, length: this.#lengths[index]! };
  }

  /** Drops the oldest retained row (the global FIFO decided it is the oldest overall). */
  evictOldest(): void {
    if (this.#head >= this.#rows.length) return;
    this.#head++;
    this.firstRetained++;
    if (this.#head > 1024 && this.#head * 2 > this.#rows.length) {
      this.#rows = this.#rows.slice(this.#head);
      this.#head = 0;
    }
  }

  /** A row in memory (retained or read back), or undefined. */
  get(index: number): Row | undefined {
    if (index >= this.firstRetained && index < this.count) return this.#rows[this.#head + index - this.firstRetained];
    const hit = this.#cache.get(index);
    if (hit) {
      this.#cache.delete(index);
      this.#cache.set(index, hit);
    }
    return hit;
  }

  remember(row: Row, cacheSize: number): void {
    this.#cache.set(row.index, row);
    while (this.#cache.size > cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
  }

  /**
   * Whether raw row `index` passes `filter` (known for evicted rows too; with field terms, for an
   * evicted row only once it was read back and decoded).
   */
  passes(filter: RowFilter, index: number): boolean {
    return isOpen(filter) || (passes(this.#classes[index]!, filter, passMask(filter)) && this.#fieldPass(filter, index) === true);
  }

  /** The field verdict of a row: decided from its decoding while in memory, else as resolved; undefined: not known yet. */
  #fieldPass(filter: RowFilter, index: number): boolean | undefined {
    const terms = filter.fields ?? [];
    if (terms.length === 0) return true;
    this.#fieldsFor(terms);
    const known = this.#fieldState[index] ?? 0;
    if (known !== 0) return known === 1;
    // Only a retained row carries its decoding (a row read back into the cache has none).
    if (index < this.firstRetained || index >= this.count) return undefined;
    const ok = fieldsMatch(terms, appOf(this.#rows[this.#head + index - this.firstRetained]!)?.fieldText);
    this.#fieldState[index] = ok ? 1 : 2;
    return ok;
  }

  #fieldsFor(terms: readonly FieldTerm[]): void {
    const key = terms.map((t) => `${t.name}:${t.glob}`).join(' ');
    if (key !== this.#fieldKey) {
      this.#fieldKey = key;
      this.#fieldState = new Uint8Array(0);
    }
    if (this.#fieldState.length < this.count) {
      const next = new Uint8Array(Math.max(256, this.#classes.length));
      next.set(this.#fieldState);
      this.#fieldState = next;
    }
  }

  /**
   * With field terms: the first row whose class passes but whose field verdict is not known yet
   * (evicted before the filter was set), which DashboardStore.resolveFields reads back; null when
   * every row is decided. The filtered positions stop before it until then.
   */
  fieldPending(filter: RowFilter): number | null {
    if ((filter.fields ?? []).length === 0) return null;
    this.#scan(filter);
    return this.#scanned < this.count ? this.#scanned : null;
  }

  /** Records the field verdict of an evicted row, read back and decoded. */
  resolveField(filter: RowFilter, index: number, match: boolean): void {
    const terms = filter.fields ?? [];
    if (terms.length === 0 || index >= this.count) return;
    this.#fieldsFor(terms);
    this.#fieldState[index] = match ? 1 : 2;
  }

  /** Number of rows passing `filter` (up to `limit` raw rows, for pause). */
  filteredCount(filter: RowFilter, limit = this.count): number {
    if (isOpen(filter)) return limit;
    this.#scan(filter);
    return upperBound(this.#filtered, this.#filteredN, limit);
  }

  /** Raw index of the n-th row passing `filter`. */
  rawIndex(filter: RowFilter, n: number): number {
    if (isOpen(filter)) return n;
    this.#scan(filter);
    return this.#filtered[n]!;
  }

  /** Filtered position of raw row `raw` (or of the first row after it). */
  filteredPosition(filter: RowFilter, raw: number): number {
    if (isOpen(filter)) return raw;
    this.#scan(filter);
    return lowerBound(this.#filtered, this.#filteredN, raw);
  }

  #scan(filter: RowFilter): void {
    const key = filterKey(filter);
    if (key !== this.#filterKey) {
      this.#filterKey = key;
      this.#filteredN = 0;
      this.#scanned = 0;
    }
    const mask = passMask(filter);
    for (let i = this.#scanned; i < this.count; i++) {
      if (!passes(this.#classes[i]!, filter, mask)) continue;
      const field = this.#fieldPass(filter, i);
      if (field === undefined) {
        // Not decided yet (evicted): the positions stop here until it is resolved.
        this.#scanned = i;
        return;
      }
      if (!field) continue;
      if (this.#filteredN === this.#filtered.length) {
        const next = new Uint32Array(Math.max(256, this.#filtered.length * 2));
        next.set(this.#filtered);
        this.#filtered = next;
      }
      this.#filtered[this.#filteredN++] = i;
    }
    this.#scanned = this.count;
  }
}

function grow(a: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(a.length * 2);
  b.set(a);
  return b;
}
function grow32(a: Uint32Array<ArrayBuffer>): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}
function growF(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2).fill(-1);
  b.set(a);
  return b;
}

function upperBound(a: Uint32Array, n: number, limit: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
const lowerBound = upperBound;

function isOpen(f: RowFilter): boolean {
  return f.direction === 'both' && f.text && f.binary && f.control && f.pingPong && (f.fields ?? []).length === 0;
}

function filterKey(f: RowFilter): string {
  return `${f.direction}${+f.text}${+f.binary}${+f.control}${+f.pingPong} ${(f.fields ?? []).map((t) => `${t.name}:${t.glob}`).join(' ')}`;
}

function passMask(f: RowFilter): number {
  return (f.text ? C_TEXT : 0) | (f.binary ? C_BINARY : 0) | (f.control ? C_CONTROL : 0) | C_NOTICE;
}

function passes(cls: number, f: RowFilter, mask: number): boolean {
  if (f.direction === 'client' && cls & C_SERVER) return false;
  if (f.direction === 'server' && !(cls & C_SERVER)) return false;
  if (!f.pingPong && cls & C_PINGPONG) return false;
  return (cls & mask) !== 0;
}
