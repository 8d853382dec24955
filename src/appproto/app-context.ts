/**
 * The app-protocol context of one connection (sans-io): chooses the view from `--view`, the
 * negotiated subprotocol, the upgrade URL, or the payloads themselves, keeps what the protocols
 * need per direction (Socket.IO attachments, MQTT stream buffers and version), and turns each
 * message into decoded results.
 */
import type { Side } from '../session/events.js';
import { decodeCbor } from './cbor.js';
import { decodeGraphqlJson, GRAPHQL_TYPES, isGraphqlMessage } from './graphql-ws.js';
import { decodeJsonRpcJson, isJsonRpc } from './jsonrpc.js';
import { decodeJson, decodeJsonValue, looksLikeJson, parseJsonBounded } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { decodeMsgpack } from './msgpack.js';
import { looksLikeMqttConnect, MqttStream } from './mqtt.js';
import { decodeProtobufRaw, notAMessage } from './protobuf-raw.js';
import { decodeProtobufSchema, type ProtoSchema } from './protobuf-schema.js';
import { engineIoVersion, SocketIoDecoder } from './socketio.js';
import { decodeStomp, STOMP_COMMANDS } from './stomp.js';
import { type AppMessage, type DecodeResult, guard, undecodable, type ViewName } from './types.js';

export interface AppContextOptions {
  /** `--view NAME`: this view for every message. */
  readonly view?: ViewName;
  /** The subprotocol the server accepted (handshake `protocol`). */
  readonly protocol?: string | null;
  /** The upgrade request target (`/socket.io/?EIO=4&transport=websocket`). */
  readonly target?: string;
  /** `--proto FILE --proto-type NAME`. */
  readonly schema?: ProtoSchema;
  readonly limits?: DecodeLimits;
}

/** The view a subprotocol name stands for; null when it names none we know. */
export function viewForSubprotocol(protocol: string): ViewName | null {
  const p = protocol.toLowerCase();
  if (p === 'mqtt' || p === 'mqttv3.1' || p === 'mqttv5') return 'mqtt';
  if (p === 'stomp' || /^v1[012]\.stomp$/.test(p)) return 'stomp';
  if (p === 'graphql-transport-ws' || p === 'graphql-ws') return 'graphql';
  if (p === 'jsonrpc' || p === 'json-rpc' || p === 'jsonrpc2.0' || p === 'jsonrpc-2.0') return 'jsonrpc';
  if (p === 'msgpack' || p === 'messagepack') return 'msgpack';
  if (p === 'cbor') return 'cbor';
  if (p === 'protobuf' || p === 'proto') return 'protobuf';
  if (p === 'json') return 'json';
  return null;
}

/** Which views hold state from one message to the next (and so stay chosen once sniffed). */
type Stateful = 'socketio' | 'mqtt' | 'stomp';

export class AppProtocolContext {
  readonly limits: DecodeLimits;
  /** The view chosen for the whole connection; null while each message is sniffed. */
  #view: ViewName | null;
  #socketio: SocketIoDecoder | null = null;
  #mqtt: MqttStream | null = null;
  readonly #schema: ProtoSchema | undefined;
  readonly #redecoders = new Map<string, Redecoder>();

