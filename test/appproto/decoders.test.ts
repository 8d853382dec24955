import { describe, expect, it } from 'vitest';
import { AppProtocolContext, type AppContextOptions } from '../../src/appproto/app-context.js';
import { decodeCbor } from '../../src/appproto/cbor.js';
import { decodeJson } from '../../src/appproto/json.js';
import { decodeMsgpack } from '../../src/appproto/msgpack.js';
import { decodeProtobufRaw } from '../../src/appproto/protobuf-raw.js';
import { decodeProtobufSchema } from '../../src/appproto/protobuf-schema.js';
import { parseSocketIoPacket, SocketIoDecoder } from '../../src/appproto/socketio.js';
import { decodeStomp } from '../../src/appproto/stomp.js';
import { MqttStream } from '../../src/appproto/mqtt.js';
import type { DecodeResult, TreeNode, ViewName } from '../../src/appproto/types.js';
import {
  cborVectors,
  graphqlVectors,
  jsonRpcVectors,
  mqttSession,
  msgpackVectors,
  protobufRoot,
  protobufVectors,
  socketIoV3Vectors,
  socketIoV3RealVectors,
  socketIoVectors,
  stompVectors,
  type Vector,
} from './vectors.js';

function run(options: AppContextOptions, vectors: readonly Vector[]): DecodeResult[] {
  const ctx = new AppProtocolContext(options);
  return vectors.flatMap((v, i) => ctx.push({ from: v.from, opcode: v.opcode, bytes: v.bytes, t: i }));
}

function summaries(results: readonly DecodeResult[]): string[] {
  return results.map((r) => r.summary);
}

function expectSummaries(results: readonly DecodeResult[], vectors: readonly Vector[]): void {
  expect(results.length).toBe(vectors.length);
  results.forEach((r, i) => {
    const want = vectors[i]!.summary;
    if (!r.ok) throw new Error(`${vectors[i]!.name}: ${r.summary}`);
    if (typeof want === 'string') expect(r.summary, vectors[i]!.name).toBe(want);
    else expect(r.summary, vectors[i]!.name).toMatch(want);
  });
}

/** Every vector cut at every length, after the vectors before it: decoders return, never throw. */
function everyTruncation(options: AppContextOptions, vectors: readonly Vector[]): number {
  let undecodable = 0;
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]!;
    const step = v.bytes.length > 4096 ? 997 : 1;
    for (let cut = 0; cut < v.bytes.length; cut += step) {
      const ctx = new AppProtocolContext(options);
      for (const before of vectors.slice(0, i)) ctx.push({ from: before.from, opcode: before.opcode, bytes: before.bytes, t: 0 });
      const out = ctx.push({ from: v.from, opcode: v.opcode, bytes: v.bytes.subarray(0, cut), t: 0 });
      for (const r of out) {
        expect(typeof r.summary).toBe('string');
        if (!r.ok) {
          expect(r.summary).toMatch(/^undecodable: /);
          undecodable++;
        }
      }
    }
  }
  return undecodable;
}

function countNodes(t: TreeNode): number {
  return 1 + (t.children ?? []).reduce((n, c) => n + countNodes(c), 0);
}

const FAMILIES: Array<[string, AppContextOptions, () => Vector[]]> = [
  ['msgpack', { view: 'msgpack' }, msgpackVectors],
  ['cbor', { view: 'cbor' }, cborVectors],
  ['protobuf', { view: 'protobuf' }, protobufVectors],
  ['mqtt 3.1.1', { view: 'mqtt' }, () => mqttSession(4)],
  ['mqtt 5', { view: 'mqtt' }, () => mqttSession(5)],
  ['socket.io (EIO 4)', { target: '/socket.io/?EIO=4&transport=websocket' }, () => socketIoVectors().flat()],
  ['socket.io (EIO 3)', { target: '/socket.io/?EIO=3&transport=websocket' }, socketIoV3Vectors],
  ['socket.io 2.x (EIO 3, socket.io-parser 3)', { target: '/socket.io/?EIO=3&transport=websocket' }, socketIoV3RealVectors],
  ['stomp', { view: 'stomp' }, stompVectors],
  ['graphql', { protocol: 'graphql-transport-ws' }, graphqlVectors],
  ['jsonrpc', { view: 'jsonrpc' }, jsonRpcVectors],
];

