/**
 * Engine.IO 3/4 and the Socket.IO protocol on them, over the WebSocket transport
 * (https://github.com/socketio/engine.io-protocol, https://github.com/socketio/socket.io-protocol).
 * socket.io 2.x speaks Socket.IO protocol 4 on Engine.IO 3; socket.io 3+ speaks protocol 5 on
 * Engine.IO 4; the version is the `EIO=` query parameter of the upgrade URL.
 *
 * A BINARY_EVENT / BINARY_ACK announces N attachments; they follow as N binary WebSocket messages
 * from the same side, and replace the `{"_placeholder":true,"num":i}` objects of the payload.
 * State is per direction; the number of attachments a packet may claim is limited.
 */
import type { JsonValue } from '../replay/json-path.js';
import type { Side } from '../session/events.js';
import { hexOf, jsonToTree } from './data-value.js';
import { parseJsonBounded } from './json.js';
import { type DecodeLimits, DEFAULT_LIMITS } from './limits.js';
import { type DecodeResult, type Decoded, guard, type PairMark, stop, type TreeNode } from './types.js';

export type EngineIoVersion = 3 | 4;

/** Engine.IO packet types (engine.io-protocol "Packet encoding"). */
const ENGINE_TYPES = ['open', 'close', 'ping', 'pong', 'message', 'upgrade', 'noop'] as const;

/** Socket.IO packet types; 4 is ERROR in protocol 4 and CONNECT_ERROR in protocol 5. */
const SOCKET_TYPES = ['CONNECT', 'DISCONNECT', 'EVENT', 'ACK', 'CONNECT_ERROR', 'BINARY_EVENT', 'BINARY_ACK'] as const;
type SocketType = (typeof SOCKET_TYPES)[number];

export interface SocketIoPacket {
  readonly type: SocketType;
  readonly nsp: string;
  readonly id: number | null;
  readonly attachments: number;
  readonly data: JsonValue | undefined;
}

/** Reads `<type>[<attachments>-][/nsp,][id][json]` (socket.io-protocol "Packet encoding"). */
export function parseSocketIoPacket(s: string, limits: DecodeLimits = DEFAULT_LIMITS): SocketIoPacket {
  const code = s.charCodeAt(0) - 0x30;
  if (!(code >= 0 && code <= 6)) stop(`socket.io packet type '${s[0] ?? ''}' is not 0-6`);
  const type = SOCKET_TYPES[code]!;
  let i = 1;
  let attachments = 0;
  if (type === 'BINARY_EVENT' || type === 'BINARY_ACK') {
    const dash = s.indexOf('-', i);
    const digits = dash < 0 ? '' : s.slice(i, dash);
    if (!/^\d{1,9}$/.test(digits)) stop('binary packet without an attachment count');
    attachments = Number(digits);
    if (attachments > limits.maxAttachments) stop(`packet claims ${attachments} attachments (limit ${limits.maxAttachments})`);
    i = dash + 1;
  }
  let nsp = '/';
  if (s[i] === '/') {
    const comma = s.indexOf(',', i);
    const end = comma < 0 ? s.length : comma;
    nsp = s.slice(i, end);
    i = comma < 0 ? end : end + 1;
  }
  let digits = '';
  while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) digits += s[i++];
  if (digits.length > 15) stop(`ack id ${digits.slice(0, 20)}… is too long`);
  const id = digits === '' ? null : Number(digits);
  const rest = s.slice(i);
  const data = rest === '' ? undefined : parseJsonBounded(rest, limits);
  if ((type === 'EVENT' || type === 'BINARY_EVENT') && !(Array.isArray(data) && data.length > 0)) stop('event without an [name, …args] array');
  if ((type === 'ACK' || type === 'BINARY_ACK') && (!Array.isArray(data) || id === null)) stop('ack without an id and an args array');
  return { type, nsp, id, attachments, data };
}

interface Pending {
  readonly packet: SocketIoPacket;
  readonly received: Uint8Array[];
}

export class SocketIoDecoder {
  readonly #pending: Record<Side, Pending | null> = { client: null, server: null };
  constructor(
    readonly eio: EngineIoVersion,
    readonly limits: DecodeLimits = DEFAULT_LIMITS,
  ) {}

