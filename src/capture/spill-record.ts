/**
 * One record of the dashboard's spill file (src/capture/spill-file.ts), private to it:
 *
 *   record = u32 BE metaLength, u32 BE payloadLength, meta, payload (raw bytes)
 *
 * `meta` is the event without its payload (a frame's `payload`, a message's `data`). Frames and
 * messages, nearly every record, have a fixed binary meta (below), so encoding one is a few
 * integer writes: no JSON, no object spread, no base64. Other events (close, violation, error,
 * intercept: a few per connection) are UTF-8 JSON, whose first byte is `{`; the rare ones that
 * carry bytes elsewhere (an intercept's `message.data`) tag them in the JSON. A frame or message
 * the fixed layout cannot say exactly (a connection id past u32, a mask key that is not 8
 * characters) goes as JSON too, so every record reads back as the event that was written.
 *
 * Binary frame meta (FRAME_META bytes):
 *   0 u8 1 (frame)   1 u8 flags (F_*)   2 u8 more flags (F_HAS_MASK_KEY, F_INCOMPLETE)   3 u8 opcode
 *   4 u32 conn   8 f64 t   16 f64 length   24 8 bytes maskKey (latin1, zeros when absent)   32 f64 received
 * Binary message meta (MESSAGE_META bytes):
 *   0 u8 2 (message)   1 u8 flags (M_*)   2 u8 opcode   3 u8 0
 *   4 u32 conn   8 f64 t   16 f64 length   24 f64 frames
 */
import type { FrameEvent, MessageEvent, SessionEvent } from '../session/events.js';

export const HEAD = 8;
/** A meta longer than this is not one this writer wrote: the reader stops there. */
export const MAX_META = 16 * 1024 * 1024;

const KIND_FRAME = 1;
const KIND_MESSAGE = 2;
const FRAME_META = 40;
const MESSAGE_META = 32;

/** Frame meta flags (byte 1). */
const F_SERVER = 1;
const F_FIN = 2;
const F_RSV1 = 4;
const F_RSV2 = 8;
const F_RSV3 = 16;
const F_MASKED = 32;
const F_TRUNCATED = 64;
/** The event had a `payload` field (a whole-message frame has none: its message carries it). */
const F_HAS_PAYLOAD = 128;
/** Frame meta byte 2. */
const F_HAS_MASK_KEY = 1;
const F_INCOMPLETE = 2;
/** Message meta flags (byte 1). */
const M_SERVER = 1;
const M_COMPRESSED = 2;
const M_INVALID_UTF8 = 4;
const M_TRUNCATED = 8;

const EMPTY = Buffer.alloc(0);

/** Event fields that carry the record's payload bytes. */
export function payloadOf(event: SessionEvent): Buffer | undefined {
  if (event.type === 'frame') return event.payload;
  if (event.type === 'message') return event.data;
  return undefined;
}

/**
 * The meta of one record, measured before it is written: `size` bytes, either the fixed binary
 * layout of a frame or message (`json` null) or this JSON text.
 */
export interface SpillMeta {
  readonly size: number;
  readonly json: string | null;
}

const FRAME: SpillMeta = { size: FRAME_META, json: null };
const MESSAGE: SpillMeta = { size: MESSAGE_META, json: null };

function isU32(n: number): boolean {
  return n >>> 0 === n;
}

/** What `event`'s meta will be. Throws only for an event JSON cannot say (none, today). */
export function measureMeta(event: SessionEvent): SpillMeta {
  if (event.type === 'frame') {
    if (isU32(event.conn) && isU32(event.opcode) && event.opcode < 256 && (event.maskKey === undefined || event.maskKey.length === 8)) return FRAME;
  } else if (event.type === 'message') {
    if (isU32(event.conn)) return MESSAGE;
  }
  const json = jsonMeta(event);
  return { size: Buffer.byteLength(json, 'utf8'), json };
}

/**
 * Writes the record of `event` (its meta measured by `measureMeta`) into `out` at `at`: the head
 * and the meta, and the payload too when `inline`; returns where the payload starts (the caller
 * writes it when not inline) — the record ends `payload.length` bytes later.
 */
