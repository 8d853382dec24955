/**
 * The capture format's payload rules (capture-format.md, "Payloads") as pure functions, so every
 * producer of events (the proxy session, replay, serve) writes payloads the same way:
 * - `payload` / `data` are base64 of the kept bytes;
 * - `text` is a JSON string, and when the kept bytes were cut (`truncated`) the text is cut at a
 *   UTF-8 character boundary, never in the middle of a multi-byte sequence;
 * - at most `--max-payload` bytes are kept, `length` is always the true length.
 */

/**
 * Large payloads are encoded in slices of this many bytes: a multiple of 3, so the slices' base64
 * joins into exactly the whole's. One string above V8's regular object size (128 KiB) is made in
 * large-object space, which costs about four times the encoding itself (bench/relay, 256 KiB).
 */
const BASE64_SLICE = 48 * 1024;

/** base64 of the kept bytes: the `payload` of a frame, the `data` of a binary message. */
export function encodePayload(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length <= BASE64_SLICE) return buf.toString('base64');
  let text = '';
  for (let at = 0; at < buf.length; at += BASE64_SLICE) text += buf.toString('base64', at, Math.min(buf.length, at + BASE64_SLICE));
  return text;
}

/** Length of the base64 of `n` bytes (with padding). */
export function base64Length(n: number): number {
  return Math.ceil(n / 3) * 4;
}

/**
 * Writes the base64 of `bytes` into `target` at `offset` (exactly `base64Length` bytes), slice by
 * slice, so no large string is ever made; returns the offset after it.
 */
export function writeBase64(bytes: Uint8Array, target: Buffer, offset: number): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = offset;
  for (let at = 0; at < buf.length; at += BASE64_SLICE) {
    out += target.write(buf.toString('base64', at, Math.min(buf.length, at + BASE64_SLICE)), out, 'latin1');
  }
  return out;
}

/** Bytes back from a `payload` / `data` field (the reader's side). */
export function decodePayload(base64: string): Buffer {
  return Buffer.from(base64, 'base64');
}

/**
 * Length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
 * RFC 3629 §3: a lead byte 110xxxxx / 1110xxxx / 11110xxx starts a 2/3/4-byte sequence and
 * continuation bytes are 10xxxxxx, so only the last three bytes need a look.
 */
export function utf8BoundaryLength(bytes: Uint8Array): number {
  const n = bytes.length;
  const stop = Math.max(0, n - 4);
  for (let i = n - 1; i >= stop; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for its lead byte
    const need = b < 0x80 ? 1 : (b & 0xe0) === 0xc0 ? 2 : (b & 0xf0) === 0xe0 ? 3 : (b & 0xf8) === 0xf0 ? 4 : 1;
    return i + need <= n ? n : i;
  }
  return n;
}

/**
 * The `text` of a text message whose bytes are valid UTF-8 (judged on all the bytes by the
 * protocol core). When the kept bytes were cut at `--max-payload`, a character split by the cut
 * is dropped rather than turned into U+FFFD.
 */
export function textOf(kept: Uint8Array, truncated: boolean): string {
  const end = truncated ? utf8BoundaryLength(kept) : kept.length;
  return Buffer.from(kept.buffer, kept.byteOffset, end).toString('utf8');
}

/** The bytes a `message` event carries (its `text` or `data`), for readers such as replay. */
export function messageBytes(event: { readonly text?: string; readonly data?: string }): Buffer {
  if (event.text !== undefined) return Buffer.from(event.text, 'utf8');
  if (event.data !== undefined) return decodePayload(event.data);
  return Buffer.alloc(0);
}

/**
 * Keep at most `max` bytes of `bytes` (a view, not a copy). For producers that do not get
 * already-limited payloads from the protocol core.
 */
export function keepAtMost(bytes: Buffer, max: number): { readonly kept: Buffer; readonly truncated: boolean } {
  return bytes.length > max ? { kept: bytes.subarray(0, max), truncated: true } : { kept: bytes, truncated: false };
}
