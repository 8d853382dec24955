/**
 * Tests speak the capture format: events written as capture-line objects (base64 `payload`,
 * `text` / `data`) and events read back in that form, so assertions read like capture-format.md.
 */
import { fromCaptured, toCaptured, type CapturedEvent, type CapturedOfType } from '../../src/capture/capture-object.js';
import type { CaptureHeader, SessionEvent } from '../../src/session/events.js';
import { readCapture } from '../../src/capture/jsonl-reader.js';
import { loadCapture, type LoadedCapture } from '../../src/capture/load.js';

export type { CapturedEvent, CapturedOfType };

/** The in-memory event a capture line object stands for (payloads as bytes). */
export function ev<E extends CapturedEvent>(line: E): SessionEvent {
  return fromCaptured(line);
}

/** The capture line object of an event (`chunk` events have none: an error here). */
export function cap(event: SessionEvent): CapturedEvent {
  const c = toCaptured(event);
  if (c === null) throw new Error(`a ${event.type} event has no capture line`);
  return c;
}

/** `readCapture` with every event as its capture line object. */
export async function readCaptured(
  path: string,
  options: { readonly onWarning?: (message: string) => void } = {},
): Promise<{ header: CaptureHeader | null; events: CapturedEvent[] }> {
  const { header, events } = await readCapture(path, options);
  return { header, events: events.map(cap) };
}

/** `loadCapture` with every event as its capture line object. */
export async function loadCaptured(path: string): Promise<Omit<LoadedCapture, 'events'> & { events: CapturedEvent[] }> {
  const loaded = await loadCapture(path);
  return { ...loaded, events: loaded.events.map(cap) };
}
