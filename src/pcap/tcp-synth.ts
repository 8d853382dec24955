/**
 * Synthesized TCP over IPv4 for one leg of a proxied connection (capture-format.md "pcapng
 * captures"): the three-way handshake, each chunk of bytes as segments with consistent sequence
 * and acknowledgement numbers, and the end as it happened (FIN or RST). Sans-io: segments go to a
 * callback as a reusable 40-byte header plus a view of the payload, to be copied at once.
 */
import type { Side } from '../session/events.js';
import { checksumOf, fold, sum16 } from './checksum.js';

export interface Endpoint {
  /** IPv4 address as an unsigned 32-bit number. */
  readonly ip: number;
  readonly port: number;
}

/**
 * One segment: `header` (IPv4 + TCP, valid only during the call) followed by `payload[start, end)`.
 * The TCP checksum field is left to the sink: `partialSum` is the folded sum of the pseudo-header
 * and the TCP header; the sink adds the payload's sum (`sum16Fast` on its own aligned copy is the
 * cheap place to do it) and writes `checksumOf(total)` at offset TCP_CHECKSUM_OFFSET of the header.
 */
export type SegmentSink = (from: Side, header: Buffer, payload: Uint8Array, start: number, end: number, partialSum: number) => void;

/** Where the TCP checksum sits in a synthesized header. */
export const TCP_CHECKSUM_OFFSET = 20 + 16;

const IPV4_HEADER = 20;
const TCP_HEADER = 20;
/** SYN and SYN-ACK carry an MSS option (RFC 9293 §3.7.1) and a window-scale option (RFC 7323 §2.2) after a NOP: 8 bytes. */
const SYN_OPTIONS = 8;
/** RFC 791: Total Length is 16 bits, so a datagram with both headers carries at most this. */
export const MAX_SEGMENT_PAYLOAD = 0xffff - IPV4_HEADER - TCP_HEADER;
/** RFC 7323 §2.3: the largest shift, a window of about 1 GiB. */
const WINDOW_SHIFT = 14;
/**
 * Nothing but data segments acknowledge a direction, so a direction that only sends would exceed
 * the receiver's window; a pure ACK from the receiver after this many unacknowledged bytes keeps
 * Wireshark's window analysis quiet.
 */
const ACK_EVERY = 256 * 1024 * 1024;

const Flag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

interface Direction {
  readonly ep: Endpoint;
  /** Next sequence number this side sends. */
  seq: number;
  ipId: number;
  /** Bytes this side sent that the other side has not acknowledged yet. */
  unacked: number;
  finished: boolean;
}

export class TcpLegSynth {
  readonly #client: Direction;
  readonly #server: Direction;
  readonly #scratch = Buffer.alloc(IPV4_HEADER + TCP_HEADER + SYN_OPTIONS);
  /** The scratch without SYN options: one view for every data segment, not one per segment. */
  readonly #plain = this.#scratch.subarray(0, IPV4_HEADER + TCP_HEADER);
  #opened = false;
  #reset = false;

  constructor(client: Endpoint, server: Endpoint, isn: { readonly client: number; readonly server: number }) {
    this.#client = { ep: client, seq: isn.client >>> 0, ipId: 1, unacked: 0, finished: false };
    this.#server = { ep: server, seq: isn.server >>> 0, ipId: 1, unacked: 0, finished: false };
  }

  get opened(): boolean {
    return this.#opened;
  }

