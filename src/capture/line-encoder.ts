/**
 * One capture line per event, as bytes. `JSON.stringify` scans every character of a base64 payload
 * for escapes, and turning the result into UTF-8 copies it again: for 4 KiB and larger messages that
 * was most of the capture's cost (bench/relay). Base64 needs no escaping, so the `payload` / `data`
 * of an event the session marked as its own base64 is copied into the line as it is, with one
 * allocation per line. Everything else, and strings from elsewhere (a capture read back), takes
 * the plain JSON path.
 */
import type { SessionEvent } from '../session/events.js';

/**
 * Events whose `payload` / `data` is frametap's own base64 (`Buffer#toString`), so needs no
 * escaping. A WeakSet rather than a mark on the event: sinks and tests see the events unchanged.
 */
const ownBase64 = new WeakSet<SessionEvent>();

/** Below this a plain `JSON.stringify` is as fast (and the WeakSet is not worth its cost). */
const RAW_MIN = 256;

/** Marks `event`'s `payload` / `data` as frametap's own base64 (when worth it); returns the event. */
export function markOwnBase64<E extends SessionEvent>(event: E): E {
  const raw = rawField(event);
  if (raw !== undefined && raw.length >= RAW_MIN) ownBase64.add(event);
  return event;
}

function rawField(event: SessionEvent): string | undefined {
  return event.type === 'message' ? event.data : event.type === 'frame' ? event.payload : undefined;
}

/** `JSON.stringify(event) + '\n'` as UTF-8 bytes (the same object when parsed). */
export function encodeEventLine(event: SessionEvent): Buffer {
  const raw = rawField(event);
  if (raw === undefined || raw.length < RAW_MIN || !ownBase64.has(event)) return Buffer.from(`${JSON.stringify(event)}\n`, 'utf8');
  const rawKey = event.type === 'message' ? 'data' : 'payload';
  let head = '{';
  let tail = '';
  let seenRaw = false;
  for (const key in event) {
    const value = (event as unknown as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (key === rawKey) {
      head += `${head.length > 1 ? ',' : ''}"${key}":"`;
      seenRaw = true;
      continue;
    }
    // Keys of session events are plain identifiers; values are finite numbers, booleans, strings.
    const json = typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    if (seenRaw) tail += `,"${key}":${json}`;
    else head += `${head.length > 1 ? ',' : ''}"${key}":${json}`;
  }
  tail = `"${tail}}\n`;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const line = Buffer.allocUnsafe(headBytes + raw.length + Buffer.byteLength(tail, 'utf8'));
  line.write(head, 0, 'utf8');
  line.write(raw, headBytes, 'latin1');
  line.write(tail, headBytes + raw.length, 'utf8');
  return line;
}