describe('decoders on vectors from the real libraries', () => {
  for (const [name, options, vectors] of FAMILIES) {
    it(`${name}: summaries`, () => {
      expectSummaries(run(options, vectors()), vectors());
    });
    it(`${name}: every truncation point returns (never throws)`, () => {
      const n = everyTruncation(options, vectors());
      // MQTT is a stream: a cut packet waits for its rest (MQTT-6.0.0-2) rather than failing.
      if (options.view !== 'mqtt') expect(n).toBeGreaterThan(0);
    });
  }

  it('msgpack and cbor trees hold the values', () => {
    const r = run({ view: 'msgpack' }, msgpackVectors().slice(0, 1))[0]!;
    expect(r.ok && r.json).toEqual({ type: 'chat', id: 7, body: 'hi', tags: ['a', 'b'] });
    const c = run({ view: 'cbor' }, cborVectors().slice(0, 2));
    expect(c[0]!.ok && c[0]!.json).toEqual({ type: 'chat', id: 7, body: 'hi' });
    expect(c[1]!.ok && c[1]!.json).toEqual([1, -1, 300, -70000, 2 ** 40, 1.5, null, true, false, 'undefined']);
    const ts = run({ view: 'msgpack' }, msgpackVectors().slice(2, 3))[0]!;
    expect(JSON.stringify(ts.ok && ts.tree)).toContain('timestamp 1970-01-01T00:00:00.000Z');
  });

  it('protobuf without schema reads fields like protoc --decode_raw; with schema by name', () => {
    const [v] = protobufVectors();
    const raw = decodeProtobufRaw(v!.bytes);
    expect(raw.ok).toBe(true);
    const tree = JSON.stringify(raw.ok && raw.tree);
    expect(tree).toContain('"label":"1","value":"150 (sint 75)"');
    expect(tree).toContain('"value":"\\"sensors/1\\""');
    // Field 3 is a nested message: its field 1 "temp", field 2 sint32 -3 (zigzag 5).
    expect(tree).toContain('"value":"\\"temp\\""');
    expect(tree).toContain('5 (sint -3)');
    expect(tree).toContain('(fixed64, double 0.5)');
    const schema = { typeName: 'demo.Envelope', type: protobufRoot().lookupType('demo.Envelope') };
    const typed = decodeProtobufSchema(v!.bytes, schema);
    expect(typed.ok && typed.json).toEqual({ id: '150', topic: 'sensors/1', inner: { name: 'temp', score: -3 }, values: [1, 2], ratio: 0.5, blob: '/wD+' });
    expect(typed.summary).toBe('protobuf demo.Envelope {id, topic, inner, values, ratio, …}');
    const bad = decodeProtobufSchema(Buffer.from('0a80808080101234', 'hex'), schema);
    expect(bad.ok).toBe(false);
  });

  it('socket.io: fields, pairing marks and attachments in the tree', () => {
    const results = run({ target: '/socket.io/?EIO=4&transport=websocket' }, socketIoVectors().flat());
    const ev = results.find((r) => r.summary === 'socket.io chat ack 12')!;
    expect(ev.ok && ev.fields).toMatchObject({ event: 'chat', ack: '12', namespace: '/' });
    expect(ev.ok && ev.pair).toEqual({ role: 'request', key: 'ack:/:12' });
    expect(ev.ok && ev.json).toEqual(['chat', { text: 'hi' }]);
    const ack = results.find((r) => r.summary === 'socket.io ack 12')!;
    expect(ack.ok && ack.pair).toEqual({ role: 'reply', key: 'ack:/:12' });
    const full = results.find((r) => r.summary === 'socket.io upload ack 3 +2 binary')!;
    expect(JSON.stringify(full.ok && full.tree)).toContain('binary(3) <01 02 03>');
    expect(JSON.stringify(full.ok && full.tree)).toContain('binary(3) <78 79 7a>');
    expect(full.ok && full.pair).toBeUndefined();
  });

  it('mqtt: several packets in one message and a packet cut across messages decode the same', () => {
    for (const v of [4, 5] as const) {
      const session = mqttSession(v);
      const want = session.map((x) => x.summary);
      const client = Buffer.concat(session.filter((x) => x.from === 'client').map((x) => x.bytes));
      const clientWant = session.filter((x) => x.from === 'client').map((x) => x.summary);
      // First the CONNECT alone (it sets the version), then the rest of the client stream split at every point.
      const connectLen = session[0]!.bytes.length;
      for (let cut = connectLen; cut <= client.length; cut++) {
        const s = new MqttStream();
        const got = [
          ...s.push('client', client.subarray(0, connectLen)),
          ...s.push('client', client.subarray(connectLen, cut)),
          ...s.push('client', client.subarray(cut)),
        ];
        expect(summaries(got)).toEqual(clientWant);
      }
      // One byte per message.
      const s = new MqttStream();
      const got: DecodeResult[] = [];
      for (const x of session) for (const b of x.bytes) got.push(...s.push(x.from, Buffer.from([b])));
      expect(summaries(got)).toEqual(want);
    }
  });

  it('stomp: headers unescaped, content-length respected, receipts paired', () => {
    const [, , send, receipt] = stompVectors();
    const s = decodeStomp(send!.bytes);
    expect(s.ok && s.pair).toEqual({ role: 'request', key: 'receipt:77' });
    expect(s.ok && s.fields.destination).toBe('/queue/a');
    const r = decodeStomp(receipt!.bytes);
    expect(r.ok && r.pair).toEqual({ role: 'reply', key: 'receipt:77' });
    expect(decodeStomp(Buffer.from('SEND\ndestination:/a\\x\n\n\0')).summary).toMatch(/^undecodable: undefined escape/);
    expect(decodeStomp(Buffer.from('SEND\ncontent-length:5\n\nab\0')).summary).toMatch(/^undecodable: content-length 5/);
  });
});

