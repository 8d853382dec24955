/**
 * A batch of events for the capture worker, as numbers and one transferred buffer: no event object
 * crosses the thread boundary (postMessage's structured clone of one plain object per event was the
 * largest cost on the relay's thread at 64 B, bench/relay.ts). A small event travels as its
 * finished line; an event with a large payload as the JSON around the payload and the payload's
 * bytes, its base64 made by the worker (base64 of 256 KiB costs more than the relay's whole work
 * for that message). A view into a large received chunk is never cloned as is: structured clone
 * copies a view's whole ArrayBuffer.
 */
import type { SessionEvent } from '../session/events.js';
import { eventLineText, rawLineParts } from './line-encoder.js';

/**
 * Per event, in order, read with `unpackBatch`: `n ≥ 0` is a finished line of n bytes (0: an event
 * with no line, such as `chunk`); `-1, h, r, t` is a line of h bytes of JSON, the base64 of r
 * payload bytes, then t bytes of JSON. The parts follow each other in `bytes`.
 */
export interface PackedBatch {
  readonly items: readonly number[];
  readonly bytes: Uint8Array;
}

/** Where the batch is written before its own buffer is cut to size: reused, so a batch costs one allocation. */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);
/** A scratch grown past this for one huge batch is not kept. */
const SCRATCH_KEPT = 4 * 1024 * 1024;

function room(at: number, n: number): void {
  if (at + n <= scratch.length) return;
  const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, at + n));
  scratch.copy(bigger, 0, 0, at);
  scratch = bigger;
}

function putText(text: string, at: number): number {
  // UTF-8 takes at most 3 bytes per UTF-16 unit.
  room(at, text.length * 3);
  return text.length === 0 ? 0 : scratch.write(text, at, 'utf8');
}

export function packBatch(events: readonly SessionEvent[]): PackedBatch {
  const items: number[] = [];
  // The text goes through the scratch; payloads are copied once, straight into the batch, each
  // where its text offset `rawAt` says.
  let rawAt: number[] | null = null;
  let raws: Uint8Array[] | null = null;
  let rawBytes = 0;
  let at = 0;
  for (const e of events) {
    const parts = rawLineParts(e);
    if (parts !== null) {
      const h = putText(parts.head, at);
      at += h;
      (rawAt ??= []).push(at);
      (raws ??= []).push(parts.raw);
      rawBytes += parts.raw.length;
      const t = putText(parts.tail, at);
      at += t;
      items.push(-1, h, parts.raw.length, t);
      continue;
    }
    const text = eventLineText(e);
    const n = text === null ? 0 : putText(text, at);
    items.push(n);
    at += n;
  }
  // Not from Node's shared pool: the whole ArrayBuffer is transferred.
  const bytes = new Uint8Array(new ArrayBuffer(at + rawBytes));
  if (raws === null || rawAt === null) bytes.set(scratch.subarray(0, at), 0);
  else {
    let from = 0;
    let to = 0;
    for (let i = 0; i < raws.length; i++) {
      const upTo = rawAt[i]!;
      bytes.set(scratch.subarray(from, upTo), to);
      to += upTo - from;
      from = upTo;
      bytes.set(raws[i]!, to);
      to += raws[i]!.length;
    }
    bytes.set(scratch.subarray(from, at), to);
  }
  if (scratch.length > SCRATCH_KEPT) scratch = Buffer.allocUnsafeSlow(64 * 1024);
  return { items, bytes };
}

/** Each event's line (null for an event with none), base64 made here for the large payloads. */
export function unpackBatch(batch: PackedBatch, joinRaw: (head: Uint8Array, raw: Uint8Array, tail: Uint8Array) => Buffer): (Buffer | null)[] {
  const buf = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
  const items = batch.items;
  const lines: (Buffer | null)[] = [];
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const n = items[i]!;
    if (n >= 0) {
      lines.push(n === 0 ? null : buf.subarray(at, at + n));
      at += n;
      continue;
    }
    const h = items[++i]!;
    const r = items[++i]!;
    const t = items[++i]!;
    lines.push(joinRaw(buf.subarray(at, at + h), buf.subarray(at + h, at + h + r), buf.subarray(at + h + r, at + h + r + t)));
    at += h + r + t;
  }
  return lines;
}
