/**
 * The capture sink (capture-format.md): line 1 is the `capture` header, then one event per line,
 * each appended whole. Lines go through a bounded queue written in large batches, one write in
 * flight at a time. When the queue passes the high-water mark the writer asks its owner to slow
 * the relay (`onPressure(true)`): captured data is never dropped. Used for `-w FILE` and, with
 * `toStream(process.stdout)`, for `--ui jsonl`.
 */
import * as fs from 'node:fs';
import { UsageError } from '../errors.js';
import type { CaptureHeader, ErrorEvent, SessionEvent } from '../session/events.js';
import { encodeEventLine } from './line-encoder.js';

export interface JsonlWriterOptions {
  /** Queued bytes above which `onPressure(true)` fires (default 8 MiB). */
  readonly highWaterMark?: number;
  /** Queued bytes below which `onPressure(false)` fires again (default 1 MiB). */
  readonly lowWaterMark?: number;
  /** Where the one-line notices go (default: stderr with a `frametap: ` prefix). */
  readonly warn?: (line: string) => void;
}

/** Where batches go: a file descriptor or a writable stream. */
interface Target {
  readonly name: string;
  /** Write all of `chunks` in order, then call `done` once (with the error, if any). */
  write(chunks: readonly Buffer[], done: (error: Error | null) => void): void;
  close(): void;
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
type PressureListener = (high: boolean) => void;
type ProblemListener = (event: ErrorEvent) => void;

const DEFAULT_HIGH_WATER = 8 * 1024 * 1024;
const DEFAULT_LOW_WATER = 1024 * 1024;

export class JsonlWriter {
  /** The capture file, null for a stream (`--ui jsonl`). */
  readonly path: string | null;

  readonly #target: Target;
  readonly #high: number;
  readonly #low: number;
  readonly #warn: (line: string) => void;

  /** Queued lines, each encoded with its newline (one copy per line, no joining). */
  #lines: Buffer[] = [];
  /** Events of the queued lines, kept only while someone listens to `onLine`. */
  #events: (SessionEvent | null)[] = [];
  #queuedBytes = 0;
  #inFlightBytes = 0;
  #inFlight = false;
  #scheduled = false;
  /** Byte offset in the output where the next queued line will start. */
  #nextOffset: number;
  #pressure = false;
  #pressureReported = false;
  #failed = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];

  #lineListeners: LineListener[] = [];
  #pressureListeners: PressureListener[] = [];
  #problemListeners: ProblemListener[] = [];

  private constructor(path: string | null, target: Target, headerBytes: number, options: JsonlWriterOptions) {
    this.path = path;
    this.#target = target;
    this.#nextOffset = headerBytes;
    this.#high = options.highWaterMark ?? DEFAULT_HIGH_WATER;
    this.#low = Math.min(options.lowWaterMark ?? DEFAULT_LOW_WATER, this.#high);
    this.#warn = options.warn ?? ((line) => process.stderr.write(`frametap: ${line}\n`));
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
          throw new UsageError(`cannot write capture file '${path}': ${reason(error)}`);
        }
        return new JsonlWriter(path, fileTarget(path, fd), line.length, options);
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
    if (this.#failed || this.#closed) return;
    const line = encodeEventLine(event);
    if (line === null) return;
    this.#lines.push(line);
    this.#events.push(this.#lineListeners.length > 0 ? event : null);
    this.#queuedBytes += line.length;
    if (!this.#pressure && this.#queuedBytes + this.#inFlightBytes > this.#high) this.#setPressure(true);
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
    this.#pressureListeners = [...this.#pressureListeners, cb];
    return () => {
      this.#pressureListeners = this.#pressureListeners.filter((l) => l !== cb);
    };
  }

  /** `error` events of stage `capture` (write failure; first backpressure) for the owner to publish. */
  onProblem(cb: ProblemListener): () => void {
    this.#problemListeners = [...this.#problemListeners, cb];
    return () => {
      this.#problemListeners = this.#problemListeners.filter((l) => l !== cb);
    };
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
    // Gather every line produced in this turn of the event loop into one write.
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#inFlight || this.#failed || this.#lines.length === 0) {
      this.#maybeFinish();
      return;
    }
    const lines = this.#lines;
    const events = this.#events;
    this.#lines = [];
    this.#events = [];
    this.#inFlight = true;
    this.#inFlightBytes = this.#queuedBytes;
    this.#queuedBytes = 0;
    const firstOffset = this.#nextOffset;
    this.#nextOffset += this.#inFlightBytes;
    this.#target.write(lines, (error) => {
      this.#inFlight = false;
      this.#inFlightBytes = 0;
      if (error) {
        this.#fail(error);
        return;
      }
      this.#announce(events, lines, firstOffset);
      if (this.#pressure && this.#queuedBytes <= this.#low) this.#setPressure(false);
      if (this.#lines.length > 0) this.#flush();
      else this.#maybeFinish();
    });
  }

