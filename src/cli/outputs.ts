/**
 * The sinks a command writes to, chosen by `-w` and `--ui` (cli.md): the capture file, the same
 * lines on stdout (`--ui jsonl`), the line log (`--ui log`) or the dashboard (`--ui tui`, which
 * reads old rows back from the capture of `-w FILE`, else from a spill file of its own, private
 * and deleted on close: src/capture/spill-file.ts).
 */
import { FrametapError } from '../errors.js';
import { JsonlWriter, type PreparedCapture } from '../capture/jsonl-writer.js';
import { SpillFile } from '../capture/spill-file.js';
import type { SessionEvent } from '../session/events.js';
import { CaptureLimit } from '../capture/capture-limit.js';
import { startLineLog, type LineLog } from '../sinks/line-log.js';
import { PcapngWriter, type PreparedPcapng } from '../pcap/pcapng-writer.js';
import { RECORDED_TYPES } from '../pcap/pcapng-recorder.js';
import { DEFAULT_MAX_PAYLOAD } from '../protocol/constants.js';
import type { EventBus } from '../session/event-bus.js';
import type { CaptureHeader } from '../session/events.js';
import type { UiMode } from './args.js';
import type { AppViewOptions } from '../appproto/connection-app.js';
import { appLog } from '../sinks/app-log.js';

/** How often live `--ui log` looks for requests past `--pair-timeout`. */
const UNANSWERED_CHECK_MS = 1000;

export interface DashboardSetup {
  readonly source: 'live' | 'view' | 'replay';
  /** `host:port` listened on (live), else null. */
  readonly listen: string | null;
  readonly upstream: string | null;
  /** q / Ctrl-C in the dashboard. */
  readonly onQuit: () => void;
  /** Live: the keys that act on traffic drive this. */
  readonly control?: import('../gate/gate-control.js').GateControl | null;
}

export interface OutputsOptions {
  readonly bus: EventBus;
  readonly ui: UiMode;
  /**
   * `-w FILE` (or one already opened with `JsonlWriter.prepare` / `PcapngWriter.prepare`), `-w -`
   * as `{ stdout: format }`, null without `-w`.
   */
  readonly write: string | PreparedCapture | PreparedPcapng | { readonly stdout: 'jsonl' | 'pcapng' } | null;
  /** How the run inspects, recorded in a pcapng (`--max-payload`, `--redact`). */
  readonly recording?: { readonly maxPayload: number; readonly redact: readonly string[] };
  readonly header: CaptureHeader;
  /** Needed in tui mode. */
  readonly dashboard?: DashboardSetup;
  /** `--max-capture`: bytes after which the capture file gets no more frames and messages. */
  readonly maxCapture?: number | null;
  /** Decoding of app protocols (`--view`, `--pair`, …) for the log and the dashboard; null turns it off. */
  readonly app?: AppViewOptions | null;
  /** Live traffic (event times are wall-clock): unanswered requests are reported on a timer. */
  readonly live?: boolean;
  /** Where the sinks' one-line notices go (default: stderr, `frametap: ` first). */
  readonly warn?: (line: string) => void;
  /** Where the jsonl and log lines go (default stdout). */
  readonly stdout?: NodeJS.WritableStream;
  /** The events are read from a file (`view`): a full output makes the reading wait, which is not worth a notice. */
  readonly reading?: boolean;
  /** `--frames`: the line log shows every frame, not one line per message. */
  readonly frames?: boolean;
}

export interface Outputs {
  /** The JSON Lines capture writer (`-w`). */
  readonly writer: JsonlWriter | null;
  /** The pcapng writer (`-w FILE.pcapng`, `-w - --format pcapng`). */
  readonly packets: PcapngWriter | null;
  /** Path of that capture, null when there is none. */
  readonly captureFile: string | null;
  /** true: a writer's queue is over its high-water mark, slow the producers; false: it drained. */
  onPressure(cb: (high: boolean) => void): () => void;
  /** Flushes and closes every sink (removes the dashboard's spill file). Safe to call twice. */
  close(): Promise<void>;
}