export function writeRecord(event: SessionEvent, meta: SpillMeta, out: Buffer, at: number, inline: boolean): number {
  const payload = payloadOf(event) ?? EMPTY;
  out.writeUInt32BE(meta.size, at);
  out.writeUInt32BE(payload.length, at + 4);
  const m = at + HEAD;
  if (meta.json !== null) out.write(meta.json, m, 'utf8');
  else if (event.type === 'frame') writeFrameMeta(event, out, m);
  else writeMessageMeta(event as MessageEvent, out, m);
  const p = m + meta.size;
  if (inline && payload.length > 0) payload.copy(out, p);
  return p;
}

function writeFrameMeta(e: FrameEvent, out: Buffer, at: number): void {
  out[at] = KIND_FRAME;
  out[at + 1] =
    (e.from === 'server' ? F_SERVER : 0) |
    (e.fin ? F_FIN : 0) |
    (e.rsv1 ? F_RSV1 : 0) |
    (e.rsv2 ? F_RSV2 : 0) |
    (e.rsv3 ? F_RSV3 : 0) |
    (e.masked ? F_MASKED : 0) |
    (e.truncated ? F_TRUNCATED : 0) |
    (e.payload !== undefined ? F_HAS_PAYLOAD : 0);
  out[at + 2] = (e.maskKey !== undefined ? F_HAS_MASK_KEY : 0) | (e.incomplete ? F_INCOMPLETE : 0);
  out[at + 3] = e.opcode;
  out.writeUInt32BE(e.conn, at + 4);
  out.writeDoubleBE(e.t, at + 8);
  out.writeDoubleBE(e.length, at + 16);
  if (e.maskKey !== undefined) out.write(e.maskKey, at + 24, 8, 'latin1');
  else out.fill(0, at + 24, at + 32);
  out.writeDoubleBE(e.received ?? 0, at + 32);
}

function writeMessageMeta(e: MessageEvent, out: Buffer, at: number): void {
  out[at] = KIND_MESSAGE;
  out[at + 1] =
    (e.from === 'server' ? M_SERVER : 0) |
    (e.compressed ? M_COMPRESSED : 0) |
    (e.invalidUtf8 ? M_INVALID_UTF8 : 0) |
    (e.truncated ? M_TRUNCATED : 0);
  out[at + 2] = e.opcode;
  out[at + 3] = 0;
  out.writeUInt32BE(e.conn, at + 4);
  out.writeDoubleBE(e.t, at + 8);
  out.writeDoubleBE(e.length, at + 16);
  out.writeDoubleBE(e.frames, at + 24);
}

/** The two pieces of one record: its head (lengths + meta) and its payload bytes (maybe empty). */
export function encodeSpillRecord(event: SessionEvent): { readonly head: Buffer; readonly payload: Buffer } {
  const meta = measureMeta(event);
  const head = Buffer.allocUnsafe(HEAD + meta.size);
  writeRecord(event, meta, head, 0, false);
  return { head, payload: payloadOf(event) ?? EMPTY };
}

/** JSON.stringify replacer: a Buffer anywhere else becomes `{ "$bytes": base64 }` (rare events only). */
function tagBytes(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return Buffer.isBuffer(raw) ? { $bytes: raw.toString('base64') } : value;
}

function untagBytes(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const b = (value as { $bytes?: unknown }).$bytes;
    if (typeof b === 'string' && Object.keys(value).length === 1) return Buffer.from(b, 'base64');
  }
  return value;
}

function jsonMeta(event: SessionEvent): string {
  if (event.type === 'frame' || event.type === 'message') {
    // `$p` says whether the payload field was there at all (a whole-message frame has none).
    const { payload: _p, data: _d, ...rest } = event as SessionEvent & { payload?: Buffer; data?: Buffer };
    return JSON.stringify(payloadOf(event) === undefined ? rest : { ...rest, $p: 1 });
  }
  return JSON.stringify(event, tagBytes);
}

