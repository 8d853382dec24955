/**
 * One capture line per event, as bytes. `JSON.stringify` scans every character of a large base64
 * payload for escapes, and turning the result into UTF-8 copies it again: for a 256 KiB message
 * that is most of the capture's cost. Base64 needs no escaping, so a large `payload` / `data` that
 * the session itself produced with `Buffer#toString('base64')` is copied into the line as it is.
 * Strings from elsewhere (a capture read back) always take the plain JSON path.
 */
import type { SessionEvent } from '../session/events.js';

/** Events whose `payload` / `data` field is base64 produced by frametap itself. */
const base64Events = new WeakSet<object>();

/** Below this the plain path is as fast and simpler. */
const SPLICE_MIN = 2048;

/** Marks an event whose `payload` / `data` is frametap's own base64 (no JSON escaping needed). */
export function markBase64<E extends SessionEvent>(event: E): E {
  base64Events.add(event);
  return event;
}

/** `JSON.stringify(event) + '\n'` as UTF-8 bytes (field order aside). */
export function encodeEventLine(event: SessionEvent): Buffer {
  if (base64Events.has(event)) {
    const field = event.type === 'message' ? 'data' : event.type === 'frame' ? 'payload' : null;
    const b64 = field === null ? undefined : (event as unknown as Record<string, unknown>)[field];
    if (typeof b64 === 'string' && b64.length >= SPLICE_MIN) {
      const rest: Record<string, unknown> = { ...event };
      delete rest[field!];
      const head = JSON.stringify(rest);
      // head ends with '}': reopen it, append the field, close the object.
      const prefix = `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}"${field}":"`;
      const prefixBytes = Buffer.byteLength(prefix, 'utf8');
      const line = Buffer.allocUnsafe(prefixBytes + b64.length + 3);
      let at = line.write(prefix, 0, 'utf8');
      at += line.write(b64, at, 'latin1');
      line.write('"}\n', at, 'latin1');
      return line;
    }
  }
  return Buffer.from(`${JSON.stringify(event)}\n`, 'utf8');
}
