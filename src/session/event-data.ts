/**
 * The bytes an event carries, whatever form the event holds them in. Code that reads payloads goes
 * through these accessors, so the in-memory form of payloads (bytes, per capture-format's "events
 * carry bytes, only sinks encode") is decided in one place.
 */
import { decodePayload } from '../capture/payload.js';
import type { FrameEvent, MessageEvent } from './events.js';

/** The kept, unmasked payload of a frame; null when the frame leaves it to its message. */
export function frameBytes(event: FrameEvent): Buffer | null {
  return event.payload === undefined ? null : decodePayload(event.payload);
}

/** The kept, decoded bytes of a message (text as UTF-8). */
export function messageData(event: MessageEvent): Buffer {
  if (event.text !== undefined) return Buffer.from(event.text, 'utf8');
  if (event.data !== undefined) return decodePayload(event.data);
  return Buffer.alloc(0);
}

/** The text of a text message with valid UTF-8; null for binary and for invalid UTF-8. */
export function messageText(event: MessageEvent): string | null {
  return event.opcode === 1 && event.text !== undefined ? event.text : null;
}
