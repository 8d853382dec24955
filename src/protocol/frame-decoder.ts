/**
 * A sans-io RFC 6455 §5.2 frame parser. `push(chunk)` returns what the chunk completed: frame
 * headers (every field as on the wire), unmasked payload pieces, frame ends and framing violations.
 * It has no socket, timer or emitter. Payload is streamed as it arrives, never buffered whole: at
 * most `maxPayload` bytes per frame are unmasked for display (more only where the content must be
 * judged: text for UTF-8, compressed messages for inflate), and the true length is always counted.
 */
import { ByteQueue } from './byte-queue.js';
import { MAX_CONTROL_PAYLOAD, Opcode, OPCODE_NAMES, VIOLATION_CODES, type ViolationRule } from './constants.js';
import type { Sender } from './wire-events.js';

export interface FrameDecoderOptions {
  /** Who sends on this direction: RFC 6455 §5.1, client frames are masked and server frames are not. */
  readonly from: Sender;
  /** Payload bytes unmasked and handed out per frame for display. */
  readonly maxPayload: number;
  /** permessage-deflate was negotiated for this sender, so RSV1 may mark a compressed message (RFC 7692 §6). */
  readonly deflate: boolean;
}

/**
 * A complete frame header, and the frame's one record from here on: made once per frame by the
 * decoder, it travels on unchanged as `WireFrame.header` to the session and the gate (never copied
 * field by field). The decoder owns the message framing (RFC 6455 §5.4): `message`,
 * `startsMessage` and `compressed` say what the frame belongs to, so no later layer tracks it again.
 */
export interface FrameHeader {
  readonly kind: 'header';
  /** Offset in this direction's stream of the frame's first byte. */
  readonly offset: number;
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly rsv2: boolean;
  readonly rsv3: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** The masking key as a big-endian 32-bit number, null when unmasked. */
  readonly maskKey: number | null;
  /** Declared payload length. */
  readonly length: number;
  /** Bytes of header on the wire (2 to 14). */
  readonly headerLength: number;
  /** The frame broke a framing rule; its violations came just before this event. */
  readonly violated: boolean;
  /** For a data frame, the opcode of the message it belongs to; 0 for control frames, reserved opcodes and orphan continuations. */
  readonly message: 0 | 1 | 2;
  /** This data frame opens a message (opcode 1 or 2). */
  readonly startsMessage: boolean;
  /** This data frame belongs to a permessage-deflate compressed message. */
  readonly compressed: boolean;
}

/** The header of a frame that opens a data message (a text or binary frame, RFC 6455 §5.4). */
export type MessageHeader = FrameHeader & { readonly message: 1 | 2; readonly startsMessage: true };

/** Whether `header` opens a data message: the decoder sets `startsMessage` only with `message` 1 or 2. */
export function opensMessage(header: FrameHeader): header is MessageHeader {
  return header.startsMessage && header.message !== 0;
}

/**
 * Unmasked payload bytes of the current frame, in order from its first payload byte. The pieces
 * cover the first `maxPayload` bytes; beyond that they continue only for text and compressed
 * messages, whose content must be judged on every byte.
 */
export interface PayloadEvent {
  readonly kind: 'payload';
  readonly data: Buffer;
}

/** The current frame's last byte arrived. */
export interface FrameEndEvent {
  readonly kind: 'frame-end';
}

/** The sender broke a framing rule. */
export interface DecodeViolation {
  readonly kind: 'violation';
  readonly rule: ViolationRule;
  /** The close code a conforming peer would answer with. */
  readonly code: number;
  readonly detail: string;
  /** Offset of the offending frame's first byte. */
  readonly offset: number;
}

export type DecodeEvent = FrameHeader | PayloadEvent | FrameEndEvent | DecodeViolation;

/** A frame cut off by the end of the stream. */
export interface IncompleteFrame {
  readonly header: FrameHeader;
  /** Payload bytes that arrived. */
  readonly received: number;
}

const FRAME_END: FrameEndEvent = Object.freeze({ kind: 'frame-end' });
/** Frozen: a push to it outside `push()` would be our bug, and must throw rather than leak events. */
const NO_EVENTS = Object.freeze([]) as unknown as DecodeEvent[];

/** RFC 6455 §5.2 states of the parser; each state's handler first checks it has the bytes it needs. */
const State = {
  Header: 0,
  ExtLen16: 1,
  ExtLen64: 2,
  MaskKey: 3,
  Payload: 4,
  Stopped: 5,
  Ended: 6,
} as const;
type State = (typeof State)[keyof typeof State];