  #announce(events: readonly (SessionEvent | null)[], lines: readonly Buffer[], firstOffset: number): void {
    const listeners = this.#lineListeners;
    if (listeners.length === 0) return;
    let offset = firstOffset;
    for (let i = 0; i < events.length; i++) {
      const event = events[i];
      const size = lines[i]!.length;
      if (event) for (const l of listeners) l(event, offset, size - 1);
      offset += size;
    }
  }

  #setPressure(high: boolean): void {
    this.#pressure = high;
    if (high && !this.#pressureReported) {
      this.#pressureReported = true;
      const detail = `the ${this.#target.name} cannot keep up with the traffic: slowing the relay until it catches up (nothing is dropped)`;
      this.#warn(detail);
      this.#problem(detail, undefined);
    }
    for (const l of this.#pressureListeners) l(high);
  }

  #fail(error: Error): void {
    this.#failed = true;
    this.#lines = [];
    this.#events = [];
    this.#queuedBytes = 0;
    const detail = `writing the ${this.#target.name} failed, the relay goes on without it: ${reason(error)}`;
    this.#warn(detail);
    if (this.#pressure) this.#setPressure(false);
    this.#problem(detail, (error as NodeJS.ErrnoException).code);
    this.#maybeFinish();
  }

  #problem(detail: string, code: string | undefined): void {
    const event: ErrorEvent = code
      ? { type: 'error', t: nowMs(), stage: 'capture', code, detail }
      : { type: 'error', t: nowMs(), stage: 'capture', detail };
    for (const l of this.#problemListeners) l(event);
  }

  #maybeFinish(): void {
    if (!this.#closed || this.#inFlight || this.#scheduled) return;
    if (this.#lines.length > 0 && !this.#failed) {
      this.#flush();
      return;
    }
    const waiters = this.#closeWaiters;
    if (waiters.length === 0) return;
    this.#closeWaiters = [];
    this.#target.close();
    for (const w of waiters) w();
  }
}

/** ms since the epoch with µs resolution, as every `t` of the capture. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function reason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'its directory does not exist';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    case 'EPIPE':
      return 'the reader went away (broken pipe)';
    default:
      return e.code ? `${e.code}: ${e.message}` : String(e.message ?? error);
  }
}

/**
 * A new capture replaces an old one. A regular file is unlinked and re-created exclusively, so the
 * new file gets mode 0600 even when the old one was world-readable (and a symlink planted at the
 * path is replaced, not followed). Anything else (a FIFO, /dev/null, /dev/full) is opened as is.
 */
function openCaptureFile(path: string): number {
  try {
    let existing: fs.Stats | null = null;
    try {
      existing = fs.lstatSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (existing?.isDirectory()) {
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    if (existing === null || existing.isFile() || existing.isSymbolicLink()) {
      if (existing) fs.unlinkSync(path);
      const fd = fs.openSync(path, 'wx', 0o600);
      // The umask can only clear bits of 0600; fchmod makes the mode exact all the same.
      fs.fchmodSync(fd, 0o600);
      return fd;
    }
    return fs.openSync(path, 'w');
  } catch (error) {
    throw new UsageError(`cannot write capture file '${path}': ${reason(error)}`);
  }
}

function writeAllSync(fd: number, chunk: Buffer): void {
  let done = 0;
  while (done < chunk.length) done += fs.writeSync(fd, chunk, done, chunk.length - done);
}

function fileTarget(path: string, fd: number): Target {
  let closed = false;
  return {
    name: `capture file ${path}`,
    write(chunks, done) {
      let total = 0;
      for (const c of chunks) total += c.length;
      // One writev per batch; a short write (a full disk, a signal) goes on with what is left.
      fs.writev(fd, chunks, (error, written) => {
        if (error) done(error);
        else if (written < total) writeRest(fd, Buffer.concat(chunks).subarray(written), done);
        else done(null);
      });
    },
    close() {
      if (closed) return;
      closed = true;
      fs.close(fd, () => {});
    },
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
    write(chunks, done) {
      const chunk = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
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
    close() {
      // The listener stays: a stream may report a failed write as an 'error' event after the
      // writer is done with it (EPIPE on stdout), and that must not crash the process.
    },
  };
}
