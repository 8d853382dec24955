/**
 * The opening handshake (RFC 6455 §4) read from raw header lists: the Sec-WebSocket-Accept check,
 * the chosen subprotocol, the accepted extensions with their parameters, permessage-deflate
 * negotiation (RFC 7692 §7.1), and the handshake rules the server can break.
 */
import { createHash } from 'node:crypto';
import type { AcceptCheck, ExtensionOffer, RawHeaders } from './http-types.js';
import { VIOLATION_CODES, WEBSOCKET_GUID, type ViolationRule } from './constants.js';
import { negotiateDeflate, PERMESSAGE_DEFLATE } from './permessage-deflate.js';
import type { NegotiatedDeflate } from './wire-events.js';

/** RFC 6455 §4.2.2: base64 of the SHA-1 of the key concatenated with the GUID. */
export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** Values of every header named `name` (case-insensitive), in wire order. */
export function headerValues(headers: RawHeaders, name: string): string[] {
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, value] of headers) if (key.toLowerCase() === wanted) values.push(value);
  return values;
}

/** Split on `separator` outside double-quoted strings (RFC 7230 §3.2.6 quoted-string, with \-escapes). */
function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\' && i + 1 < value.length) {
      current += c + value[++i]!;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    return value.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return value;
}

/**
 * Parse a Sec-WebSocket-Extensions value (RFC 6455 §9.1: `name; param; param=value, name2`).
 * Values may be tokens or quoted strings (RFC 7692 §7.1 allows both); a parameter without value
 * is `true`. Empty elements are skipped.
 */
export function parseExtensionHeader(value: string): ExtensionOffer[] {
  const offers: ExtensionOffer[] = [];
  for (const element of splitOutsideQuotes(value, ',')) {
    const [rawName, ...rawParams] = splitOutsideQuotes(element, ';');
    const name = (rawName ?? '').trim();
    if (name === '') continue;
    const params: Record<string, string | true> = {};
    for (const rawParam of rawParams) {
      const eq = rawParam.indexOf('=');
      const key = (eq < 0 ? rawParam : rawParam.slice(0, eq)).trim();
      if (key === '') continue;
      params[key] = eq < 0 ? true : unquote(rawParam.slice(eq + 1).trim());
    }
    offers.push({ name, params });
  }
  return offers;
}

function parseExtensions(headers: RawHeaders): ExtensionOffer[] {
  return headerValues(headers, 'sec-websocket-extensions').flatMap(parseExtensionHeader);
}

/** A handshake rule the server broke. */
export interface HandshakeViolation {
  readonly rule: ViolationRule;
  readonly code: number;
  readonly detail: string;
  readonly from: 'server';
}

export interface HandshakeAnalysis {
  /** Sec-WebSocket-Accept against the key of the request. */
  readonly accept: AcceptCheck;
  /** The subprotocol the server chose, or null. */
  readonly protocol: string | null;
  /** Extensions the server accepted (from the response), with their parameters. */
  readonly extensions: readonly ExtensionOffer[];
  /** permessage-deflate parameters per sender, or null when not negotiated. */
  readonly deflate: NegotiatedDeflate | null;
  readonly violations: readonly HandshakeViolation[];
}

function violation(rule: ViolationRule, detail: string): HandshakeViolation {
  return { rule, code: VIOLATION_CODES[rule], detail, from: 'server' };
}

/**
 * Analyse an upgrade request and the upstream's answer. A refused upgrade (any status but 101,
 * RFC 6455 §4.2.2) negotiates nothing and breaks no WebSocket rule.
 */
export function analyzeHandshake(
  requestHeaders: RawHeaders,
  response: { readonly status: number; readonly headers: RawHeaders },
): HandshakeAnalysis {
  const acceptValues = headerValues(response.headers, 'sec-websocket-accept');
  let accept: AcceptCheck = 'missing';
  if (acceptValues.length > 0) {
    const key = headerValues(requestHeaders, 'sec-websocket-key')[0];
    // RFC 6455 §4.1: the client fails the connection if Sec-WebSocket-Accept "contains a value other than the base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key|" with the GUID, "ignoring any leading and trailing whitespace".
    accept = key !== undefined && acceptValues.length === 1 && acceptValues[0]!.trim() === computeAccept(key.trim()) ? 'ok' : 'mismatch';
  }
  if (response.status !== 101) {
    return { accept, protocol: null, extensions: [], deflate: null, violations: [] };
  }

  const violations: HandshakeViolation[] = [];
  const offeredProtocols = headerValues(requestHeaders, 'sec-websocket-protocol')
    .flatMap((v) => v.split(','))
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const chosen = headerValues(response.headers, 'sec-websocket-protocol');
  const protocol = chosen.length > 0 ? chosen.join(', ').trim() : null;
  if (protocol !== null && !offeredProtocols.includes(protocol)) {
    // RFC 6455 §4.1: the client fails the connection if the header "indicates the use of a subprotocol that was not present in the client's handshake".
    violations.push(
      violation(
        'subprotocol-not-offered',
        offeredProtocols.length === 0
          ? `server chose subprotocol "${protocol}" but the client offered none`
          : `server chose subprotocol "${protocol}", not among the offered ${offeredProtocols.map((p) => `"${p}"`).join(', ')}`,
      ),
    );
  }

  const offered = parseExtensions(requestHeaders);
  const extensions = parseExtensions(response.headers);
  const offeredNames = new Set(offered.map((o) => o.name.toLowerCase()));
  for (const extension of extensions) {
    if (!offeredNames.has(extension.name.toLowerCase())) {
      // RFC 6455 §4.1: the client fails the connection if the response "indicates the use of an extension that was not present in the client's handshake".
      violations.push(violation('extension-not-offered', `server accepted extension "${extension.name}" that the client did not offer`));
    }
  }
  const negotiation = negotiateDeflate(offered, extensions);
  for (const problem of negotiation.problems) {
    violations.push(violation('invalid-extension-params', `${PERMESSAGE_DEFLATE}: ${problem}`));
  }
  return { accept, protocol, extensions, deflate: negotiation.deflate, violations };
}
