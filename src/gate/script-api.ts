/**
 * The types of a `--script FILE.mjs` module (docs/changing-traffic.md). A script exports either
 * hook or both; each may be async. In plain JavaScript, type them with JSDoc:
 *
 *   // @ts-check
 *   /** @type {import('frametap/src/gate/script-api.ts').OnMessage} *\/
 *   export function onMessage(m) { if (m.text === 'ping') return { action: 'respond', text: 'pong' }; }
 *
 * Hooks run in a worker thread, time-boxed: a hook that throws, returns something that is not an
 * action, or takes longer than the time box is reported and the message (or handshake) goes on
 * unchanged; after a timeout the script is restarted (its module state starts afresh).
 */

/** A message as a hook sees it. */
export interface ScriptMessage {
  /** Connection id (as in the capture). */
  readonly conn: number;
  /** Who sent it. */
  readonly from: 'client' | 'server';
  /** The sender's message index on the connection, from 0. */
  readonly index: number;
  /** The connection's request target (path and query). */
  readonly path: string;
  readonly opcode: 'text' | 'binary';
  /** The text of a text message with valid UTF-8, else null. */
  readonly text: string | null;
  /** The decoded bytes (inflated when it came compressed). */
  readonly data: Uint8Array;
  /** It came compressed (permessage-deflate). */
  readonly compressed: boolean;
  /** `data` holds only the first bytes of a larger message. */
  readonly truncated: boolean;
}

/** The upgrade request as a hook sees it. */
export interface ScriptHandshake {
  readonly conn: number;
  /** Request target (path and query). */
  readonly path: string;
  /** Header list as received: [name, value] pairs, order and case as on the wire. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

/** What a message hook may answer: nothing (or `'forward'`) lets it go unchanged. */
export type ScriptAction =
  | 'forward'
  | 'drop'
  | { readonly action: 'forward' }
  | { readonly action: 'drop' }
  /** Send this instead: `text` for a text message, `data` for a binary one. */
  | { readonly action: 'edit'; readonly text?: string; readonly data?: Uint8Array }
  | { readonly action: 'delay'; readonly ms: number }
  /** Answer the sender; the message itself is dropped unless `forward: true`. */
  | { readonly action: 'respond'; readonly text?: string; readonly data?: Uint8Array; readonly forward?: boolean }
  /** Close instead of forwarding; `toward` defaults to both sides, `code` to 1000. */
  | { readonly action: 'close'; readonly code?: number; readonly reason?: string; readonly toward?: 'client' | 'server' | 'both' }
  /** Hold it (and what follows it on that direction) for the dashboard; `timeout` in seconds, null never. */
  | { readonly action: 'hold'; readonly timeout?: number | null }
  | { readonly action: 'duplicate' }
  | { readonly action: 'fragment'; readonly frames: number }
  /** Forward it, then cut the TCP connection (a 1006 end). */
  | { readonly action: 'cut' };

/** What a handshake hook may answer: nothing lets the upgrade go on. */
export type ScriptHandshakeAction = 'forward' | { readonly action: 'forward' } | { readonly action: 'refuse'; readonly status: number; readonly body?: string };

type Awaitable<T> = T | Promise<T>;

export type OnMessage = (message: ScriptMessage) => Awaitable<ScriptAction | readonly ScriptAction[] | undefined | void>;
export type OnHandshake = (handshake: ScriptHandshake) => Awaitable<ScriptHandshakeAction | undefined | void>;

/** The shape of a script module. */
export interface FrametapScript {
  readonly onMessage?: OnMessage;
  readonly onHandshake?: OnHandshake;
}
