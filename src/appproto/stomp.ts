/**
 * STOMP 1.2 frames (https://stomp.github.io/stomp-specification-1.2.html). Over WebSocket each
 * message carries one frame, or only EOLs as a heart-beat. Header values are unescaped (§"Value
 * Encoding") except in CONNECT/CONNECTED; a `content-length` header bounds the body, else the body
 * ends at the first NUL.
 */
import { utf8OrNull } from './byte-reader.js';
import { hexOf } from './data-value.js';
import { parseJsonBounded } from './json.js';
import { jsonToTree } from './data-value.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, guard, type PairMark, stop, type TreeNode } from './types.js';

const CLIENT_COMMANDS = ['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT'];
const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'];
export const STOMP_COMMANDS: ReadonlySet<string> = new Set([...CLIENT_COMMANDS, ...SERVER_COMMANDS]);

/** Headers a frame may carry before we call it hostile. */
const MAX_HEADERS = 1000;

export interface StompFrame {
  readonly command: string;
  /** In order; §"Repeated Header Entries": the first occurrence wins. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

function unescape(v: string, raw: boolean): string {
  if (raw) return v;
  return v.replace(/\\(.?)/g, (_m, c: string) => {
    switch (c) {
      case 'r':
        return '\r';
      case 'n':
        return '\n';
      case 'c':
        return ':';
      case '\\':
        return '\\';
      default:
        // §"Value Encoding": "Undefined escape sequences ... MUST be treated as a fatal protocol error".
        return stop(`undefined escape sequence '\\${c}' in a header`);
    }
  });
}

/** Parses one frame; null for a heart-beat (EOLs only). */
export function parseStompFrame(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): StompFrame | null {
  if (bytes.length > limits.maxBytes) stop(`${bytes.length} bytes (limit ${limits.maxBytes})`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  // Heart-beats and the EOLs that may follow the previous frame's NUL.
  while (i < buf.length && (buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  if (i === buf.length) return null;
  const line = (): string => {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) stop(`line at byte ${i} has no end (no LF)`);
    const end = nl > i && buf[nl - 1] === 0x0d ? nl - 1 : nl;
    const text = utf8OrNull(buf.subarray(i, end));
    if (text === null) stop(`line at byte ${i} is not UTF-8`);
    i = nl + 1;
    return text;
  };
  const command = line();
  if (!STOMP_COMMANDS.has(command)) stop(`unknown command ${JSON.stringify(command.slice(0, 30))}`);
  const raw = command === 'CONNECT' || command === 'CONNECTED' || command === 'STOMP';
  const headers: Array<readonly [string, string]> = [];
  for (;;) {
    const h = line();
    if (h === '') break;
    if (headers.length >= MAX_HEADERS) stop(`more than ${MAX_HEADERS} headers`);
    const colon = h.indexOf(':');
    if (colon < 0) stop(`header line ${JSON.stringify(h.slice(0, 40))} has no ':'`);
    headers.push([unescape(h.slice(0, colon), raw), unescape(h.slice(colon + 1), raw)]);
  }
  const lengthHeader = headers.find(([k]) => k === 'content-length')?.[1];
  let body: Uint8Array;
  if (lengthHeader !== undefined) {
    if (!/^\d{1,10}$/.test(lengthHeader)) stop(`content-length ${JSON.stringify(lengthHeader)} is not a number`);
    const n = Number(lengthHeader);
    if (n + 1 > buf.length - i) stop(`content-length ${n} but ${buf.length - i} bytes left (with the NUL)`);
    if (buf[i + n] !== 0) stop(`no NUL after the ${n} body bytes`);
    body = buf.subarray(i, i + n);
    i += n + 1;
  } else {
    const nul = buf.indexOf(0, i);
    if (nul < 0) stop('frame has no NUL terminator');
    body = buf.subarray(i, nul);
    i = nul + 1;
  }
  while (i < buf.length && (buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  if (i < buf.length) stop(`${buf.length - i} bytes after the frame's NUL`);
  return { command, headers, body };
}

export function decodeStomp(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): DecodeResult {
  return guard('stomp', () => {
    const frame = parseStompFrame(bytes, limits);
    if (frame === null) return { ok: true, view: 'stomp', summary: 'STOMP heart-beat', tree: { label: 'STOMP heart-beat' }, fields: { type: 'heart-beat' } };
    const header = (name: string): string | undefined => frame.headers.find(([k]) => k === name)?.[1];
    const destination = header('destination');
    const fields: Record<string, string> = { type: frame.command };
    if (destination !== undefined) fields.destination = fields.topic = destination;
    const parts = [`STOMP ${frame.command}`];
    if (destination !== undefined) parts.push(destination);
    if (frame.command === 'ERROR' && header('message')) parts.push(JSON.stringify(header('message')!.slice(0, 40)));
    let pair: PairMark | undefined;
    const receipt = header('receipt');
    const receiptId = header('receipt-id');
    if (receipt !== undefined) {
      parts.push(`receipt ${receipt}`);
      pair = { role: 'request', key: `receipt:${receipt}` };
    } else if (receiptId !== undefined && (frame.command === 'RECEIPT' || frame.command === 'ERROR')) {
      parts.push(`receipt-id ${receiptId}`);
      pair = { role: 'reply', key: `receipt:${receiptId}` };
    } else if (frame.command === 'CONNECT' || frame.command === 'STOMP') {
      pair = { role: 'request', key: 'connect' };
    } else if (frame.command === 'CONNECTED' || (frame.command === 'ERROR' && receiptId === undefined)) {
      pair = { role: 'reply-stream', key: 'connect' };
    }
    const children: TreeNode[] = [
      { label: 'command', value: frame.command },
      { label: 'headers', value: `(${frame.headers.length})`, children: frame.headers.map(([k, v]) => ({ label: k, value: JSON.stringify(v) })) },
    ];
    const bodyNode = stompBody(frame.body, header('content-type'), limits);
    if (bodyNode) children.push(bodyNode.tree);
    const out = {
      ok: true as const,
      view: 'stomp' as const,
      summary: parts.join(' '),
      tree: { label: `STOMP ${frame.command}`, children },
      fields,
      ...(bodyNode?.json !== undefined ? { json: bodyNode.json } : {}),
    };
    return pair ? { ...out, pair } : out;
  });
}

function stompBody(body: Uint8Array, contentType: string | undefined, limits: DecodeLimits) {
  if (body.length === 0) return null;
  const text = utf8OrNull(body);
  if (text === null) return { tree: { label: 'body', value: `bytes(${body.length}) ${hexOf(body)}` } };
  const first = text.trimStart()[0];
  if ((contentType?.includes('json') || first === '{' || first === '[')) {
    try {
      const json = parseJsonBounded(text, limits);
      return { tree: jsonToTree(json, 'body'), json };
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { tree: { label: 'body', value: JSON.stringify(text.length > 2000 ? `${text.slice(0, 2000)}…` : text) } };
}
