/**
 * One capture line per event, as bytes. Events carry payloads as bytes; for a payload worth it the
 * base64 is written straight from those bytes into the line (one allocation per line, no large
 * string, no escaping scan of the base64, no UTF-8 re-encode). Everything else takes the plain
 * JSON path through `toCaptured`.
 */
import { Opcode } from '../protocol/constants.js';
import type { SessionEvent } from '../session/events.js';
import { toCaptured } from './capture-object.js';
import { base64Length, encodePayload, textOf, writeBase64 } from './payload.js';

/** Below this a plain `JSON.stringify` is as fast. */
export const RAW_MIN = 256;

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
  const parts = rawLineParts(event);
  if (parts === null) {
    const text = eventLineText(event);
    return text === null ? null : Buffer.from(text, 'utf8');
  }
  return joinRawLine(parts.head, parts.raw, parts.tail);
}

/**
 * A line with a large payload in three parts: the JSON before the payload's base64 (up to and
 * including its opening quote), the payload's bytes, and the JSON after it (newline included).
 * null when the event's line is small enough to be made as one string (`eventLineText`).
 */
export function rawLineParts(event: SessionEvent): { readonly head: string; readonly raw: Buffer; readonly tail: string } | null {
  const raw = rawField(event);
  if (raw === null) return null;
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
  return { head, raw: raw.bytes, tail: `"${tail}}\n` };
}

/** `head`, the base64 of `raw`, `tail` (each given as a string or as its UTF-8 bytes), as one line. */
export function joinRawLine(head: string | Uint8Array, raw: Uint8Array, tail: string | Uint8Array): Buffer {
  const headBytes = typeof head === 'string' ? Buffer.byteLength(head, 'utf8') : head.length;
  const rawBytes = base64Length(raw.length);
  const tailBytes = typeof tail === 'string' ? Buffer.byteLength(tail, 'utf8') : tail.length;
  const line = Buffer.allocUnsafe(headBytes + rawBytes + tailBytes);
  if (typeof head === 'string') line.write(head, 0, 'utf8');
  else line.set(head, 0);
  writeBase64(raw, line, headBytes);
  if (typeof tail === 'string') line.write(tail, headBytes + rawBytes, 'utf8');
  else line.set(tail, headBytes + rawBytes);
  return line;
}

/**
 * The line (newline included) of an event whose payload is small enough to go through a string:
 * `JSON.stringify(toCaptured(event))`, built directly for frames and messages, the events of the
 * hot path (no spread, no key reordering, no intermediate object: a third of the time).
 */
export function eventLineText(event: SessionEvent): string | null {
  // A frame without payload bytes is its own capture object, and native JSON is fastest for it.
  if ((event.type !== 'frame' || event.payload === undefined) && event.type !== 'message') {
    const captured = toCaptured(event);
    return captured === null ? null : `${JSON.stringify(captured)}\n`;
  }
  const fields = event as unknown as Record<string, unknown>;
  let line = '{';
  for (const key in fields) {
    const value = fields[key];
    if (value === undefined || key === 'invalidUtf8') continue;
    let name = key;
    let json: string;
    if (typeof value === 'number') json = Number.isFinite(value) ? String(value) : 'null';
    else if (typeof value === 'boolean') json = value ? 'true' : 'false';
    else if (typeof value === 'string') json = JSON.stringify(value);
    else if (event.type === 'frame' && key === 'payload') json = `"${encodePayload(value as Buffer)}"`;
    else if (event.type === 'message' && key === 'data') {
      // capture-format: a text message with valid UTF-8 as `text`, anything else as base64 `data`.
      if (event.opcode === Opcode.Text && event.invalidUtf8 !== true) {
        name = 'text';
        json = JSON.stringify(textOf(event.data, event.truncated));
      } else json = `"${encodePayload(event.data)}"`;
    } else json = JSON.stringify(value);
    line += `${line.length > 1 ? ',' : ''}"${name}":${json}`;
  }
  return `${line}}\n`;
}
