/**
 * permessage-deflate (RFC 7692): the parameters negotiated in the handshake, and the per-direction
 * streaming inflater that decodes compressed messages with bounded memory.
 */
import zlib from 'node:zlib';
import type { ExtensionOffer } from './http-types.js';
import type { InflateLimiter } from './inflate-limiter.js';
import { Utf8Validator } from './validation.js';
import type { DeflateDirectionParams, NegotiatedDeflate } from './wire-events.js';

export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/** RFC 7692 §7.2.2: the four octets the sender removed from the tail of every compressed message. */
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** The largest window; an inflater with it inflates data compressed with any smaller window (RFC 1951). */
const INFLATE_WINDOW_BITS = 15;

/**
 * Compressed bytes gathered before one write to the inflater. Each write is a round trip to the
 * zlib thread pool, so a small message goes in one write (with its trailer); a big one in pieces
 * of this size, which bounds what is held.
 */
const WRITE_BATCH = 64 * 1024;

const KNOWN_PARAMS = new Set([
  'server_no_context_takeover',
  'client_no_context_takeover',
  'server_max_window_bits',
  'client_max_window_bits',
]);

export interface DeflateNegotiation {
  /** Parameters each sender uses, as the server's answer set them (null when not negotiated). */
  readonly deflate: NegotiatedDeflate | null;
  /** Why the answer breaks RFC 7692 §7.1 (empty when it does not). */
  readonly problems: readonly string[];
}

/** RFC 7692 §7.1.2.1: a window-bits value is a decimal integer from 8 to 15, without leading zeros. */
function windowBits(value: string | true): number | null {
  if (value === true || !/^(?:[89]|1[0-5])$/.test(value)) return null;
  return Number(value);
}

/** Problems of one offer (client) or answer (server) element, checked on its own. */
function elementProblems(element: ExtensionOffer, answer: boolean): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(element.params)) {
    if (!KNOWN_PARAMS.has(name)) {
      // RFC 7692 §7.1: an element with an unknown parameter must be declined, never accepted.
      problems.push(`unknown parameter ${name}`);
    } else if (name.endsWith('_no_context_takeover')) {
      // RFC 7692 §7.1.1.1 / §7.1.1.2: "This extension parameter has no value."
      if (value !== true) problems.push(`${name} must have no value`);
    } else if (name === 'client_max_window_bits' && !answer && value === true) {
      // RFC 7692 §7.1.2.2: an offer "MAY include ... client_max_window_bits" with no value.
    } else if (windowBits(value) === null) {
      problems.push(`${name}=${value === true ? '(no value)' : value} is not an integer 8..15`);
    }
  }
  return problems;
}

/** Problems of an answer given the offer it answers (RFC 7692 §7.1.2). */
function answerProblems(offer: ExtensionOffer, answer: ExtensionOffer): string[] {
  const problems = elementProblems(answer, true);
  const offered = offer.params;
  const accepted = answer.params;
  if (accepted['client_max_window_bits'] !== undefined && offered['client_max_window_bits'] === undefined) {
    // RFC 7692 §7.1.2.2: without it in the offer, the response "MUST NOT include the client_max_window_bits" parameter.
    problems.push('client_max_window_bits in the answer but not in the offer');
  }
  const offeredServerBits = offered['server_max_window_bits'];
  if (offeredServerBits !== undefined) {
    const limit = windowBits(offeredServerBits);
    const answered = accepted['server_max_window_bits'];
    // RFC 7692 §7.1.2.1: the server accepts such an offer only by answering with a value "equal to or smaller than" the offered one.
    if (answered === undefined) problems.push(`server_max_window_bits=${String(offeredServerBits)} offered but not in the answer`);
    else if (limit !== null && (windowBits(answered) ?? 16) > limit) {
      problems.push(`server_max_window_bits=${String(answered)} is above the offered ${limit}`);
    }
  }
  return problems;
}

/**
 * What the server's permessage-deflate answer sets for each sender, checked against the client's
 * offers (RFC 7692 §7.1). The `server_*` parameters govern the server→client direction and the
 * `client_*` ones the client→server direction. An answer that breaks the rules still yields the
 * parameters the peers will act on, with the problems listed.
 */