/** One whole record (as `writeRecord` wrote it) back to its event; null when it is not one. */
export function decodeSpillRecord(record: Buffer): SessionEvent | null {
  if (record.length < HEAD) return null;
  const metaLength = record.readUInt32BE(0);
  const payloadLength = record.readUInt32BE(4);
  if (metaLength > MAX_META || HEAD + metaLength + payloadLength !== record.length || metaLength === 0) return null;
  const kind = record[HEAD]!;
  if (kind === KIND_FRAME) return metaLength === FRAME_META ? readFrame(record, HEAD, payloadLength) : null;
  if (kind === KIND_MESSAGE) return metaLength === MESSAGE_META ? readMessage(record, HEAD) : null;
  return readJson(record, metaLength);
}

/** Its own copy of the payload: the record buffer may be a chunk of many records. */
function payloadCopy(record: Buffer, from: number): Buffer {
  return Buffer.from(record.subarray(from));
}

function readFrame(r: Buffer, at: number, payloadLength: number): FrameEvent | null {
  const flags = r[at + 1]!;
  const more = r[at + 2]!;
  if (more & ~(F_HAS_MASK_KEY | F_INCOMPLETE)) return null;
  const hasPayload = (flags & F_HAS_PAYLOAD) !== 0;
  if (!hasPayload && payloadLength > 0) return null;
  const t = r.readDoubleBE(at + 8);
  const length = r.readDoubleBE(at + 16);
  const received = r.readDoubleBE(at + 32);
  if (!Number.isFinite(t) || !Number.isFinite(length) || !Number.isFinite(received)) return null;
  const incomplete = (more & F_INCOMPLETE) !== 0;
  // Fields in the order the session builds them (src/session/session.ts #onFrame).
  return {
    type: 'frame',
    conn: r.readUInt32BE(at + 4),
    t,
    from: flags & F_SERVER ? 'server' : 'client',
    fin: (flags & F_FIN) !== 0,
    rsv1: (flags & F_RSV1) !== 0,
    rsv2: (flags & F_RSV2) !== 0,
    rsv3: (flags & F_RSV3) !== 0,
    opcode: r[at + 3]!,
    masked: (flags & F_MASKED) !== 0,
    length,
    ...(more & F_HAS_MASK_KEY ? { maskKey: r.toString('latin1', at + 24, at + 32) } : {}),
    ...(hasPayload ? { payload: payloadCopy(r, at + FRAME_META) } : {}),
    truncated: (flags & F_TRUNCATED) !== 0,
    ...(incomplete ? { incomplete: true as const, received } : {}),
  };
}

function readMessage(r: Buffer, at: number): MessageEvent | null {
  const flags = r[at + 1]!;
  const opcode = r[at + 2]!;
  if (opcode !== 1 && opcode !== 2) return null;
  if (flags & ~(M_SERVER | M_COMPRESSED | M_INVALID_UTF8 | M_TRUNCATED)) return null;
  const t = r.readDoubleBE(at + 8);
  const length = r.readDoubleBE(at + 16);
  const frames = r.readDoubleBE(at + 24);
  if (!Number.isFinite(t) || !Number.isFinite(length) || !Number.isFinite(frames)) return null;
  return {
    type: 'message',
    conn: r.readUInt32BE(at + 4),
    t,
    from: flags & M_SERVER ? 'server' : 'client',
    opcode,
    compressed: (flags & M_COMPRESSED) !== 0,
    frames,
    length,
    data: payloadCopy(r, at + MESSAGE_META),
    ...(flags & M_INVALID_UTF8 ? { invalidUtf8: true as const } : {}),
    truncated: (flags & M_TRUNCATED) !== 0,
  };
}

function readJson(record: Buffer, metaLength: number): SessionEvent | null {
  let meta: unknown;
  try {
    meta = JSON.parse(record.toString('utf8', HEAD, HEAD + metaLength), untagBytes);
  } catch {
    return null;
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return null;
  const m = meta as Record<string, unknown>;
  if (typeof m.type !== 'string' || typeof m.t !== 'number') return null;
  const bytes = record.subarray(HEAD + metaLength);
  if (m.type === 'frame') {
    const hadPayload = m.$p === 1;
    delete m.$p;
    if (hadPayload) m.payload = Buffer.from(bytes);
    else if (bytes.length > 0) return null;
  } else if (m.type === 'message') {
    delete m.$p;
    m.data = Buffer.from(bytes);
  } else if (bytes.length > 0) {
    return null;
  }
  return m as unknown as SessionEvent;
}