  /** A message of this direction was lost: attachments due are forgotten. */
  lose(from: Side): void {
    this.#pending[from] = null;
  }

  push(from: Side, opcode: 1 | 2, bytes: Uint8Array): DecodeResult {
    return guard('socketio', () => (opcode === 2 ? this.#binary(from, bytes) : this.#text(from, Buffer.from(bytes).toString('utf8'))));
  }

  #text(from: Side, s: string): DecodeResult {
    if (this.#pending[from] !== null) {
      const p = this.#pending[from]!;
      this.#pending[from] = null;
      stop(`text packet while ${p.packet.attachments - p.received.length} attachments were still due`);
    }
    const code = s.charCodeAt(0) - 0x30;
    if (!(code >= 0 && code <= 6)) stop(`engine.io packet type '${s[0] ?? ''}' is not 0-6`);
    const etype = ENGINE_TYPES[code]!;
    const body = s.slice(1);
    if (etype !== 'message') return this.#engine(etype, body);
    const packet = parseSocketIoPacket(body, this.limits);
    if (packet.attachments > 0) {
      this.#pending[from] = { packet, received: [] };
      const d = this.#decoded(packet, []);
      return { ...d, summary: `${d.summary} (awaiting ${packet.attachments} attachment${packet.attachments === 1 ? '' : 's'})` };
    }
    return this.#decoded(packet, []);
  }

  #binary(from: Side, raw: Uint8Array): DecodeResult {
    // Engine.IO 3 prefixes binary messages with the packet type byte (4 = message); Engine.IO 4 does not.
    let bytes = raw;
    if (this.eio === 3) {
      if (raw.length === 0 || raw[0] !== 4) stop(`engine.io 3 binary packet type ${raw[0] ?? 'missing'} is not 4 (message)`);
      bytes = raw.subarray(1);
    }
    const p = this.#pending[from];
    if (p === null) {
      return { ok: true, view: 'socketio', summary: `engine.io binary ${bytes.length} B`, tree: { label: 'engine.io binary', value: hexOf(bytes) }, fields: { type: 'binary' } };
    }
    p.received.push(bytes);
    const held = p.received.reduce((n, b) => n + b.length, 0);
    if (held > this.limits.maxBytes) {
      this.#pending[from] = null;
      stop(`attachments of ${held} bytes (limit ${this.limits.maxBytes})`);
    }
    const name = eventName(p.packet) ?? `ack ${p.packet.id}`;
    if (p.received.length < p.packet.attachments) {
      return {
        ok: true,
        view: 'socketio',
        summary: `socket.io attachment ${p.received.length}/${p.packet.attachments} of ${name}`,
        tree: { label: `attachment ${p.received.length - 1}`, value: hexOf(bytes) },
        fields: { type: 'attachment' },
      };
    }
    this.#pending[from] = null;
    const d = this.#decoded(p.packet, p.received);
    // The pairing mark belongs to the header message (when the request was sent), not to this one.
    const { pair: _pair, ...rest } = d;
    return { ...rest, summary: `${d.summary} +${p.received.length} binary` };
  }

