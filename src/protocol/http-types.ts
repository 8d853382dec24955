/** HTTP handshake vocabulary the protocol core works in (RFC 6455 §4, RFC 7692 §5). */

/** Who sends on a direction of a WebSocket connection (RFC 6455 §5.1 names the masking rule by it). */
export type Sender = 'client' | 'server';

/** A raw HTTP header list: order and case as on the wire. */
export type RawHeaders = ReadonlyArray<readonly [name: string, value: string]>;

/** One extension of a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1). */
export interface ExtensionOffer {
  readonly name: string;
  /** `true` for a parameter without value; values unquoted. */
  readonly params: Readonly<Record<string, string | true>>;
}

/** The `Sec-WebSocket-Accept` check (RFC 6455 §4.2.2 item 5.4). */
export type AcceptCheck = 'ok' | 'mismatch' | 'missing';
