/**
 * Test vectors made by the real libraries (devDependencies): each is the bytes a real peer sends,
 * with the summary frametap must show for it.
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import { encode } from 'cborg';

/** cborg sorts map keys canonically; the vectors keep the order they are written in. */
const cborEncode = (value: unknown): Uint8Array => encode(value, { mapSorter: () => 0 });
import { MessageType, stringifyMessage } from 'graphql-ws';
import mqttPacket from 'mqtt-packet';
import protobuf from 'protobufjs';
import { Encoder, PacketType } from 'socket.io-parser';
import { encodePacket } from 'engine.io-parser';
import * as parserV3 from 'socket.io-parser-v3';
import * as engineV2 from 'engine.io-parser-v2';
import type { Side } from '../../src/session/events.js';

export interface Vector {
  readonly name: string;
  readonly from: Side;
  readonly opcode: 1 | 2;
  readonly bytes: Buffer;
  readonly summary: string | RegExp;
}

const text = (name: string, from: Side, s: string, summary: string | RegExp): Vector => ({ name, from, opcode: 1, bytes: Buffer.from(s, 'utf8'), summary });
const bin = (name: string, from: Side, b: Uint8Array, summary: string | RegExp): Vector => ({ name, from, opcode: 2, bytes: Buffer.from(b), summary });

export function msgpackVectors(): Vector[] {
  return [
    bin('map', 'client', msgpackEncode({ type: 'chat', id: 7, body: 'hi', tags: ['a', 'b'] }), 'msgpack {type, id, body, tags}'),
    bin('array', 'server', msgpackEncode([1, -1, 300, -70000, 2 ** 40, 1.5, null, true, false]), 'msgpack array[9]'),
    bin('binary and nested', 'client', msgpackEncode({ data: new Uint8Array([1, 2, 3]), deep: { a: { b: [new Date(0)] } } }), 'msgpack {data, deep}'),
    bin('bigint', 'client', msgpackEncode([2n ** 63n], { useBigInt64: true }), 'msgpack array[1]'),
    bin('long string', 'server', msgpackEncode({ s: 'x'.repeat(70000) }), 'msgpack {s}'),
  ];
}

