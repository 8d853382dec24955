/**
 * The session event contract: exactly the event types of the frametap capture format v1
 * (`../shared/spec/capture-format.md`). A capture line is `JSON.stringify(event)`; reading a
 * capture gives these events back. Fields named here are written; readers ignore unknown fields.
 */
import type { ViolationRule } from '../protocol/constants.js';
import type { AcceptCheck, ExtensionOffer, RawHeaders, Sender } from '../protocol/http-types.js';

export type { AcceptCheck, ExtensionOffer, RawHeaders };

/** Who sent a frame or message (the protocol core's `Sender`). */
export type Side = Sender;

/** First line of a capture file (not an event of the bus). */
export interface CaptureHeader {
  readonly type: 'capture';
  readonly format: 'frametap-capture';
  readonly version: 1;
  /** ISO-8601 start time. */
  readonly started: string;
  readonly tool: { readonly name: 'frametap'; readonly version: string };
  /** `reverse` for the proxy; `replay` / `serve` for those commands (readers accept any string). */
  readonly mode: string;
  readonly listen: string | null;
  readonly upstream: string | null;
}

interface Base {
  /** Connection id, unique in the capture, from 1. */
  readonly conn: number;
  /** Observation time: ms since the Unix epoch, float with µs resolution. */
  readonly t: number;
}

/** A client connected and asked to upgrade. */
export interface OpenEvent extends Base {
  readonly type: 'open';
  /** `ip:port` of the client. */
  readonly client: string;
  /** Full upstream URL the request is relayed to. */
  readonly target: string;
}

export interface HandshakeRequest {
  readonly method: string;
  readonly target: string;
  readonly httpVersion: string;
  readonly headers: RawHeaders;
}

export interface HandshakeResponse {
  readonly status: number;
  readonly reason: string;
  readonly httpVersion: string;
  readonly headers: RawHeaders;
  /** frametap answered the upgrade itself (a `refuse` intercept), not the upstream. */
  readonly byFrametap?: true;
  /**
   * A refused upgrade's body (read-only): the bytes after the head as they came (chunked framing
   * included), until the response ended or the upstream closed; at most `--max-payload`. The
   * capture writes it as base64.
   */
  readonly body?: Buffer;
  /** `body` was cut at `--max-payload`. */
  readonly bodyTruncated?: true;
}


/** The upgrade request and the upstream's answer. */
export interface HandshakeEvent extends Base {
  readonly type: 'handshake';
  readonly request: HandshakeRequest;
  /** Present when the request went upstream changed (Host rewrite, `-H`). */
  readonly forwarded?: { readonly headers: RawHeaders };
  /** null when the upstream never answered. */
  readonly response: HandshakeResponse | null;
  readonly upgraded: boolean;
  readonly accept: AcceptCheck;
  readonly protocol: string | null;
  /** Extensions the server accepted (from the response). */
  readonly extensions: readonly ExtensionOffer[];
}

/** Every frame, data and control, as framed on the wire. */
export interface FrameEvent extends Base {
  readonly type: 'frame';
  readonly from: Side;
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Declared payload length. */
  readonly length: number;
  /** Masked frames: the masking key as 8 hex digits (so the frame can be rebuilt byte for byte). */
  readonly maskKey?: string;
  /**
   * The kept, unmasked payload bytes (read-only; a view of what was received where it could be);
   * absent for a whole uncompressed data message by itself, whose `message` carries them.
   * The capture writes it as base64.
   */
  readonly payload?: Buffer;
  readonly truncated: boolean;
  /** Cut off by the end of the TCP connection. */
  readonly incomplete?: true;
  /** With `incomplete`: payload bytes that arrived. */
  readonly received?: number;
}

/** A whole data message, reassembled and inflated. */
export interface MessageEvent extends Base {
  readonly type: 'message';
  readonly from: Side;
  readonly opcode: 1 | 2;
  readonly compressed: boolean;
  readonly frames: number;
  /** Decoded (inflated) length. */
  readonly length: number;
  /**
   * The kept decoded bytes (read-only). The capture writes a text message with valid UTF-8 as
   * `text` (cut at a character boundary when truncated), anything else as base64 `data`.
   */
  readonly data: Buffer;
  /** A text message whose bytes (all of them, kept or not) are not valid UTF-8. */
  readonly invalidUtf8?: true;
  readonly truncated: boolean;
}

/** A close frame, parsed. */
export interface CloseEvent extends Base {
  readonly type: 'close';
  readonly from: Side;
  /** null for an empty close body (1005 for the connection). */
  readonly code: number | null;
  readonly reason: string;
}

/** The sender broke RFC 6455 / RFC 7692; relaying goes on. */
export interface ViolationEvent extends Base {
  readonly type: 'violation';
  readonly from: Side;
  /** The close code a conforming peer would answer with. */
  readonly code: number;
  readonly rule: ViolationRule;
  readonly detail: string;
  /** Byte offset in that direction's stream (after the upgrade) where the offending frame starts. */
  readonly offset?: number;
}

