/**
 * What an application-protocol decoder gives back for one payload: a typed tree for the detail
 * pane, a one-line summary for logs and previews, the decoded fields filters match, and the id
 * that pairs a request with its reply. Decoders are sans-io: bytes in, these values out.
 */
import type { Side } from '../session/events.js';
import type { JsonValue } from '../replay/json-path.js';

/** The views `--view` accepts. `raw` turns decoding off. */
export const VIEW_NAMES = ['socketio', 'stomp', 'mqtt', 'graphql', 'jsonrpc', 'json', 'msgpack', 'cbor', 'protobuf', 'raw'] as const;
export type ViewName = (typeof VIEW_NAMES)[number];

/** One node of the decoded tree: a label, a scalar rendering, children for containers. */
export interface TreeNode {
  readonly label: string;
  readonly value?: string;
  readonly children?: readonly TreeNode[];
}

/**
 * How a payload takes part in request/reply pairing. `key` is the protocol's id, already namespaced
 * (`ack:/chat:12`, `pub:7`); the reply comes from the other side than the request.
 * `reply-stream` answers a request when it is still open and is otherwise just another item of
 * a stream (graphql `next` after the first one).
 */
export interface PairMark {
  readonly role: 'request' | 'reply' | 'reply-stream';
  readonly key: string;
}

export interface Decoded {
  readonly ok: true;
  readonly view: ViewName;
  /** One line, e.g. `socket.io chat ack 12`, `STOMP SEND /queue/a`, `MQTT PUBLISH sensors/1 qos1`. */
  readonly summary: string;
  readonly tree: TreeNode;
  /** Decoded fields filters match (`event`, `topic`, `destination`, `method`, `type`, `id`, …). */
  readonly fields: Readonly<Record<string, string>>;
  readonly pair?: PairMark;
  /** The payload as JSON, where it has one (`--pair` paths and `replay --ignore` reach into it). */
  readonly json?: JsonValue;
}

export interface Undecodable {
  readonly ok: false;
  readonly view: ViewName;
  /** `undecodable: <reason>`. */
  readonly summary: string;
  readonly reason: string;
}

export type DecodeResult = Decoded | Undecodable;

/** A message as the app-protocol layer sees it. */
export interface AppMessage {
  readonly from: Side;
  readonly opcode: 1 | 2;
  readonly bytes: Uint8Array;
  readonly t: number;
  /** The capture kept only a prefix of the message (`--max-payload`). */
  readonly truncated?: boolean;
}

export function undecodable(view: ViewName, reason: string): Undecodable {
  return { ok: false, view, summary: `undecodable: ${reason}`, reason };
}

/**
 * Thrown inside decoders to stop at the first problem; turned into Undecodable at their edge. Not an
 * Error: sniffing throws one for most payloads that are not what it tries (protobuf guesses nest), and
 * an Error's stack trace made that the dashboard's largest cost (bench/relay.ts, `--ui tui`).
 */
export class DecodeStop {
  /** The reason, under the name an Error would give it (for whoever reads `message`). */
  readonly message: string;
  constructor(readonly reason: string) {
    this.message = reason;
  }
}

export function stop(reason: string): never {
  throw new DecodeStop(reason);
}

/**
 * Runs a decoder body; any failure (ours or a library's, a stack overflow included) becomes
 * an Undecodable, so a hostile payload can never throw out of a decoder.
 */
export function guard(view: ViewName, body: () => DecodeResult): DecodeResult {
  try {
    return body();
  } catch (error) {
    if (error instanceof DecodeStop) return undecodable(view, error.reason);
    if (error instanceof RangeError) return undecodable(view, `too deeply nested (${error.message})`);
    return undecodable(view, error instanceof Error ? error.message : String(error));
  }
}