const FIN_BIT = 0x80;
const RSV1_BIT = 0x40;
const RSV2_BIT = 0x20;
const RSV3_BIT = 0x10;
const OPCODE_MASK = 0x0f;
const MASK_BIT = 0x80;
const PAYLOAD_LEN_MASK = 0x7f;
const LEN_16 = 126;
const LEN_64 = 127;

/** Scratch for the key's bytes during one synchronous unmask call (holds no state between calls). */
const MASK_BYTES = new Uint8Array(4);

function maskBytes(key: number): Uint8Array {
  MASK_BYTES[0] = key >>> 24;
  MASK_BYTES[1] = key >>> 16;
  MASK_BYTES[2] = key >>> 8;
  MASK_BYTES[3] = key;
  return MASK_BYTES;
}

/** Payloads up to this size are unmasked byte by byte straight from the chunk. */
const SMALL_PAYLOAD = 128;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * XOR `buf[from..to)` with the masking key, `phase` being the payload position of `buf[from]`.
 * Whole aligned 32-bit words at a time where possible (4x fewer iterations than bytes).
 */
function xorMask(buf: Buffer, from: number, to: number, key: number, phase: number): void {
  const mask = maskBytes(key);
  let i = from;
  let p = phase;
  if (to - from >= 64) {
    while (((buf.byteOffset + i) & 3) !== 0) buf[i++]! ^= mask[p++ & 3]!;
    const m0 = mask[p & 3]!;
    const m1 = mask[(p + 1) & 3]!;
    const m2 = mask[(p + 2) & 3]!;
    const m3 = mask[(p + 3) & 3]!;
    const word = LITTLE_ENDIAN ? m0 | (m1 << 8) | (m2 << 16) | (m3 << 24) : (m0 << 24) | (m1 << 16) | (m2 << 8) | m3;
    const count = (to - i) >>> 2;
    const words = new Int32Array(buf.buffer, buf.byteOffset + i, count);
    for (let w = 0; w < count; w++) words[w]! ^= word;
    i += count << 2;
    p += count << 2;
  }
  for (; i < to; i++) buf[i]! ^= mask[p++ & 3]!;
}

/**
 * Sans-io RFC 6455 frame parser for one direction: bytes in, `DecodeEvent`s out. Never throws on
 * peer input; a lost frame boundary (`length-msb-set`, `length-too-large`) stops it for good.
 */
export class FrameDecoder {
  readonly #from: Sender;
  readonly #maxPayload: number;
  readonly #deflate: boolean;
  readonly #queue = new ByteQueue();
  #state: State = State.Header;
  #events: DecodeEvent[] = NO_EVENTS;
  /** Stream offset of the first unread byte. */
  #consumed = 0;

  // The frame being parsed.
  #frameOffset = 0;
  #b0 = 0;
  #masked = false;
  #length = 0;
  #nonMinimal = false;
  #extLenBytes = 0;
  #maskKey = 0;
  #header: FrameHeader | null = null;
  #received = 0;
  #remaining = 0;
  /** Bytes of this frame to hand out: min(length, maxPayload), or all for text/compressed content. */
  #emitLimit = 0;
  /** Kept payload bytes of a masked frame are unmasked into this buffer (allocated per frame). */
  #unmaskTarget: Buffer | null = null;

  // Message framing (RFC 6455 §5.4), tracked here because it decides what a continuation is;
  // the one place it is kept: later layers read it from each header (`message`, `compressed`).
  #messageOpcode: 0 | 1 | 2 = 0;
  #messageCompressed = false;
  #closeSent = false;

  constructor(options: FrameDecoderOptions) {
    this.#from = options.from;
    this.#maxPayload = Math.max(0, options.maxPayload);
    this.#deflate = options.deflate;
  }

  /** Inspection stopped: the frame boundary is lost (`length-msb-set`, `length-too-large`). */
  get stopped(): boolean {
    return this.#state === State.Stopped;
  }

  /** Bytes held while waiting for the rest of a header (payload is never held). */
  get buffered(): number {
    return this.#queue.length;
  }

