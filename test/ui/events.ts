/** Small SessionEvent builders for the dashboard's pure tests. */
import type { FrameEvent, MessageEvent, SessionEvent, Side } from '../../src/session/events.js';

export const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

export function open(conn: number, t = T0): SessionEvent {
  return { type: 'open', conn, t, client: '127.0.0.1:5000', target: `ws://127.0.0.1:9001/chat?c=${conn}` };
}

export function handshake(conn: number, t = T0): SessionEvent {
  return {
    type: 'handshake',
    conn,
    t,
    request: { method: 'GET', target: `/chat?c=${conn}`, httpVersion: '1.1', headers: [['Host', '127.0.0.1:9001'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']] },
    response: { status: 101, reason: 'Switching Protocols', httpVersion: '1.1', headers: [['Upgrade', 'websocket'], ['Sec-WebSocket-Accept', 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=']] },
    upgraded: true,
    accept: 'ok',
    protocol: 'chat',
    extensions: [{ name: 'permessage-deflate', params: { client_max_window_bits: '15', server_no_context_takeover: true } }],
  };
}

export function frame(conn: number, from: Side, opcode: number, payload: string | null, extra: Partial<FrameEvent> = {}): FrameEvent {
  const bytes = payload === null ? Buffer.alloc(0) : Buffer.from(payload, 'utf8');
  const whole = opcode === 1 || opcode === 2;
  return {
    type: 'frame',
    conn,
    t: T0 + 1,
    from,
    fin: true,
    rsv1: false,
    rsv2: false,
    rsv3: false,
    opcode,
    masked: from === 'client',
    length: bytes.length,
    ...(whole && !extra.rsv1 && extra.fin !== false ? {} : { payload: bytes }),
    truncated: false,
    ...extra,
  };
}

export function text(conn: number, from: Side, body: string, extra: Partial<MessageEvent> = {}): MessageEvent {
  return { type: 'message', conn, t: T0 + 2, from, opcode: 1, compressed: false, frames: 1, length: Buffer.byteLength(body), data: Buffer.from(body, 'utf8'), truncated: false, ...extra };
}

export function binary(conn: number, from: Side, bytes: Buffer): MessageEvent {
  return { type: 'message', conn, t: T0 + 2, from, opcode: 2, compressed: false, frames: 1, length: bytes.length, data: bytes, truncated: false };
}

/** A text message as the proxy reports it: its frame, then the message. */
export function exchange(conn: number, from: Side, body: string): SessionEvent[] {
  return [frame(conn, from, 1, body), text(conn, from, body)];
}