export function negotiateDeflate(offers: readonly ExtensionOffer[], answers: readonly ExtensionOffer[]): DeflateNegotiation {
  const accepted = answers.filter((a) => a.name.toLowerCase() === PERMESSAGE_DEFLATE);
  const answer = accepted[0];
  if (!answer) return { deflate: null, problems: [] };
  const problems: string[] = [];
  if (accepted.length > 1) problems.push(`${accepted.length} ${PERMESSAGE_DEFLATE} elements in the answer`);
  const candidates = offers.filter((o) => o.name.toLowerCase() === PERMESSAGE_DEFLATE);
  if (candidates.length === 0) problems.push(...elementProblems(answer, true));
  else {
    // The answer must fit at least one of the offers (RFC 7692 §5: the server picks one).
    let best: string[] | null = null;
    for (const offer of candidates) {
      const found = answerProblems(offer, answer);
      if (best === null || found.length < best.length) best = found;
      if (found.length === 0) break;
    }
    problems.push(...(best ?? []));
  }
  const params = answer.params;
  const side = (prefix: 'client' | 'server'): DeflateDirectionParams => ({
    noContextTakeover: params[`${prefix}_no_context_takeover`] !== undefined,
    maxWindowBits: windowBits(params[`${prefix}_max_window_bits`] ?? true) ?? INFLATE_WINDOW_BITS,
  });
  return { deflate: { client: side('client'), server: side('server') }, problems };
}

/** The outcome of inflating one message. */
export interface InflateResult {
  /** Kept inflated bytes (at most maxPayload). */
  readonly data: Buffer;
  /** All inflated bytes, kept or not. */
  readonly length: number;
  /** For a text message: UTF-8 validity of every inflated byte. */
  readonly utf8Valid: boolean;
  /** Why the message did not inflate, or null. */
  readonly error: string | null;
}

/**
 * One sender's RFC 7692 decompressor. Messages go through it one at a time: `begin`, `write` the
 * compressed payload pieces as they arrive, then `finish`. It is a streaming raw inflater with
 * windowBits 15 whose output is counted in full but kept only up to maxPayload, so a small message
 * that inflates to gigabytes costs no memory (STYLE.md §4: `inflateRawSync` cannot be bounded).
 * Created lazily: nothing is allocated until a compressed message arrives.
 */
export class MessageInflater {
  readonly #noContextTakeover: boolean;
  readonly #maxPayload: number;
  #inflate: zlib.InflateRaw | null = null;
  #batch: Buffer[] = [];
  #batchLength = 0;
  #kept: Buffer[] = [];
  #keptLength = 0;
  #length = 0;
  #utf8: Utf8Validator | null = null;
  #error: string | null = null;
  #done: ((result: InflateResult) => void) | null = null;
  #closed = false;
  readonly #limiter: InflateLimiter | null;
  /** zlib writes in order, one at a time, each holding a slot of the limiter while zlib works. */
  #ops: Array<{ readonly data: Buffer; readonly gen: number; readonly after: (() => void) | null }> = [];
  #opsBytes = 0;
  #writing = false;
  /** Bumped whenever the zlib stream is dropped: queued writes for the old one are void. */
  #gen = 0;

  constructor(options: { readonly noContextTakeover: boolean; readonly maxPayload: number; readonly limiter?: InflateLimiter | null }) {
    this.#noContextTakeover = options.noContextTakeover;
    this.#maxPayload = options.maxPayload;
    this.#limiter = options.limiter ?? null;
  }

