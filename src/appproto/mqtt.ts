/**
 * MQTT 3.1.1 (OASIS mqtt-v3.1.1) and MQTT 5 (OASIS mqtt-v5.0) control packets over WebSocket.
 * MQTT-6.0.0-2 (v3.1.1 §6): "a single WebSocket data frame can contain multiple or partial MQTT
 * Control Packets", so each direction is a byte stream with its own buffer. MQTT 5 packets carry
 * properties that 3.1.1 ones lack: the version comes from CONNECT (protocol level 4 or 5) and is
 * shared by both directions. A packet longer than `maxPacketBytes` is skipped (counted, not kept).
 */
import type { Side } from '../session/events.js';
import { ByteReader, utf8 } from './byte-reader.js';
import { hexOf } from './data-value.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, type Decoded, guard, type PairMark, stop, type TreeNode, undecodable } from './types.js';

const PACKET_NAMES = ['reserved', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH'] as const;

type PropKind = 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

/** MQTT 5 §2.2.2.2 property identifiers. */
const PROPERTIES: Readonly<Record<number, readonly [string, PropKind]>> = {
  0x01: ['payload-format-indicator', 'byte'],
  0x02: ['message-expiry-interval', 'u32'],
  0x03: ['content-type', 'string'],
  0x08: ['response-topic', 'string'],
  0x09: ['correlation-data', 'binary'],
  0x0b: ['subscription-identifier', 'varint'],
  0x11: ['session-expiry-interval', 'u32'],
  0x12: ['assigned-client-identifier', 'string'],
  0x13: ['server-keep-alive', 'u16'],
  0x15: ['authentication-method', 'string'],
  0x16: ['authentication-data', 'binary'],
  0x17: ['request-problem-information', 'byte'],
  0x18: ['will-delay-interval', 'u32'],
  0x19: ['request-response-information', 'byte'],
  0x1a: ['response-information', 'string'],
  0x1c: ['server-reference', 'string'],
  0x1f: ['reason-string', 'string'],
  0x21: ['receive-maximum', 'u16'],
  0x22: ['topic-alias-maximum', 'u16'],
  0x23: ['topic-alias', 'u16'],
  0x24: ['maximum-qos', 'byte'],
  0x25: ['retain-available', 'byte'],
  0x26: ['user-property', 'pair'],
  0x27: ['maximum-packet-size', 'u32'],
  0x28: ['wildcard-subscription-available', 'byte'],
  0x29: ['subscription-identifier-available', 'byte'],
  0x2a: ['shared-subscription-available', 'byte'],
};

/** Reads a Variable Byte Integer (v5 §1.5.5 / v3.1.1 §2.2.3: at most 4 bytes). */
function readVbi(r: ByteReader): number {
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const b = r.u8('variable byte integer');
    v += (b & 0x7f) * 128 ** i;
    if ((b & 0x80) === 0) return v;
  }
  return stop(`variable byte integer longer than 4 bytes before byte ${r.pos}`);
}

function str(r: ByteReader, what: string): string {
  return utf8(r.take(r.u16(what), what), what);
}

function bin(r: ByteReader, what: string): Uint8Array {
  return r.take(r.u16(what), what);
}

function readProperties(r: ByteReader): TreeNode[] {
  const len = readVbi(r);
  if (len > r.left) stop(`properties claim ${len} bytes, ${r.left} left`);
  const end = r.pos + len;
  const out: TreeNode[] = [];
  while (r.pos < end) {
    const at = r.pos;
    const id = readVbi(r);
    const def = PROPERTIES[id];
    if (!def) stop(`unknown property 0x${id.toString(16)} at byte ${at}`);
    const [name, kind] = def;
    let value: string;
    switch (kind) {
      case 'byte':
        value = String(r.u8(name));
        break;
      case 'u16':
        value = String(r.u16(name));
        break;
      case 'u32':
        value = String(r.u32(name));
        break;
      case 'varint':
        value = String(readVbi(r));
        break;
      case 'string':
        value = JSON.stringify(str(r, name));
        break;
      case 'binary':
        value = hexOf(bin(r, name));
        break;
      case 'pair':
        value = `${JSON.stringify(str(r, name))}: ${JSON.stringify(str(r, name))}`;
        break;
    }
    out.push({ label: name, value });
  }
  if (r.pos !== end) stop('properties overrun their length');
  return out;
}

export interface MqttPacketInfo {
  readonly name: (typeof PACKET_NAMES)[number];
  readonly summary: string;
  readonly tree: TreeNode;
  readonly fields: Record<string, string>;
  readonly pair?: PairMark;
  /** CONNECT's protocol level (3, 4 or 5). */
  readonly level?: number;
}

