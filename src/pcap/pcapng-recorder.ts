/**
 * Turns the bus's events into pcapng blocks (capture-format.md "pcapng captures"), sans-io: each
 * proxied connection's two legs as synthesized TCP/IPv4 (one interface per leg), `chunk` events
 * as segments, violations and intercepts as packet comments, and what packets cannot carry as
 * frametap local-use records. The writer (pcapng-writer.ts) moves the arena's bytes to the file.
 */
import type { CaptureHeader, ChunkEvent, EndEvent, Leg, SessionEvent, Side, TcpEnd } from '../session/events.js';
import { Redactor } from '../session/redact.js';
import { encodeEventLine } from '../capture/line-encoder.js';
import { BlockArena } from './block-arena.js';
import { addPacketComment, encodeFrametapRecord, encodeInterface, encodePacket, encodeSectionHeader, lastPacketPayloadSum, type PacketPlace } from './pcapng-encode.js';
import { LEG_INTERFACE } from './pcapng-format.js';
import { TcpLegSynth, type SegmentSink } from './tcp-synth.js';
import { legAddresses, legEndpoints, type FtapRecord } from './ftap-records.js';
import { headEnd, MAX_HEAD_BYTES, redactHead } from './http-head.js';

const IFACE: Readonly<Record<Leg, number>> = { client: 0, upstream: 1 };

/** The event types the recorder needs from the bus (`chunk` must be named to be delivered). */
export const RECORDED_TYPES = ['chunk', 'open', 'handshake', 'violation', 'intercept', 'error', 'http', 'tunnel', 'end'] as const;

interface HeadState {
  /** Bytes held until the head is complete (only while redacting). */
  held: Buffer[];
  heldBytes: number;
  done: boolean;
}

interface ConnState {
  readonly legs: Record<Leg, TcpLegSynth>;
  /** Last packet of each (leg, sender) (index `slot(leg, from)`), while it is still in the arena. */
  readonly last: (PacketPlace | null)[];
  /** The first head on each (leg, sender) while `--redact` is on. */
  readonly heads: Map<string, HeadState>;
  /** The handshake event was recorded: later chunks are WebSocket traffic. */
  handshaken: boolean;
}

export interface RecorderOptions {
  readonly header: CaptureHeader;
  /** `--redact` names: their values are replaced in the recorded handshake heads too. */
  readonly redact?: readonly string[];
  /** `--max-payload` of the run, recorded so that reading the file back keeps as much. */
  readonly maxPayload: number;
}

export class PcapngRecorder {
  readonly arena = new BlockArena();
  readonly #conns = new Map<number, ConnState>();
  readonly #redactor: Redactor;
  /** The packets' time while a chunk is being written. */
  #t = 0;
  #iface = 0;
  #conn: ConnState | null = null;
  #slot = 0;
  /** The last segment payload summed (a view of the chunk event's bytes, held until the next one). */
  #summed: Uint8Array | null = null;
  #summedStart = 0;
  #summedEnd = 0;
  #summedValue = 0;
  #places: PacketPlace[] = [];
  #placesGeneration = -1;

  constructor(options: RecorderOptions) {
    this.#redactor = new Redactor(options.redact ?? []);
    encodeSectionHeader(this.arena, `frametap ${options.header.tool.version}`);
    encodeInterface(this.arena, LEG_INTERFACE.client);
    encodeInterface(this.arena, LEG_INTERFACE.upstream);
    this.#record(options.header);
    this.#record({ type: 'settings', maxPayload: options.maxPayload, redact: options.redact ?? [] });
  }

  /** Whether `event` is WebSocket traffic (a chunk after its connection's handshake), what `--max-capture` leaves out. */
  isTraffic(event: SessionEvent): boolean {
    return event.type === 'chunk' && this.#conns.get(event.conn)?.handshaken === true;
  }

  /** Connections whose `end` has not been seen. */
  get openConnections(): number {
    return this.#conns.size;
  }

