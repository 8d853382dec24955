/**
 * What the protocol core tells the session about one direction of a connection. The session adds
 * `conn` and encodes payloads for the capture; `t` is carried through from the `push` that
 * completed the thing reported (a frame's `t` is when its last byte arrived).
 */
import type { ViolationRule } from './constants.js';

export type { Sender } from './http-types.js';
import type { Sender } from './http-types.js';

export interface WireFrame {
  readonly kind: 'frame';
  readonly t: number;
  /** Offset in this direction's byte stream (after the upgrade) of the frame's first header byte. */
  readonly offset: number;
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** The masking key as a big-endian 32-bit number, null when unmasked. */
  readonly maskKey: number | null;
  /** Declared payload length (true length, whatever was kept). */
  readonly length: number;
  /** Kept payload bytes, unmasked (at most maxPayload); still compressed for a deflate message. */
  readonly payload: Buffer;
  readonly truncated: boolean;
  /** This frame broke a framing rule (its violation is reported just before it). */
  readonly violated: boolean;
  /** Set when the stream ended inside this frame: payload bytes that arrived. */
  readonly incompleteReceived?: number;
}

export interface WireMessage {
  readonly kind: 'message';
  readonly t: number;
  readonly opcode: 1 | 2;
  readonly compressed: boolean;
  readonly frames: number;
  /** Decoded (inflated) length. */
  readonly length: number;
  /** Kept decoded bytes (at most maxPayload). */
  readonly data: Buffer;
  readonly truncated: boolean;
  /** Text messages: UTF-8 validity judged on all bytes. Always true for binary. */
  readonly utf8Valid: boolean;
}

export interface WireClose {
  readonly kind: 'close';
  readonly t: number;
  /** null for an empty body. */
  readonly code: number | null;
  readonly reason: string;
}

export interface WireViolation {
  readonly kind: 'violation';
  readonly t: number;
  readonly rule: ViolationRule;
  readonly code: number;
  readonly detail: string;
  readonly offset: number;
}

export type WireEvent = WireFrame | WireMessage | WireClose | WireViolation;

/** permessage-deflate as negotiated for one sending direction (RFC 7692 §7.1). */
export interface DeflateDirectionParams {
  /** The sender resets its compression context after each message. */
  readonly noContextTakeover: boolean;
  /** LZ77 window the sender uses (8..15); the inflater always uses 15, which inflates any smaller window. */
  readonly maxWindowBits: number;
}

/** Per-sender deflate parameters, or null when permessage-deflate was not negotiated. */
export interface NegotiatedDeflate {
  readonly client: DeflateDirectionParams;
  readonly server: DeflateDirectionParams;
}