/** Decodes one whole control packet (fixed header included); `v5` chooses the MQTT 5 layout. */
export function parseMqttPacket(bytes: Uint8Array, v5: boolean): MqttPacketInfo {
  const r = new ByteReader(bytes);
  const first = r.u8('fixed header');
  const type = first >> 4;
  const flags = first & 0x0f;
  const remaining = readVbi(r);
  if (remaining !== r.left) stop(`remaining length ${remaining} but ${r.left} bytes`);
  const name = PACKET_NAMES[type]!;
  if (type === 0 || (type === 15 && !v5)) stop(`packet type ${type} is reserved`);
  const kids: TreeNode[] = [];
  const fields: Record<string, string> = { type: name };
  const add = (label: string, value: string): void => {
    kids.push({ label, value });
  };
  const props = (): void => {
    if (v5) kids.push({ label: 'properties', children: readProperties(r) });
  };
  let summary = `MQTT ${name}`;
  let pair: PairMark | undefined;
  let level: number | undefined;
  switch (name) {
    case 'CONNECT': {
      const proto = str(r, 'protocol name');
      level = r.u8('protocol level');
      const cflags = r.u8('connect flags');
      add('protocol', `${proto} level ${level}`);
      add('keep-alive', String(r.u16('keep alive')));
      const isV5 = level === 5;
      if (isV5) kids.push({ label: 'properties', children: readProperties(r) });
      const clientId = str(r, 'client id');
      add('client-id', JSON.stringify(clientId));
      if (cflags & 0x04) {
        if (isV5) kids.push({ label: 'will-properties', children: readProperties(r) });
        add('will-topic', JSON.stringify(str(r, 'will topic')));
        add('will-payload', hexOf(bin(r, 'will payload')));
      }
      if (cflags & 0x80) add('username', JSON.stringify(str(r, 'username')));
      if (cflags & 0x40) add('password', `(${bin(r, 'password').length} bytes)`);
      add('clean', String((cflags & 0x02) !== 0));
      summary += ` ${JSON.stringify(clientId)} v${level === 5 ? 5 : level === 4 ? '3.1.1' : level === 3 ? '3.1' : level}`;
      fields.client = clientId;
      pair = { role: 'request', key: 'connect' };
      break;
    }
    case 'CONNACK': {
      add('session-present', String((r.u8('connack flags') & 1) === 1));
      const code = r.u8('return code');
      add(v5 ? 'reason-code' : 'return-code', String(code));
      props();
      summary += ` ${code === 0 ? 'accepted' : `refused ${code}`}`;
      pair = { role: 'reply', key: 'connect' };
      break;
    }
    case 'PUBLISH': {
      const qos = (flags >> 1) & 3;
      if (qos === 3) stop('PUBLISH with QoS 3');
      const topic = str(r, 'topic');
      add('topic', JSON.stringify(topic));
      add('qos', String(qos));
      if (flags & 8) add('dup', 'true');
      if (flags & 1) add('retain', 'true');
      let id: number | null = null;
      if (qos > 0) {
        id = r.u16('packet identifier');
        add('packet-id', String(id));
      }
      props();
      const payload = r.take(r.left, 'payload');
      add('payload', `(${payload.length}) ${hexOf(payload)}`);
      const text = Buffer.from(payload).toString('utf8');
      if (payload.length > 0 && !text.includes('\ufffd')) add('payload-text', JSON.stringify(text.length > 2000 ? `${text.slice(0, 2000)}…` : text));
      summary += ` ${topic} qos${qos}${flags & 1 ? ' retain' : ''}${id !== null ? ` id ${id}` : ''}`;
      fields.topic = topic;
      if (id !== null) pair = { role: 'request', key: `pub:${id}` };
      break;
    }
    case 'PUBACK':
    case 'PUBREC':
    case 'PUBREL':
    case 'PUBCOMP': {
      const id = r.u16('packet identifier');
      add('packet-id', String(id));
      if (v5 && r.left > 0) add('reason-code', String(r.u8('reason code')));
      if (v5 && r.left > 0) props();
      summary += ` id ${id}`;
      // QoS 1: PUBLISH→PUBACK; QoS 2: PUBLISH→PUBREC, then PUBREL→PUBCOMP.
      pair = name === 'PUBREL' ? { role: 'request', key: `rel:${id}` } : { role: 'reply', key: name === 'PUBCOMP' ? `rel:${id}` : `pub:${id}` };
      break;
    }
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      const id = r.u16('packet identifier');
      add('packet-id', String(id));
      props();
      const topics: string[] = [];
      const list: TreeNode[] = [];
      while (r.left > 0) {
        const t = str(r, 'topic filter');
        topics.push(t);
        if (name === 'SUBSCRIBE') {
          const o = r.u8('subscription options');
          list.push({ label: t, value: `qos${o & 3}` });
        } else list.push({ label: t });
        if (topics.length > 10_000) stop('more than 10000 topic filters');
      }
      if (topics.length === 0) stop(`${name} without a topic filter`);
      kids.push({ label: 'topics', children: list });
      summary += ` ${topics.slice(0, 3).join(' ')}${topics.length > 3 ? ' …' : ''} id ${id}`;
      fields.topic = topics.join(' ');
      pair = { role: 'request', key: `${name === 'SUBSCRIBE' ? 'sub' : 'unsub'}:${id}` };
      break;
    }
    case 'SUBACK':
    case 'UNSUBACK': {
      const id = r.u16('packet identifier');
      add('packet-id', String(id));
      props();
      const codes = [...r.take(r.left, 'return codes')];
      if (codes.length > 0) add(v5 ? 'reason-codes' : 'return-codes', codes.join(' '));
      summary += ` id ${id}`;
      pair = { role: 'reply', key: `${name === 'SUBACK' ? 'sub' : 'unsub'}:${id}` };
      break;
    }
    case 'PINGREQ':
    case 'PINGRESP':
      pair = { role: name === 'PINGREQ' ? 'request' : 'reply', key: 'ping' };
      break;
    case 'DISCONNECT':
    case 'AUTH':
      if (v5 && r.left > 0) add('reason-code', String(r.u8('reason code')));
      if (v5 && r.left > 0) props();
      break;
    default:
      break;
  }
  if (r.left > 0) stop(`${r.left} bytes after the ${name} packet's fields`);
  const out: MqttPacketInfo = { name, summary, tree: { label: `MQTT ${name}`, children: kids }, fields };
  return { ...out, ...(pair ? { pair } : {}), ...(level !== undefined ? { level } : {}) };
}