/** A one-line notice on stderr (the CLI's diagnostics channel). */
export function stderrNotice(line: string): void {
  process.stderr.write(`frametap: ${line}\n`);
}

export async function openOutputs(options: OutputsOptions): Promise<Outputs> {
  const { bus, ui, header } = options;
  // The sinks' one diagnostics channel: they never write to stderr themselves.
  const warn = options.warn ?? stderrNotice;
  const stdout = options.stdout ?? process.stdout;
  const closers: (() => Promise<void> | void)[] = [];
  const writers: (JsonlWriter | PcapngWriter | SpillFile)[] = [];
  /** Every sink that can ask the relay to slow down: the writers and the line log. */
  const pressured: { onPressure(cb: (high: boolean) => void): () => void }[] = [];

  // Benchmarks only (bench/relay.ts): a sink that takes every event and does nothing with it, so
  // the whole inspection path runs with no output cost (`--ui none` alone skips decoding).
  if (process.env.FRAMETAP_BENCH_DISCARD === '1') closers.push(bus.subscribe('bench discard', () => {}));

  const closeAll = async (): Promise<void> => {
    // Last opened, first closed: the dashboard goes before the writers flush.
    for (const close of closers.splice(0).reverse()) await close();
  };

  try {
    let writer: JsonlWriter | null = null;
    let packets: PcapngWriter | null = null;
    const w = options.write;
    const recording = { maxPayload: options.recording?.maxPayload ?? DEFAULT_MAX_PAYLOAD, redact: options.recording?.redact ?? [], maxCapture: options.maxCapture ?? null, warn };
    if (w !== null && typeof w === 'object' && 'stdout' in w) {
      if (w.stdout === 'pcapng') packets = PcapngWriter.toStream(stdout, header, recording);
      else writer = JsonlWriter.toStream(stdout, header, { warn });
    } else if (w !== null && typeof w === 'object' && isPreparedPcapng(w)) {
      packets = w.start(header, recording);
    } else if (w !== null) {
      writer = typeof w === 'string' ? JsonlWriter.create(w, header, { warn }) : w.start(header, { warn });
    }
    if (packets) {
      writers.push(packets);
      const out = packets;
      const off = bus.subscribe('pcapng writer', (event) => out.write(event), [...RECORDED_TYPES]);
      const offProblem = out.onProblem((event) => queueMicrotask(() => bus.publish(event)));
      closers.push(async () => {
        off();
        offProblem();
        await out.close();
      });
    }
    let spill: SpillFile | null = null;
    if (writer === null && ui === 'tui') {
      // The dashboard keeps a bounded window in memory and reads older rows back: from the -w
      // capture when there is one (it is written anyway), else from a spill file of its own that
      // holds payloads as raw bytes (no capture is written unless -w asks for one).
      const rows = openRowSpill(bus);
      spill = rows.spill;
      writers.push(rows.spill);
      closers.push(() => rows.close());
    }
    if (writer) {
      writers.push(writer);
      attach(bus, writer, 'capture writer', closers, options.maxCapture ? new CaptureLimit(options.maxCapture) : null);
    }
    if (ui === 'jsonl') {
      // Reading a file (`view`): the reading just waits for stdout; no notice, and no `error`
      // event among the printed lines, about slowing a relay.
      const out = JsonlWriter.toStream(stdout, header, { warn, pressureNotice: options.reading !== true });
      writers.push(out);
      attach(bus, out, 'jsonl output', closers);
    } else if (ui === 'log') {
      const app = options.app === null ? null : appLog(options.app ?? {});
      const log: LineLog = startLineLog({ bus, stream: stdout, frames: options.frames ?? false, ...(app ? { annotate: app.annotate } : {}) });
      pressured.push(log);
      if (app && options.live) {
        // Live: a request left unanswered is reported when its timeout passes, traffic or not.
        const timer = setInterval(() => {
          const lines = app.tick(Date.now());
          if (lines.length > 0) log.writeLines(lines);
        }, UNANSWERED_CHECK_MS);
        timer.unref();
        closers.push(() => clearInterval(timer));
      }
      closers.push(() => log.close());
    } else if (ui === 'tui') {
      const setup = options.dashboard;
      if (!setup) throw new Error('frametap internal error: tui outputs need dashboard options');
      const dashboard = await startDashboardLazily({
        bus,
        ...setup,
        captureFile: writer?.path ?? null,
        ...(options.app !== undefined ? { app: options.app } : {}),
        ...(writer ? { captureIndex: (cb) => writer.onLine(cb) } : {}),
        spill,
      });
      closers.push(() => dashboard.destroy());
    }

    const captureFile = writer?.path ?? null;
    return {
      writer,
      packets,
      captureFile,
      onPressure(cb) {
        // Pressure is on while any writer (or the line log) is over its high-water mark.
        const high = new Set<object>();
        const offs = [...writers, ...pressured].map((w) =>
          w.onPressure((on) => {
            const before = high.size > 0;
            if (on) high.add(w);
            else high.delete(w);
            const after = high.size > 0;
            if (before !== after) cb(after);
          }),
        );
        return () => {
          for (const off of offs) off();
        };
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * The dashboard's spill file fed from `bus` (its rows evicted from memory are read back from it),
 * its own problems published on the bus. `close` removes it.
 */
export function openRowSpill(bus: EventBus): { readonly spill: SpillFile; close(): Promise<void> } {
  const file = SpillFile.open({ wanted: isRowEvent });
  const off = bus.subscribe('dashboard spill', (event) => file.write(event), [...ROW_TYPES]);
  const offProblem = file.onProblem((event) => queueMicrotask(() => bus.publish(event)));
  return {
    spill: file,
    close: async () => {
      off();
      offProblem();
      await file.close();
    },
  };
}

/** The events that become rows of the dashboard's logs: the only ones it reads back. */
const ROW_TYPES = ['frame', 'message', 'close', 'violation', 'intercept', 'error'] as const;

function isRowEvent(e: SessionEvent): boolean {
  return e.type !== 'error' || e.conn !== undefined;
}

function isPreparedPcapng(w: PreparedCapture | PreparedPcapng): w is PreparedPcapng {
  return PcapngWriter.isPrepared(w);
}

/**
 * Feeds the bus to a writer (within `limit`, when given) and publishes the writer's own problems
 * (stage `capture`) on the bus.
 */
function attach(bus: EventBus, writer: JsonlWriter, name: string, closers: (() => Promise<void> | void)[], limit: CaptureLimit | null = null): void {
  const off = bus.subscribe(name, (event) => {
    if (limit === null) {
      writer.write(event);
      return;
    }
    const { write, notice } = limit.admit(event, writer.size);
    if (write) writer.write(event);
    if (notice) {
      process.stderr.write(`frametap: ${notice.detail}\n`);
      queueMicrotask(() => bus.publish(notice));
    }
  });
  const offProblem = writer.onProblem((event) => {
    // Deferred: the problem is found inside a publish, and the error event should follow that event.
    queueMicrotask(() => bus.publish(event));
  });
  closers.push(async () => {
    off();
    offProblem();
    await writer.close();
  });
}

type StartDashboard = (typeof import('../../ui/dashboard.js'))['startDashboard'];
type DashboardOptions = Parameters<StartDashboard>[0];

async function startDashboardLazily(options: DashboardOptions): Promise<{ destroy(): void }> {
  let start: StartDashboard;
  try {
    // Loaded only in tui mode: blessed is large and the other modes never draw a screen.
    ({ startDashboard: start } = await import('../../ui/dashboard.js'));
  } catch (error) {
    throw new FrametapError(`the dashboard could not be loaded (${(error as Error).message}); use --ui log or --ui jsonl`);
  }
  try {
    return start(options);
  } catch (error) {
    throw new FrametapError(`the dashboard could not start (${(error as Error).message}); use --ui log or --ui jsonl`);
  }
}
