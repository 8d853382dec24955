/**
 * The bytes an event carries. Events hold payloads as bytes (only sinks encode them); these are the
 * readings every consumer shares, so "what is the text of this message" has one answer.
 */
import { Opcode } from '../protocol/constants.js';
import type { EndEvent, FrameEvent, MessageEvent } from './events.js';
import { utf8BoundaryLength } from '../capture/payload.js';

/** The kept, unmasked payload of a frame; null when the frame leaves it to its message. */
export function frameBytes(event: FrameEvent): Buffer | null {
  return event.payload ?? null;
}

/** The kept, decoded bytes of a message (text as UTF-8). */
export function messageData(event: { readonly data: Buffer }): Buffer {
  return event.data;
}

/**
 * The text of a text message with valid UTF-8 (a cut one ends at a character boundary); null for
 * binary and for invalid UTF-8.
 */
export function messageText(event: Pick<MessageEvent, 'opcode' | 'data' | 'invalidUtf8' | 'truncated'>): string | null {
  if (event.opcode !== Opcode.Text || event.invalidUtf8) return null;
  const data = event.data;
  const end = event.truncated ? utf8BoundaryLength(data) : data.length;
  return data.toString('utf8', 0, end);
}

/**
 * Why a connection ended, as far as its TCP streams tell (capture-format `end.tcp`): e.g. "server
 * reset", "client FIN without close frame", "cut by frametap". null when nothing is known (a capture
 * written before `tcp` existed, or a connection that never upgraded).
 */
export function tcpEndSummary(end: Pick<EndEvent, 'tcp' | 'initiator' | 'shutdown'>): string | null {
  const tcp = end.tcp;
  if (!tcp || (tcp.client === null && tcp.server === null)) return null;
  if (end.shutdown) return 'frametap shut down';
  const parts: string[] = [];
  for (const side of ['client', 'server'] as const) {
    const how = tcp[side];
    if (how === 'reset') parts.push(`${side} reset`);
    else if (how === 'fin' && end.initiator === null) parts.push(`${side} FIN without close frame`);
  }
  if (parts.length === 0) {
    if (tcp.client === 'cut' && tcp.server === 'cut') return 'cut by frametap';
    if (tcp.client === 'fin' && tcp.server === 'fin') return 'both FIN';
    return `client ${tcp.client ?? '-'}, server ${tcp.server ?? '-'}`;
  }
  return parts.join(', ');
}
