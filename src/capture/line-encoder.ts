/**
 * One capture line per event, as bytes. Events carry payloads as bytes; for a payload worth it the
 * base64 is written straight from those bytes into the line (one allocation per line, no large
 * string, no escaping scan of the base64, no UTF-8 re-encode). Everything else takes the plain
 * JSON path through `toCaptured`.
 */
import { Opcode } from '../protocol/constants.js';
import type { SessionEvent } from '../session/events.js';
import { toCaptured } from './capture-object.js';
import { base64Length, writeBase64 } from './payload.js';

/** Below this a plain `JSON.stringify` is as fast. */
const RAW_MIN = 256;

/** The bytes written as base64 straight into the line, and under which key; null: plain JSON. */
function rawField(event: SessionEvent): { readonly key: 'payload' | 'data'; readonly bytes: Buffer } | null {
  if (event.type === 'frame') return event.payload !== undefined && event.payload.length >= RAW_MIN ? { key: 'payload', bytes: event.payload } : null;
  if (event.type === 'message') {
    const binaryForm = event.opcode !== Opcode.Text || event.invalidUtf8 === true;
    return binaryForm && event.data.length >= RAW_MIN ? { key: 'data', bytes: event.data } : null;
  }
  return null;
}

/** `JSON.stringify(toCaptured(event)) + '\n'` as UTF-8 bytes; null for events never written (`chunk`). */
export function encodeEventLine(event: SessionEvent): Buffer | null {
  const raw = rawField(event);
  if (raw === null) {
    const captured = toCaptured(event);
    return captured === null ? null : Buffer.from(`${JSON.stringify(captured)}\n`, 'utf8');
  }
  let head = '{';
  let tail = '';
  let seenRaw = false;
  for (const key in event) {
    if (key === raw.key) {
      head += `${head.length > 1 ? ',' : ''}"${key}":"`;
      seenRaw = true;
      continue;
    }
    if (key === 'invalidUtf8') continue;
    const value = (event as unknown as Record<string, unknown>)[key];
    if (value === undefined) continue;
    // Keys of session events are plain identifiers; values are finite numbers, booleans, strings, plain objects.
    const json = typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
    if (seenRaw) tail += `,"${key}":${json}`;
    else head += `${head.length > 1 ? ',' : ''}"${key}":${json}`;
  }
  tail = `"${tail}}\n`;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const rawBytes = base64Length(raw.bytes.length);
  const line = Buffer.allocUnsafe(headBytes + rawBytes + Buffer.byteLength(tail, 'utf8'));
  line.write(head, 0, 'utf8');
  writeBase64(raw.bytes, line, headBytes);
  line.write(tail, headBytes + rawBytes, 'utf8');
  return line;
}
