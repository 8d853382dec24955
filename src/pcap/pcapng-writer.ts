/**
 * The pcapng capture sink (`-w FILE.pcapng`, `-w -`; capture-format.md "pcapng captures"). The
 * recorder encodes blocks into its arena as events arrive; every FLUSH_MS (at once past FLUSH_BYTES)
 * the arena goes to the file in one write, one write in flight at a time. Like the JSON Lines writer,
 * it never drops: past the high-water mark it asks its owner to slow the relay (`onPressure`).
 * Blocks are written whole and in order, so after a crash or `kill -9` every complete block reads.
 */
import * as fs from 'node:fs';
import { fileErrorReason, openCaptureFile, removeUnstartedCapture, writeAllSync } from '../capture/capture-file.js';
import { UsageError } from '../errors.js';
import type { CaptureHeader, SessionEvent } from '../session/events.js';
import { PcapngRecorder } from './pcapng-recorder.js';
import { SinkSignals, slowingNotice, type PressureListener, type ProblemListener } from '../capture/sink-signals.js';

export interface PcapngWriterOptions {
  /** Bytes waiting above which `onPressure(true)` fires (default 32 MiB). */
  readonly highWaterMark?: number;
  /** Bytes waiting below which `onPressure(false)` fires again (default 8 MiB). */
  readonly lowWaterMark?: number;
  readonly warn?: (line: string) => void;
  /**
   * Say once (warn, and an `error` event) when the output falls behind: live, that slows the relay
   * (default true). false for a reader of a file (`export`), which simply waits.
   */
  readonly pressureNotice?: boolean;
  readonly redact?: readonly string[];
  readonly maxPayload: number;
  /**
   * `--max-capture` in bytes: past it the WebSocket traffic (packets after each handshake) is no
   * longer written; heads, frametap's records and each leg's FIN/RST still are (cli.md).
   */
  readonly maxCapture?: number | null;
}

/** A pcapng file opened (mode 0600) whose first blocks are not written yet. */
export interface PreparedPcapng {
  readonly path: string;
  start(header: CaptureHeader, options: PcapngWriterOptions): PcapngWriter;
  abandon(): void;
}

const PREPARED = new WeakSet<object>();
/** Blocks are written FLUSH_MS after the first one waiting, or at once when this many bytes wait. */
const FLUSH_MS = 20;
const FLUSH_BYTES = 1024 * 1024;

interface Target {
  readonly name: string;
  write(chunk: Buffer, done: (error: Error | null) => void): void;
  close(): void;
}

export class PcapngWriter {
  /** The file, null for a stream (`-w -`). */
  readonly path: string | null;
  readonly #recorder: PcapngRecorder;
  readonly #target: Target;
  readonly #high: number;
  readonly #low: number;
  readonly #warn: (line: string) => void;
  #inFlightBytes = 0;
  #inFlight = false;
  #scheduled = false;
  #timer: NodeJS.Timeout | null = null;
  readonly #pressureNotice: boolean;
  #failed = false;
  #closed = false;
  #closeWaiters: (() => void)[] = [];
  /** Bytes handed to the output so far (the header blocks included). */
  #written = 0;
  readonly #maxCapture: number | null;
  #limitReached = false;
  readonly #signals = new SinkSignals();

  private constructor(path: string | null, target: Target, recorder: PcapngRecorder, options: PcapngWriterOptions) {
    this.path = path;
    this.#target = target;
    this.#recorder = recorder;
    // A packet capture holds every relayed byte (four times each payload per round trip), so a
    // writeback stall of the page cache of a few tens of milliseconds (measured up to 48 ms under
    // load) fills 8 MiB at 4 KiB messages: room for that, before the relay is slowed.
    this.#high = options.highWaterMark ?? 32 * 1024 * 1024;
    this.#low = Math.min(options.lowWaterMark ?? 8 * 1024 * 1024, this.#high);
    // Injected by the owner (the CLI passes its stderr channel); a sink writes to no stream itself.
    this.#warn = options.warn ?? (() => {});
    this.#pressureNotice = options.pressureNotice ?? true;
    this.#maxCapture = options.maxCapture ?? null;
  }

  /** Opens (replaces, mode 0600, links not followed) FILE now, so an unwritable path is a usage error before listening. */
  static prepare(path: string): PreparedPcapng {
    const fd = openCaptureFile(path);
    let used = false;
    const prepared: PreparedPcapng = {
      path,
      start(header, options) {
        if (used) throw new Error('frametap internal error: a prepared capture was started twice');
        used = true;
        const recorder = new PcapngRecorder({ header, maxPayload: options.maxPayload, ...(options.redact ? { redact: options.redact } : {}) });
        try {
          writeAllSync(fd, recorder.arena.take());
        } catch (error) {
          fs.closeSync(fd);
          throw new UsageError(`cannot write capture file '${path}': ${fileErrorReason(error)}`);
        }
        return new PcapngWriter(path, fileTarget(path, fd), recorder, options);
      },
      abandon() {
        if (used) return;
        used = true;
        fs.closeSync(fd);
        removeUnstartedCapture(path);
      },
    };
    PREPARED.add(prepared);
    return prepared;
  }