  constructor(options: AppContextOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.#schema = options.schema;
    const eio = options.target !== undefined ? engineIoVersion(options.target) : null;
    const fromProtocol = options.protocol ? viewForSubprotocol(options.protocol) : null;
    this.#view = options.view ?? fromProtocol ?? (eio !== null || /\/socket\.io\//.test(options.target ?? '') ? 'socketio' : null);
    if (this.#view === 'socketio') this.#socketio = new SocketIoDecoder(eio ?? 4, this.limits);
    if (this.#view === 'mqtt') this.#mqtt = new MqttStream(this.limits);
  }

  /** The view chosen for the connection, or null while sniffing per message. */
  get view(): ViewName | null {
    return this.#view;
  }

  /**
   * Decodes one data message. Returns no result for `--view raw` and for payloads no view
   * recognises while sniffing; several for an MQTT message holding several packets.
   */
  push(message: AppMessage): readonly DecodeResult[] {
    const view = this.#view;
    if (view === 'raw') return [];
    if (message.truncated) {
      this.#lose(message.from);
      return [undecodable(view ?? 'raw', `only ${message.bytes.length} bytes kept (--max-payload)`)];
    }
    if (view === null) return this.#sniff(message);
    return this.#decodeAs(view, message);
  }

  /**
   * How to decode a message again later, given its bytes again, to what `push` gives for it now,
   * when that depends on nothing but the view now and the bytes (no state of the context), and
   * whether its results may pair (then `push` must still run now, in order, for the pair tracker).
   * Ask before `push` (which may lock the view). null: only `push` can decode it (Socket.IO and
   * MQTT keep state from message to message; an MQTT CONNECT or a STOMP frame locks the view; a
   * truncated message; `--view raw`, which decodes nothing).
   *
   * Stateless and unpaired: binary messages sniffed as msgpack / CBOR / protobuf or with those views
   * chosen, and JSON text that cannot be JSON-RPC or GraphQL (`--view json`, or sniffed text with
   * neither key). Stateless but pairing: JSON-RPC, GraphQL and STOMP once their view is chosen, and
   * sniffed JSON text that may be either. The dashboard decodes the unpaired ones only when a row is
   * shown or searched, and keeps only a bounded number of decoded trees (ui/app-view.ts).
   */
  redecoder(message: AppMessage): Redecoder | null {
    const view = this.#view;
    if (message.truncated || view === 'raw' || view === 'socketio' || view === 'mqtt') return null;
    if (view === null && message.opcode === 2) {
      if (looksLikeMqttConnect(message.bytes)) return null;
      return this.#redecoderFor('binary', false, (m) => this.#sniffBinary(m));
    }
    if (view === null) {
      if (stompFirstLine(message.bytes)) return null;
      const pairs = !plainJsonBytes(message.bytes);
      return this.#redecoderFor(`text ${pairs}`, pairs, (m) => sniffText(textOf(m), this.limits));
    }
    const pairs = view === 'jsonrpc' || view === 'graphql' || view === 'stomp';
    return this.#redecoderFor(view, pairs, (m) => this.#decodeAs(view, m));
  }

  /**
   * One Redecoder per kind, not a closure per message (the dashboard keeps one per row): the views
   * and sniffing a redecoder runs read only the message's bytes (side and time matter only to the
   * stateful views, Socket.IO and MQTT; opcode only to MQTT).
   */
  #redecoderFor(key: string, pairs: boolean, decode: (m: AppMessage) => readonly DecodeResult[]): Redecoder {
    let re = this.#redecoders.get(key);
    if (re === undefined) {
      re = { pairs, decode: (bytes) => decode({ from: 'client', opcode: 2, t: 0, bytes }) };
      this.#redecoders.set(key, re);
    }
    return re;
  }

  #lose(from: Side): void {
    this.#mqtt?.lose(from);
    this.#socketio?.lose(from);
  }

  #lock(view: Stateful): void {
    this.#view = view;
    if (view === 'socketio') this.#socketio = new SocketIoDecoder(4, this.limits);
    if (view === 'mqtt') this.#mqtt = new MqttStream(this.limits);
  }

  #decodeAs(view: ViewName, m: AppMessage): readonly DecodeResult[] {
    switch (view) {
      case 'socketio':
        return [this.#socketio!.push(m.from, m.opcode, m.bytes)];
      case 'mqtt':
        if (m.opcode === 1) return [undecodable('mqtt', 'text message (MQTT uses binary messages, MQTT-6.0.0-1)')];
        return this.#mqtt!.push(m.from, m.bytes);
      case 'stomp':
        return [decodeStomp(m.bytes, this.limits)];
      case 'graphql':
        return [guard('graphql', () => decodeGraphqlJson(parseJsonBounded(textOf(m), this.limits)))];
      case 'jsonrpc':
        return [guard('jsonrpc', () => decodeJsonRpcJson(parseJsonBounded(textOf(m), this.limits)))];
      case 'json':
        return [decodeJson(textOf(m), this.limits)];
      case 'msgpack':
        return [decodeMsgpack(m.bytes, this.limits)];
      case 'cbor':
        return [decodeCbor(m.bytes, this.limits)];
      case 'protobuf':
        return [this.#schema ? decodeProtobufSchema(m.bytes, this.#schema, this.limits) : decodeProtobufRaw(m.bytes, this.limits)];
      case 'raw':
        return [];
    }
  }

  #sniff(m: AppMessage): readonly DecodeResult[] {
    if (m.opcode === 1) {
      const text = textOf(m);
      if (stompFirstLine(text)) {
        this.#lock('stomp');
        return this.#decodeAs('stomp', m);
      }
      return sniffText(text, this.limits);
    }
    if (looksLikeMqttConnect(m.bytes)) {
      this.#lock('mqtt');
      return this.#decodeAs('mqtt', m);
    }
    return this.#sniffBinary(m);
  }

  /**
   * A binary message that cannot lock the view (not an MQTT CONNECT): msgpack, CBOR or protobuf,
   * decoded without touching the context's state, and none of them pairs by id.
   */
  #sniffBinary(m: AppMessage): readonly DecodeResult[] {
    if (this.#schema) return this.#decodeAs('protobuf', m);
    const first = m.bytes[0];
    if (first === undefined) return [];
    // msgpack maps/arrays (fixmap, fixarray, array16/32, map16/32) and CBOR arrays/maps/tags overlap
    // on 0x80-0x9f; whichever decodes the whole payload wins, msgpack first (more common on WebSockets).
    const msgpackLike = (first >= 0x80 && first <= 0x9f) || (first >= 0xdc && first <= 0xdf);
    const cborLike = first >= 0x80 && first <= 0xdb;
    if (msgpackLike) {
      const r = decodeMsgpack(m.bytes, this.limits);
      if (r.ok) return [r];
    }
    if (cborLike) {
      const r = decodeCbor(m.bytes, this.limits);
      if (r.ok) return [r];
    }
    // Sniffing keeps only a success: skip the decode of what cannot be a message at all.
    if (notAMessage(m.bytes)) return [];
    const pb = decodeProtobufRaw(m.bytes, this.limits);
    return pb.ok ? [pb] : [];
  }
}

