/**
 * Where encoded pcapng blocks collect until the writer takes them: one growable buffer, so a batch
 * is one write. A block still in the arena can get a packet comment (the violation found while
 * its bytes were being inspected); `take` hands the bytes over and starts a new generation.
 */
export class BlockArena {
  #buf: Buffer;
  #length = 0;
  #generation = 0;

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

  /** The bytes so far (now owned by the caller); the arena starts empty. */
  take(): Buffer {
    const out = this.#buf.subarray(0, this.#length);
    this.#buf = Buffer.allocUnsafe(Math.max(64 * 1024, Math.min(this.#buf.length, 8 * 1024 * 1024)));
    this.#length = 0;
    this.#generation++;
    return out;
  }
}
