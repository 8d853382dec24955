/**
 * Where encoded pcapng blocks collect until the writer takes them: one growable buffer, so a batch
 * is one write. A block still in the arena can get a packet comment (the violation found while
 * its bytes were being inspected); `take` hands the bytes over and starts a new generation.
 */
export class BlockArena {
  #buf: Buffer;
  #length = 0;
  #generation = 0;
  /** The buffer last handed out by `take`, and one given back by `recycle` to write into next. */
  #lent: Buffer | null = null;
  #spare: Buffer | null = null;

  constructor(initial = 256 * 1024) {
    this.#buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.#length;
  }

  /** Changes on every `take`: a position remembered in an older generation is gone. */
  get generation(): number {
    return this.#generation;
  }

  /** Room for `n` more bytes; returns the buffer and the offset to write at (valid until the next call). */
  reserve(n: number): { readonly buf: Buffer; readonly at: number } {
    const need = this.#length + n;
    if (need > this.#buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(bigger, 0, 0, this.#length);
      this.#buf = bigger;
    }
    const at = this.#length;
    this.#length = need;
    return { buf: this.#buf, at };
  }

  /** Inserts `bytes` at `at`, moving what follows; for rare edits (comments) only. */
  insert(at: number, bytes: Uint8Array): Buffer {
    const tail = this.#length - at;
    const { buf } = this.reserve(bytes.length);
    buf.copyWithin(at + bytes.length, at, at + tail);
    buf.set(bytes, at);
    return buf;
  }

  get buffer(): Buffer {
    return this.#buf;
  }

  /**
   * The bytes so far (now owned by the caller until it gives them back with `recycle`); the arena
   * starts empty, in the spare buffer when there is one. Reusing two buffers instead of allocating
   * megabytes per write keeps the garbage collector out of the relay's way (bench/relay.ts). The
   * next buffer has room for a batch as large as this one: growing by copying was a fifth of the
   * relay's time at 256 KiB messages, when a slow write lets a batch reach several MiB.
   */
  take(): Buffer {
    const out = this.#buf.subarray(0, this.#length);
    const wanted = Math.min(KEPT, Math.max(64 * 1024, this.#length + (this.#length >>> 1)));
    this.#lent = this.#buf;
    const spare = this.#spare;
    this.#spare = null;
    this.#buf = spare !== null && spare.length >= wanted ? spare : Buffer.allocUnsafe(wanted);
    this.#length = 0;
    this.#generation++;
    return out;
  }

  /** `take`'s bytes are written and no longer needed: their buffer is reused (if not oversized). */
  recycle(bytes: Buffer): void {
    const lent = this.#lent;
    if (lent === null || bytes.buffer !== lent.buffer) return;
    this.#lent = null;
    if (lent.length <= KEPT) this.#spare = lent;
  }
}

/** Buffers up to this size are kept for reuse (the writer slows the relay well before: 32 MiB). */
const KEPT = 48 * 1024 * 1024;
