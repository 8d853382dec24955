/**
 * The capture sink (capture-format.md): line 1 is the `capture` header, then one event per line,
 * each appended whole. Events go through a bounded queue and are encoded and written in large
 * batches, one batch in flight at a time, never per event on the relay's turn: a capture file's
 * batches are encoded and written by a worker thread (capture-worker.ts), a stream's (`--ui
 * jsonl`) in the batch's own turn. When the queue passes the high-water mark the writer asks its
 * owner to slow the relay (`onPressure(true)`): captured data is never dropped. Used for `-w FILE`
 * and, with `toStream(process.stdout)`, for `--ui jsonl`.
 */
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { UsageError } from '../errors.js';
import type { CaptureHeader, SessionEvent } from '../session/events.js';
import { packBatch } from './batch-pack.js';
import { SinkSignals, slowingNotice, type PressureListener, type ProblemListener } from './sink-signals.js';
import { encodeEventLine } from './line-encoder.js';
import { fileErrorReason, openCaptureFile, writeAllSync } from './capture-file.js';

export interface JsonlWriterOptions {
  /** Queued bytes above which `onPressure(true)` fires (default 8 MiB). */
  readonly highWaterMark?: number;
  /** Queued bytes below which `onPressure(false)` fires again (default 1 MiB). */
  readonly lowWaterMark?: number;
  /** Where the one-line notices go (default: stderr with a `frametap: ` prefix). */
  readonly warn?: (line: string) => void;
  /**
   * Say once (warn, and an `error` event) when the output falls behind: live, that slows the relay
   * (default true). false for a reader of a file (`export`), which simply waits.
   */
  readonly pressureNotice?: boolean;
  /**
   * A capture file's batches are encoded and written on a worker thread (default true); false
   * encodes them on this thread, still in batches (tests of the writer's own logic, tools).
   */
  readonly worker?: boolean;
}

/** Where batches go: a capture file (through a worker thread) or a writable stream. */
interface Target {
  readonly name: string;
  /**
   * Encode and write `events` in order, then call `done` once: with the byte length of each
   * event's line (0 for an event that has none), or with the error.
   */
  write(events: readonly SessionEvent[], done: (error: Error | null, sizes: readonly number[]) => void): void;
  close(done: () => void): void;
  /** Resolves once the target can take batches (a worker thread is up). */
  readonly ready: Promise<void>;
  /** Handing a batch over has a cost of its own (a thread): a few events wait for more. */
  readonly gathers: boolean;
}

/** What an event will take in the queue before it is encoded (base64 is 4/3 of the bytes). */
function estimatedSize(event: SessionEvent): number {
  if (event.type === 'frame') return 200 + (event.payload ? Math.ceil(event.payload.length / 3) * 4 : 0);
  if (event.type === 'message') return 200 + Math.ceil(event.data.length / 3) * 4;
  return 300;
}

/** A capture file opened (mode 0600) whose header is not written yet. */
export interface PreparedCapture {
  readonly path: string;
  /** Writes the header line synchronously (UsageError when that fails) and returns the writer. */
  start(header: CaptureHeader, options?: JsonlWriterOptions): JsonlWriter;
  /** Closes and removes the file when it will not be started after all. */
  abandon(): void;
}

type LineListener = (event: SessionEvent, offset: number, length: number) => void;

const DEFAULT_HIGH_WATER = 8 * 1024 * 1024;
const DEFAULT_LOW_WATER = 1024 * 1024;
/** A batch this large goes to the output without waiting for more. */
const BATCH_EVENTS = 512;
const BATCH_BYTES = 256 * 1024;

export class JsonlWriter {
  /** The capture file, null for a stream (`--ui jsonl`). */
  readonly path: string | null;

  readonly #target: Target;
  readonly #high: number;
  readonly #low: number;
  readonly #warn: (line: string) => void;

  /** Queued events, not yet encoded. */
  #events: SessionEvent[] = [];
  /** Estimated bytes of the queued events' lines. */
  #queuedBytes = 0;
  #inFlightBytes = 0;
  #inFlight = false;
  #scheduled = false;
  /** Byte offset in the output where the next queued line will start. */
  #nextOffset: number;
  readonly #pressureNotice: boolean;
  #failed = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];

