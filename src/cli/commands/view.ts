/**
 * `frametap view FILE [--ui tui|log|jsonl|none]` (cli.md): the dashboard over a recorded capture
 * (JSONL) or a HAR; with --ui log or jsonl it prints the events instead of drawing.
 */
import { markTerminalLost } from '../../terminal-lost.js';
import { EventBus } from '../../session/event-bus.js';
import type { SessionEvent } from '../../session/events.js';
import type { AppViewOptions } from '../../appproto/connection-app.js';
import { captureHeader } from '../../capture/header.js';
import { parseFlags, parseUi, requireTerminal, fileArgument, type UiMode } from '../args.js';
import { APP_FLAGS, APP_FLAGS_HELP, parseAppFlags } from '../app-flags.js';

export const HELP = `usage: frametap view FILE [--ui MODE] [--view NAME] [--pair PATH] [--pair-timeout SECS]
                     [--proto FILE --proto-type NAME]

Shows a recorded session: a frametap capture (.jsonl or .pcapng, from -w), a HAR with WebSocket
messages (Chrome DevTools "Save all as HAR", Playwright recordHar; messages only, no frames), or a
pcap / pcapng of plain ws:// traffic recorded by tcpdump, dumpcap or Wireshark.

      --ui MODE   tui (the dashboard; default on a terminal), log (one line per event; default
                  otherwise), jsonl (the events as capture lines on stdout), none
      --frames    with --ui log: a line for every frame (default: one line per message)
${APP_FLAGS_HELP}  -h, --help      this help

examples:
  frametap view session.jsonl
  frametap view devtools.har --ui log
`;

