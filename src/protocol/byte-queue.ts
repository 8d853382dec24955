/**
 * The frame decoder's only buffer: a list of received chunks read front to back. Reads return views
 * (`subarray`) of the chunks when the bytes lie in one chunk and copy only when a field spans chunks.
 * Chunks are never modified: they may still be queued for writing on the other socket.
 */
export class ByteQueue {
  #chunks: Buffer[] = [];
  /** Index in #chunks of the first unread chunk. */
  #head = 0;
  /** Read position inside the first unread chunk. */
  #pos = 0;
  #length = 0;

  /** Unread bytes. */
  get length(): number {
    return this.#length;
  }

  /** The first unread chunk (read it from `headOffset`), or undefined when empty: for tight loops. */
  get head(): Buffer | undefined {
    return this.#length === 0 ? undefined : this.#chunks[this.#head];
  }

  /** Read position inside `head`. */
  get headOffset(): number {
    return this.#pos;
  }

  /** Append a chunk (kept by reference, never written to). */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The unread byte at `index` (which must be below `length`). */
  byteAt(index: number): number {
    let i = index + this.#pos;
    for (let c = this.#head; ; c++) {
      const chunk = this.#chunks[c]!;
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
  }

  /** Consume exactly `n` bytes (n ≤ length): a view when they lie in one chunk, else a copy. */
  consume(n: number): Buffer {
    const first = this.#chunks[this.#head]!;
    if (this.#pos + n <= first.length) return this.#take(n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const piece = this.#take(n - filled);
      piece.copy(out, filled);
      filled += piece.length;
    }
    return out;
  }

  /** Consume at most `n` bytes from the first chunk only, as a view (empty when the queue is). */
  consumeUpTo(n: number): Buffer {
    return this.#take(n);
  }

  /** Drop `n` bytes (n ≤ length) without looking at them. */
  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const chunk = this.#chunks[this.#head]!;
      const available = chunk.length - this.#pos;
      if (left < available) {
        this.#pos += left;
        this.#length -= left;
        return;
      }
      left -= available;
      this.#length -= available;
      this.#advanceChunk();
    }
  }

  /**
   * Copy `n` bytes (n ≤ length) into `target` at `targetOffset`, consuming them: the one copy a
   * masked payload needs before it is unmasked in the new buffer.
   */
  copyOut(target: Buffer, targetOffset: number, n: number): void {
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#head]!;
      const take = Math.min(n - filled, chunk.length - this.#pos);
      chunk.copy(target, targetOffset + filled, this.#pos, this.#pos + take);
      filled += take;
      this.#pos += take;
      this.#length -= take;
      if (this.#pos === chunk.length) this.#advanceChunk();
    }
  }

  /** Forget everything (the chunks are released). */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#pos = 0;
    this.#length = 0;
  }

  #take(n: number): Buffer {
    if (this.#length === 0) return EMPTY;
    const chunk = this.#chunks[this.#head]!;
    const start = this.#pos;
    const available = chunk.length - start;
    if (n >= available) {
      this.#length -= available;
      this.#advanceChunk();
      return start === 0 ? chunk : chunk.subarray(start);
    }
    this.#pos += n;
    this.#length -= n;
    return chunk.subarray(start, start + n);
  }

  #advanceChunk(): void {
    this.#pos = 0;
    this.#head++;
    if (this.#head === this.#chunks.length) {
      // Everything read: drop the references so the chunks can be collected.
      this.#chunks.length = 0;
      this.#head = 0;
    } else if (this.#head > 64) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
