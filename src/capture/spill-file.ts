/**
 * The dashboard's spill file: where rows it cannot keep in memory go, so it can read them back
 * when scrolled to or searched (`--ui tui` without `-w`, which writes no capture). Its format is
 * the dashboard's own and private (not a capture: nothing else reads it, it is deleted on close):
 * records as src/capture/spill-record.ts lays them out (a fixed binary head for frames and
 * messages, then the payload's raw bytes).
 *
 * Events are queued as they come and encoded and written in batches, off the relay's per-event path:
 * every FLUSH_MS, or at once when a batch is full; each batch packed into one buffer (a payload past
 * INLINE_MAX goes as its own buffer of the same `writev`, not copied). The queue is bounded (pressure above HIGH_WATER, as the capture writer asks the relay to slow;
 * events past HARD_LIMIT are not spilled and their rows read back as gone). The file is mode 0600
 * (it holds what the capture would: cookies, tokens) in a private mkdtemp directory (0700), both
 * removed on close.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openPrivateFile } from './safe-file.js';
import type { SessionEvent } from '../session/events.js';
import { SinkSignals, type PressureListener, type ProblemListener } from './sink-signals.js';
import { decodeSpillRecord, HEAD, MAX_META, measureMeta, payloadOf, writeRecord, type SpillMeta } from './spill-record.js';

export { decodeSpillRecord, encodeSpillRecord } from './spill-record.js';

const HIGH_WATER = 8 * 1024 * 1024;
const LOW_WATER = 1024 * 1024;
/** Queued bytes past which events are not spilled at all (a disk that stopped taking writes). */
const HARD_LIMIT = 256 * 1024 * 1024;
/** Sequential reads (search) go through the file in chunks of this size. */
const READ_CHUNK = 1024 * 1024;
/** writev takes at most IOV_MAX buffers (1024 on Linux). */
const MAX_IOV = 1024;
/**
 * Payloads up to this are copied into the batch's buffer; larger ones are written from where they
 * are (the kernel copies them, on a thread-pool thread instead of the event loop).
 */
const INLINE_MAX = 1024;
/** A batch stops taking events once its packed buffer reaches this… */
const BATCH_BYTES = 1024 * 1024;
/** …or once it holds this many bytes in all (packed and written from where they are). */
const BATCH_TOTAL = 8 * 1024 * 1024;
/** A batch smaller than that is written this long after its first event. */
const FLUSH_MS = 20;
const EMPTY = Buffer.alloc(0);
/** The reused buffer a batch is packed into: a full batch plus the record that crossed the mark. */
const PACK_BUFFER = BATCH_BYTES + INLINE_MAX + 4096;

type LineListener = (event: SessionEvent, offset: number, length: number) => void;

/** Length of the record starting at `at` in `buf`, or null when its head is not all there. */
function recordLength(buf: Buffer, at: number): number | null {
  if (buf.length - at < HEAD) return null;
  return HEAD + buf.readUInt32BE(at) + buf.readUInt32BE(at + 4);
}

export interface SpillRecord {
  readonly offset: number;
  readonly value: SessionEvent;
}

/**
 * Records of the spill file at `file` from byte `start`, in order. Stops at the first record that
 * is torn (the file ends inside it: a write still under way, or a crash) or not one of ours.
 */
export async function* readSpillRecords(file: string, start = 0): AsyncGenerator<SpillRecord> {
  const handle = await fs.promises.open(file, 'r');
  try {
    let offset = start;
    let buf = EMPTY;
    let bufStart = start;
    let eof = false;
    for (;;) {
      const at = offset - bufStart;
      const length = recordLength(buf, at);
      if (length === null || buf.length - at < length) {
        if (eof) return;
        // A head claiming more than the file holds (a torn tail, or not ours): nothing to allocate for.
        if (length !== null && (buf.readUInt32BE(at) > MAX_META || offset + length > (await handle.stat()).size)) return;
        // Refill from `offset`: at least a chunk, or the whole record when it is larger.
        const want = Math.max(READ_CHUNK, length ?? 0);
        const next = Buffer.allocUnsafe(want);
        const { bytesRead } = await handle.read(next, 0, want, offset);
        if (bytesRead < want) eof = true;
        buf = next.subarray(0, bytesRead);
        bufStart = offset;
        if (bytesRead === 0) return;
        continue;
      }
      const event = decodeSpillRecord(buf.subarray(at, at + length));
      if (!event) return;
      yield { offset, value: event };
      offset += length;
    }
  } finally {
    await handle.close();
  }
}

/** What a record's head is counted as while queued (a frame's or message's meta is 40 bytes or less). */
const META_ESTIMATE = 64;

function estimate(event: SessionEvent): number {
  return (payloadOf(event)?.length ?? 0) + META_ESTIMATE;
}