describe('hostile payloads are bounded and undecodable', () => {
  const DEEP = 200_000;
  it('a protobuf length field of 2^32', () => {
    const r = decodeProtobufRaw(Buffer.from('0a8080808010', 'hex'));
    expect(r.summary).toBe('undecodable: field 1 at byte 0 claims 4294967296 bytes, 0 left');
  });
  it('a Socket.IO packet claiming 10^6 attachments', () => {
    const d = new SocketIoDecoder(4);
    expect(d.push('client', 1, Buffer.from('451000000-["x",{"_placeholder":true,"num":0}]')).summary).toBe('undecodable: packet claims 1000000 attachments (limit 64)');
    // The binary message after it is not taken as an attachment.
    expect(d.push('client', 2, Buffer.from([1])).summary).toBe('engine.io binary 1 B');
    expect(() => parseSocketIoPacket('5999999999999-[]')).toThrow(/attachment count/);
  });
  it('deeply nested msgpack, CBOR and JSON', () => {
    expect(decodeMsgpack(Buffer.concat([Buffer.alloc(DEEP, 0x91), Buffer.from([0xc0])])).summary).toBe('undecodable: nested deeper than 64');
    expect(decodeCbor(Buffer.concat([Buffer.alloc(DEEP, 0x81), Buffer.from([0xf6])])).summary).toBe('undecodable: nested deeper than 64');
    expect(decodeCbor(Buffer.concat([Buffer.alloc(DEEP, 0x9f)])).summary).toBe('undecodable: nested deeper than 64');
    expect(decodeJson('['.repeat(DEEP) + ']'.repeat(DEEP)).summary).toBe('undecodable: nested deeper than 64');
    const rawDeep = decodeProtobufRaw(Buffer.concat(Array.from({ length: 100 }, () => Buffer.from([0x0b])).concat(Array.from({ length: 100 }, () => Buffer.from([0x0c])))));
    expect(rawDeep.summary).toBe('undecodable: nested deeper than 64');
  });
  it('counts that lie about the bytes left, and too many items', () => {
    expect(decodeMsgpack(Buffer.from('ddffffffff', 'hex')).summary).toBe('undecodable: array at byte 5 claims 4294967295 elements, 0 bytes left');
    expect(decodeMsgpack(Buffer.from('dfffffffff', 'hex')).summary).toMatch(/claims 4294967295 entries/);
    expect(decodeCbor(Buffer.from('9bffffffffffffffff', 'hex')).summary).toMatch(/claims 18446744073709551615/);
    expect(decodeMsgpack(Buffer.concat([Buffer.from('dd00030000', 'hex'), Buffer.alloc(0x30000, 0xc0)])).summary).toBe('undecodable: more than 20000 values');
    expect(decodeCbor(Buffer.concat([Buffer.from([0x9f]), Buffer.alloc(100_000, 0xf6), Buffer.from([0xff])])).summary).toBe('undecodable: more than 20000 items');
    expect(decodeJson(`[${'0,'.repeat(50_000)}0]`).summary).toBe('undecodable: more than 20000 values');
  });
  it('an MQTT packet over the size limit is skipped, and the stream goes on after it', () => {
    const limits = { maxDepth: 64, maxItems: 20_000, maxBytes: 1 << 22, maxAttachments: 64, maxPacketBytes: 1000 };
    const s = new MqttStream(limits);
    const [connect, , , , pub] = mqttSession(4);
    const big = Buffer.concat([Buffer.from([0x30, 0xd0, 0x86, 0x03]), Buffer.alloc(50_000)]);
    const out = [...s.push('client', connect!.bytes), ...s.push('client', big.subarray(0, 500)), ...s.push('client', Buffer.concat([big.subarray(500), pub!.bytes]))];
    expect(summaries(out)).toEqual(['MQTT CONNECT "dev-1" v3.1.1', 'undecodable: packet of 50004 bytes (limit 1000), skipped', 'MQTT PUBLISH sensors/1 qos1 id 2']);
  });
  it('random bytes and mutated vectors never throw from any view, and trees stay bounded', () => {
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const views: ViewName[] = ['socketio', 'stomp', 'mqtt', 'graphql', 'jsonrpc', 'json', 'msgpack', 'cbor', 'protobuf'];
    const all = FAMILIES.flatMap(([, , v]) => v());
    for (let i = 0; i < 3000; i++) {
      let bytes: Buffer;
      if (i % 2 === 0) {
        bytes = Buffer.alloc(Math.floor(rand() * 200));
        for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      } else {
        bytes = Buffer.from(all[Math.floor(rand() * all.length)]!.bytes);
        for (let k = 0; k < 3 && bytes.length > 0; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      }
      for (const view of [...views, undefined]) {
        const ctx = new AppProtocolContext(view ? { view } : {});
        for (const opcode of [1, 2] as const) {
          for (const r of ctx.push({ from: rand() < 0.5 ? 'client' : 'server', opcode, bytes, t: 0 })) {
            if (r.ok) expect(countNodes(r.tree)).toBeLessThan(50_000);
            else expect(r.summary).toMatch(/^undecodable: /);
          }
        }
      }
    }
  });
});

describe('view selection', () => {
  it('from the subprotocol, the upgrade URL, or sniffed', () => {
    expect(new AppProtocolContext({ protocol: 'mqtt' }).view).toBe('mqtt');
    expect(new AppProtocolContext({ protocol: 'v12.stomp' }).view).toBe('stomp');
    expect(new AppProtocolContext({ protocol: 'graphql-ws' }).view).toBe('graphql');
    expect(new AppProtocolContext({ target: '/socket.io/?EIO=3&transport=websocket' }).view).toBe('socketio');
    expect(new AppProtocolContext({ target: '/chat', view: 'json' }).view).toBe('json');
    const ctx = new AppProtocolContext({ target: '/ws' });
    expect(ctx.view).toBeNull();
    const push = (v: Vector) => summaries(ctx.push({ from: v.from, opcode: v.opcode, bytes: v.bytes, t: 0 }));
    expect(push(jsonRpcVectors()[0]!)).toEqual(['jsonrpc subtract #1']);
    expect(push(graphqlVectors()[2]!)).toEqual(['graphql subscribe a1 subscription OnChat']);
    expect(push(msgpackVectors()[0]!)).toEqual(['msgpack {type, id, body, tags}']);
    expect(push(cborVectors()[0]!)).toEqual(['cbor {type, id, body}']);
    expect(push({ name: 'plain', from: 'client', opcode: 1, bytes: Buffer.from('hello'), summary: '' })).toEqual([]);
    expect(push({ name: 'json', from: 'client', opcode: 1, bytes: Buffer.from('{"a":1}'), summary: '' })).toEqual(['json {a}']);
    expect(ctx.view).toBeNull();
    const mq = new AppProtocolContext({});
    mq.push({ from: 'client', opcode: 2, bytes: mqttSession(5)[0]!.bytes, t: 0 });
    expect(mq.view).toBe('mqtt');
    const st = new AppProtocolContext({});
    st.push({ from: 'client', opcode: 1, bytes: stompVectors()[0]!.bytes, t: 0 });
    expect(st.view).toBe('stomp');
    expect(new AppProtocolContext({ view: 'raw', protocol: 'mqtt' }).push({ from: 'client', opcode: 2, bytes: Buffer.from([0x10]), t: 0 })).toEqual([]);
  });
  it('a message cut by --max-payload is undecodable and an MQTT direction stops there', () => {
    const ctx = new AppProtocolContext({ protocol: 'mqtt' });
    const [connect, , , , pub] = mqttSession(4);
    ctx.push({ from: 'client', opcode: 2, bytes: connect!.bytes, t: 0 });
    expect(summaries(ctx.push({ from: 'client', opcode: 2, bytes: pub!.bytes.subarray(0, 4), t: 0, truncated: true }))).toEqual(['undecodable: only 4 bytes kept (--max-payload)']);
  });
});

describe('attachment bytes are bounded too', () => {
  it('a BINARY_EVENT whose attachments pass maxBytes together is dropped', () => {
    const d = new SocketIoDecoder(4, { maxDepth: 64, maxItems: 20_000, maxBytes: 1000, maxAttachments: 64, maxPacketBytes: 1000 });
    expect(d.push('client', 1, Buffer.from('453-["x",{"_placeholder":true,"num":0}]')).ok).toBe(true);
    expect(d.push('client', 2, Buffer.alloc(600)).summary).toBe('socket.io attachment 1/3 of x');
    expect(d.push('client', 2, Buffer.alloc(600)).summary).toBe('undecodable: attachments of 1200 bytes (limit 1000)');
    expect(d.push('client', 2, Buffer.alloc(1)).summary).toBe('engine.io binary 1 B');
  });
});
