/**
 * One capture line per event, as bytes. `JSON.stringify` scans every character of a base64 payload
 * for escapes, and turning the result into UTF-8 copies it again; for a large payload the line
 * would also flatten the sliced base64 string the session made (`encodePayload`) into one large
 * string. For the payloads the session registered with their bytes, the base64 is written straight
 * into the line from those bytes instead, with one allocation per line. Everything else, and
 * strings from elsewhere (a capture read back), takes the plain JSON path.
 */
import type { SessionEvent } from '../session/events.js';
import { base64Length, writeBase64 } from './payload.js';

/**
 * The kept bytes behind the `payload` / `data` of events the session made. A WeakMap rather than a
 * field on the event: sinks and tests see the events unchanged, and an entry lives only as long as
 * its event.
 */
const ownBytes = new WeakMap<SessionEvent, Uint8Array>();

/** Below this a plain `JSON.stringify` is as fast (and the WeakMap is not worth its cost). */
const RAW_MIN = 256;

/**
 * Registers the bytes whose `encodePayload` is `event`'s `payload` / `data` (when worth it), so the
 * capture writer can write them without the string; returns the event.
 */
export function withOwnBytes<E extends SessionEvent>(event: E, bytes: Uint8Array | null): E {
  // `in`, not a read: a message's `data` may be a getter that encodes on first read.
  const raw = event.type === 'message' ? 'data' in event : event.type === 'frame' ? 'payload' in event : false;
  if (raw && bytes !== null && bytes.length >= RAW_MIN) ownBytes.set(event, bytes);
  return event;
}

/** `JSON.stringify(event) + '\n'` as UTF-8 bytes (the same object when parsed). */
export function encodeEventLine(event: SessionEvent): Buffer {
  const bytes = ownBytes.get(event);
  if (bytes === undefined) return Buffer.from(`${JSON.stringify(event)}\n`, 'utf8');
  const rawKey = event.type === 'message' ? 'data' : 'payload';
  let head = '{';
  let tail = '';
  let seenRaw = false;
  for (const key in event) {
    if (key === rawKey) {
      // Written from the bytes below; not read, so a lazy `data` is never encoded.
      head += `${head.length > 1 ? ',' : ''}"${key}":"`;
      seenRaw = true;
      continue;
    }
    const value = (event as unknown as Record<string, unknown>)[key];
    if (value === undefined) continue;
    // Keys of session events are plain identifiers; values are finite numbers, booleans, strings.
    const json = typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    if (seenRaw) tail += `,"${key}":${json}`;
    else head += `${head.length > 1 ? ',' : ''}"${key}":${json}`;
  }
  tail = `"${tail}}\n`;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const rawBytes = base64Length(bytes.length);
  const line = Buffer.allocUnsafe(headBytes + rawBytes + Buffer.byteLength(tail, 'utf8'));
  line.write(head, 0, 'utf8');
  writeBase64(bytes, line, headBytes);
  line.write(tail, headBytes + rawBytes, 'utf8');
  return line;
}
