/**
 * Builds RFC 6455 §5.2 frames, conforming or deliberately not (non-minimal lengths, lying lengths,
 * any RSV bit), and RFC 7692 compressed message payloads. Used by tests, replay and serve.
 */
import zlib from 'node:zlib';

export interface FrameSpec {
  /** Default true. */
  readonly fin?: boolean;
  readonly rsv1?: boolean;
  readonly rsv2?: boolean;
  readonly rsv3?: boolean;
  readonly opcode: number;
  readonly payload?: Uint8Array;
  /** 4-byte masking key; absent or null for an unmasked frame. */
  readonly mask?: Uint8Array | null;
  /** Force a length encoding, possibly non-minimal; default the minimal one. */
  readonly lengthForm?: 'minimal' | 7 | 16 | 64;
  /** Declare this length instead of the payload's (hostile-peer tests); the payload is written as given. */
  readonly declaredLength?: number | bigint;
}

function minimalForm(length: bigint): 7 | 16 | 64 {
  if (length <= 125n) return 7;
  if (length <= 0xffffn) return 16;
  return 64;
}

/** Encode one frame; a masked payload is masked into the new buffer, never in place. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = spec.payload ?? new Uint8Array(0);
  const declared = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm === undefined || spec.lengthForm === 'minimal' ? minimalForm(declared) : spec.lengthForm;
  if (form === 7 && declared > 125n) throw new RangeError(`length ${declared} does not fit the 7-bit form`);
  if (form === 16 && declared > 0xffffn) throw new RangeError(`length ${declared} does not fit the 16-bit form`);
  if (declared < 0n || declared > 0xffffffffffffffffn) throw new RangeError(`length ${declared} does not fit 64 bits`);
  const mask = spec.mask ?? null;
  if (mask !== null && mask.length !== 4) throw new RangeError('a masking key is 4 bytes');
  const extended = form === 7 ? 0 : form === 16 ? 2 : 8;
  const headerLength = 2 + extended + (mask ? 4 : 0);
  const frame = Buffer.allocUnsafe(headerLength + payload.length);
  frame[0] =
    (spec.fin === false ? 0 : 0x80) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    (spec.opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) frame[1] = maskBit | Number(declared);
  else if (form === 16) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(Number(declared), 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeBigUInt64BE(declared, 2);
  }
  const payloadStart = headerLength;
  if (mask) {
    frame.set(mask, 2 + extended);
    for (let i = 0; i < payload.length; i++) frame[payloadStart + i] = payload[i]! ^ mask[i & 3]!;
  } else {
    frame.set(payload, payloadStart);
  }
  return frame;
}

/** A close frame body (RFC 6455 §5.5.1): empty for `null`, else the 2-byte code and UTF-8 reason. */
export function encodeClosePayload(code: number | null, reason = ''): Buffer {
  if (code === null) return Buffer.alloc(0);
  const text = Buffer.from(reason, 'utf8');
  const body = Buffer.allocUnsafe(2 + text.length);
  body.writeUInt16BE(code, 0);
  text.copy(body, 2);
  return body;
}

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * An RFC 7692 sender: raw DEFLATE, each message ended with a sync flush whose 00 00 ff ff tail is
 * removed (§7.2.1). The LZ77 context carries over between messages unless `noContextTakeover`.
 * Calls are serialized, so messages come out in the order they were given.
 */
export class MessageCompressor {
  readonly #deflate: zlib.DeflateRaw;
  readonly #noContextTakeover: boolean;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: { readonly noContextTakeover: boolean; readonly windowBits?: number }) {
    this.#noContextTakeover = options.noContextTakeover;
    // zlib refuses an 8-bit window for raw deflate; 9 is the smallest it produces (zlib's deflateInit2).
    this.#deflate = zlib.createDeflateRaw({ windowBits: Math.max(9, options.windowBits ?? 15) });
  }

  /** Compress one whole message payload. */
  compress(data: Uint8Array): Promise<Buffer> {
    const run = this.#queue.then(() => this.#compressNow(data));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Release the compressor. */
  close(): void {
    this.#deflate.close();
  }

  #compressNow(data: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const deflate = this.#deflate;
      const chunks: Buffer[] = [];
      const onData = (chunk: Buffer): void => {
        chunks.push(chunk);
      };
      const onError = (err: Error): void => {
        deflate.off('data', onData);
        reject(err);
      };
      deflate.on('data', onData);
      deflate.once('error', onError);
      deflate.write(data);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        deflate.off('data', onData);
        deflate.off('error', onError);
        let out = Buffer.concat(chunks);
        if (out.length >= 4 && out.subarray(out.length - 4).equals(TRAILER)) out = out.subarray(0, out.length - 4);
        // RFC 7692 §7.2.3.6: a message that compresses to nothing is sent as one 0x00 octet (an empty stored block's header).
        if (out.length === 0) out = Buffer.from([0x00]);
        if (this.#noContextTakeover) deflate.reset();
        resolve(out);
      });
    });
  }
}

/** The header fields of a conforming frame frametap sends (RFC 6455 §5.2), minimal length form. */
export interface FrameHead {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly opcode: number;
  /** 4-byte masking key, or null for an unmasked frame. */
  readonly mask: Uint8Array | null;
  readonly length: number;
}

/** The header of one frame: 2 to 14 bytes, the length in its minimal form (RFC 6455 §5.2). */
export function encodeFrameHeader(head: FrameHead): Buffer {
  const { length, mask } = head;
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`bad frame length ${length}`);
  if (mask !== null && mask.length !== 4) throw new RangeError('a masking key is 4 bytes');
  const extended = length <= 125 ? 0 : length <= 0xffff ? 2 : 8;
  const header = Buffer.allocUnsafe(2 + extended + (mask ? 4 : 0));
  header[0] = (head.fin ? 0x80 : 0) | (head.rsv1 ? 0x40 : 0) | (head.opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (extended === 0) header[1] = maskBit | length;
  else if (extended === 2) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (mask) header.set(mask, 2 + extended);
  return header;
}

/**
 * One frame as the parts a socket write takes, `[header, payload]`, without concatenating (as ws's
 * `Sender.frame`): a masked payload is masked into a new buffer (the caller's bytes are never
 * changed), an unmasked one is the caller's own bytes.
 */
export function frameParts(payload: Uint8Array, head: Omit<FrameHead, 'length'>): [Buffer, Buffer] {
  const header = encodeFrameHeader({ ...head, length: payload.length });
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  if (head.mask === null) return [header, bytes];
  return [header, maskedCopy(bytes, head.mask)];
}

/** `payload` XOR the masking key (RFC 6455 §5.3) into a new buffer. */
export function maskedCopy(payload: Uint8Array, mask: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length);
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  let i = 0;
  for (const end = payload.length - 3; i < end; i += 4) {
    out[i] = payload[i]! ^ m0;
    out[i + 1] = payload[i + 1]! ^ m1;
    out[i + 2] = payload[i + 2]! ^ m2;
    out[i + 3] = payload[i + 3]! ^ m3;
  }
  for (; i < payload.length; i++) out[i] = payload[i]! ^ mask[i & 3]!;
  return out;
}
