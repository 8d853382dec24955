/**
 * Pure predicates over wire values: close-code validity (RFC 6455 §7.4) and UTF-8 validity
 * (RFC 6455 §8.1, RFC 3629), the latter incremental so that a character split between two
 * fragments or two TCP chunks is still valid.
 */
import { isUtf8 } from 'node:buffer';

/**
 * True when `code` may be sent in a close frame. RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be
 * set as a status code in a Close control frame by an endpoint"; §7.4.2: 0-999 are not used, and
 * 1000-2999 are reserved for the protocol (of which the registry assigns 1000-1003 and 1007-1014);
 * 3000-4999 are for libraries and applications; 5000 and above are not defined.
 */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/** Whole-buffer UTF-8 check (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
export function isValidUtf8(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}

/** Number of bytes of the UTF-8 sequence a lead byte starts; 0 for a byte that cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc2) return 0; // continuation byte, or an overlong two-byte lead (0xC0, 0xC1)
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  if (lead < 0xf5) return 4;
  return 0; // above U+10FFFF
}

/**
 * Incremental UTF-8 validator: push the bytes of a text message piece by piece (fragments, TCP
 * chunks), then `end()`. RFC 6455 §5.6: text is UTF-8 over the whole message, so a character may be
 * split between fragments. Once invalid it stays invalid. The bulk of each piece is checked natively;
 * only a character cut at a piece boundary is carried over (at most 3 bytes).
 */
export class Utf8Validator {
  #valid = true;
  /** Bytes of a character cut at a piece boundary, packed big-endian into a number (at most 3). */
  #carry = 0;
  #carryLength = 0;
  #carryNeed = 0;

  /** Feed the next bytes; false as soon as the bytes so far cannot be valid UTF-8. */
  push(bytes: Uint8Array): boolean {
    if (!this.#valid) return false;
    let start = 0;
    if (this.#carryLength > 0) {
      while (start < bytes.length && this.#carryLength < this.#carryNeed) {
        const b = bytes[start++]!;
        if ((b & 0xc0) !== 0x80) return (this.#valid = false);
        this.#carry = this.#carry * 256 + b;
        this.#carryLength++;
      }
      if (this.#carryLength < this.#carryNeed) return true;
      const scratch = CHARACTER;
      for (let i = this.#carryLength - 1, v = this.#carry; i >= 0; i--, v = Math.floor(v / 256)) scratch[i] = v & 0xff;
      const complete = isUtf8(scratch.subarray(0, this.#carryLength));
      this.#carryLength = 0;
      this.#carry = 0;
      if (!complete) return (this.#valid = false);
    }
    // Find a character cut by the end of this piece: look back at most 3 bytes for its lead byte.
    let end = bytes.length;
    for (let i = bytes.length - 1; i >= start && i >= bytes.length - 3; i--) {
      const b = bytes[i]!;
      if ((b & 0xc0) === 0x80) continue;
      const need = sequenceLength(b);
      if (need > bytes.length - i) end = i;
      break;
    }
    if (end > start && !isUtf8(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end))) return (this.#valid = false);
    if (end < bytes.length) {
      this.#carryNeed = sequenceLength(bytes[end]!);
      this.#carry = 0;
      this.#carryLength = 0;
      for (let i = end; i < bytes.length; i++) {
        this.#carry = this.#carry * 256 + bytes[i]!;
        this.#carryLength++;
      }
    }
    return true;
  }

  /** The message is complete: false when it was invalid or ends inside a character. */
  end(): boolean {
    if (this.#carryLength > 0) {
      this.#carryLength = 0;
      this.#valid = false;
    }
    return this.#valid;
  }

  /** Ready for the next message. */
  reset(): void {
    this.#valid = true;
    this.#carry = 0;
    this.#carryLength = 0;
    this.#carryNeed = 0;
  }
}

/** Scratch for checking one completed character synchronously (holds no state between calls). */
const CHARACTER = new Uint8Array(4);
