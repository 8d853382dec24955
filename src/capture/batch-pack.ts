/**
 * A batch of events for another thread: the payload bytes of every event copied once into one
 * buffer that is transferred (not cloned), and the rest of each event as a plain object. A view
 * into a large received chunk must not be cloned as is: structured clone copies a view's whole
 * ArrayBuffer.
 */
import type { SessionEvent } from '../session/events.js';

export interface PackedBatch {
  /** Each event without its payload; `p` is `[offset, length]` of the payload in `bytes`, if any. */
  readonly metas: ReadonlyArray<Record<string, unknown>>;
  readonly bytes: Uint8Array;
}

function payloadOf(event: SessionEvent): Buffer | null {
  if (event.type === 'frame') return event.payload ?? null;
  if (event.type === 'message') return event.data;
  return null;
}

export function packBatch(events: readonly SessionEvent[]): PackedBatch {
  let total = 0;
  for (const e of events) total += payloadOf(e)?.length ?? 0;
  // Not from Node's shared pool: the whole ArrayBuffer is transferred.
  const bytes = new Uint8Array(new ArrayBuffer(total));
  const metas: Record<string, unknown>[] = [];
  let at = 0;
  for (const e of events) {
    const payload = payloadOf(e);
    if (payload === null) {
      metas.push(e as unknown as Record<string, unknown>);
      continue;
    }
    bytes.set(payload, at);
    const key = e.type === 'frame' ? 'payload' : 'data';
    // Keys in the event's order, the payload's key kept in place so the line reads the same.
    const meta: Record<string, unknown> = {};
    for (const k in e) meta[k] = k === key ? null : (e as unknown as Record<string, unknown>)[k];
    meta.p = [at, payload.length];
    metas.push(meta);
    at += payload.length;
  }
  return { metas, bytes };
}

export function unpackBatch(batch: PackedBatch): SessionEvent[] {
  const buf = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.byteLength);
  return batch.metas.map((meta) => {
    const p = meta.p as [number, number] | undefined;
    if (p === undefined) return meta as unknown as SessionEvent;
    const { p: _p, ...rest } = meta;
    const key = rest.type === 'frame' ? 'payload' : 'data';
    rest[key] = buf.subarray(p[0], p[0] + p[1]);
    return rest as unknown as SessionEvent;
  });
}
