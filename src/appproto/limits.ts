/**
 * Bounds on what one payload may cost to decode. Hostile input (a protobuf length of 2^32, 10^6
 * claimed Socket.IO attachments, `[[[[…` a megabyte deep) stops at these and is shown as
 * "undecodable: reason". Limits count items as well as bytes.
 */
export interface DecodeLimits {
  /** Nesting depth of arrays/maps/messages. */
  readonly maxDepth: number;
  /** Values (scalars and containers) produced for one payload. */
  readonly maxItems: number;
  /** Bytes of one payload looked at; longer payloads are undecodable. */
  readonly maxBytes: number;
  /** Binary attachments a Socket.IO packet may claim. */
  readonly maxAttachments: number;
  /** Bytes one direction's MQTT stream may hold while a packet is incomplete. */
  readonly maxPacketBytes: number;
}

export const DEFAULT_LIMITS: DecodeLimits = {
  maxDepth: 64,
  maxItems: 20_000,
  maxBytes: 4 * 1024 * 1024,
  maxAttachments: 64,
  maxPacketBytes: 4 * 1024 * 1024,
};

/** Counts items against `maxItems`; one per payload. */
export class Budget {
  #left: number;
  constructor(readonly limits: DecodeLimits) {
    this.#left = limits.maxItems;
  }
  /** Spends one item; false once the budget is gone. */
  take(): boolean {
    this.#left -= 1;
    return this.#left >= 0;
  }
}