const FLAGS = {
  ui: { type: 'string' },
  frames: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...APP_FLAGS,
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('view', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = fileArgument('view', positionals, 'the capture (.jsonl, .pcapng, .pcap) or HAR to show');
  const ui = parseUi(values.ui);
  requireTerminal(ui);
  const app = await parseAppFlags(values);

  const { captureFormat, loadCapture } = await import('../../capture/load.js');
  const onWarning = (m: string): void => void process.stderr.write(`frametap: warning: ${m}\n`);
  const format = await captureFormat(file);
  if (format === 'jsonl') {
    if (ui === 'tui') return viewCaptureStreaming(file, app);
    // Streamed: memory stays flat in the file's size.
    const { printCapture } = await import('../print-capture.js');
    await printCapture(file, { ui, onWarning, app, frames: values.frames ?? false });
    return 0;
  }
  if (format === 'packets') {
    if (ui === 'tui') return viewPacketsDashboard(file, app);
    return viewPacketsStreaming(file, ui, onWarning, app, values.frames ?? false);
  }

  const warnings: string[] = [];
  const loaded = await loadCapture(file, { onWarning: (m) => warnings.push(m) });

  if (ui === 'tui') {
    const bus = new EventBus();
    const { startDashboard } = await import('../../../ui/dashboard.js');
    const session = untilQuit();
    const dashboard = startDashboard({ bus, source: 'view', listen: null, upstream: null, captureFile: file, onQuit: session.quit, app });
    try {
      // Held by the dashboard while it owns the screen, printed once it is gone.
      for (const w of warnings) onWarning(w);
      for (const event of loaded.events) bus.publish(event);
      await session.quitting;
    } finally {
      session.dispose();
      dashboard.destroy();
    }
    return 0;
  }

  for (const w of warnings) onWarning(w);
  const { openOutputs } = await import('../outputs.js');
  const started = new Date(loaded.events[0]?.t ?? Date.now());
  const header = loaded.header ?? captureHeader(loaded.source === 'har' ? 'har' : 'view', null, null, started);
  const bus = new EventBus();
  const outputs = await openOutputs({ bus, ui, write: null, header, app, frames: values.frames ?? false, reading: true });
  try {
    for (const event of loaded.events) bus.publish(event);
  } finally {
    await outputs.close();
  }
  return 0;
}

/**
 * A pcap / pcapng file printed (`--ui log|jsonl|none`) as it is read: events go out as the packets
 * are replayed, so a file of any size is shown with flat memory.
 */
async function viewPacketsStreaming(file: string, ui: Exclude<UiMode, 'tui'>, onWarning: (m: string) => void, app: AppViewOptions | null, frames: boolean): Promise<number> {
  const { replayPacketFile, peekPacketHeader } = await import('../../pcap/read-file.js');
  const { openOutputs } = await import('../outputs.js');
  const header = (await peekPacketHeader(file)) ?? captureHeader('view', null, null);
  const bus = new EventBus();
  const outputs = await openOutputs({ bus, ui, write: null, header, app, frames, reading: true });
  // The output's backpressure pauses the reading: memory stays flat whatever the file's size.
  let drained: Promise<void> | null = null;
  let release: () => void = () => {};
  outputs.onPressure((high) => {
    if (high && drained === null) drained = new Promise<void>((resolve) => (release = resolve));
    if (!high && drained !== null) {
      drained = null;
      release();
    }
  });
  try {
    await replayPacketFile(file, bus, {
      onWarning,
      ready: async () => {
        await drained;
        if (process.stdout.writableNeedDrain) await new Promise<void>((resolve) => process.stdout.once('drain', () => resolve()));
      },
    });
  } finally {
    await outputs.close();
  }
  return 0;
}

/**
 * A pcap / pcapng file in the dashboard as it is read: like live traffic, the dashboard keeps a
 * bounded window and reads older rows back from its spill file (the packets would have to be
 * replayed again to find one row), so a file of any size is viewed with bounded memory. Reading
 * waits while the spill file is behind, and stops when the dashboard is quit.
 */
async function viewPacketsDashboard(file: string, app: AppViewOptions | null): Promise<number> {
  const { replayPacketFile } = await import('../../pcap/read-file.js');
  const { openRowSpill } = await import('../outputs.js');
  const { startDashboard } = await import('../../../ui/dashboard.js');
  const bus = new EventBus();
  const rows = openRowSpill(bus);
  const session = untilQuit();
  let quit = false;
  void session.quitting.then(() => (quit = true));
  let drained: Promise<void> | null = null;
  let release: () => void = () => {};
  const offPressure = rows.spill.onPressure((high) => {
    if (high && drained === null) drained = new Promise<void>((resolve) => (release = resolve));
    if (!high && drained !== null) {
      drained = null;
      release();
    }
  });
  let dashboard: { destroy(): void } | null = null;
  try {
    dashboard = startDashboard({ bus, source: 'view', listen: null, upstream: null, captureFile: file, app, spill: rows.spill, onQuit: session.quit });
    await replayPacketFile(file, bus, {
      // Held by the dashboard while it owns the screen (shown as its notice), printed once it is gone.
      onWarning: (m) => process.stderr.write(`frametap: warning: ${m}\n`),
      // The keys stay live between reads; quitting ends the reading.
      ready: () => Promise.race([drained ?? Promise.resolve(), session.quitting]),
      stopped: () => quit,
    });
    await session.quitting;
  } finally {
    session.dispose();
    offPressure();
    release();
    dashboard?.destroy();
    await rows.close();
  }
  return 0;
}

/** Resolves on the dashboard's quit or on SIGINT / SIGTERM / SIGHUP. */
function untilQuit(): { quitting: Promise<void>; quit: () => void; dispose: () => void } {
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') markTerminalLost();
    quit();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  return {
    quitting,
    quit: () => quit(),
    dispose: () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGHUP', onSignal);
    },
  };
}

/** Lines published per turn of the event loop while a capture streams in (keys stay live). */
const BATCH = 2000;

/**
 * A JSONL capture is streamed into the dashboard rather than loaded whole: each line's offset and
 * length go to the dashboard's capture index, so a capture of millions of messages is viewed with
 * the same bounded memory as live traffic, older rows read back from the file on demand.
 */
async function viewCaptureStreaming(file: string, app: AppViewOptions): Promise<number> {
  const { readCaptureLines } = await import('../../capture/jsonl-reader.js');
  const { startDashboard } = await import('../../../ui/dashboard.js');
  const bus = new EventBus();
  const index: { cb: ((event: SessionEvent, offset: number, length: number) => void) | null } = { cb: null };
  const session = untilQuit();
  let quit = false;
  void session.quitting.then(() => (quit = true));
  const dashboard = startDashboard({
    bus,
    source: 'view',
    listen: null,
    upstream: null,
    captureFile: file,
    app,
    captureIndex: (cb) => {
      index.cb = cb;
      return () => {
        index.cb = null;
      };
    },
    onQuit: session.quit,
  });
  try {
    let n = 0;
    for await (const line of readCaptureLines(file, { onWarning: (m) => process.stderr.write(`frametap: warning: ${m}\n`) })) {
      if (quit) break;
      if (line.value.type === 'capture') continue;
      bus.publish(line.value);
      index.cb?.(line.value, line.offset, line.length);
      if (++n % BATCH === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await session.quitting;
  } finally {
    session.dispose();
    dashboard.destroy();
  }
  return 0;
}