  /** Start a message; `text` asks for its UTF-8 validity. */
  begin(text: boolean): void {
    this.#batch = [];
    this.#batchLength = 0;
    this.#kept = [];
    this.#keptLength = 0;
    this.#length = 0;
    this.#error = null;
    this.#done = null;
    if (text) {
      this.#utf8 ??= new Utf8Validator();
      this.#utf8.reset();
    } else this.#utf8 = null;
    // RFC 7692 §7.1.1: with no context takeover negotiated the sender starts each message with an
    // empty window, so the receiver may too; with takeover the window carries over.
    if (this.#noContextTakeover && this.#inflate) this.#inflate.reset();
  }

  /** Compressed bytes handed in and not yet taken by zlib (its input lags behind a fast sender). */
  get queuedBytes(): number {
    return this.#batchLength + this.#opsBytes + (this.#inflate?.writableLength ?? 0);
  }

  /** Compressed payload bytes of the current message (not modified, not kept). */
  write(piece: Buffer): void {
    if (this.#error !== null || this.#closed || piece.length === 0) return;
    this.#batch.push(piece);
    this.#batchLength += piece.length;
    if (this.#batchLength >= WRITE_BATCH) this.#write(this.#takeBatch(null), null);
  }

  #takeBatch(tail: Buffer | null): Buffer {
    const batch = this.#batch;
    if (tail) batch.push(tail);
    const joined = batch.length === 1 ? batch[0]! : Buffer.concat(batch, this.#batchLength + (tail ? tail.length : 0));
    this.#batch = [];
    this.#batchLength = 0;
    return joined;
  }

  /** End of the message: append the RFC 7692 §7.2.2 trailer and report the outcome (always asynchronously). */
  finish(done: (result: InflateResult) => void): void {
    this.#done = done;
    if (this.#error !== null || this.#closed) {
      queueMicrotask(() => this.#settle());
      return;
    }
    // RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload of the message."
    // zlib's inflate "always flushes as much output as possible" (zlib.h), so the write's callback
    // comes after all of this message's output: no separate flush round trip is needed.
    this.#write(this.#takeBatch(TRAILER), () => {
      // A DEFLATE block with BFINAL set (RFC 7692 §7.2.3.4) ended the zlib stream: later messages need a new one.
      if (this.#inflate?.readableEnded) this.#drop();
      this.#settle();
    });
  }

  /** Queue a zlib write; `after` runs once zlib has taken it (and everything before it). */
  #write(data: Buffer, after: (() => void) | null): void {
    this.#ops.push({ data, gen: this.#gen, after });
    this.#opsBytes += data.length;
    this.#pump();
  }

  #pump(): void {
    if (this.#writing || this.#ops.length === 0) return;
    this.#writing = true;
    const start = (): void => {
      const op = this.#ops.shift()!;
      this.#opsBytes -= op.data.length;
      if (this.#closed || op.gen !== this.#gen || this.#error !== null) {
        // The stream it was for is gone (an error, a cut-off message, the connection's end).
        this.#doneWriting();
        return;
      }
      const inflate = this.#stream();
      let released = false;
      const finished = (): void => {
        if (released) return;
        released = true;
        this.#doneWriting();
        if (inflate === this.#inflate && op.after) op.after();
      };
      this.#releaseInFlight = finished;
      inflate.write(op.data, finished);
    };
    if (this.#limiter) this.#limiter.acquire(start);
    else start();
  }

  /** Releases the slot of the write in flight, if any, and goes on with the next write. */
  #releaseInFlight: (() => void) | null = null;

  #doneWriting(): void {
    this.#releaseInFlight = null;
    this.#writing = false;
    this.#limiter?.release();
    if (this.#ops.length > 0) queueMicrotask(() => this.#pump());
  }

  /** Forget the message in progress (it was cut off); the next one starts from a fresh context. */
  abandon(): void {
    this.#done = null;
    this.#batch = [];
    this.#batchLength = 0;
    this.#drop();
  }

  /** zlib writes queued or in flight (for tests of the limiter). */
  get busy(): boolean {
    return this.#writing || this.#ops.length > 0;
  }

  /** Release the inflater. */
  close(): void {
    this.#closed = true;
    this.#done = null;
    this.#drop();
  }

  #settle(): void {
    const done = this.#done;
    if (!done) return;
    this.#done = null;
    const data = this.#kept.length === 1 ? this.#kept[0]! : Buffer.concat(this.#kept, this.#keptLength);
    this.#kept = [];
    const utf8Valid = this.#utf8 ? this.#utf8.end() : true;
    if (this.#noContextTakeover && this.#inflate) this.#inflate.reset();
    done({ data, length: this.#length, utf8Valid, error: this.#error });
  }

  #stream(): zlib.InflateRaw {
    if (this.#inflate) return this.#inflate;
    const inflate = zlib.createInflateRaw({ windowBits: INFLATE_WINDOW_BITS });
    inflate.on('data', (chunk: Buffer) => {
      if (inflate === this.#inflate) this.#output(chunk);
    });
    inflate.on('error', (err: Error & { code?: string }) => {
      if (inflate !== this.#inflate) return;
      this.#error = err.code ? `${err.code}: ${err.message}` : err.message;
      // A zlib stream is unusable after an error: the next message gets a fresh inflater.
      this.#drop();
      this.#settle();
    });
    this.#inflate = inflate;
    return inflate;
  }

  #output(chunk: Buffer): void {
    this.#length += chunk.length;
    this.#utf8?.push(chunk);
    const room = this.#maxPayload - this.#keptLength;
    if (room <= 0) return;
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#kept.push(kept);
    this.#keptLength += kept.length;
  }

  #drop(): void {
    this.#gen++;
    const inflate = this.#inflate;
    this.#inflate = null;
    // A write in flight on the dropped stream may never call back: give its slot back now (its
    // `after` does not run: the stream it was for is gone).
    const inFlight = this.#releaseInFlight;
    if (inFlight) inFlight();
    if (!inflate) return;
    inflate.removeAllListeners('data');
    // Keep one error listener: a late error from a dropped stream must not become an uncaught exception.
    inflate.removeAllListeners('error');
    inflate.on('error', () => {});
    inflate.destroy();
  }
}