export class SpillFile {
  /** The spill file, inside its private directory. */
  readonly path: string;
  readonly #dir: string;
  readonly #fd: number;
  #readFd: number | null = null;
  #queue: SessionEvent[] = [];
  /** Queue entries before this one are taken (a batch took part of the queue). */
  #queueHead = 0;
  #queuedBytes = 0;
  #inFlightBytes = 0;
  /** The batch's packed records (see #flush). */
  #packBuffer = EMPTY;
  #inFlight = false;
  #timer: NodeJS.Timeout | null = null;
  #immediate = false;
  /** Where the next record written will start (everything before it is on disk). */
  #written = 0;
  #failed = false;
  #closed = false;
  #finished = false;
  #dropped = 0;
  #closeWaiters: (() => void)[] = [];
  #lineListeners: LineListener[] = [];
  readonly #signals = new SinkSignals();
  /** Which events get a record (the dashboard's rows); every event when absent. */
  readonly #wanted: (event: SessionEvent) => boolean;

  private constructor(dir: string, file: string, fd: number, wanted: (event: SessionEvent) => boolean) {
    this.#dir = dir;
    this.path = file;
    this.#fd = fd;
    this.#wanted = wanted;
  }

  /** A new, empty spill file in a fresh private directory under the system's temporary directory. */
  static open(options: { readonly dir?: string; readonly wanted?: (event: SessionEvent) => boolean } = {}): SpillFile {
    // mkdtemp(3) creates the directory with a unique name, mode 0700, or fails: never an existing one.
    const dir = fs.mkdtempSync(path.join(options.dir ?? os.tmpdir(), 'frametap-spill-'));
    try {
      const file = path.join(dir, 'rows.spill');
      return new SpillFile(dir, file, openPrivateFile(file), options.wanted ?? (() => true));
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Queues one event's record. Never throws; a failed file is reported once and takes no more. */
  write(event: SessionEvent): void {
    if (this.#failed || this.#closed || !this.#wanted(event)) return;
    // (A payload past what a u32 length can say cannot be spilled either; none is that large in practice.)
    const bytes = estimate(event);
    if (this.#queuedBytes + this.#inFlightBytes > HARD_LIMIT || bytes > 0xffff_ffff) {
      this.#dropped++;
      return;
    }
    // Encoded when the batch is written (#flush), not here on the relay's per-event path.
    this.#queue.push(event);
    this.#queuedBytes += bytes;
    if (!this.#signals.pressure && this.#queuedBytes + this.#inFlightBytes > HIGH_WATER) this.#signals.setPressure(true);
    if (!this.#inFlight && (this.#timer === null || this.#queuedBytes >= BATCH_BYTES)) this.#schedule();
  }

  /**
   * The next write: at once (next turn) when a batch is full or on close, else after FLUSH_MS so
   * that a batch gathers many events (each write is a trip through libuv's thread pool, whose
   * wake-ups cost the event loop more than the bytes do).
   */
  #schedule(): void {
    if (this.#inFlight || this.#immediate || this.#queueHead === this.#queue.length) return;
    if (this.#closed || this.#queuedBytes >= BATCH_BYTES) {
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      this.#immediate = true;
      setImmediate(() => {
        this.#immediate = false;
        this.#flush();
      });
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#flush();
      }, FLUSH_MS);
    }
  }

  /** Each record once on disk: its event, offset and length (for `read`). */
  onLine(cb: LineListener): () => void {
    this.#lineListeners = [...this.#lineListeners, cb];
    return () => {
      this.#lineListeners = this.#lineListeners.filter((l) => l !== cb);
    };
  }

  /** true: the queue passed the high-water mark, slow the producers; false: it drained. */
  onPressure(cb: PressureListener): () => void {
    return this.#signals.onPressure(cb);
  }

  /** An `error` event (stage `capture`) when the file cannot be written, for the owner to publish. */
  onProblem(cb: ProblemListener): () => void {
    return this.#signals.onProblem(cb);
  }

  /** Events not spilled because the queue was over its hard limit. */
  get dropped(): number {
    return this.#dropped;
  }

  /** The record at (offset, length) as reported by onLine; null when it is not there or not whole. */
  async read(offset: number, length: number): Promise<SessionEvent | null> {
    if (this.#finished) return null;
    if (offset < 0 || length < HEAD || offset + length > this.#written) return null;
    this.#readFd ??= fs.openSync(this.path, 'r');
    const fd = this.#readFd;
    const buf = Buffer.allocUnsafe(length);
    const bytesRead = await new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, length, offset, (e, n) => (e ? reject(e) : resolve(n))));
    return bytesRead === length && !this.#finished ? decodeSpillRecord(buf) : null;
  }

  /** The records from byte `start` on, in order (the dashboard's search over evicted rows). */
  records(start = 0): AsyncGenerator<SpillRecord> {
    return readSpillRecords(this.path, start);
  }

  /** Writes what is queued, then closes and removes the file and its directory. Safe to call twice. */
  close(): Promise<void> {
    this.#closed = true;
    return new Promise<void>((resolve) => {
      this.#closeWaiters.push(resolve);
      this.#schedule();
      this.#maybeFinish();
    });
  }

  #flush(): void {
    if (this.#inFlight || this.#failed || this.#queueHead === this.#queue.length) {
      this.#maybeFinish();
      return;
    }
    // Measure what the batch takes: events until its packed buffer or writev's buffer count is full.
    const queue = this.#queue;
    const first = this.#queueHead;
    const metas: (SpillMeta | null)[] = [];
    let packed = 0;
    let iov = 1;
    let estimated = 0;
    let outside = 0;
    let end = first;
    for (; end < queue.length && packed < BATCH_BYTES && packed + outside < BATCH_TOTAL && iov < MAX_IOV - 2; end++) {
      const event = queue[end]!;
      estimated += estimate(event);
      let meta: SpillMeta | null;
      try {
        meta = measureMeta(event);
      } catch {
        // Not JSON-able (no event is, today): no record, its row reads back as gone.
        meta = null;
      }
      metas.push(meta);
      if (meta === null) continue;
      const payload = payloadOf(event)?.length ?? 0;
      packed += HEAD + meta.size;
      if (payload > INLINE_MAX) {
        iov += 2;
        outside += payload;
      } else {
        packed += payload;
      }
    }
    if (end === queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else {
      this.#queueHead = end;
    }
    // Then write them, one after the other, into one buffer (large payloads between its pieces).
    let out: Buffer;
    // One write is in flight at a time and nothing keeps its buffer after it: the next batch reuses
    // it (a fresh megabyte per batch costs page faults and GC, not just the copy).
    // A batch past the usual size (a record with a large JSON meta) gets a buffer of its own.
    if (packed > PACK_BUFFER) {
      out = Buffer.allocUnsafe(packed);
    } else {
      if (this.#packBuffer.length === 0) this.#packBuffer = Buffer.allocUnsafeSlow(PACK_BUFFER);
      out = this.#packBuffer;
    }
    const buffers: Buffer[] = [];
    const lengths = new Float64Array(end - first);
    const events = first === 0 && end === queue.length ? queue : queue.slice(first, end);
    let at = 0;
    let segment = 0;
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const meta = metas[i]!;
      if (meta === null) continue;
      const event = events[i]!;
      const payload = payloadOf(event);
      const size = payload?.length ?? 0;
      const inline = size <= INLINE_MAX;
      const p = writeRecord(event, meta, out, at, inline);
      if (inline) {
        at = p + size;
      } else {
        buffers.push(out.subarray(segment, p), payload!);
        at = segment = p;
      }
      lengths[i] = HEAD + meta.size + size;
      bytes += lengths[i]!;
    }
    if (at > segment) buffers.push(out.subarray(segment, at));
    this.#inFlight = true;
    this.#queuedBytes -= estimated;
    this.#inFlightBytes = bytes;
    writevAll(this.#fd, buffers, this.#written, (error) => {
      this.#inFlight = false;
      this.#inFlightBytes = 0;
      if (error) {
        this.#fail(error);
        return;
      }
      let offset = this.#written;
      this.#written += bytes;
      const listeners = this.#lineListeners;
      for (let i = 0; i < events.length; i++) {
        const length = lengths[i]!;
        if (length === 0) continue;
        for (const l of listeners) l(events[i]!, offset, length);
        offset += length;
      }
      if (this.#signals.pressure && this.#queuedBytes <= LOW_WATER) this.#signals.setPressure(false);
      this.#schedule();
      this.#maybeFinish();
    });
  }

  #fail(error: Error): void {
    this.#failed = true;
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    if (this.#signals.pressure) this.#signals.setPressure(false);
    this.#signals.problem(`the dashboard's spill file ${this.path} cannot be written (${error.message}); rows scrolled out of memory cannot be read back`);
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!this.#closed || this.#inFlight || (this.#queueHead < this.#queue.length && !this.#failed)) return;
    if (!this.#finished) {
      this.#finished = true;
      fs.closeSync(this.#fd);
      if (this.#readFd !== null) fs.closeSync(this.#readFd);
      this.#readFd = null;
      fs.rmSync(this.#dir, { recursive: true, force: true });
    }
    for (const done of this.#closeWaiters.splice(0)) done();
  }
}

/** writev until every byte of `buffers` is at `position` on (writev may write less than asked). */
function writevAll(fd: number, buffers: Buffer[], position: number, done: (error: Error | null) => void): void {
  fs.writev(fd, buffers, position, (error, written) => {
    if (error) return done(error);
    let left = written;
    let i = 0;
    while (i < buffers.length && left >= buffers[i]!.length) left -= buffers[i++]!.length;
    if (i === buffers.length) return done(null);
    const rest = buffers.slice(i);
    rest[0] = rest[0]!.subarray(left);
    writevAll(fd, rest, position + written, done);
  });
}