  #lineListeners: LineListener[] = [];
  readonly #signals = new SinkSignals();

  private constructor(path: string | null, target: Target, headerBytes: number, options: JsonlWriterOptions) {
    this.path = path;
    this.#target = target;
    this.#nextOffset = headerBytes;
    this.#high = options.highWaterMark ?? DEFAULT_HIGH_WATER;
    this.#low = Math.min(options.lowWaterMark ?? DEFAULT_LOW_WATER, this.#high);
    // Injected by the owner (the CLI passes its stderr channel); a sink writes to no stream itself.
    this.#warn = options.warn ?? (() => {});
    this.#pressureNotice = options.pressureNotice ?? true;
  }

  /**
   * Starts a capture file: replaces an existing one, creates it with mode 0600 (it holds cookies
   * and tokens), and writes the header line synchronously, so an unwritable path is a usage
   * error before anything listens.
   */
  static create(path: string, header: CaptureHeader, options: JsonlWriterOptions = {}): JsonlWriter {
    return JsonlWriter.prepare(path).start(header, options);
  }

  /**
   * The first half of `create`: opens (replaces, mode 0600) the file now, so an unwritable path is
   * a usage error before the proxy listens; `start` writes the header once it is known (the real
   * listening port, when port 0 was asked).
   */
  static prepare(path: string): PreparedCapture {
    const fd = openCaptureFile(path);
    let used = false;
    return {
      path,
      start(header, options = {}) {
        if (used) throw new Error('frametap internal error: a prepared capture was started twice');
        used = true;
        const line = Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
        try {
          writeAllSync(fd, line);
        } catch (error) {
          fs.closeSync(fd);
          throw new UsageError(`cannot write capture file '${path}': ${fileErrorReason(error)}`);
        }
        return new JsonlWriter(path, options.worker === false ? fileTarget(path, fd) : workerFileTarget(path, fd), line.length, options);
      },
      abandon() {
        if (used) return;
        used = true;
        fs.closeSync(fd);
        // Nothing was captured: leave no empty file behind (a device such as /dev/null is not ours to remove).
        try {
          if (fs.statSync(path).isFile()) fs.unlinkSync(path);
        } catch {
          // already gone
        }
      },
    };
  }

  /** The same lines on a stream (`--ui jsonl` on stdout); the stream is not ended on close. */
  static toStream(stream: NodeJS.WritableStream, header: CaptureHeader, options: JsonlWriterOptions = {}): JsonlWriter {
    const line = Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
    const target = streamTarget(stream);
    // The stream keeps write order, so the header goes first whatever follows.
    stream.write(line);
    return new JsonlWriter(null, target, line.length, options);
  }

