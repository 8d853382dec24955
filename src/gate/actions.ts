/**
 * What a gate can be told to do with a message: the common vocabulary of the dashboard, `--rules`,
 * `--script` and `--fault` (cli.md "Changing the traffic"). Each action a source asks for becomes
 * one capture-format `intercept` event when it takes effect.
 */
import type { InterceptAction, Side } from '../session/events.js';
import type { CorruptKind } from './fault-spec.js';

/** Who asked (capture-format `intercept.by`). */
export type ActorKind = 'user' | 'rule' | 'script' | 'fault';

/** A message frametap sends itself (edit result, injection, answer). */
export interface OutMessage {
  readonly opcode: 1 | 2;
  readonly data: Buffer;
}

export type Action =
  /** Forward the message (the default; the same as no action). */
  | { readonly kind: 'forward' }
  | { readonly kind: 'drop' }
  /** Send this instead of the message. */
  | { readonly kind: 'edit'; readonly message: OutMessage; readonly detail?: string }
  /** Forward it `ms` after it arrived (messages behind it keep their order). */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Keep it (and what follows it) until released; `timeoutMs` releases it unchanged, null never. */
  | { readonly kind: 'hold'; readonly timeoutMs?: number | null }
  /** Answer the sender with `message`; the original is not forwarded unless `forward`. */
  | { readonly kind: 'respond'; readonly message: OutMessage; readonly forward?: boolean }
  /** Close toward one side or both instead of forwarding the message. */
  | { readonly kind: 'close'; readonly code: number; readonly reason: string; readonly toward: Side | 'both' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'corrupt'; readonly corrupt: CorruptKind }
  | { readonly kind: 'fragment'; readonly frames: number }
  /** Forward it, then cut the TCP connection (a 1006 end). */
  | { readonly kind: 'cut' };

/** Who asked, and the rule's or fault's name. */
export interface Actor {
  readonly by: ActorKind;
  readonly name?: string;
}

/** One action with who asked for it. */
export type Step = Action & Actor;

/** Everything the sources ask for one message, in the order they asked. Empty: forward unchanged. */
export type Verdict = readonly Step[];

export const FORWARD: Verdict = Object.freeze([]) as Verdict;

/** What rules, scripts and breakpoints see of a message. */
export interface MessageView {
  readonly from: Side;
  /** The sender's message index on the connection, from 0. */
  readonly index: number;
  readonly opcode: 1 | 2;
  /** It came compressed (RFC 7692). */
  readonly compressed: boolean;
  /** Decoded (inflated) length. */
  readonly length: number;
  /** The decoded bytes (at most the kept ones: see `truncated`). */
  readonly data: Buffer;
  /** The text of a text message with valid UTF-8, else null. */
  readonly text: string | null;
  /** Only the first bytes are in `data`. */
  readonly truncated: boolean;
}

/** The fields of a capture-format `intercept` event a gate decides; the session adds `conn` and `t`. */
export interface GateIntercept {
  readonly from: Side;
  readonly action: InterceptAction;
  readonly by: ActorKind;
  readonly name?: string;
  readonly ref?: { readonly from: Side; readonly index: number };
  readonly message?: OutMessage;
  readonly detail?: string;
}
