/**
 * The app-protocol context of one connection (sans-io): chooses the view from `--view`, the
 * negotiated subprotocol, the upgrade URL, or the payloads themselves, keeps what the protocols
 * need per direction (Socket.IO attachments, MQTT stream buffers and version), and turns each
 * message into decoded results.
 */
import type { Side } from '../session/events.js';
import { decodeCbor } from './cbor.js';
import { decodeGraphqlJson, isGraphqlMessage } from './graphql-ws.js';
import { decodeJsonRpcJson, isJsonRpc } from './jsonrpc.js';
import { decodeJson, looksLikeJson, parseJsonBounded } from './json.js';
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
   * For a message whose decoding changes nothing here and pairs with nothing (a binary message
   * sniffed as msgpack / CBOR / protobuf, or one of those views chosen): how to decode it later,
   * given its bytes again, with the same result as `push` now. null when it must be pushed now
   * (text, which may be JSON-RPC or GraphQL and pair; a stateful or locking view; a truncated one).
   * The dashboard decodes such rows only when they are shown or searched.
   */
  deferrable(message: Omit<AppMessage, 'bytes'> & { readonly bytes: Uint8Array }): ((bytes: Uint8Array) => readonly DecodeResult[]) | null {
    const view = this.#view;
    if (message.opcode !== 2 || message.truncated) return null;
    const { from, opcode, t } = message;
    if (view === null) {
      if (looksLikeMqttConnect(message.bytes)) return null;
      return (bytes) => this.#sniffBinary({ from, opcode, t, bytes });
    }
    if (view === 'msgpack' || view === 'cbor' || view === 'protobuf') return (bytes) => this.#decodeAs(view, { from, opcode, t, bytes });
    return null;
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
      const firstLine = /^[\r\n]*([A-Z]+)\r?\n/.exec(text.slice(0, 40));
      if (firstLine && STOMP_COMMANDS.has(firstLine[1]!)) {
        this.#lock('stomp');
        return this.#decodeAs('stomp', m);
      }
      if (!looksLikeJson(text)) return [];
      return [
        guard('json', () => {
          const value = parseJsonBounded(text, this.limits);
          if (isJsonRpc(value)) return decodeJsonRpcJson(value);
          if (isGraphqlMessage(value)) return decodeGraphqlJson(value);
          return decodeJson(text, this.limits);
        }),
      ];
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

function textOf(m: AppMessage): string {
  return Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength).toString('utf8');
}
