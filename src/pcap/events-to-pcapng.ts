/**
 * `export --pcapng`: any capture's events (JSON Lines, HAR, a packet capture) written as
 * frametap's pcapng. The bytes of each leg are rebuilt from the events: the handshake heads from
 * the raw header lists, each frame from its header fields, `maskKey` and payload. That is byte for
 * byte what crossed the wire when the capture kept every mask key and every payload whole; what
 * could not be rebuilt exactly is counted and said once (`notes`).
 */
import type { FrameEvent, HandshakeEvent, MessageEvent, SessionEvent, Side, ViolationEvent } from '../session/events.js';
import { frameBytes, messageData } from '../session/event-data.js';
import { encodeFrame } from '../protocol/frame-encoder.js';
import { requestHead, responseHead } from './http-head.js';

interface ConnState {
  /** Frames that leave their payload to the message that follows, per sender. */
  readonly waiting: Record<Side, FrameEvent[]>;
  /** Violations reported just before their frame: written as comments once it is. */
  readonly violations: Record<Side, ViolationEvent[]>;
  /** Whether the capture has frame events for the connection (a HAR has messages only). */
  hasFrames: boolean;
}

export interface ExportNotes {
  /** Masked frames without `maskKey`: masked with 00000000 (the payload bytes on the wire differ). */
  maskKeysMissing: number;
  /** Frames whose payload was cut (`--max-payload`, or a frame cut by the connection): missing bytes written as zeros. */
  payloadsCut: number;
  /** Messages without frames (HAR): each written as one frame. */
  framesFromMessages: number;
}

const ZERO_KEY = Buffer.alloc(4);

export class EventsToPcapng {
  readonly notes: ExportNotes = { maskKeysMissing: 0, payloadsCut: 0, framesFromMessages: 0 };
  readonly #recorder: { record(event: SessionEvent): void };
  readonly #conns = new Map<number, ConnState>();
  readonly #framesSeen = new Set<number>();

  /**
   * `recorder`: a PcapngRecorder, or a PcapngWriter's `write` wrapped as `{ record }`. `events`,
   * when the whole capture is at hand, says up front which connections have frames; without it
   * (streamed) a connection has frames once one comes, which is before its first message in every
   * capture that has them (a message follows its frames), so a message with none before it is a
   * HAR's.
   */
  constructor(recorder: { record(event: SessionEvent): void }, events: readonly SessionEvent[] = []) {
    this.#recorder = recorder;
    for (const e of events) if (e.type === 'frame') this.#framesSeen.add(e.conn);
  }

  event(event: SessionEvent): void {
    switch (event.type) {
      case 'open':
        this.#conns.set(event.conn, { waiting: { client: [], server: [] }, violations: { client: [], server: [] }, hasFrames: this.#framesSeen.has(event.conn) });
        this.#recorder.record(event);
        return;
      case 'handshake':
        return this.#handshake(event);
      case 'frame':
        return this.#frame(event);
      case 'message':
        return this.#message(event);
      case 'violation': {
        const state = this.#conns.get(event.conn);
        if (state && event.offset !== undefined) state.violations[event.from].push(event);
        else this.#recorder.record(event);
        return;
      }
      case 'end': {
        const state = this.#conns.get(event.conn);
        if (state) for (const side of ['client', 'server'] as const) this.#flushWaiting(state, side, null);
        this.#conns.delete(event.conn);
        this.#recorder.record(event);
        return;
      }
      case 'close':
      case 'chunk':
        return;
      default:
        this.#recorder.record(event);
    }
  }