  /** Appends one event as one line. Never throws: a failed output is reported once and skipped. */
  write(event: SessionEvent): void {
    if (this.#failed || this.#closed || event.type === 'chunk') return;
    this.#events.push(event);
    this.#queuedBytes += estimatedSize(event);
    if (!this.#signals.pressure && this.#queuedBytes + this.#inFlightBytes > this.#high) this.#setPressure(true);
    this.#schedule();
  }

  /** Each event line once written: its byte offset and length (without the newline) in the output. */
  onLine(cb: LineListener): () => void {
    this.#lineListeners = [...this.#lineListeners, cb];
    return () => {
      this.#lineListeners = this.#lineListeners.filter((l) => l !== cb);
    };
  }

  /** true: the queue passed the high-water mark, slow the producers; false: it drained below low water. */
  onPressure(cb: PressureListener): () => void {
    return this.#signals.onPressure(cb);
  }

  /** `error` events of stage `capture` (write failure; first backpressure) for the owner to publish. */
  onProblem(cb: ProblemListener): () => void {
    return this.#signals.onProblem(cb);
  }

  /** Resolves once the writer is fully set up (its worker thread, if any, is running). */
  ready(): Promise<void> {
    return this.#target.ready;
  }

  /** Bytes of the output so far, the header included: written, in flight and queued (estimated until encoded). */
  get size(): number {
    return this.#nextOffset + this.#inFlightBytes + this.#queuedBytes;
  }

  /** Bytes waiting to be written (queued and in flight). */
  get pendingBytes(): number {
    return this.#queuedBytes + this.#inFlightBytes;
  }

  /** Flushes every queued line, then closes the file (a stream is left open). */
  close(): Promise<void> {
    this.#closed = true;
    return new Promise<void>((resolve) => {
      this.#closeWaiters.push(resolve);
      this.#maybeFinish();
    });
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled || this.#failed) return;
    this.#scheduled = true;
    // A full batch goes at the end of this turn of the event loop; for the writer's thread a few
    // events wait a millisecond for the ones that follow. One batch per turn was one hand-over per
    // handful of events at 64 B, then the largest cost of recording (bench/relay.ts). A stream
    // (`--ui jsonl`, `-w -`) gets each turn's lines at once.
    if (!this.#target.gathers || this.#closed || this.#events.length >= BATCH_EVENTS || this.#queuedBytes >= BATCH_BYTES) setImmediate(this.#scheduledFlush);
    else setTimeout(this.#scheduledFlush, 1);
  }

  /** Made once: a closure per schedule is an allocation (and, under tsx, a named wrapper) per batch. */
  readonly #scheduledFlush = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#inFlight || this.#failed || this.#events.length === 0) {
      this.#maybeFinish();
      return;
    }
    const events = this.#events;
    this.#events = [];
    this.#inFlight = true;
    this.#inFlightBytes = this.#queuedBytes;
    this.#queuedBytes = 0;
    this.#target.write(events, (error, sizes) => {
      this.#inFlight = false;
      this.#inFlightBytes = 0;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#announce(events, sizes);
      if (this.#signals.pressure && this.#queuedBytes <= this.#low) this.#setPressure(false);
      if (this.#events.length > 0) this.#schedule();
      else this.#maybeFinish();
    });
  }

  #announce(events: readonly SessionEvent[], sizes: readonly number[]): void {
    const listeners = this.#lineListeners;
    let offset = this.#nextOffset;
    for (let i = 0; i < events.length; i++) {
      const size = sizes[i]!;
      if (size > 0) for (const l of listeners) l(events[i]!, offset, size - 1);
      offset += size;
    }
    this.#nextOffset = offset;
  }

  #setPressure(high: boolean): void {
    this.#signals.setPressure(high, this.#pressureNotice ? { detail: slowingNotice(this.#target.name), warn: this.#warn } : null);
  }

  #fail(error: Error): void {
    this.#failed = true;
    this.#events = [];
    this.#queuedBytes = 0;
    this.#signals.writeFailed(this.#target.name, error, this.#warn);
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!this.#closed || this.#inFlight || this.#scheduled) return;
    if (this.#events.length > 0 && !this.#failed) {
      this.#flush();
      return;
    }
    const waiters = this.#closeWaiters;
    if (waiters.length === 0) return;
    this.#closeWaiters = [];
    this.#target.close(() => {
      for (const w of waiters) w();
    });
  }
}

/** Each event's line (null: no line) and their sizes. */
function encodeBatch(events: readonly SessionEvent[]): { readonly lines: Buffer[]; readonly sizes: number[] } {
  const lines: Buffer[] = [];
  const sizes: number[] = [];
  for (const e of events) {
    const line = encodeEventLine(e);
    sizes.push(line === null ? 0 : line.length);
    if (line !== null) lines.push(line);
  }
  return { lines, sizes };
}

/** Encodes on this thread, in the batch's turn. */
function fileTarget(path: string, fd: number): Target {
  let closed = false;
  return {
    name: `capture file ${path}`,
    write(events, done) {
      const { lines, sizes } = encodeBatch(events);
      let total = 0;
      for (const c of lines) total += c.length;
      // One writev per batch; a short write (a full disk, a signal) goes on with what is left.
      fs.writev(fd, lines, (error, written) => {
        if (error) done(error, sizes);
        else if (written < total) writeRest(fd, Buffer.concat(lines).subarray(written), (e) => done(e, sizes));
        else done(null, sizes);
      });
    },
    close(done) {
      if (closed) return done();
      closed = true;
      fs.close(fd, () => done());
    },
    ready: Promise.resolve(),
    gathers: false,
  };
}