  record(event: SessionEvent): void {
    if (event.type !== 'chunk') this.#summed = null;
    switch (event.type) {
      case 'chunk':
        return this.#chunk(event);
      case 'open':
        this.#record({ type: 'open', conn: event.conn, t: event.t, client: event.client, target: event.target, legs: legAddresses(event.conn) });
        this.#state(event.conn);
        return;
      case 'handshake':
        this.#record({ type: 'handshake', conn: event.conn, t: event.t, answered: event.response !== null, forwarded: event.forwarded !== undefined });
        this.#state(event.conn).handshaken = true;
        return;
      case 'violation':
        // The sender's frames travel on its own leg: the client's on the client leg, the server's upstream.
        this.#comment(event.conn, event.from === 'client' ? 'client' : 'upstream', event.from, `frametap: violation ${event.rule} (${event.code}): ${event.detail}`);
        return;
      case 'intercept': {
        this.#record({ type: 'event', event });
        const leg: Leg = event.from === 'client' ? 'upstream' : 'client';
        this.#comment(event.conn, leg, event.from, `frametap: intercept ${event.action} by ${event.by}${event.name ? ` (${event.name})` : ''}${event.detail ? `: ${event.detail}` : ''}`);
        return;
      }
      case 'end':
        return this.#end(event);
      case 'error':
      case 'http':
      case 'tunnel':
        this.#record({ type: 'event', event });
        return;
      default:
        // frame, message, close: rebuilt from the packets when read.
        return;
    }
  }

