/**
 * Sans-io sniffing of what a client sends first into a CONNECT tunnel: a TLS ClientHello (and its
 * server_name), plain HTTP, or something else. Bytes in, a verdict out; nothing is consumed.
 */

export type Sniffed =
  | { readonly kind: 'need-more' }
  /** `sni` null: no server_name extension, or a ClientHello too malformed to read one from. */
  | { readonly kind: 'tls'; readonly sni: string | null }
  | { readonly kind: 'http' }
  | { readonly kind: 'other' };

/** RFC 8446 §5.1: ContentType handshake. */
const CONTENT_TYPE_HANDSHAKE = 0x16;
/** RFC 8446 §4: HandshakeType client_hello. */
const HANDSHAKE_CLIENT_HELLO = 0x01;
/** RFC 6066 §3: ExtensionType server_name, NameType host_name. */
const EXTENSION_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST_NAME = 0x00;
/** RFC 8446 §5.1: a record carries at most 2^14 bytes of plaintext. */
const MAX_RECORD = 1 << 14;
/**
 * A ClientHello is a few hundred bytes to ~2 KiB (post-quantum key shares); past this the sniff
 * gives up on the name and lets the TLS stack judge the bytes.
 */
export const MAX_CLIENT_HELLO = 64 * 1024;

export function sniff(bytes: Uint8Array): Sniffed {
  if (bytes.length === 0) return { kind: 'need-more' };
  const first = bytes[0]!;
  if (first !== CONTENT_TYPE_HANDSHAKE) return sniffRequestLine(bytes);
  // The handshake message may span records (RFC 8446 §5.1): join their fragments.
  const fragments: Uint8Array[] = [];
  let joined = 0;
  let at = 0;
  while (at + 5 <= bytes.length) {
    if (bytes[at] !== CONTENT_TYPE_HANDSHAKE) return { kind: 'tls', sni: null };
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!;
    if (length === 0 || length > MAX_RECORD) return { kind: 'tls', sni: null };
    if (at + 5 + length > bytes.length) {
      fragments.push(bytes.subarray(at + 5));
      joined += bytes.length - at - 5;
      at = bytes.length;
      break;
    }
    fragments.push(bytes.subarray(at + 5, at + 5 + length));
    joined += length;
    at += 5 + length;
  }
  if (joined < 4) return bytes.length > MAX_CLIENT_HELLO ? { kind: 'tls', sni: null } : { kind: 'need-more' };
  const message = Buffer.concat(fragments);
  if (message[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'tls', sni: null };
  const bodyLength = (message[1]! << 16) | (message[2]! << 8) | message[3]!;
  if (bodyLength > MAX_CLIENT_HELLO) return { kind: 'tls', sni: null };
  if (message.length < 4 + bodyLength) return bytes.length > MAX_CLIENT_HELLO ? { kind: 'tls', sni: null } : { kind: 'need-more' };
  return { kind: 'tls', sni: serverName(message.subarray(4, 4 + bodyLength)) };
}

/** RFC 8446 §4.1.2 ClientHello layout, then RFC 6066 §3 ServerNameList. null when absent or unreadable. */
function serverName(body: Buffer): string | null {
  let at = 2 + 32; // legacy_version, random
  if (at + 1 > body.length) return null;
  at += 1 + body[at]!; // legacy_session_id
  if (at + 2 > body.length) return null;
  at += 2 + body.readUInt16BE(at); // cipher_suites
  if (at + 1 > body.length) return null;
  at += 1 + body[at]!; // legacy_compression_methods
  if (at + 2 > body.length) return null;
  const end = Math.min(body.length, at + 2 + body.readUInt16BE(at));
  at += 2;
  while (at + 4 <= end) {
    const type = body.readUInt16BE(at);
    const length = body.readUInt16BE(at + 2);
    const data = body.subarray(at + 4, Math.min(end, at + 4 + length));
    at += 4 + length;
    if (type !== EXTENSION_SERVER_NAME) continue;
    if (data.length < 2) return null;
    const listEnd = Math.min(data.length, 2 + data.readUInt16BE(0));
    for (let p = 2; p + 3 <= listEnd; ) {
      const nameType = data[p]!;
      const nameLength = data.readUInt16BE(p + 1);
      const name = data.subarray(p + 3, p + 3 + nameLength);
      p += 3 + nameLength;
      if (nameType !== NAME_TYPE_HOST_NAME || name.length !== nameLength) continue;
      const text = name.toString('latin1');
      // RFC 6066 §3: "HostName" is the ASCII DNS name, no trailing dot, never an IP literal.
      return /^[A-Za-z0-9._-]{1,253}$/.test(text) ? text : null;
    }
    return null;
  }
  return null;
}

/** Longest registered method is 17 letters (UPDATEREDIRECTREF). */
const MAX_METHOD = 20;

/**
 * RFC 9112 §3: request-line = method SP request-target …; every registered method (RFC 9110 §9,
 * the IANA registry) is upper-case letters. `SSH-2.0-…` or a binary protocol is `other`.
 */
function sniffRequestLine(bytes: Uint8Array): Sniffed {
  for (let i = 0; i < bytes.length && i <= MAX_METHOD; i++) {
    const b = bytes[i]!;
    if (b === 0x20) return i > 0 ? { kind: 'http' } : { kind: 'other' };
    if (b < 0x41 || b > 0x5a) return { kind: 'other' };
  }
  return bytes.length > MAX_METHOD ? { kind: 'other' } : { kind: 'need-more' };
}