/**
 * Per-connection MQTT stream state: one buffer per direction, the protocol version from CONNECT.
 * `push` returns one result per complete packet in the message (possibly none, for a partial one).
 */
export class MqttStream {
  #version: 3 | 4 | 5 | null = null;
  readonly #buffers: Record<Side, Buffer> = { client: Buffer.alloc(0), server: Buffer.alloc(0) };
  /** Bytes still to skip of a packet over the limit, per direction. */
  readonly #skip: Record<Side, number> = { client: 0, server: 0 };

  constructor(readonly limits: DecodeLimits = DEFAULT_LIMITS) {}

  /** Bytes of this direction were lost (a truncated message): its stream cannot be followed any more. */
  lose(from: Side): void {
    this.#buffers[from] = Buffer.alloc(0);
    this.#skip[from] = Number.POSITIVE_INFINITY;
  }

  get version(): 3 | 4 | 5 | null {
    return this.#version;
  }

  push(from: Side, bytes: Uint8Array): DecodeResult[] {
    if (this.#skip[from] === Number.POSITIVE_INFINITY) return [undecodable('mqtt', `the ${from}'s stream was lost earlier; not decoded`)];
    const out: DecodeResult[] = [];
    let chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.#skip[from] > 0) {
      const n = Math.min(this.#skip[from], chunk.length);
      this.#skip[from] -= n;
      chunk = chunk.subarray(n);
    }
    let buf = this.#buffers[from].length > 0 ? Buffer.concat([this.#buffers[from], chunk]) : Buffer.from(chunk);
    for (;;) {
      if (buf.length === 0) break;
      const head = fixedHeader(buf);
      if (head === 'partial') break;
      if (head === 'bad') {
        out.push(undecodable('mqtt', `bad remaining length at the start of a ${from} packet; rest of this direction not decoded`));
        this.lose(from);
        return out;
      }
      const total = head.headerLength + head.remaining;
      if (total > this.limits.maxPacketBytes) {
        out.push(undecodable('mqtt', `packet of ${total} bytes (limit ${this.limits.maxPacketBytes}), skipped`));
        const have = Math.min(total, buf.length);
        this.#skip[from] = total - have;
        buf = buf.subarray(have);
        continue;
      }
      if (buf.length < total) break;
      out.push(this.#decode(buf.subarray(0, total)));
      buf = buf.subarray(total);
    }
    // Keep only the incomplete tail (a copy, so the message's buffer is not retained).
    this.#buffers[from] = Buffer.from(buf);
    return out;
  }

  #decode(packet: Uint8Array): DecodeResult {
    return guard('mqtt', () => {
      const info = parseMqttPacket(packet, this.#version === 5);
      if (info.level === 3 || info.level === 4 || info.level === 5) this.#version = info.level;
      const d: Decoded = { ok: true, view: 'mqtt', summary: info.summary, tree: info.tree, fields: info.fields };
      return info.pair ? { ...d, pair: info.pair } : d;
    });
  }
}

/** Fixed header: 'partial' when more bytes are needed, 'bad' for a 5-byte remaining length. */
function fixedHeader(buf: Buffer): { headerLength: number; remaining: number } | 'partial' | 'bad' {
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= buf.length) return 'partial';
    const b = buf[i]!;
    remaining += (b & 0x7f) * 128 ** (i - 1);
    if ((b & 0x80) === 0) return { headerLength: i + 1, remaining };
  }
  return 'bad';
}

/** Whether a payload starts like an MQTT CONNECT (for sniffing). */
export function looksLikeMqttConnect(bytes: Uint8Array): boolean {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 8 || b[0] !== 0x10) return false;
  const h = fixedHeader(b);
  if (typeof h !== 'object') return false;
  const p = h.headerLength;
  return b.length >= p + 6 && b.readUInt16BE(p) === 4 && b.toString('latin1', p + 2, p + 6) === 'MQTT';
}
