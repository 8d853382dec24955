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
 * Per event, in order, what it takes of `bytes` (consecutively): a number is a finished line of
 * that many bytes (0: an event with no line, such as `chunk`); an object is the event without its
 * payload, whose `p` is the payload's byte length.
 */
export type PackedItem = number | Readonly<Record<string, unknown>>;

export interface PackedBatch {
  readonly items: readonly PackedItem[];
  readonly bytes: Uint8Array;
}

function largePayload(event: SessionEvent): Buffer | null {
  const payload = event.type === 'frame' ? event.payload : event.type === 'message' ? event.data : undefined;
  return payload !== undefined && payload.length >= RAW_MIN ? payload : null;
}

export function packBatch(events: readonly SessionEvent[]): PackedBatch {
  const texts: (string | null)[] = new Array<string | null>(events.length);
  let total = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const payload = largePayload(e);
    if (payload !== null) {
      texts[i] = null;
      total += payload.length;
      continue;
    }
    const text = eventLineText(e) ?? '';
    texts[i] = text;
    total += Buffer.byteLength(text, 'utf8');
  }
  // Not from Node's shared pool: the whole ArrayBuffer is transferred.
  const arrayBuffer = new ArrayBuffer(total);
  const bytes = Buffer.from(arrayBuffer);
  const items: PackedItem[] = new Array<PackedItem>(events.length);
  let at = 0;
  for (let i = 0; i < events.length; i++) {
    const text = texts[i];
    if (text !== null && text !== undefined) {
      const n = text.length === 0 ? 0 : bytes.write(text, at, 'utf8');
      items[i] = n;
      at += n;
      continue;
    }
    const e = events[i]!;
    const payload = largePayload(e)!;
    bytes.set(payload, at);
    const key = e.type === 'frame' ? 'payload' : 'data';
    // Keys in the event's order, the payload's key kept in place so the line reads the same.
    const meta: Record<string, unknown> = {};
    for (const k in e) meta[k] = k === key ? null : (e as unknown as Record<string, unknown>)[k];
    meta.p = payload.length;
    items[i] = meta;
    at += payload.length;
  }
  return { items, bytes: new Uint8Array(arrayBuffer) };
}

/** Each event's line, or for an event with a large payload the event itself (payload restored). */
export function unpackBatch(batch: PackedBatch): (Buffer | SessionEvent | null)[] {
  const buf = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
  let at = 0;
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
    rest[key] = buf.subarray(at, at + length);
    at += length;
    return rest as unknown as SessionEvent;
  });
}