  #state(conn: number): ConnState {
    let state = this.#conns.get(conn);
    if (state) return state;
    const e = legEndpoints(conn);
    const isn = (conn * 0x9e3779b1) >>> 0;
    state = {
      legs: {
        client: new TcpLegSynth(e.client.client, e.client.server, { client: isn, server: ~isn >>> 0 }),
        upstream: new TcpLegSynth(e.upstream.client, e.upstream.server, { client: isn ^ 0x5a5a5a5a, server: ~(isn ^ 0x5a5a5a5a) >>> 0 }),
      },
      last: [null, null, null, null],
      heads: new Map(),
      handshaken: false,
    };
    this.#conns.set(conn, state);
    return state;
  }

  readonly #emit: SegmentSink = (_from, header, payload, start, end, partialSum) => {
    // The relay writes the bytes it read: the other leg's segments carry the same payloads, whose
    // sums need not be computed twice.
    const known = end > start && payload === this.#summed && start === this.#summedStart && end === this.#summedEnd ? this.#summedValue : null;
    const offset = encodePacket(this.arena, this.#iface, this.#t, header, payload, start, end, partialSum, known);
    if (end > start) {
      this.#summed = payload;
      this.#summedStart = start;
      this.#summedEnd = end;
      this.#summedValue = lastPacketPayloadSum();
    }
    const conn = this.#conn;
    if (conn !== null) {
      const place = conn.last[this.#slot];
      if (place && place.generation === this.arena.generation) {
        place.offset = offset;
        place.hasOptions = false;
      } else {
        const fresh = { generation: this.arena.generation, offset, hasOptions: false };
        conn.last[this.#slot] = fresh;
        this.#batchPlaces().push(fresh);
      }
    }
  };

  #chunk(event: ChunkEvent): void {
    // Sums are reused only between the two chunk events of one relayed read (published back to back).
    if (event.bytes !== this.#summed) this.#summed = null;
    const state = this.#state(event.conn);
    let bytes: Buffer | null = event.bytes;
    if (this.#redactor.active) bytes = this.#redactedHead(state, event);
    if (bytes === null || bytes.length === 0) return;
    this.#segments(state, event.leg, event.from, event.t, (emit) => state.legs[event.leg].data(event.from, bytes, emit));
  }

  #segments(state: ConnState, leg: Leg, from: Side, t: number, write: (emit: SegmentSink) => void): void {
    this.#t = t;
    this.#iface = IFACE[leg];
    this.#conn = state;
    this.#slot = slot(leg, from);
    write(this.#emit);
    this.#conn = null;
  }

  /** Holds a leg's first head until it is complete, then gives it with redacted values (cli.md `--redact`). */
  #redactedHead(state: ConnState, event: ChunkEvent): Buffer | null {
    const key = `${event.leg}:${event.from}`;
    let head = state.heads.get(key);
    if (!head) {
      head = { held: [], heldBytes: 0, done: false };
      state.heads.set(key, head);
    }
    if (head.done) return event.bytes;
    head.held.push(Buffer.from(event.bytes));
    head.heldBytes += event.bytes.length;
    const all = head.held.length === 1 ? head.held[0]! : Buffer.concat(head.held);
    const end = headEnd(all);
    if (end < 0 && head.heldBytes < MAX_HEAD_BYTES) return null;
    head.done = true;
    head.held = [];
    if (end < 0) return all;
    const redacted = redactHead(all.subarray(0, end), this.#redactor, event.from === 'client');
    return end === all.length ? redacted : Buffer.concat([redacted, all.subarray(end)]);
  }

  #comment(conn: number, leg: Leg, from: Side, text: string): void {
    const state = this.#conns.get(conn);
    const place = state?.last[slot(leg, from)];
    if (!state || !place || place.generation !== this.arena.generation) return;
    const at = place.offset;
    const added = addPacketComment(this.arena, place, text);
    // Later packets of this batch moved (only places of this batch can be after it).
    for (const p of this.#batchPlaces()) if (p !== place && p.offset > at) p.offset += added;
  }

  /** The places remembered in the arena's current batch (a new list once the writer took the last). */
  #batchPlaces(): PacketPlace[] {
    if (this.#placesGeneration !== this.arena.generation) {
      this.#placesGeneration = this.arena.generation;
      this.#places = [];
    }
    return this.#places;
  }

  #end(event: EndEvent): void {
    const tcp = event.tcp ?? (event.shutdown ? { client: 'cut', server: 'cut' } as const : { client: 'fin', server: 'fin' } as const);
    this.#record({ type: 'end', conn: event.conn, t: event.t, ...(event.shutdown ? { shutdown: true as const } : {}), ...(event.tcp ? { tcp: event.tcp } : {}) });
    const state = this.#conns.get(event.conn);
    if (!state) return;
    this.#conns.delete(event.conn);
    for (const leg of ['client', 'upstream'] as const) {
      const synth = state.legs[leg];
      if (!synth.opened) continue;
      const peer: Side = leg === 'client' ? 'client' : 'server';
      const peerEnd = tcp[peer];
      const otherEnd = tcp[peer === 'client' ? 'server' : 'client'];
      this.#segments(state, leg, peer, event.t, (emit) => closeLeg(synth, peer, peerEnd, otherEnd, emit));
    }
  }

  #record(record: FtapRecord | { readonly type: 'event'; readonly event: SessionEvent }): void {
    const json = record.type === 'event' ? encodeRecordEvent(record.event as SessionEvent) : Buffer.from(JSON.stringify(record), 'utf8');
    encodeFrametapRecord(this.arena, json);
  }
}

function slot(leg: Leg, from: Side): number {
  return (leg === 'client' ? 0 : 2) + (from === 'client' ? 0 : 1);
}

function encodeRecordEvent(event: SessionEvent): Buffer {
  const line = encodeEventLine(event) ?? Buffer.from('null\n');
  const inner = line.subarray(0, line.length - 1);
  return Buffer.concat([Buffer.from('{"type":"event","event":'), inner, Buffer.from('}')]);
}

/**
 * A leg's end as `end.tcp` tells it: the peer's FIN or RST, then frametap's own side of the leg,
 * which passes the other peer's end on (a reset as a reset) or cut it first.
 */
function closeLeg(synth: TcpLegSynth, peer: Side, peerEnd: TcpEnd | null, otherEnd: TcpEnd | null, emit: SegmentSink): void {
  const ours: Side = peer === 'client' ? 'server' : 'client';
  if (peerEnd === 'reset') {
    synth.end(peer, 'reset', emit);
    return;
  }
  if (peerEnd === 'fin' || peerEnd === null) synth.end(peer, 'fin', emit);
  synth.end(ours, otherEnd === 'reset' ? 'reset' : 'fin', emit);
}