  #engine(etype: (typeof ENGINE_TYPES)[number], body: string): DecodeResult {
    const tree: TreeNode[] = [];
    let summary = `engine.io ${etype}${body && etype !== 'open' ? ` ${JSON.stringify(body.slice(0, 20))}` : ''}`;
    if (etype === 'open') {
      const hs = parseJsonBounded(body, this.limits);
      tree.push(jsonToTree(hs, 'handshake'));
      const sid = hs !== null && typeof hs === 'object' && !Array.isArray(hs) ? (hs as Record<string, JsonValue>).sid : undefined;
      if (typeof sid === 'string') summary += ` sid ${sid}`;
    } else if (body) tree.push({ label: 'data', value: JSON.stringify(body) });
    return { ok: true, view: 'socketio', summary, tree: { label: `engine.io ${etype}`, children: tree }, fields: { type: etype } };
  }

  #decoded(packet: SocketIoPacket, attachments: readonly Uint8Array[]): Decoded {
    const v5 = this.eio === 4;
    const name = eventName(packet);
    const nsp = packet.nsp === '/' ? '' : ` ${packet.nsp}`;
    let summary: string;
    const fields: Record<string, string> = { type: packet.type.toLowerCase(), namespace: packet.nsp };
    let pair: PairMark | undefined;
    switch (packet.type) {
      case 'EVENT':
      case 'BINARY_EVENT':
        summary = `socket.io ${name ?? '?'}${nsp}${packet.id !== null ? ` ack ${packet.id}` : ''}`;
        if (name !== null) fields.event = name;
        if (packet.id !== null) pair = { role: 'request', key: `ack:${packet.nsp}:${packet.id}` };
        break;
      case 'ACK':
      case 'BINARY_ACK':
        summary = `socket.io ack ${packet.id}${nsp}`;
        pair = { role: 'reply', key: `ack:${packet.nsp}:${packet.id}` };
        break;
      case 'CONNECT_ERROR':
        summary = `socket.io ${v5 ? 'connect_error' : 'error'} ${packet.nsp}`;
        if (v5) pair = { role: 'reply', key: `connect:${packet.nsp}` };
        break;
      case 'CONNECT':
        summary = `socket.io connect ${packet.nsp}`;
        // Protocol 5: the client asks with CONNECT, the server answers with CONNECT {sid} or CONNECT_ERROR.
        if (v5) pair = { role: packet.data !== null && typeof packet.data === 'object' && 'sid' in packet.data ? 'reply' : 'request', key: `connect:${packet.nsp}` };
        break;
      default:
        summary = `socket.io disconnect ${packet.nsp}`;
    }
    if (packet.id !== null) fields.ack = String(packet.id);
    const children: TreeNode[] = [
      { label: 'type', value: packet.type },
      { label: 'namespace', value: packet.nsp },
    ];
    if (packet.id !== null) children.push({ label: 'ack id', value: String(packet.id) });
    if (packet.attachments > 0) children.push({ label: 'attachments', value: `${attachments.length}/${packet.attachments}` });
    if (packet.data !== undefined) {
      const args = Array.isArray(packet.data) && (packet.type === 'EVENT' || packet.type === 'BINARY_EVENT') ? (packet.data as readonly JsonValue[]).slice(1) : packet.data;
      if (name !== null) children.push({ label: 'event', value: JSON.stringify(name) });
      children.push(withAttachments(jsonToTree(args, Array.isArray(args) && name !== null ? 'args' : 'data'), attachments));
    }
    const out: Decoded = {
      ok: true,
      view: 'socketio',
      summary,
      tree: { label: `socket.io ${packet.type}`, value: `protocol ${v5 ? 5 : 4}`, children },
      fields,
      ...(packet.data !== undefined ? { json: packet.data } : {}),
    };
    return pair ? { ...out, pair } : out;
  }
}

function eventName(p: SocketIoPacket): string | null {
  if ((p.type === 'EVENT' || p.type === 'BINARY_EVENT') && Array.isArray(p.data)) {
    const first = (p.data as readonly JsonValue[])[0];
    return typeof first === 'string' ? first : first === undefined ? null : String(first);
  }
  return null;
}

/** Replaces the tree of each `{"_placeholder":true,"num":i}` with attachment i's bytes. */
function withAttachments(node: TreeNode, attachments: readonly Uint8Array[]): TreeNode {
  if (!node.children) return node;
  const kids = node.children;
  const isPlaceholder = kids.length === 2 && kids.some((k) => k.label === '_placeholder' && k.value === 'true');
  if (isPlaceholder) {
    const num = Number(kids.find((k) => k.label === 'num')?.value);
    const b = attachments[num];
    return { label: node.label, value: b ? `binary(${b.length}) ${hexOf(b)}` : `binary #${num} (not received)` };
  }
  return { ...node, children: kids.map((k) => withAttachments(k, attachments)) };
}

/** `EIO=` of an upgrade URL (path and query, or absolute); null when absent or not 3/4. */
export function engineIoVersion(target: string): EngineIoVersion | null {
  const q = target.indexOf('?');
  if (q < 0) return null;
  const eio = new URLSearchParams(target.slice(q + 1)).get('EIO');
  return eio === '3' ? 3 : eio === '4' ? 4 : null;
}
