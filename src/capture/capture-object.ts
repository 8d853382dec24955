/**
 * Events as capture lines (capture-format.md) and back. In memory, events carry their payloads as
 * bytes; a capture line carries them as base64 `payload` / `data`, or as `text` for a text message
 * with valid UTF-8. This module is the one place that maps between the two.
 */
import { Opcode } from '../protocol/constants.js';
import type {
  ChunkEvent,
  FrameEvent,
  HandshakeEvent,
  HandshakeResponse,
  InterceptedMessage,
  InterceptEvent,
  MessageEvent,
  SessionEvent,
} from '../session/events.js';
import { decodePayload, encodePayload, utf8BoundaryLength } from './payload.js';

/** The payload fields of a message as a capture line holds them. */
export interface CapturedPayload {
  /** A text message with valid UTF-8. */
  readonly text?: string;
  /** base64: binary messages, and text messages that are not valid UTF-8. */
  readonly data?: string;
}

export type CapturedFrame = Omit<FrameEvent, 'payload'> & { readonly payload?: string };
export type CapturedMessage = Omit<MessageEvent, 'data' | 'invalidUtf8'> & CapturedPayload;
export type CapturedIntercept = Omit<InterceptEvent, 'message'> & {
  readonly message?: Omit<InterceptedMessage, 'data' | 'invalidUtf8'> & CapturedPayload;
};

/**
 * A handshake as a capture line holds it: a refused upgrade's `response.body` is base64. (Kept out
 * of `CapturedEvent`, whose handshake is still `HandshakeEvent`, so code that picks handshakes out
 * of captured lines by that type keeps compiling; only `body` differs.)
 */
export type CapturedHandshake = Omit<HandshakeEvent, 'response'> & {
  readonly response: (Omit<HandshakeResponse, 'body'> & { readonly body?: string }) | null;
};

/** An event as a capture line holds it (what `JSON.parse` of a line gives). */
export type CapturedEvent =
  | Exclude<SessionEvent, FrameEvent | MessageEvent | InterceptEvent | ChunkEvent>
  | CapturedFrame
  | CapturedMessage
  | CapturedIntercept;

export type CapturedOfType<K extends CapturedEvent['type']> = Extract<CapturedEvent, { type: K }>;

/**
 * `text` or `data` of a message's kept bytes: capture-format "a `text` is cut at a UTF-8 character
 * boundary" when the kept bytes were cut.
 */
export function capturedPayload(m: { readonly opcode: number; readonly data: Buffer; readonly invalidUtf8?: true; readonly truncated?: boolean }): CapturedPayload {
  if (m.opcode === Opcode.Text && !m.invalidUtf8) {
    const end = m.truncated ? utf8BoundaryLength(m.data) : m.data.length;
    return { text: m.data.toString('utf8', 0, end) };
  }
  return { data: encodePayload(m.data) };
}

/** The capture line object of an event (`chunk` events are never written: null). */
export function toCaptured(event: SessionEvent): CapturedEvent | null {
  switch (event.type) {
    case 'frame': {
      if (event.payload === undefined) return event as CapturedFrame;
      const { payload, ...rest } = event;
      // Keys in the order of the event, so a line reads the same as before payloads were bytes.
      return reorder({ ...rest, payload: encodePayload(payload) }, event) as unknown as CapturedFrame;
    }
    case 'message': {
      const { data, invalidUtf8: _invalid, ...rest } = event;
      const p = capturedPayload(event);
      return reorder({ ...rest, ...p }, event, 'data', p.text !== undefined ? 'text' : 'data') as unknown as CapturedMessage;
    }
    case 'intercept': {
      if (event.message === undefined) return event as CapturedIntercept;
      const { data: _d, invalidUtf8: _i, ...m } = event.message;
      return { ...event, message: { ...m, ...capturedPayload(event.message) } };
    }
    case 'handshake': {
      // capture-format: a refused upgrade's body as base64 `response.body`.
      const response = event.response;
      if (response?.body === undefined) return event;
      const captured: CapturedHandshake = { ...event, response: { ...response, body: encodePayload(response.body) } };
      return captured as unknown as CapturedEvent;
    }
    case 'chunk':
      return null;
    default:
      return event;
  }
}

/** Keeps `source`'s key order in `target` (renaming `from` to `to`). */
function reorder(target: Record<string, unknown>, source: object, from?: string, to?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const k = key === from ? to! : key;
    if (k in target) out[k] = target[k];
  }
  for (const key of Object.keys(target)) if (!(key in out)) out[key] = target[key];
  return out;
}

function payloadBytes(p: CapturedPayload): { readonly data: Buffer; readonly invalidUtf8?: true } {
  if (p.text !== undefined) return { data: Buffer.from(p.text, 'utf8') };
  return { data: p.data !== undefined ? decodePayload(p.data) : Buffer.alloc(0) };
}

/**
 * `line` with `from` replaced by `to: value` where `from` was: the event keeps the line's key
 * order, so writing it again gives the same line (both writers follow the event's order).
 */
function inPlace(line: object, from: string, to: string, value: Buffer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(line)) {
    if (key === from) out[to] = value;
    else if (key !== 'text' && key !== 'data' && key !== 'payload') out[key] = v;
  }
  if (!(to in out)) out[to] = value;
  return out;
}

/** The event a capture line holds (the reader's side of `toCaptured`). */
export function fromCaptured(line: CapturedEvent): SessionEvent {
  switch (line.type) {
    case 'frame': {
      if (line.payload === undefined) return line as FrameEvent;
      return inPlace(line, 'payload', 'payload', decodePayload(line.payload)) as unknown as FrameEvent;
    }
    case 'message': {
      const { text, data } = line;
      const bytes = payloadBytes({ text, data });
      // capture-format: a text message carries `data` instead of `text` when it is not valid UTF-8.
      const invalid = line.opcode === Opcode.Text && text === undefined;
      const event = inPlace(line, text !== undefined ? 'text' : 'data', 'data', bytes.data);
      if (invalid) event.invalidUtf8 = true;
      return event as unknown as MessageEvent;
    }
    case 'handshake': {
      const response = (line as unknown as CapturedHandshake).response;
      if (response === null || typeof response.body !== 'string') return line;
      return { ...line, response: { ...response, body: decodePayload(response.body) } };
    }
    case 'intercept': {
      if (line.message === undefined) return line as InterceptEvent;
      const { text, data, ...m } = line.message;
      const invalid = m.opcode === Opcode.Text && text === undefined;
      return { ...line, message: { ...m, truncated: m.truncated ?? false, data: payloadBytes({ text, data }).data, ...(invalid ? { invalidUtf8: true as const } : {}) } };
    }
    default:
      return line;
  }
}