  /** Whether `value` came from `prepare` (so a caller holding either kind can tell). */
  static isPrepared(value: object): value is PreparedPcapng {
    return PREPARED.has(value);
  }

  /** The same blocks on a stream (`-w -` to stdout); the stream is not ended on close. */
  static toStream(stream: NodeJS.WritableStream, header: CaptureHeader, options: PcapngWriterOptions): PcapngWriter {
    const recorder = new PcapngRecorder({ header, maxPayload: options.maxPayload, ...(options.redact ? { redact: options.redact } : {}) });
    const target = streamTarget(stream);
    stream.write(recorder.arena.take());
    return new PcapngWriter(null, target, recorder, options);
  }

  /** One event of the bus (subscribe with RECORDED_TYPES). Never throws. */
  write(event: SessionEvent): void {
    if (this.#failed || this.#closed) return;
    if (this.#maxCapture !== null && this.#written + this.#recorder.arena.length >= this.#maxCapture && this.#recorder.isTraffic(event)) {
      if (!this.#limitReached) {
        this.#limitReached = true;
        const detail = `the capture reached --max-capture ${this.#maxCapture} bytes: WebSocket packets are no longer written (handshakes, frametap's records and each connection's end still are); the relay goes on`;
        this.#warn(detail);
        this.#signals.problem(detail);
      }
      return;
    }
    this.#recorder.record(event);
    if (!this.#signals.pressure && this.pendingBytes > this.#high) this.#setPressure(true);
    this.#schedule();
  }

  /** Bytes waiting to be written (queued and in flight). */
  get pendingBytes(): number {
    return this.#recorder.arena.length + this.#inFlightBytes;
  }

  onPressure(cb: PressureListener): () => void {
    return this.#signals.onPressure(cb);
  }

  onProblem(cb: ProblemListener): () => void {
    return this.#signals.onProblem(cb);
  }

  close(): Promise<void> {
    this.#closed = true;
    return new Promise<void>((resolve) => {
      this.#closeWaiters.push(resolve);
      this.#schedule();
      this.#maybeFinish();
    });
  }

  #schedule(): void {
    if (this.#inFlight || this.#scheduled || this.#failed) return;
    const now = this.#closed || this.#recorder.arena.length >= FLUSH_BYTES;
    if (!now) {
      // Everything recorded in the next FLUSH_MS goes out in one write: each write is a trip through
      // libuv's thread pool, whose wake-ups cost the event loop more than the bytes do.
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#flush();
      }, FLUSH_MS);
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#inFlight || this.#failed || this.#recorder.arena.length === 0) {
      this.#maybeFinish();
      return;
    }
    const chunk = this.#recorder.arena.take();
    this.#inFlight = true;
    this.#inFlightBytes = chunk.length;
    this.#written += chunk.length;
    this.#target.write(chunk, (error) => {
      this.#inFlight = false;
      this.#inFlightBytes = 0;
      // A stream may still hold the bytes after its callback (a pipe's buffer): reuse only a file's.
      if (this.path !== null) this.#recorder.arena.recycle(chunk);
      if (error) {
        this.#fail(error);
        return;
      }
      if (this.#signals.pressure && this.pendingBytes <= this.#low) this.#setPressure(false);
      if (this.#recorder.arena.length > 0) this.#schedule();
      this.#maybeFinish();
    });
  }

  #setPressure(high: boolean): void {
    this.#signals.setPressure(high, this.#pressureNotice ? { detail: slowingNotice(this.#target.name), warn: this.#warn } : null);
  }

  #fail(error: Error): void {
    this.#failed = true;
    this.#recorder.arena.take();
    this.#signals.writeFailed(this.#target.name, error, this.#warn);
    this.#maybeFinish();
  }

  #maybeFinish(): void {
    if (!this.#closed || this.#inFlight || this.#scheduled) return;
    if (this.#recorder.arena.length > 0 && !this.#failed) {
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

function fileTarget(path: string, fd: number): Target {
  let closed = false;
  return {
    name: `capture file ${path}`,
    write(chunk, done) {
      const rest = (buf: Buffer): void => {
        fs.write(fd, buf, 0, buf.length, null, (error, written) => {
          if (error) done(error);
          else if (written < buf.length) rest(buf.subarray(written));
          else done(null);
        });
      };
      rest(chunk);
    },
    close() {
      if (closed) return;
      closed = true;
      fs.close(fd, () => {});
    },
  };
}

function streamTarget(stream: NodeJS.WritableStream): Target {
  let failure: Error | null = null;
  let pending: ((error: Error | null) => void) | null = null;
  // EPIPE arrives as an 'error' event: fail the sink, never crash the process.
  stream.on('error', (error: Error) => {
    failure = error;
    const p = pending;
    pending = null;
    p?.(error);
  });
  return {
    name: 'pcapng output',
    write(chunk, done) {
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
    close() {},
  };
}
