/**
 * Frames what frametap itself sends on a gated direction (an edited, injected, duplicated or
 * re-encoded message, a close, a ping) as write parts. RFC 6455 §5.3: a client's frames are masked
 * with a fresh, unpredictable key each ("MUST pick a fresh masking key from the set of allowed
 * 32-bit values", derived from a strong source of entropy); a server's are not masked (§5.1).
 */
import { randomFillSync } from 'node:crypto';
import { encodeClosePayload, frameParts } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/constants.js';
import type { Side } from '../session/events.js';

/** Where masking keys come from: fresh random keys in the product, fixed ones in tests. */
export type MaskKeySource = () => Uint8Array;

const POOL_SIZE = 4096;

/**
 * Masking keys from `crypto.randomFillSync`, drawn from a pool refilled 1024 keys at a time (one
 * syscall per 1024 frames instead of one per frame). Each key is a copy, never a view the next
 * refill overwrites.
 */
export function randomMaskKeys(): MaskKeySource {
  const pool = Buffer.allocUnsafe(POOL_SIZE);
  let at = POOL_SIZE;
  return () => {
    if (at === POOL_SIZE) {
      randomFillSync(pool);
      at = 0;
    }
    const key = Buffer.from(pool.subarray(at, at + 4));
    at += 4;
    return key;
  };
}

export interface FramingOptions {
  /** The side frametap speaks for on this direction: 'client' frames are masked. */
  readonly from: Side;
  readonly masks: MaskKeySource;
}

export interface MessageFraming {
  readonly opcode: 1 | 2;
  /** The payload as it goes on the wire (already compressed when `compressed`). */
  readonly payload: Uint8Array;
  /** RFC 7692 §6: RSV1 on the first frame marks a compressed message. */
  readonly compressed?: boolean;
  /** Frames to split the message into (default 1); empty frames make up the count for a short message. */
  readonly fragments?: number;
  /** Break the masking rule on purpose (`corrupt=mask`): client frames unmasked, server frames masked. */
  readonly wrongMask?: boolean;
  /** Set RSV1 on the first frame whatever `compressed` says (`corrupt=rsv1`). */
  readonly forceRsv1?: boolean;
  /** Set RSV1 on continuation frames too, which RFC 7692 §6.1 forbids (`corrupt=rsv1` of a compressed message). */
  readonly rsv1OnEveryFrame?: boolean;
}

/** A data message as write parts: header and payload of each frame, in order. */
export function messageParts(message: MessageFraming, options: FramingOptions): Buffer[] {
  const count = Math.max(1, message.fragments ?? 1);
  const payload = message.payload;
  const parts: Buffer[] = [];
  const base = Math.floor(payload.length / count);
  let extra = payload.length - base * count;
  let at = 0;
  for (let i = 0; i < count; i++) {
    const size = base + (extra > 0 ? 1 : 0);
    if (extra > 0) extra--;
    const piece = payload.subarray(at, at + size);
    at += size;
    const first = i === 0;
    // RFC 6455 §5.4: the first frame carries the opcode, the rest are continuations; FIN on the last.
    parts.push(
      ...frameParts(piece, {
        fin: i === count - 1,
        rsv1: (first && (message.compressed === true || message.forceRsv1 === true)) || message.rsv1OnEveryFrame === true,
        opcode: first ? message.opcode : Opcode.Continuation,
        mask: maskFor(options, message.wrongMask === true),
      }),
    );
  }
  return parts;
}

/** A control frame (close, ping, pong) as write parts. */
export function controlParts(opcode: 0x8 | 0x9 | 0xa, payload: Uint8Array, options: FramingOptions): Buffer[] {
  return frameParts(payload, { fin: true, rsv1: false, opcode, mask: maskFor(options, false) });
}

/** A close frame with `code` and `reason` (RFC 6455 §5.5.1), reason cut to fit the 125-byte control limit. */
export function closeParts(code: number, reason: string, options: FramingOptions): Buffer[] {
  let body = encodeClosePayload(code, reason);
  if (body.length > 125) body = encodeClosePayload(code, truncateUtf8(reason, 123));
  return controlParts(Opcode.Close, body, options);
}

function maskFor(options: FramingOptions, wrong: boolean): Uint8Array | null {
  const masked = (options.from === 'client') !== wrong;
  return masked ? options.masks() : null;
}

/** The longest prefix of `text` whose UTF-8 fits `max` bytes, never splitting a character. */
export function truncateUtf8(text: string, max: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= max) return text;
  let end = max;
  // Back off continuation bytes (10xxxxxx) so the cut falls on a character boundary.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