const WORKER_ENTRY = new URL('../../bin/ts-worker.js', import.meta.url);
const CAPTURE_WORKER = new URL('./capture-worker.ts', import.meta.url).href;

/**
 * Encodes and writes on a worker thread; this thread only packs each batch's payload bytes into
 * one transferred buffer. Falls back to this thread when no worker can be started.
 */
function workerFileTarget(path: string, fd: number): Target {
  let worker: Worker;
  try {
    worker = new Worker(WORKER_ENTRY, { workerData: { module: CAPTURE_WORKER, fd }, stdout: false, stderr: false });
  } catch {
    return fileTarget(path, fd);
  }
  // The worker must not keep the process alive on its own (an idle capture while shutting down).
  worker.unref();
  let nextId = 0;
  const pending = new Map<number, (error: Error | null, sizes: readonly number[]) => void>();
  let closing: (() => void) | null = null;
  let dead: Error | null = null;
  const failAll = (error: Error): void => {
    dead = error;
    for (const done of pending.values()) done(error, []);
    pending.clear();
    const c = closing;
    closing = null;
    c?.();
  };
  worker.on('message', (m: { id?: number; sizes?: number[]; error?: { message: string; code?: string }; closed?: true; ready?: true }) => {
    if (m.ready) {
      markReady();
      return;
    }
    if (m.closed) {
      const c = closing;
      closing = null;
      void worker.terminate();
      fs.close(fd, () => c?.());
      return;
    }
    const done = pending.get(m.id!);
    if (!done) return;
    pending.delete(m.id!);
    if (m.error) done(Object.assign(new Error(m.error.message), m.error.code ? { code: m.error.code } : {}), []);
    else done(null, m.sizes!);
  });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
    worker.once('exit', () => resolve());
  });
  worker.on('error', (error) => failAll(error));
  worker.on('exit', () => {
    if (pending.size > 0 || closing) failAll(dead ?? new Error('the capture worker stopped'));
  });
  return {
    name: `capture file ${path}`,
    write(events, done) {
      if (dead) return done(dead, []);
      const id = nextId++;
      pending.set(id, done);
      const batch = packBatch(events);
      worker.postMessage({ id, items: batch.items, bytes: batch.bytes }, [batch.bytes.buffer as ArrayBuffer]);
    },
    close(done) {
      if (dead) {
        fs.close(fd, () => done());
        return;
      }
      closing = done;
      // Ref'd while closing: the last batches must reach the disk before the process may exit.
      worker.ref();
      worker.postMessage({ close: true });
    },
    ready,
    gathers: true,
  };
}

function writeRest(fd: number, rest: Buffer, done: (error: Error | null) => void): void {
  fs.write(fd, rest, 0, rest.length, null, (error, written) => {
    if (error) done(error);
    else if (written < rest.length) writeRest(fd, rest.subarray(written), done);
    else done(null);
  });
}

function streamTarget(stream: NodeJS.WritableStream): Target {
  let failure: Error | null = null;
  let pending: ((error: Error | null) => void) | null = null;
  // A stream reports some failures (EPIPE) only as an 'error' event: keep one listener for the
  // writer's lifetime so such an error fails the sink instead of crashing the process.
  const onError = (error: Error): void => {
    failure = error;
    const p = pending;
    pending = null;
    p?.(error);
  };
  stream.on('error', onError);
  return {
    name: 'jsonl output',
    write(events, finished) {
      const { lines, sizes } = encodeBatch(events);
      const done = (error: Error | null): void => finished(error, sizes);
      const chunk = lines.length === 1 ? lines[0]! : Buffer.concat(lines);
      if (failure) {
        done(failure);
        return;
      }
      pending = done;
      stream.write(chunk, (error?: Error | null) => {
        if (pending !== done) return;
        pending = null;
        done(error ?? null);
      });
    },
    close(done) {
      // The listener stays: a stream may report a failed write as an 'error' event after the
      // writer is done with it (EPIPE on stdout), and that must not crash the process.
      done();
    },
    ready: Promise.resolve(),
    gathers: false,
  };
}
