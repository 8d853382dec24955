/**
 * Plays one captured step on a live `ws` socket: both `replay` (client side) and `serve` (server
 * side) send messages, pings, the close and the drop the same way.
 */
import { Opcode } from '../protocol/constants.js';
import type { WebSocket, PerMessageDeflateOptions } from 'ws';
import type { ExtensionOffer, RawHeaders } from '../session/events.js';
import { isValidCloseCode } from '../protocol/validation.js';
import type { Step } from './script.js';

/**
 * Sends a captured data message "fragmented as captured": the same frame count, the same
 * (inflated) content and the same compression flag. RFC 7692 §6.1: RSV1 is set on the first frame
 * of a compressed message only, which `ws` does when the first fragment asks for compression.
 */
export function sendMessage(ws: WebSocket, step: Extract<Step, { kind: 'message' }>): void {
  const binary = step.opcode === Opcode.Binary;
  let offset = 0;
  const last = step.fragments.length - 1;
  step.fragments.forEach((size, i) => {
    const piece = step.data.subarray(offset, offset + size);
    offset += size;
    ws.send(piece, { binary, fin: i === last, compress: step.compressed });
  });
}

/**
 * Plays a close step. A captured close code that may not be sent (RFC 6455 §7.4.1: 1005, 1006,
 * 1015, reserved ranges) cannot go through `ws`: it is sent as an empty close body, and the
 * returned text says so.
 */
export function sendClose(ws: WebSocket, code: number | null, reason: string): string | null {
  if (code === null) {
    ws.close();
    return null;
  }
  if (!isValidCloseCode(code)) {
    ws.close();
    return `the captured close code ${code} may not be sent (RFC 6455 §7.4.1): sent a close without a code`;
  }
  ws.close(code, Buffer.byteLength(reason) > 123 ? Buffer.from(reason).subarray(0, 123) : reason);
  return null;
}

export function playStep(ws: WebSocket, step: Step, warn: (line: string) => void): void {
  switch (step.kind) {
    case 'message':
      sendMessage(ws, step);
      break;
    case 'ping':
      ws.ping(step.data);
      break;
    case 'close': {
      const note = sendClose(ws, step.code, step.reason);
      if (note) warn(note);
      break;
    }
    case 'drop':
      ws.terminate();
      break;
  }
}

/**
 * `ws` permessage-deflate options from the captured negotiation (RFC 7692 §7.1): the context
 * takeover flags are kept; window sizes are left to the new negotiation. `threshold: 0` because
 * the capture decides per message whether it was compressed, not its size.
 */
export function deflateOptions(extensions: readonly ExtensionOffer[]): PerMessageDeflateOptions | false {
  const pmd = extensions.find((e) => e.name.toLowerCase() === 'permessage-deflate');
  if (!pmd) return false;
  return {
    threshold: 0,
    ...(pmd.params.server_no_context_takeover !== undefined ? { serverNoContextTakeover: true } : {}),
    ...(pmd.params.client_no_context_takeover !== undefined ? { clientNoContextTakeover: true } : {}),
  };
}

/** Headers negotiated anew or set by the HTTP layer; every other captured header is sent again. */
const NEGOTIATED = new Set([
  'host',
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'sec-websocket-accept',
  'content-length',
  'transfer-encoding',
]);

export const REDACTED = '<redacted>';

/** Captured headers that matter (Origin, Cookie, Authorization, custom ones), minus redacted values. */
export function headersToResend(headers: RawHeaders): { readonly headers: Record<string, string>; readonly redacted: string[] } {
  const out: Record<string, string> = {};
  const redacted: string[] = [];
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    if (NEGOTIATED.has(key)) continue;
    if (value === REDACTED) {
      redacted.push(name);
      continue;
    }
    // RFC 9110 §5.3: repeated fields combine into one comma-separated value (Cookie uses "; ", RFC 6265 §5.4).
    const existing = Object.keys(out).find((k) => k.toLowerCase() === key);
    if (existing) out[existing] = `${out[existing]}${key === 'cookie' ? '; ' : ', '}${value}`;
    else out[name] = value;
  }
  return { headers: out, redacted };
}

/** Subprotocols the captured client offered (Sec-WebSocket-Protocol, RFC 6455 §4.1 item 10). */
export function offeredProtocols(headers: RawHeaders): string[] {
  const out: string[] = [];
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'sec-websocket-protocol') continue;
    for (const p of value.split(',')) if (p.trim()) out.push(p.trim());
  }
  return out;
}
