/**
 * A batch of events for the capture worker, in one transferred buffer. Most events are small, and
 * for them the line itself is cheaper to make here than the structured clone of the event that the
 * worker would otherwise need (postMessage of one plain object per event was the largest cost on
 * the relay's thread at 64 B, bench/relay.ts): they travel as finished line bytes. An event with a
 * large payload travels as its payload bytes plus the rest of the event, and is encoded there (base64
 * of 256 KiB costs more than the relay's whole work for that message). A view into a large received
 * chunk is never cloned as is: structured clone copies a view's whole ArrayBuffer.
 */
import type { SessionEvent } from '../session/events.js';
import { eventLineText, RAW_MIN } from './line-encoder.js';

/**
 * Per event, in order: a number is a finished line of that many bytes (0: an event with no line,
 * such as `chunk`), the lines one after the other from the start of `bytes`; an object is the
 * event without its payload, whose `p` is the payload's byte length, the payloads one after the
 * other after the lines.
 */
export type PackedItem = number | Readonly<Record<string, unknown>>;

export interface PackedBatch {
  readonly items: readonly PackedItem[];
  readonly bytes: Uint8Array;
}

/** Where lines are written before the batch's own buffer is cut to size: reused, so a batch costs one allocation. */
let scratch = Buffer.allocUnsafeSlow(64 * 1024);
/** A scratch grown past this for one huge batch is not kept. */
const SCRATCH_KEPT = 4 * 1024 * 1024;

function largePayload(event: SessionEvent): Buffer | null {
  const payload = event.type === 'frame' ? event.payload : event.type === 'message' ? event.data : undefined;
  return payload !== undefined && payload.length >= RAW_MIN ? payload : null;
}

export function packBatch(events: readonly SessionEvent[]): PackedBatch {
  const items: PackedItem[] = new Array<PackedItem>(events.length);
  let large: Buffer[] | null = null;
  let largeBytes = 0;
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const payload = largePayload(e);
    if (payload !== null) {
      const key = e.type === 'frame' ? 'payload' : 'data';
      // Keys in the event's order, the payload's key kept in place so the line reads the same.
      const meta: Record<string, unknown> = {};
      for (const k in e) meta[k] = k === key ? null : (e as unknown as Record<string, unknown>)[k];
      meta.p = payload.length;
      items[i] = meta;
      (large ??= []).push(payload);
      largeBytes += payload.length;
      continue;
    }
    const text = eventLineText(e);
    if (text === null) {
      items[i] = 0;
      continue;
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (at + text.length * 3 > scratch.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, at + text.length * 3));
      scratch.copy(bigger, 0, 0, at);
      scratch = bigger;
    }
    const n = scratch.write(text, at, 'utf8');
    items[i] = n;
    at += n;
  }
  // Not from Node's shared pool: the whole ArrayBuffer is transferred.
  const bytes = new Uint8Array(new ArrayBuffer(at + largeBytes));
  bytes.set(scratch.subarray(0, at), 0);
  if (large !== null) {
    let p = at;
    for (const payload of large) {
      bytes.set(payload, p);
      p += payload.length;
    }
  }
  if (scratch.length > SCRATCH_KEPT) scratch = Buffer.allocUnsafeSlow(64 * 1024);
  return { items, bytes };
}

/** Each event's line, or for an event with a large payload the event itself (payload restored). */
export function unpackBatch(batch: PackedBatch): (Buffer | SessionEvent | null)[] {
  const buf = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
  let lines = 0;
  for (const item of batch.items) if (typeof item === 'number') lines += item;
  let at = 0;
  let payloadAt = lines;
  return batch.items.map((item) => {
    if (typeof item === 'number') {
      if (item === 0) return null;
      const line = buf.subarray(at, at + item);
      at += item;
      return line;
    }
    const { p, ...rest } = item as Record<string, unknown>;
    const length = p as number;
    const key = rest.type === 'frame' ? 'payload' : 'data';
    rest[key] = buf.subarray(payloadAt, payloadAt + length);
    payloadAt += length;
    return rest as unknown as SessionEvent;
  });
}