  /** Feed the next bytes of the stream (never modified); returns the events they completed. */
  push(chunk: Buffer): readonly DecodeEvent[] {
    if (this.#state >= State.Stopped) return [];
    this.#queue.push(chunk);
    const events: DecodeEvent[] = [];
    this.#events = events;
    let progressed = true;
    while (progressed) {
      switch (this.#state) {
        case State.Header:
          progressed = this.#readHeader();
          break;
        case State.ExtLen16:
          progressed = this.#readExtLen16();
          break;
        case State.ExtLen64:
          progressed = this.#readExtLen64();
          break;
        case State.MaskKey:
          progressed = this.#readMaskKey();
          break;
        case State.Payload:
          progressed = this.#readPayload();
          break;
        default:
          progressed = false;
      }
    }
    // Drop the reference: an idle connection must not keep its last chunk's pieces alive.
    this.#events = NO_EVENTS;
    return events;
  }

  /** The stream ended: the frame still in progress, if its header was complete. */
  end(): IncompleteFrame | null {
    const header = this.#state === State.Payload ? this.#header : null;
    if (this.#state !== State.Stopped) this.#state = State.Ended;
    this.#queue.clear();
    return header ? { header, received: this.#received } : null;
  }

  #readHeader(): boolean {
    const queue = this.#queue;
    if (queue.length < 2) return false;
    this.#frameOffset = this.#consumed;
    this.#b0 = queue.byteAt(0);
    const b1 = queue.byteAt(1);
    queue.skip(2);
    this.#consumed += 2;
    this.#masked = (b1 & MASK_BIT) !== 0;
    this.#nonMinimal = false;
    const len7 = b1 & PAYLOAD_LEN_MASK;
    if (len7 === LEN_16) {
      this.#state = State.ExtLen16;
      this.#extLenBytes = 2;
    } else if (len7 === LEN_64) {
      this.#state = State.ExtLen64;
      this.#extLenBytes = 8;
    } else {
      this.#extLenBytes = 0;
      this.#length = len7;
      this.#lengthKnown();
    }
    return true;
  }

  #readExtLen16(): boolean {
    const queue = this.#queue;
    if (queue.length < 2) return false;
    this.#length = (queue.byteAt(0) << 8) | queue.byteAt(1);
    queue.skip(2);
    this.#consumed += 2;
    this.#nonMinimal = this.#length < LEN_16;
    this.#lengthKnown();
    return true;
  }

  #readExtLen64(): boolean {
    const queue = this.#queue;
    if (queue.length < 8) return false;
    const high = queue.byteAt(0) * 0x1000000 + ((queue.byteAt(1) << 16) | (queue.byteAt(2) << 8) | queue.byteAt(3));
    const low = queue.byteAt(4) * 0x1000000 + ((queue.byteAt(5) << 16) | (queue.byteAt(6) << 8) | queue.byteAt(7));
    queue.skip(8);
    this.#consumed += 8;
    // RFC 6455 §5.2: "the most significant bit MUST be 0" of the 64-bit length.
    if (high >= 0x80000000) {
      this.#stop('length-msb-set', `64-bit payload length 0x${high.toString(16)}${low.toString(16).padStart(8, '0')} has its most significant bit set`);
      return false;
    }
    // Above 2^53-1 (MAX_SAFE_LENGTH: high word above 0x1fffff) a length is not an exact JS number: the stream cannot be followed (capture format).
    if (high > 0x1fffff) {
      this.#stop('length-too-large', `declared payload length 0x${high.toString(16)}${low.toString(16).padStart(8, '0')} is above 2^53-1`);
      return false;
    }
    this.#length = high * 0x100000000 + low;
    this.#nonMinimal = this.#length <= 0xffff;
    this.#lengthKnown();
    return true;
  }

  #lengthKnown(): void {
    if (this.#masked) this.#state = State.MaskKey;
    else {
      this.#maskKey = 0;
      this.#headerComplete();
    }
  }