  /** SYN, SYN-ACK, ACK (RFC 9293 §3.5). */
  open(emit: SegmentSink): void {
    if (this.#opened) return;
    this.#opened = true;
    const c = this.#client;
    const s = this.#server;
    this.#segment(emit, 'client', Flag.SYN, c.seq, 0, EMPTY, 0, 0, true);
    c.seq = (c.seq + 1) >>> 0;
    this.#segment(emit, 'server', Flag.SYN | Flag.ACK, s.seq, c.seq, EMPTY, 0, 0, true);
    s.seq = (s.seq + 1) >>> 0;
    this.#segment(emit, 'client', Flag.ACK, c.seq, s.seq, EMPTY, 0, 0, false);
  }

  /** Bytes `from` sent, as segments of at most MAX_SEGMENT_PAYLOAD, the last one with PSH. */
  data(from: Side, bytes: Uint8Array, emit: SegmentSink): void {
    if (bytes.length === 0 || this.#reset) return;
    this.open(emit);
    const me = from === 'client' ? this.#client : this.#server;
    const peer = from === 'client' ? this.#server : this.#client;
    if (me.finished) return;
    for (let start = 0; start < bytes.length; start += MAX_SEGMENT_PAYLOAD) {
      const end = Math.min(bytes.length, start + MAX_SEGMENT_PAYLOAD);
      const flags = Flag.ACK | (end === bytes.length ? Flag.PSH : 0);
      this.#segment(emit, from, flags, me.seq, peer.seq, bytes, start, end, false);
      me.seq = (me.seq + (end - start)) >>> 0;
      me.unacked += end - start;
    }
    // Every segment of the other side acknowledges everything this side sent before it.
    peer.unacked = 0;
    if (me.unacked >= ACK_EVERY && !peer.finished) {
      this.#segment(emit, peer === this.#client ? 'client' : 'server', Flag.ACK, peer.seq, me.seq, EMPTY, 0, 0, false);
      me.unacked = 0;
    }
  }

  /** `from` closed its side: a FIN (acknowledged by the other side) or a RST (the leg is over). */
  end(from: Side, how: 'fin' | 'reset', emit: SegmentSink): void {
    if (this.#reset || !this.#opened) return;
    const me = from === 'client' ? this.#client : this.#server;
    const peer = from === 'client' ? this.#server : this.#client;
    const other: Side = from === 'client' ? 'server' : 'client';
    if (how === 'reset') {
      this.#reset = true;
      this.#segment(emit, from, Flag.RST | Flag.ACK, me.seq, peer.seq, EMPTY, 0, 0, false);
      return;
    }
    if (me.finished) return;
    me.finished = true;
    this.#segment(emit, from, Flag.FIN | Flag.ACK, me.seq, peer.seq, EMPTY, 0, 0, false);
    me.seq = (me.seq + 1) >>> 0;
    this.#segment(emit, other, Flag.ACK, peer.seq, me.seq, EMPTY, 0, 0, false);
  }

  #segment(emit: SegmentSink, from: Side, flags: number, seq: number, ack: number, payload: Uint8Array, start: number, end: number, syn: boolean): void {
    const me = from === 'client' ? this.#client : this.#server;
    const peer = from === 'client' ? this.#server : this.#client;
    const tcpHeader = TCP_HEADER + (syn ? SYN_OPTIONS : 0);
    const h = syn ? this.#scratch : this.#plain;
    const payloadLength = end - start;
    const total = IPV4_HEADER + tcpHeader + payloadLength;
    // RFC 791 §3.1 header: version 4, IHL 5, no TOS, DF, TTL 64, protocol 6 (TCP).
    h[0] = 0x45;
    h[1] = 0;
    h.writeUInt16BE(total, 2);
    h.writeUInt16BE(me.ipId, 4);
    me.ipId = (me.ipId + 1) & 0xffff;
    h.writeUInt16BE(0x4000, 6);
    h[8] = 64;
    h[9] = 6;
    h.writeUInt16BE(0, 10);
    h.writeUInt32BE(me.ep.ip, 12);
    h.writeUInt32BE(peer.ep.ip, 16);
    h.writeUInt16BE(checksumOf(sum16(h, 0, IPV4_HEADER)), 10);
    // RFC 9293 §3.1 header.
    const t = IPV4_HEADER;
    h.writeUInt16BE(me.ep.port, t);
    h.writeUInt16BE(peer.ep.port, t + 2);
    h.writeUInt32BE(seq >>> 0, t + 4);
    h.writeUInt32BE(flags & Flag.ACK ? ack >>> 0 : 0, t + 8);
    h[t + 12] = (tcpHeader / 4) << 4;
    h[t + 13] = flags;
    // The window is not scaled on SYN segments (RFC 7323 §2.2); later ones mean 0xffff << 14.
    h.writeUInt16BE(0xffff, t + 14);
    h.writeUInt16BE(0, t + 16);
    h.writeUInt16BE(0, t + 18);
    if (syn) {
      h[t + 20] = 2; // MSS: the largest payload one segment here carries
      h[t + 21] = 4;
      h.writeUInt16BE(MAX_SEGMENT_PAYLOAD, t + 22);
      h[t + 24] = 1; // NOP
      h[t + 25] = 3; // window scale, RFC 7323 §2.2
      h[t + 26] = 3;
      h[t + 27] = WINDOW_SHIFT;
    }
    // RFC 9293 §3.1: the checksum covers a pseudo-header (addresses, protocol, TCP length).
    const tcpLength = tcpHeader + payloadLength;
    const pseudo = (me.ep.ip >>> 16) + (me.ep.ip & 0xffff) + (peer.ep.ip >>> 16) + (peer.ep.ip & 0xffff) + 6 + tcpLength;
    const partial = fold(pseudo + sum16(h, t, t + tcpHeader));
    h.writeUInt16BE(payloadLength > 0 ? 0 : checksumOf(partial), t + 16);
    emit(from, h, payload, start, end, partial);
  }
}

const EMPTY = new Uint8Array(0);

/** `a.b.c.d` for an address number. */
export function ipv4String(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
