/**
 * One direction of a TCP connection put back in order (RFC 9293 §3.4 sequence numbers, modulo
 * 2^32): retransmitted and overlapping bytes are delivered once, out-of-order segments wait for
 * the bytes before them (at most MAX_HELD_BYTES in MAX_HELD_SEGMENTS), and a hole that never
 * fills (a lost packet, a snap length that cut one, a buffer limit) is reported as a gap, after
 * which nothing more is delivered for the direction. Sans-io.
 */

export const MAX_HELD_BYTES = 16 * 1024 * 1024;
export const MAX_HELD_SEGMENTS = 4096;

export interface ReassemblyResult {
  /** In-order new bytes (copies where they were held; views otherwise). */
  readonly data: Buffer[];
  /** Set once, when the stream has a hole: what is missing and why. */
  readonly gap: string | null;
  /** The sender's FIN was reached in order (or it reset the connection). */
  readonly ended: boolean;
}

interface Held {
  /** Offset relative to `#next` at the time it is compared (recomputed from seq). */
  readonly seq: number;
  readonly bytes: Buffer;
}

const diff = (a: number, b: number): number => (a - b) | 0;

export class StreamReassembler {
  #next: number | null = null;
  #held: Held[] = [];
  #heldBytes = 0;
  #finSeq: number | null = null;
  #broken = false;
  #ended = false;
  /** Bytes delivered so far. */
  delivered = 0;

  get ended(): boolean {
    return this.#ended;
  }

  get broken(): boolean {
    return this.#broken;
  }

  /** A segment of this direction was seen. */
  get started(): boolean {
    return this.#next !== null;
  }

  /**
   * One segment of this direction. `declaredLength` above `payload.length` means the capture cut
   * the packet (its rest is a gap).
   */
  segment(seq: number, payload: Buffer, flags: { readonly syn: boolean; readonly fin: boolean; readonly rst: boolean }, declaredLength = payload.length): ReassemblyResult {
    const data: Buffer[] = [];
    if (this.#broken || this.#ended) return { data, gap: null, ended: false };
    if (flags.syn) {
      // The SYN takes one sequence number; data starts after it.
      if (this.#next === null) this.#next = (seq + 1) >>> 0;
      seq = (seq + 1) >>> 0;
    }
    if (this.#next === null) this.#next = seq >>> 0;
    if (flags.fin) this.#finSeq = (seq + declaredLength) >>> 0;
    let gap: string | null = null;
    if (payload.length > 0 || declaredLength > 0) {
      const rel = diff(seq, this.#next);
      if (declaredLength > payload.length) {
        // The rest of this packet is not in the file: deliver up to the cut, then the stream has a hole.
        if (rel <= 0) this.#take(data, seq, payload);
        else this.#hold(seq, payload);
        this.#drain(data);
        gap = `a packet was cut by the capture's snap length: ${declaredLength - payload.length} bytes of this direction are missing after byte ${this.delivered}`;
        return this.#break(data, gap);
      }
      if (rel <= 0) {
        this.#take(data, seq, payload);
        this.#drain(data);
      } else {
        this.#hold(seq, payload);
        if (this.#held.length > MAX_HELD_SEGMENTS || this.#heldBytes > MAX_HELD_BYTES) {
          const first = this.#held[0]!;
          gap = `${diff(first.seq, this.#next)} bytes of this direction are missing after byte ${this.delivered} (never captured; ${this.#held.length} later segments waited for them)`;
          return this.#break(data, gap);
        }
      }
    }
    if (flags.rst) {
      this.#ended = true;
      return { data, gap: null, ended: true };
    }
    if (this.#finSeq !== null && diff(this.#next, this.#finSeq) >= 0) {
      this.#ended = true;
      return { data, gap: null, ended: true };
    }
    return { data, gap, ended: false };
  }

  /** The capture is over: a hole still waiting is a gap (null when the stream is complete). */
  finish(): string | null {
    if (this.#broken || this.#ended) return null;
    if (this.#held.length > 0) {
      const first = this.#held[0]!;
      this.#broken = true;
      return `${diff(first.seq, this.#next ?? first.seq)} bytes of this direction are missing after byte ${this.delivered} (never captured)`;
    }
    return null;
  }

  #break(data: Buffer[], gap: string): ReassemblyResult {
    this.#broken = true;
    this.#held = [];
    this.#heldBytes = 0;
    return { data, gap, ended: false };
  }

  /** Delivers the part of a segment at or before `#next` that is new. */
  #take(data: Buffer[], seq: number, payload: Buffer): void {
    const skip = -diff(seq, this.#next!);
    if (skip >= payload.length) return;
    const fresh = skip > 0 ? payload.subarray(skip) : payload;
    data.push(fresh);
    this.delivered += fresh.length;
    this.#next = (this.#next! + fresh.length) >>> 0;
  }

  #hold(seq: number, payload: Buffer): void {
    if (payload.length === 0) return;
    const rel = diff(seq, this.#next!);
    let i = this.#held.length;
    while (i > 0 && diff(this.#held[i - 1]!.seq, this.#next!) > rel) i--;
    // The captured packet is a view into a read buffer: keep a copy.
    this.#held.splice(i, 0, { seq, bytes: Buffer.from(payload) });
    this.#heldBytes += payload.length;
  }

  #drain(data: Buffer[]): void {
    while (this.#held.length > 0) {
      const first = this.#held[0]!;
      if (diff(first.seq, this.#next!) > 0) return;
      this.#held.shift();
      this.#heldBytes -= first.bytes.length;
      this.#take(data, first.seq, first.bytes);
    }
  }
}
