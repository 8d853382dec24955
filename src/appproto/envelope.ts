/**
 * The JSON inside a text message together with what surrounds it, for `replay --check --ignore`:
 * plain JSON (`{…}`, `[…]`), a Socket.IO packet on Engine.IO (`42/chat,7["event",{…}]`: the
 * envelope is `42/chat,7`, the JSON the `["event",{…}]` array), a STOMP frame with a JSON body
 * (the envelope is the command and headers, without `content-length`, which follows the body).
 * Two messages compare equal when their envelopes are equal and their JSON is, ignored paths aside.
 */
import type { JsonValue } from '../replay/json-path.js';
import { parseJsonBounded } from './json.js';
import { parseStompFrame } from './stomp.js';
import { DecodeStop } from './types.js';

export interface JsonEnvelope {
  /** Everything but the JSON, as text. */
  readonly head: string;
  readonly json: JsonValue;
}

/** Engine.IO `4` (message) + Socket.IO type, attachment count, namespace and ack id. */
const SOCKET_IO_HEAD = /^4[0-6](?:\d+-)?(?:\/[^,[{"]*,)?\d*(?=[[{"])/;

export function jsonEnvelope(text: string): JsonEnvelope | undefined {
  try {
    const first = text.trimStart()[0];
    if (first === '{' || first === '[') return { head: '', json: parseJsonBounded(text) };
    const sio = SOCKET_IO_HEAD.exec(text);
    if (sio) return { head: sio[0], json: parseJsonBounded(text.slice(sio[0].length)) };
    if (/^[A-Z]+\r?\n/.test(text)) {
      const frame = parseStompFrame(Buffer.from(text, 'utf8'));
      if (frame === null || frame.body.length === 0) return undefined;
      const head = [frame.command, ...frame.headers.filter(([k]) => k !== 'content-length').map(([k, v]) => `${k}:${v}`)].join('\n');
      return { head: `${head}\n\n`, json: parseJsonBounded(Buffer.from(frame.body).toString('utf8')) };
    }
    return undefined;
  } catch (error) {
    if (error instanceof DecodeStop) return undefined;
    throw error;
  }
}
