/**
 * What the protocol core tells the session about one direction of a connection. The session adds
 * `conn` and encodes payloads for the capture; `t` is carried through from the `push` that
 * completed the thing reported (a frame's `t` is when its last byte arrived).
 */
import type { ViolationRule } from './constants.js';
import type { FrameHeader } from './frame-decoder.js';

export type { Sender } from './http-types.js';
import type { Sender } from './http-types.js';

/**
 * A frame, complete (or cut off by the end of the stream): the decoder's header record as it was
 * made, with what the assembler learnt at the frame's end. The header is shared, not copied: one
 * record per frame from the decoder to the session and the gate.
 */
export interface WireFrame {
  readonly kind: 'frame';
  readonly t: number;
  /** Every header field as on the wire, and the message the frame belongs to. */
  readonly header: FrameHeader;
  /** Kept payload bytes, unmasked (at most maxPayload); still compressed for a deflate message. */
  readonly payload: Buffer;
  /** Fewer payload bytes kept than the frame carried (or than arrived, for an incomplete frame). */
  readonly truncated: boolean;
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