  #readMaskKey(): boolean {
    const queue = this.#queue;
    if (queue.length < 4) return false;
    this.#maskKey = queue.byteAt(0) * 0x1000000 + ((queue.byteAt(1) << 16) | (queue.byteAt(2) << 8) | queue.byteAt(3));
    queue.skip(4);
    this.#consumed += 4;
    this.#headerComplete();
    return true;
  }

  /** Check the framing rules, report the header, and move on to the payload. */
  #headerComplete(): void {
    const b0 = this.#b0;
    const fin = (b0 & FIN_BIT) !== 0;
    const rsv1 = (b0 & RSV1_BIT) !== 0;
    const rsv2 = (b0 & RSV2_BIT) !== 0;
    const rsv3 = (b0 & RSV3_BIT) !== 0;
    const opcode = b0 & OPCODE_MASK;
    const length = this.#length;
    const masked = this.#masked;
    const control = (opcode & 0x8) !== 0;
    const reserved = !(opcode <= Opcode.Binary || (opcode >= Opcode.Close && opcode <= Opcode.Pong));
    let violated = false;

    // The common case (a conforming frame) skips every rule check with one test.
    const suspicious =
      (b0 & (RSV1_BIT | RSV2_BIT | RSV3_BIT)) !== 0 ||
      reserved ||
      control ||
      this.#nonMinimal ||
      masked !== (this.#from === 'client') ||
      this.#closeSent ||
      (opcode === Opcode.Continuation) === (this.#messageOpcode === 0);
    if (suspicious) {
      const name = OPCODE_NAMES[opcode] ?? `opcode 0x${opcode.toString(16)}`;
      if (rsv2 || rsv3) {
        // RFC 6455 §5.2: "MUST be 0 unless an extension is negotiated that defines meanings for non-zero values"
        violated = this.#violation('rsv2-rsv3-set', `${name} frame with ${rsv2 && rsv3 ? 'RSV2 and RSV3' : rsv2 ? 'RSV2' : 'RSV3'} set (no extension defines them)`);
      }
      if (reserved) {
        // RFC 6455 §5.2: opcodes 0x3-0x7 and 0xB-0xF "are reserved for further non-control/control frames".
        violated = this.#violation('reserved-opcode', `reserved opcode 0x${opcode.toString(16)}`);
      }
      if (rsv1) {
        if (control) {
          // RFC 7692 §6.1: "An endpoint MUST NOT set the 'Per-Message Compressed' bit of control frames and non-first fragments of a data message."
          violated = this.#violation('rsv1-on-control-frame', `${name} frame with RSV1 set (control frames are never compressed)`);
        } else if (opcode === Opcode.Continuation) {
          // RFC 7692 §6.1: "An endpoint MUST NOT set the 'Per-Message Compressed' bit of control frames and non-first fragments of a data message."
          violated = this.#violation('rsv1-on-continuation', 'continuation frame with RSV1 set (only a message\'s first frame may)');
        } else if (!this.#deflate && !reserved) {
          violated = this.#violation('rsv1-without-extension', `${name} frame with RSV1 set but no extension negotiated that defines it`);
        }
      }
      if (control && !reserved) {
        // RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less".
        if (length > MAX_CONTROL_PAYLOAD) {
          violated = this.#violation('control-frame-too-long', `${name} with ${length}-byte payload (control frames carry at most ${MAX_CONTROL_PAYLOAD})`);
        }
        // RFC 6455 §5.5: "All control frames ... MUST NOT be fragmented".
        if (!fin) violated = this.#violation('fragmented-control-frame', `${name} frame with FIN clear (control frames must not be fragmented)`);
      }
      if (this.#nonMinimal) {
        // RFC 6455 §5.2: "the minimal number of bytes MUST be used to encode the length".
        violated = this.#violation('non-minimal-length', `payload length ${length} encoded in a ${this.#extLenBytes * 8}-bit extended length (the minimal encoding must be used)`);
      }
      if (masked && this.#from === 'server') {
        // RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the client."
        violated = this.#violation('masked-server-frame', `masked ${name} frame from the server`);
      } else if (!masked && this.#from === 'client') {
        // RFC 6455 §5.1: "a client MUST mask all frames that it sends to the server".
        violated = this.#violation('unmasked-client-frame', `unmasked ${name} frame from the client`);
      }
      if (!control && !reserved) {
        if (opcode === Opcode.Continuation && this.#messageOpcode === 0) {
          // RFC 6455 §5.4: continuations follow a first frame with FIN clear.
          violated = this.#violation('unexpected-continuation', 'continuation frame with no message in progress');
        } else if (opcode !== Opcode.Continuation && this.#messageOpcode !== 0) {
          // RFC 6455 §5.4: "fragments of one message MUST NOT be interleaved between the fragments of another message".
          violated = this.#violation('expected-continuation', `${name} frame starts a new message while a ${OPCODE_NAMES[this.#messageOpcode]} message is still open`);
        }
      }
      if (this.#closeSent) {
        // RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT send any more data frames"; the capture format flags any frame.
        violated = this.#violation('frame-after-close', `${name} frame after this side's close frame`);
      }
    }

    let message: 0 | 1 | 2 = 0;
    let startsMessage = false;
    let compressed = false;
    if (opcode === Opcode.Text || opcode === Opcode.Binary) {
      message = opcode;
      startsMessage = true;
      compressed = rsv1 && this.#deflate;
      this.#messageOpcode = fin ? 0 : opcode;
      this.#messageCompressed = compressed;
    } else if (opcode === Opcode.Continuation && this.#messageOpcode !== 0) {
      message = this.#messageOpcode;
      compressed = this.#messageCompressed;
      if (fin) this.#messageOpcode = 0;
    } else if (opcode === Opcode.Close) {
      this.#closeSent = true;
    }

    const header: FrameHeader = {
      kind: 'header',
      offset: this.#frameOffset,
      fin,
      rsv1,
      rsv2,
      rsv3,
      opcode,
      masked,
      maskKey: masked ? this.#maskKey : null,
      length,
      headerLength: this.#consumed - this.#frameOffset,
      violated,
      message,
      startsMessage,
      compressed,
    };
    this.#header = header;
    this.#events.push(header);
    this.#received = 0;
    this.#remaining = length;
    this.#emitLimit = message === 1 || compressed ? length : Math.min(length, this.#maxPayload);
    const kept = Math.min(length, this.#maxPayload);
    // An all-zero key (RFC 6455 §5.3: XOR with 0 leaves every octet as it is) needs no unmask copy:
    // its payload is handed out as views, like an unmasked frame's.
    this.#unmaskTarget = masked && this.#maskKey !== 0 && kept > 0 ? Buffer.allocUnsafe(kept) : null;
    if (length === 0) {
      this.#events.push(FRAME_END);
      this.#state = State.Header;
      this.#header = null;
    } else {
      this.#state = State.Payload;
    }
  }

  #readPayload(): boolean {
    const queue = this.#queue;
    const available = Math.min(queue.length, this.#remaining);
    if (available === 0) return false;
    const emit = Math.min(available, Math.max(0, this.#emitLimit - this.#received));
    if (emit > 0) {
      if (this.#masked && this.#maskKey !== 0) {
        const start = this.#received;
        // Split at the end of the kept bytes so the kept part lands in the frame's unmask buffer.
        const keptRoom = this.#unmaskTarget === null ? 0 : this.#unmaskTarget.length - start;
        if (keptRoom > 0 && emit > keptRoom) {
          this.#events.push({ kind: 'payload', data: this.#unmask(keptRoom, start) });
          this.#events.push({ kind: 'payload', data: this.#unmask(emit - keptRoom, start + keptRoom) });
        } else this.#events.push({ kind: 'payload', data: this.#unmask(emit, start) });
      } else {
        let left = emit;
        while (left > 0) {
          const piece = queue.consumeUpTo(left);
          left -= piece.length;
          this.#events.push({ kind: 'payload', data: piece });
        }
      }
    }
    if (available > emit) queue.skip(available - emit);
    this.#received += available;
    this.#remaining -= available;
    this.#consumed += available;
    if (this.#remaining === 0) {
      this.#events.push(FRAME_END);
      this.#state = State.Header;
      this.#unmaskTarget = null;
      this.#header = null;
    }
    return true;
  }

  /**
   * Copy `n` payload bytes out of the queue and unmask them there (RFC 6455 §5.3: octet i is XORed
   * with key octet i MOD 4). Never in place: the received chunk may still be queued on the other
   * socket. Kept bytes go into one buffer per frame, so the pieces of a frame that spans chunks
   * are adjacent views of it and the assembler joins them without copying again.
   */
  #unmask(n: number, start: number): Buffer {
    let target = this.#unmaskTarget;
    let at: number;
    if (target !== null && start + n <= target.length) at = start;
    else {
      // Beyond the kept bytes (text or compressed content still to be judged): a transient piece.
      target = Buffer.allocUnsafe(n);
      at = 0;
    }
    const queue = this.#queue;
    const chunk = queue.head!;
    const pos = queue.headOffset;
    if (n <= SMALL_PAYLOAD && pos + n <= chunk.length) {
      // Small payload in one chunk: copy and unmask in one pass (a native copy costs more than it saves).
      const mask = maskBytes(this.#maskKey);
      for (let i = 0; i < n; i++) target[at + i] = chunk[pos + i]! ^ mask[(start + i) & 3]!;
      queue.skip(n);
    } else {
      queue.copyOut(target, at, n);
      xorMask(target, at, at + n, this.#maskKey, start);
    }
    return at === 0 && n === target.length ? target : target.subarray(at, at + n);
  }

  #violation(rule: ViolationRule, detail: string): true {
    this.#events.push({ kind: 'violation', rule, code: VIOLATION_CODES[rule], detail, offset: this.#frameOffset });
    return true;
  }

  #stop(rule: ViolationRule, detail: string): void {
    this.#violation(rule, detail);
    this.#state = State.Stopped;
    this.#header = null;
    this.#queue.clear();
  }
}