export function cborVectors(): Vector[] {
  return [
    bin('map', 'client', cborEncode({ type: 'chat', id: 7, body: 'hi' }), 'cbor {type, id, body}'),
    bin('array', 'server', cborEncode([1, -1, 300, -70000, 2 ** 40, 1.5, null, true, false, undefined]), 'cbor array[10]'),
    bin('bytes and date', 'client', cborEncode({ data: new Uint8Array([1, 2, 3]), when: 0 }), 'cbor {data, when}'),
    // RFC 8949 Appendix A examples (indefinite-length items, half float, tags).
    bin('rfc indefinite array', 'client', Buffer.from('9f018202039f0405ffff', 'hex'), 'cbor array[3]'),
    bin('rfc indefinite map', 'client', Buffer.from('bf61610161629f0203ffff', 'hex'), 'cbor {"a", "b"}'.replace(/"/g, '')),
    bin('rfc tag 1', 'client', Buffer.from('c11a514b67b0', 'hex'), 'cbor tag(1)'),
    bin('rfc half float', 'client', Buffer.from('f93c00', 'hex'), 'cbor number'),
  ];
}

export function protobufRoot(): protobuf.Root {
  return protobuf.Root.fromJSON({
    nested: {
      demo: {
        nested: {
          Inner: { fields: { name: { type: 'string', id: 1 }, score: { type: 'sint32', id: 2 } } },
          Envelope: {
            fields: {
              id: { type: 'uint64', id: 1 },
              topic: { type: 'string', id: 2 },
              inner: { type: 'Inner', id: 3 },
              values: { rule: 'repeated', type: 'fixed32', id: 4 },
              ratio: { type: 'double', id: 5 },
              blob: { type: 'bytes', id: 6 },
            },
          },
        },
      },
    },
  });
}

export function protobufVectors(): Vector[] {
  const Envelope = protobufRoot().lookupType('demo.Envelope');
  const msg = Envelope.encode(
    Envelope.create({ id: 150, topic: 'sensors/1', inner: { name: 'temp', score: -3 }, values: [1, 2], ratio: 0.5, blob: Buffer.from([0xff, 0x00, 0xfe]) }),
  ).finish();
  return [
    bin('envelope', 'client', msg, 'protobuf fields 1,2,3,4,5,6'),
    // protobuf.dev encoding guide: field 1 varint 150.
    bin('guide 150', 'server', Buffer.from('089601', 'hex'), 'protobuf fields 1'),
    bin('guide string', 'server', Buffer.from('120774657374696e67', 'hex'), 'protobuf fields 2'),
  ];
}

function mqtt(packet: mqttPacket.Packet, protocolVersion: 4 | 5): Buffer {
  return mqttPacket.generate(packet, { protocolVersion });
}

/** A client session in order (CONNECT decides the version for what follows). */
export function mqttSession(v: 4 | 5): Vector[] {
  const props5 = v === 5;
  const out: Vector[] = [
    bin('connect', 'client', mqtt({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clientId: 'dev-1', clean: true, keepalive: 30, username: 'u', password: Buffer.from('p'), will: { topic: 'last/will', payload: Buffer.from('bye'), qos: 0, retain: false, ...(props5 ? { properties: { willDelayInterval: 5 } } : {}) }, ...(props5 ? { properties: { sessionExpiryInterval: 60, receiveMaximum: 10, userProperties: { a: 'b' } } } : {}) } as mqttPacket.IConnectPacket, v), `MQTT CONNECT "dev-1" v${v === 5 ? 5 : '3.1.1'}`),
    bin('connack', 'server', mqtt({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false, ...(props5 ? { properties: { assignedClientIdentifier: 'x', topicAliasMaximum: 5 } } : {}) } as mqttPacket.IConnackPacket, v), 'MQTT CONNACK accepted'),
    bin('subscribe', 'client', mqtt({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }, { topic: 'alerts', qos: 0 }], ...(props5 ? { properties: { subscriptionIdentifier: 3 } } : {}) } as mqttPacket.ISubscribePacket, v), 'MQTT SUBSCRIBE sensors/# alerts id 1'),
    bin('suback', 'server', mqtt({ cmd: 'suback', messageId: 1, granted: [1, 0] } as mqttPacket.ISubackPacket, v), 'MQTT SUBACK id 1'),
    bin('publish qos1', 'client', mqtt({ cmd: 'publish', topic: 'sensors/1', payload: Buffer.from('{"t":21.5}'), qos: 1, messageId: 2, retain: false, dup: false, ...(props5 ? { properties: { contentType: 'application/json', userProperties: { k: 'v' }, correlationData: Buffer.from([1, 2]) } } : {}) } as mqttPacket.IPublishPacket, v), 'MQTT PUBLISH sensors/1 qos1 id 2'),
    bin('puback', 'server', mqtt({ cmd: 'puback', messageId: 2, ...(props5 ? { reasonCode: 0x10, properties: { reasonString: 'no subscribers' } } : {}) } as mqttPacket.IPubackPacket, v), 'MQTT PUBACK id 2'),
    bin('publish qos0', 'server', mqtt({ cmd: 'publish', topic: 'sensors/2', payload: Buffer.from('x'), qos: 0, retain: true, dup: false } as mqttPacket.IPublishPacket, v), 'MQTT PUBLISH sensors/2 qos0 retain'),
    bin('publish qos2', 'client', mqtt({ cmd: 'publish', topic: 'cmd', payload: Buffer.alloc(0), qos: 2, messageId: 3, retain: false, dup: false } as mqttPacket.IPublishPacket, v), 'MQTT PUBLISH cmd qos2 id 3'),
    bin('pubrec', 'server', mqtt({ cmd: 'pubrec', messageId: 3 } as mqttPacket.IPubrecPacket, v), 'MQTT PUBREC id 3'),
    bin('pubrel', 'client', mqtt({ cmd: 'pubrel', messageId: 3 } as mqttPacket.IPubrelPacket, v), 'MQTT PUBREL id 3'),
    bin('pubcomp', 'server', mqtt({ cmd: 'pubcomp', messageId: 3 } as mqttPacket.IPubcompPacket, v), 'MQTT PUBCOMP id 3'),
    bin('unsubscribe', 'client', mqtt({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['alerts'] } as mqttPacket.IUnsubscribePacket, v), 'MQTT UNSUBSCRIBE alerts id 4'),
    bin('unsuback', 'server', mqtt({ cmd: 'unsuback', messageId: 4, ...(props5 ? { granted: [0] } : {}) } as mqttPacket.IUnsubackPacket, v), 'MQTT UNSUBACK id 4'),
    bin('pingreq', 'client', mqtt({ cmd: 'pingreq' }, v), 'MQTT PINGREQ'),
    bin('pingresp', 'server', mqtt({ cmd: 'pingresp' }, v), 'MQTT PINGRESP'),
    bin('disconnect', 'client', mqtt({ cmd: 'disconnect', ...(props5 ? { reasonCode: 0, properties: { sessionExpiryInterval: 0 } } : {}) } as mqttPacket.IDisconnectPacket, v), 'MQTT DISCONNECT'),
  ];
  if (props5) out.push(bin('auth', 'client', mqtt({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM' } } as mqttPacket.IAuthPacket, 5), 'MQTT AUTH'));
  return out;
}

/** socket.io-parser (protocol 5) packets, wrapped as Engine.IO 4 messages by engine.io-parser. */
export function socketIoVectors(): Vector[][] {
  const enc = new Encoder();
  const wrap = (parts: Array<string | Buffer>, from: Side, name: string, summaries: Array<string | RegExp>): Vector[] =>
    parts.map((p, i) => {
      let out!: Vector;
      encodePacket({ type: 'message', data: p }, true, (encoded) => {
        out = typeof encoded === 'string' ? text(`${name}#${i}`, from, encoded, summaries[i]!) : bin(`${name}#${i}`, from, encoded as Buffer, summaries[i]!);
      });
      return out;
    });
  return [
    [text('eio open', 'server', '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}', 'engine.io open sid abc')],
    wrap(enc.encode({ type: PacketType.CONNECT, nsp: '/' }) as string[], 'client', 'connect', ['socket.io connect /']),
    wrap(enc.encode({ type: PacketType.CONNECT, nsp: '/admin', data: { token: 't' } }) as string[], 'client', 'connect nsp', ['socket.io connect /admin']),
    wrap(enc.encode({ type: PacketType.CONNECT, nsp: '/', data: { sid: 'x' } }) as string[], 'server', 'connect reply', ['socket.io connect /']),
    wrap(enc.encode({ type: PacketType.EVENT, nsp: '/', data: ['chat', { text: 'hi' }], id: 12 }) as string[], 'client', 'event ack', ['socket.io chat ack 12']),
    wrap(enc.encode({ type: PacketType.ACK, nsp: '/', data: ['ok'], id: 12 }) as string[], 'server', 'ack', ['socket.io ack 12']),
    wrap(enc.encode({ type: PacketType.EVENT, nsp: '/admin', data: ['kick', 'bob'] }) as string[], 'server', 'event nsp', ['socket.io kick /admin']),
    wrap(enc.encode({ type: PacketType.EVENT, nsp: '/', data: ['upload', { name: 'a', file: Buffer.from([1, 2, 3]) }, Buffer.from('xyz')], id: 3 }) as Array<string | Buffer>, 'client', 'binary event', [
      'socket.io upload ack 3 (awaiting 2 attachments)',
      'socket.io attachment 1/2 of upload',
      'socket.io upload ack 3 +2 binary',
    ]),
    wrap(enc.encode({ type: PacketType.ACK, nsp: '/', data: [Buffer.from([9])], id: 3 }) as Array<string | Buffer>, 'server', 'binary ack', ['socket.io ack 3 (awaiting 1 attachment)', 'socket.io ack 3 +1 binary']),
    wrap(enc.encode({ type: PacketType.CONNECT_ERROR, nsp: '/admin', data: { message: 'nope' } }) as string[], 'server', 'connect error', ['socket.io connect_error /admin']),
    wrap(enc.encode({ type: PacketType.DISCONNECT, nsp: '/admin' }) as string[], 'client', 'disconnect', ['socket.io disconnect /admin']),
    [text('eio ping', 'server', '2', 'engine.io ping'), text('eio pong', 'client', '3', 'engine.io pong')],
  ];
}

/** Engine.IO 3 (socket.io 2.x): binary messages carry the packet type byte first. */
export function socketIoV3Vectors(): Vector[] {
  return [
    text('v3 event', 'client', '451-["bin",{"_placeholder":true,"num":0}]', 'socket.io bin (awaiting 1 attachment)'),
    bin('v3 attachment', 'client', Buffer.from([4, 1, 2, 3]), 'socket.io bin +1 binary'),
    text('v3 ping', 'client', '2', 'engine.io ping'),
  ];
}

/**
 * socket.io 2.x on the wire, made by its own parsers: socket.io-parser 3 (Socket.IO protocol 4)
 * packets wrapped as Engine.IO 3 messages by engine.io-parser 2 (binary: a packet type byte, 4,
 * before the attachment). socket.io 2.x itself marks a packet with binary data as BINARY_EVENT /
 * BINARY_ACK before encoding it, as done here.
 */
export function socketIoV3RealVectors(): Vector[] {
  const enc = new parserV3.Encoder();
  const wrap = (packet: parserV3.Packet, from: Side, name: string, summaries: Array<string | RegExp>): Vector[] => {
    const out: Vector[] = [];
    enc.encode(packet, (parts) =>
      parts.forEach((p, i) =>
        engineV2.encodePacket({ type: 'message', data: p }, true, false, (encoded) => {
          out.push(typeof encoded === 'string' ? text(`${name}#${i}`, from, encoded, summaries[i]!) : bin(`${name}#${i}`, from, encoded, summaries[i]!));
        }),
      ),
    );
    if (out.length !== summaries.length) throw new Error(`${name}: ${out.length} messages, ${summaries.length} summaries`);
    return out;
  };
  const eio = (type: engineV2.Packet['type'], from: Side, summary: string): Vector => {
    let out!: Vector;
    engineV2.encodePacket({ type }, true, false, (encoded) => (out = text(`eio ${type}`, from, String(encoded), summary)));
    return out;
  };
  return [
    ...wrap({ type: parserV3.CONNECT, nsp: '/admin' }, 'client', 'connect nsp', ['socket.io connect /admin']),
    ...wrap({ type: parserV3.EVENT, nsp: '/', data: ['chat', { text: 'hi' }], id: 12 }, 'client', 'event ack', ['socket.io chat ack 12']),
    ...wrap({ type: parserV3.ACK, nsp: '/', data: ['ok'], id: 12 }, 'server', 'ack', ['socket.io ack 12']),
    ...wrap({ type: parserV3.EVENT, nsp: '/admin', data: ['kick', 'bob'] }, 'server', 'event nsp', ['socket.io kick /admin']),
    ...wrap({ type: parserV3.BINARY_EVENT, nsp: '/', data: ['upload', { name: 'a', file: Buffer.from([1, 2, 3]) }, Buffer.from('xyz')], id: 3 }, 'client', 'binary event', [
      'socket.io upload ack 3 (awaiting 2 attachments)',
      'socket.io attachment 1/2 of upload',
      'socket.io upload ack 3 +2 binary',
    ]),
    ...wrap({ type: parserV3.BINARY_ACK, nsp: '/', data: [Buffer.from([9])], id: 3 }, 'server', 'binary ack', ['socket.io ack 3 (awaiting 1 attachment)', 'socket.io ack 3 +1 binary']),
    ...wrap({ type: parserV3.ERROR, nsp: '/admin', data: 'Not authorized' }, 'server', 'error', ['socket.io error /admin']),
    ...wrap({ type: parserV3.DISCONNECT, nsp: '/admin' }, 'client', 'disconnect', ['socket.io disconnect /admin']),
    eio('ping', 'client', 'engine.io ping'),
    eio('pong', 'server', 'engine.io pong'),
  ];
}

/** STOMP 1.2 frames as in the specification's examples. */
export function stompVectors(): Vector[] {
  return [
    text('connect', 'client', 'CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0', 'STOMP CONNECT'),
    text('connected', 'server', 'CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0', 'STOMP CONNECTED'),
    text('send', 'client', 'SEND\ndestination:/queue/a\ncontent-type:text/plain\nreceipt:77\n\nhello queue a\0', 'STOMP SEND /queue/a receipt 77'),
    text('receipt', 'server', 'RECEIPT\nreceipt-id:77\n\n\0', 'STOMP RECEIPT receipt-id 77'),
    text('subscribe', 'client', 'SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0', 'STOMP SUBSCRIBE /queue/foo'),
    text('message json', 'server', 'MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/foo\ncontent-type:application/json\ncontent-length:13\n\n{"a":[1,2,3]}\0\n', 'STOMP MESSAGE /queue/foo'),
    text('escaped header', 'server', 'MESSAGE\ndestination:/topic/a\\cb\nmessage-id:1\nsubscription:0\n\n\0', 'STOMP MESSAGE /topic/a:b'),
    text('error', 'server', 'ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\nmessage:malformed frame received\n\nThe message:\n-----\nMESSAGE\n\0', 'STOMP ERROR "malformed frame received" receipt-id message-12345'),
    text('heart-beat', 'client', '\n', 'STOMP heart-beat'),
    bin('binary body', 'client', Buffer.concat([Buffer.from('SEND\ndestination:/queue/b\ncontent-length:3\n\n'), Buffer.from([0, 1, 2]), Buffer.from([0])]), 'STOMP SEND /queue/b'),
  ];
}

/** graphql-ws's own message encoder for graphql-transport-ws; the older protocol by its document. */
export function graphqlVectors(): Vector[] {
  return [
    text('init', 'client', stringifyMessage({ type: MessageType.ConnectionInit, payload: { token: 't' } }), 'graphql connection_init'),
    text('ack', 'server', stringifyMessage({ type: MessageType.ConnectionAck }), 'graphql connection_ack'),
    text('subscribe', 'client', stringifyMessage({ id: 'a1', type: MessageType.Subscribe, payload: { query: 'subscription OnChat { chat { text } }' } }), 'graphql subscribe a1 subscription OnChat'),
    text('next', 'server', stringifyMessage({ id: 'a1', type: MessageType.Next, payload: { data: { chat: { text: 'hi' } } } }), 'graphql next a1'),
    text('error', 'server', stringifyMessage({ id: 'a2', type: MessageType.Error, payload: [{ message: 'bad query' }] }), 'graphql error a2 "bad query"'),
    text('complete', 'client', stringifyMessage({ id: 'a1', type: MessageType.Complete }), 'graphql complete a1'),
    text('ping', 'client', stringifyMessage({ type: MessageType.Ping }), 'graphql ping'),
    text('old start', 'client', '{"id":"1","type":"start","payload":{"query":"query Q { a }","operationName":"Q"}}', 'graphql start 1 Q'),
    text('old data', 'server', '{"id":"1","type":"data","payload":{"data":{"a":1}}}', 'graphql data 1'),
    text('old ka', 'server', '{"type":"ka"}', 'graphql ka'),
  ];
}

/** JSON-RPC 2.0 specification §7 examples. */
export function jsonRpcVectors(): Vector[] {
  return [
    text('request', 'client', '{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}', 'jsonrpc subtract #1'),
    text('response', 'server', '{"jsonrpc": "2.0", "result": 19, "id": 1}', 'jsonrpc result #1'),
    text('notification', 'client', '{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}', 'jsonrpc notify update'),
    text('error', 'server', '{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}', 'jsonrpc error -32601 "Method not found" #"1"'),
    text('batch', 'client', '[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]', 'jsonrpc batch(2) sum #"1", notify notify_hello'),
  ];
}