/** What `AppProtocolContext.redecoder` gives: a decoder of the message's bytes, and whether its results may pair. */
export interface Redecoder {
  readonly pairs: boolean;
  readonly decode: (bytes: Uint8Array) => readonly DecodeResult[];
}

/** Whether a text message starts like a STOMP frame (its command line, STOMP 1.2 "Frames and Headers"), which locks the view. */
function stompFirstLine(text: string | Uint8Array): boolean {
  const head = typeof text === 'string' ? text.slice(0, 40) : Buffer.from(text.buffer, text.byteOffset, Math.min(text.byteLength, 40)).toString('latin1');
  const firstLine = /^[\r\n]*([A-Z]+)\r?\n/.exec(head);
  return firstLine !== null && STOMP_COMMANDS.has(firstLine[1]!);
}

/** Sniffing a text message that is not STOMP: JSON-RPC, GraphQL or plain JSON; nothing for other text. */
function sniffText(text: string, limits: DecodeLimits): readonly DecodeResult[] {
  if (!looksLikeJson(text)) return [];
  return [
    guard('json', () => {
      const value = parseJsonBounded(text, limits);
      if (isJsonRpc(value)) return decodeJsonRpcJson(value);
      if (isGraphqlMessage(value)) return decodeGraphqlJson(value);
      return decodeJsonValue(value);
    }),
  ];
}

/**
 * Whether sniffed text, from its bytes, can only be plain JSON or nothing (no JSON-RPC or GraphQL
 * message, which pair): it starts with `{` or `[` after ASCII white space (so `looksLikeJson` holds
 * and it is no STOMP frame), and it has no `\u` escape, the only way JSON spells a letter other
 * than itself (RFC 8259 §7), so that a key or string can only be what its bytes spell; then no key
 * can be `jsonrpc` (isJsonRpc), and no key `type` has a GraphQL message type as its value
 * (isGraphqlMessage; checked wherever the key is, not only at the top). false when unsure: then it
 * is decoded now.
 */
export function plainJsonBytes(bytes: Uint8Array): boolean {
  const i = skipSpace(bytes, 0);
  if (bytes[i] !== 0x7b && bytes[i] !== 0x5b) return false;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.indexOf(ESCAPE_U) >= 0 || b.indexOf(JSONRPC_KEY) >= 0) return false;
  for (let at = b.indexOf(TYPE_KEY); at >= 0; at = b.indexOf(TYPE_KEY, at + 1)) {
    // A key `type` (`"type"`, white space, `:`) whose value is a string that names a GraphQL type.
    let j = skipSpace(b, at + TYPE_KEY.length);
    if (b[j] !== 0x3a) continue;
    j = skipSpace(b, j + 1);
    if (b[j] !== 0x22) continue;
    const end = b.indexOf(0x22, j + 1);
    if (end > j && end - j <= 32 && GRAPHQL_TYPES.has(b.toString('latin1', j + 1, end))) return false;
  }
  return true;
}

/** The index of the first byte at or after `i` that is not JSON white space (RFC 8259 §2). */
function skipSpace(b: Uint8Array, i: number): number {
  while (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d) i++;
  return i;
}

const ESCAPE_U = Buffer.from('\\u');
const JSONRPC_KEY = Buffer.from('"jsonrpc"');
const TYPE_KEY = Buffer.from('"type"');


function textOf(m: AppMessage): string {
  return Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength).toString('utf8');
}
