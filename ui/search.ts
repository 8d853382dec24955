/**
 * `/` search over a whole log: rows held in memory are tested directly; evicted rows are found by
 * streaming the capture file once from the first of them (one sequential read, not one read per
 * row), walking the log's (offset, length) index alongside the lines. Pure apart from the injected
 * line source, so it is tested without a screen.
 */
import type { SessionEvent } from '../src/session/events.js';
import { searchableText, type RowFilter, type RowLog } from './store.js';
import { appSearchText, appSummaryOf, type RowApp } from './app-view.js';

/** Decodes the messages of one pass over the capture, fed in capture order (decoding keeps per-direction state). */
export type RowDecoder = (e: SessionEvent) => RowApp | undefined;

/** Capture lines from a byte offset on, in file order. */
export type LineSource = (start: number) => AsyncIterable<{ readonly offset: number; readonly value: SessionEvent | { readonly type: 'capture' } }>;

export interface SearchRequest {
  readonly log: RowLog;
  readonly filter: RowFilter;
  readonly re: RegExp;
  /** Raw index of the selected row (the search starts after / before it); -1 for none. */
  readonly from: number;
  /** Raw rows the view shows: [0, limit). */
  readonly limit: number;
  readonly direction: 1 | -1;
  /** Reads evicted rows back; without it only rows in memory are searched. */
  readonly lines?: LineSource;
  /**
   * A fresh app-protocol decoder for a pass over evicted rows, so they match on decoded fields
   * (`event:chat`) as rows in memory do; without it they match on their payload text only.
   */
  readonly decoder?: () => RowDecoder | null;
  readonly cancelled?: () => boolean;
}

export interface SearchResult {
  /** Raw index of the matching row, or null. */
  readonly raw: number | null;
  /** Some evicted rows could not be searched (no line source, or no capture location). */
  readonly partial: boolean;
}

function matches(re: RegExp, e: SessionEvent, decode: RowDecoder | null): boolean {
  return matchesText(re, appSearchText(decode?.(e), searchableText(e)));
}

function matchesText(re: RegExp, text: string | null): boolean {
  if (text === null) return false;
  re.lastIndex = 0;
  return re.test(text);
}

/** The next (or previous) row matching `re`, wrapping around once. */
export async function findRow(req: SearchRequest): Promise<SearchResult> {
  const { limit, direction } = req;
  if (limit === 0) return { raw: null, partial: false };
  const s = Math.min(Math.max(req.from, -1), limit - 1);
  // Ranges of raw indexes in search order; a backward range is searched from its end.
  const ranges: [number, number][] = direction === 1 ? [[s + 1, limit], [0, s + 1]] : [[0, Math.max(0, s)], [Math.max(0, s), limit]];
  let partial = false;
  for (const [a, b] of ranges) {
    if (a >= b) continue;
    const split = Math.min(Math.max(req.log.firstRetained, a), b);
    const evicted: [number, number] = [a, split];
    const held: [number, number] = [split, b];
    // Forward: evicted rows come first in the range; backward: the rows held come first.
    const parts = direction === 1 ? [evicted, held] : [held, evicted];
    for (const [lo, hi] of parts) {
      if (lo >= hi) continue;
      const found = lo >= req.log.firstRetained ? inMemory(req, lo, hi) : await inCapture(req, lo, hi);
      if (found.partial) partial = true;
      if (found.raw !== null) return { raw: found.raw, partial };
      if (req.cancelled?.()) return { raw: null, partial: true };
    }
  }
  return { raw: null, partial };
}

function inMemory(req: SearchRequest, lo: number, hi: number): SearchResult {
  const { log, filter, re, direction } = req;
  for (let k = 0; k < hi - lo; k++) {
    const raw = direction === 1 ? lo + k : hi - 1 - k;
    if (!log.passes(filter, raw)) continue;
    const row = log.get(raw);
    if (row && matchesText(re, appSearchText(appSummaryOf(row, false), searchableText(row.event)))) return { raw, partial: false };
  }
  return { raw: null, partial: false };
}

async function inCapture(req: SearchRequest, lo: number, hi: number): Promise<SearchResult> {
  const { log, filter, re, direction, lines } = req;
  let j = lo;
  while (j < hi && log.location(j) === null) j++;
  if (!lines || j >= hi) return { raw: null, partial: hi > lo };
  let partial = j > lo;
  let best: number | null = null;
  let seen = 0;
  const decode = req.decoder?.() ?? null;
  for await (const line of lines(log.location(j)!.offset)) {
    // Lines and rows are both in capture order: advance the row cursor to this line.
    let loc = log.location(j);
    while (j < hi && (loc === null || loc.offset < line.offset)) {
      if (loc === null) partial = true;
      j++;
      loc = j < hi ? log.location(j) : null;
    }
    if (j >= hi) break;
    if (loc === null || loc.offset !== line.offset) continue;
    if (line.value.type !== 'capture' && log.passes(filter, j) && matches(re, line.value, decode)) {
      if (direction === 1) return { raw: j, partial };
      best = j;
    }
    j++;
    if (j >= hi) break;
    if (++seen % 4096 === 0 && req.cancelled?.()) return { raw: null, partial: true };
  }
  return { raw: best, partial };
}