/** `reassembly`: reading a packet capture, a TCP stream of the connection had a hole (docs/capture-format-notes.md). */
export type ErrorStage = 'listen' | 'upstream-connect' | 'upstream-tls' | 'handshake' | 'relay' | 'capture' | 'reassembly';

/** Something failed that was not the peers' protocol. */
export interface ErrorEvent {
  readonly type: 'error';
  /** Absent for listen and capture errors not tied to a connection. */
  readonly conn?: number;
  readonly t: number;
  readonly stage: ErrorStage;
  /** Node error code (`ECONNREFUSED`) when there is one. */
  readonly code?: string;
  readonly detail: string;
  readonly from?: Side;
}

/** The connection is gone; exactly once per `open`. */
export interface EndEvent extends Base {
  readonly type: 'end';
  readonly code: number;
  readonly reason: string;
  readonly initiator: Side | null;
  readonly clean: boolean;
  readonly durationMs: number;
  readonly bytes: { readonly client: number; readonly server: number };
  readonly frames: { readonly client: number; readonly server: number };
  /** frametap shut down with the connection open. */
  readonly shutdown?: true;
  /** How each peer's TCP stream toward frametap ended (null: that leg never connected). */
  readonly tcp?: TcpEnds;
}

/** capture-format `end.tcp`: `fin` a normal close, `reset` an abrupt one, `cut` frametap closed it first. */
export type TcpEnd = 'fin' | 'reset' | 'cut';

export interface TcpEnds {
  readonly client: TcpEnd | null;
  readonly server: TcpEnd | null;
}

/** Which TCP connection of a proxied connection: client↔frametap or frametap↔upstream. */
export type Leg = 'client' | 'upstream';

/**
 * Bus-only, never a capture line: bytes as they crossed one TCP leg, for packet captures (pcapng).
 * `from` is the sender on that leg (`client` on the client leg is the browser; `client` on the
 * upstream leg is frametap speaking for it). Published only when a sink wants `chunk`. The handshake
 * heads are chunks too (the request as received and as forwarded, the response as read and as
 * relayed), so a leg's chunks are its whole byte stream.
 */
export interface ChunkEvent extends Base {
  readonly type: 'chunk';
  readonly leg: Leg;
  readonly from: Side;
  /** Read-only view of what crossed the leg; copy it to keep it past the call. */
  readonly bytes: Buffer;
}

/** A plain HTTP request relayed to the upstream (no open/end). */
export interface HttpEvent extends Base {
  readonly type: 'http';
  readonly method: string;
  readonly target: string;
  /** null when the upstream never answered. */
  readonly status: number | null;
  readonly durationMs: number;
}

/** capture-format `intercept`: frametap changed one direction's traffic. */
export type InterceptAction =
  | 'hold' | 'release' | 'edit' | 'drop' | 'inject' | 'delay' | 'duplicate' | 'corrupt' | 'fragment'
  | 'swallow' | 'respond' | 'close' | 'ping' | 'cut' | 'refuse' | 'reencode';

export interface InterceptEvent extends Base {
  readonly type: 'intercept';
  /** The sender whose traffic was changed; for `inject`, the side frametap speaks for. */
  readonly from: Side;
  readonly action: InterceptAction;
  readonly by: 'user' | 'rule' | 'script' | 'fault';
  /** The rule's or fault's name. */
  readonly name?: string;
  /** The sender's message acted on (`index` counts that sender's messages, from 0). */
  readonly ref?: { readonly from: Side; readonly index: number };
  /** What was sent instead, or in addition: a message event's payload fields (written like a message's). */
  readonly message?: InterceptedMessage;
  readonly detail?: string;
}

export interface InterceptedMessage {
  readonly opcode: 1 | 2;
  readonly length: number;
  readonly data: Buffer;
  readonly invalidUtf8?: true;
  readonly truncated: boolean;
}

/** capture-format `tunnel`: forward mode, a CONNECT relayed as raw bytes; written when it closes. */
export interface TunnelEvent extends Base {
  readonly type: 'tunnel';
  readonly client: string;
  /** `host:port` of the CONNECT. */
  readonly target: string;
  readonly why: string;
  readonly bytes: { readonly client: number; readonly server: number };
  readonly durationMs: number;
}

export type SessionEvent =
  | OpenEvent
  | HandshakeEvent
  | FrameEvent
  | MessageEvent
  | CloseEvent
  | ViolationEvent
  | ErrorEvent
  | EndEvent
  | HttpEvent
  | InterceptEvent
  | TunnelEvent
  | ChunkEvent;

export type SessionEventType = SessionEvent['type'];

export type EventOfType<K extends SessionEventType> = Extract<SessionEvent, { type: K }>;