  #chunk(conn: number, t: number, from: Side, bytes: Buffer): void {
    // A sender's bytes cross its own leg first, then frametap relays them on the other.
    const first = from === 'client' ? 'client' : 'upstream';
    const second = from === 'client' ? 'upstream' : 'client';
    this.#recorder.record({ type: 'chunk', conn, t, leg: first, from, bytes });
    this.#recorder.record({ type: 'chunk', conn, t, leg: second, from, bytes });
  }

  #handshake(event: HandshakeEvent): void {
    const conn = event.conn;
    const request = requestHead(event.request, event.request.target, event.request.headers);
    const forwarded = requestHead(event.request, event.request.target, event.forwarded ? event.forwarded.headers : event.request.headers);
    this.#recorder.record({ type: 'chunk', conn, t: event.t, leg: 'client', from: 'client', bytes: request });
    this.#recorder.record({ type: 'chunk', conn, t: event.t, leg: 'upstream', from: 'client', bytes: forwarded });
    this.#recorder.record(event);
    if (event.response !== null) {
      const response = responseHead(event.response);
      this.#recorder.record({ type: 'chunk', conn, t: event.t, leg: 'upstream', from: 'server', bytes: response });
      this.#recorder.record({ type: 'chunk', conn, t: event.t, leg: 'client', from: 'server', bytes: response });
    }
  }

  #frame(event: FrameEvent): void {
    const state = this.#conns.get(event.conn);
    if (!state) return;
    state.hasFrames = true;
    if (event.payload === undefined && event.incomplete === undefined) {
      state.waiting[event.from].push(event);
      return;
    }
    this.#writeFrame(state, event, frameBytes(event) ?? Buffer.alloc(0));
  }

  #message(event: MessageEvent): void {
    const state = this.#conns.get(event.conn);
    if (!state) return;
    if (!state.hasFrames) {
      // A HAR: the message is all there is; one unfragmented, uncompressed frame.
      this.notes.framesFromMessages++;
      const data = messageData(event);
      const masked = event.from === 'client';
      if (event.truncated) this.notes.payloadsCut++;
      const payload = event.truncated ? padded(data, event.length) : data;
      this.#chunk(event.conn, event.t, event.from, encodeFrame({ opcode: event.opcode, payload, mask: masked ? ZERO_KEY : null }));
      return;
    }
    this.#flushWaiting(state, event.from, event);
  }

  #flushWaiting(state: ConnState, from: Side, message: MessageEvent | null): void {
    const waiting = state.waiting[from].splice(0);
    for (const frame of waiting) this.#writeFrame(state, frame, message ? messageData(message) : Buffer.alloc(0));
  }

  #writeFrame(state: ConnState, frame: FrameEvent, kept: Buffer): void {
    let payload = kept;
    const received = frame.incomplete ? (frame.received ?? kept.length) : frame.length;
    if (kept.length < received) {
      this.notes.payloadsCut++;
      payload = padded(kept, received);
    }
    let mask: Buffer | null = null;
    if (frame.masked) {
      if (frame.maskKey !== undefined && /^[0-9a-f]{8}$/i.test(frame.maskKey)) mask = Buffer.from(frame.maskKey, 'hex');
      else {
        this.notes.maskKeysMissing++;
        mask = ZERO_KEY;
      }
    }
    // An incomplete frame declares its full length; only the bytes that arrived are written.
    const bytes = encodeFrame({ fin: frame.fin, rsv1: frame.rsv1, rsv2: frame.rsv2, rsv3: frame.rsv3, opcode: frame.opcode, payload, mask, declaredLength: frame.length });
    this.#chunk(frame.conn, frame.t, frame.from, bytes);
    const violations = state.violations[frame.from].splice(0);
    for (const v of violations) this.#recorder.record(v);
  }
}

function padded(kept: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  kept.copy(out, 0, 0, Math.min(kept.length, length));
  return out;
}

/** The notes as the one stderr line `export` prints, or null when the export is byte-exact. */
export function describeNotes(notes: ExportNotes): string | null {
  const parts: string[] = [];
  if (notes.maskKeysMissing > 0) parts.push(`${notes.maskKeysMissing} masked frame${notes.maskKeysMissing === 1 ? '' : 's'} had no maskKey (masked with 00000000 instead)`);
  if (notes.payloadsCut > 0) parts.push(`${notes.payloadsCut} payload${notes.payloadsCut === 1 ? ' was' : 's were'} cut in the capture (missing bytes written as zeros)`);
  if (notes.framesFromMessages > 0) parts.push(`${notes.framesFromMessages} message${notes.framesFromMessages === 1 ? '' : 's'} had no frames (each written as one frame)`);
  return parts.length === 0 ? null : `not byte-exact: ${parts.join('; ')}`;
}
