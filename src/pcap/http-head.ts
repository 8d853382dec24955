/**
 * HTTP/1.1 message heads read from and rewritten in raw bytes (RFC 9112 §2–§5): the upgrade
 * request and its answer as they crossed a TCP leg. Header lists keep order and case as on the
 * wire, values without surrounding whitespace, as Node's `rawHeaders` gives them live.
 */
import type { HandshakeRequest, HandshakeResponse, RawHeaders } from '../session/events.js';
import type { Redactor } from '../session/redact.js';

/** A head longer than this is not an HTTP head frametap will look for (Node's default limit is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Offset just past the blank line that ends the head (CRLF CRLF, or LF LF tolerated), or -1. */
export function headEnd(bytes: Uint8Array, from = 0): number {
  for (let i = Math.max(from, 0); i < bytes.length; i++) {
    if (bytes[i] !== 0x0a) continue;
    if (i >= 2 && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a) return i + 1;
    if (i >= 3 && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d) return i + 1;
    if (i >= 1 && bytes[i - 1] === 0x0a) return i + 1;
  }
  return -1;
}

function lines(head: Uint8Array): string[] {
  // RFC 9112 §2.2: field values are octets; latin1 keeps each byte as one character.
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('latin1');
  const all = text.split(/\r?\n/);
  while (all.length > 0 && all[all.length - 1] === '') all.pop();
  return all;
}

function headers(fieldLines: readonly string[]): RawHeaders | null {
  const list: [string, string][] = [];
  for (const line of fieldLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    list.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return list;
}

/** `GET /chat HTTP/1.1` + fields, or null when `head` is not a request head. */
export function parseRequestHead(head: Uint8Array): HandshakeRequest | null {
  const [start, ...rest] = lines(head);
  const m = start === undefined ? null : /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d\.\d)$/.exec(start);
  const fields = headers(rest);
  if (!m || !fields) return null;
  return { method: m[1]!, target: m[2]!, httpVersion: m[3]!, headers: fields };
}

/** `HTTP/1.1 101 Switching Protocols` + fields, or null when `head` is not a response head. */
export function parseResponseHead(head: Uint8Array): HandshakeResponse | null {
  const [start, ...rest] = lines(head);
  const m = start === undefined ? null : /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(start);
  const fields = headers(rest);
  if (!m || !fields) return null;
  return { status: Number(m[2]), reason: m[3] ?? '', httpVersion: m[1]!, headers: fields };
}

/** Whether `bytes` could start an HTTP request (a token then a space), for finding upgrades in foreign captures. */
export function looksLikeRequestStart(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 16);
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === 0x20) return i > 0;
    if (c < 0x21 || c > 0x7e) return false;
  }
  return n < 16;
}

/**
 * The head with `--redact` applied as the handshake event applies it: a redacted header's value
 * and a redacted query parameter's value become `<redacted>`; every other byte is kept.
 */
export function redactHead(head: Uint8Array, redactor: Redactor, isRequest: boolean): Buffer {
  const original = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (!redactor.active) return original;
  const text = original.toString('latin1');
  const parts = text.split(/(\r?\n)/);
  let changed = false;
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i]!;
    if (line === '') continue;
    if (i === 0) {
      if (!isRequest) continue;
      const m = /^(\S+ )(\S+)( HTTP\/\d\.\d)$/.exec(line);
      if (!m) continue;
      const target = redactor.target(m[2]!);
      if (target !== m[2]) {
        parts[i] = `${m[1]}${target}${m[3]}`;
        changed = true;
      }
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    const redacted = redactor.headers([[name, value]])[0]![1];
    if (redacted !== value) {
      parts[i] = `${name}: ${redacted}`;
      changed = true;
    }
  }
  return changed ? Buffer.from(parts.join(''), 'latin1') : original;
}

function head(startLine: string, headers: RawHeaders): Buffer {
  let text = `${startLine}\r\n`;
  for (const [name, value] of headers) text += `${name}: ${value}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** A request head as bytes: `METHOD target HTTP/x.y`, the fields in order, the blank line. */
export function requestHead(request: { readonly method: string; readonly httpVersion: string }, target: string, headers: RawHeaders): Buffer {
  return head(`${request.method} ${target} HTTP/${request.httpVersion}`, headers);
}

/** A response head as bytes. */
export function responseHead(response: HandshakeResponse): Buffer {
  return head(`HTTP/${response.httpVersion} ${response.status} ${response.reason}`.trimEnd(), response.headers);
}
