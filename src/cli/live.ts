/**
 * Runs a live proxy until it is told to stop (cli.md, `proxy`): opens the capture before
 * listening, starts the proxy, prints the listening line, then on SIGINT / SIGTERM (or the
 * dashboard's quit) stops accepting, ends every open connection, flushes the sinks and resolves 0.
 * A second signal exits at once.
 */
import { markTerminalLost } from '../terminal-lost.js';
import { JsonlWriter, type PreparedCapture } from '../capture/jsonl-writer.js';
import { startProxy, type ProxyOptions, type RunningProxy } from '../proxy/server.js';
import type { ForwardProxyOptions } from '../proxy/forward/forward-server.js';
import { EventBus } from '../session/event-bus.js';
import { isLoopback, type CaptureTarget, type UiMode } from './args.js';
import { PcapngWriter, type PreparedPcapng } from '../pcap/pcapng-writer.js';
import { captureHeader } from '../capture/header.js';
import { openOutputs, type Outputs } from './outputs.js';
import { GateControl } from '../gate/gate-control.js';
import type { AppViewOptions } from '../appproto/connection-app.js';

export interface LiveOptions {
  /** The command's name, for messages. */
  readonly command: string;
  /** The capture header's `mode` (`reverse` for the proxy). */
  readonly mode: string;
  /** Reverse mode (`-u`), or `{ forward }`: forward mode (no `-u`, capture header `upstream` null). */
  readonly proxy: Omit<ProxyOptions, 'bus'> | { readonly forward: Omit<ForwardProxyOptions, 'bus'> };
  readonly ui: UiMode;
  /** `-w FILE` (a path, JSON Lines), or with its format; null without. */
  readonly write: string | CaptureTarget | null;
  /** `--frames`: the line log (`--ui log`) shows every frame, not one line per message. */
  readonly frames?: boolean;
  /** `--max-capture` in bytes, null without. */
  readonly maxCapture?: number | null;
  /** The line printed on stderr once listening, given the proxy's `http://HOST:PORT`. */
  readonly banner: (url: string) => string;
  readonly onStarted?: (proxy: RunningProxy) => void | Promise<void>;
  /** Runs first on shutdown, before the proxy stops (e.g. stop demo traffic). */
  readonly onStopping?: () => Promise<void>;
  /** `--view`, `--pair`, … for the log and the dashboard. */
  readonly app?: AppViewOptions;
}

/** Past this, shutdown stops waiting for connections to end and flushes what it has (cli.md: exit within 2 s). */
const STOP_GRACE_MS = 1500;

/** `ws://host:port[/prefix]` without the bare trailing slash URL adds. */
export function upstreamLabel(url: URL): string {
  const path = url.pathname === '/' ? '' : url.pathname;
  return `${url.protocol}//${url.host}${path}${url.search}`;
}

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** cli.md: "Binding to a non-loopback address prints a warning (the capture holds everything the clients send)". */
export function listenWarning(host: string, listen: string): string | null {
  if (isLoopback(host)) return null;
  return `frametap: warning: listening on ${listen}, which is not a loopback address: anyone who can reach it can use the proxy, and the capture holds everything clients send`;
}

export async function runLive(options: LiveOptions): Promise<number> {
  // Opened now so that an unwritable -w is a usage error before anything listens; the header is
  // written once the real port is known.
  const target: CaptureTarget | null = typeof options.write === 'string' ? { path: options.write, format: 'jsonl' } : options.write;
  const prepared: PreparedCapture | PreparedPcapng | { readonly stdout: 'jsonl' | 'pcapng' } | null =
    target === null ? null
    : target.path === '-' ? { stdout: target.format }
    : target.format === 'pcapng' ? PcapngWriter.prepare(target.path)
    : JsonlWriter.prepare(target.path);
  const abandon = (): void => {
    if (prepared !== null && 'abandon' in prepared) prepared.abandon();
  };
  const bus = new EventBus();
  let proxy: RunningProxy;
  try {
    if ('forward' in options.proxy) {
      const { startForwardProxy } = await import('../proxy/forward/forward-server.js');
      proxy = await startForwardProxy({ ...options.proxy.forward, bus });
    } else {
      proxy = await startProxy({ ...options.proxy, bus });
    }
  } catch (error) {
    abandon();
    throw error;
  }

  const listen = hostPort(proxy.host, proxy.port);
  const upstream = 'forward' in options.proxy ? null : upstreamLabel(options.proxy.upstream);
  const header = captureHeader(options.mode, listen, upstream);

  let requestStop: () => void = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });

  let outputs: Outputs;
  try {
    outputs = await openOutputs({
      bus,
      ui: options.ui,
      write: prepared,
      header,
      frames: options.frames ?? false,
      recording: 'forward' in options.proxy
        ? { maxPayload: options.proxy.forward.maxPayload, redact: options.proxy.forward.redact ?? [] }
        : { maxPayload: options.proxy.maxPayload, redact: options.proxy.redact ?? [] },
      maxCapture: options.maxCapture ?? null,
      dashboard: {
        source: 'live',
        listen,
        upstream: upstream ?? 'forward proxy',
        onQuit: () => requestStop(),
        // The dashboard's breakpoints and actions work through the proxy's gate (issue 13).
        control: options.ui === 'tui' && gateOf(options.proxy) ? new GateControl(gateOf(options.proxy)!) : null,
      },
      ...(options.app ? { app: options.app } : {}),
      live: true,
    });
  } catch (error) {
    await proxy.stop();
    throw error;
  }
  outputs.onPressure((high) => proxy.throttle(high));

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGHUP') markTerminalLost();
    if (signalled) {
      // A second signal: the user does not want to wait for the flush.
      process.stderr.write(`frametap: ${signal} again, exiting without waiting\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    signalled = true;
    requestStop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal, tmux kill-session or an ssh drop: stop as for SIGTERM, so the capture is
  // flushed and the dashboard's spill file (which may hold tokens) is removed.
  process.on('SIGHUP', onSignal);

  try {
    // In tui mode the dashboard owns the terminal (its status bar shows the address).
    if (options.ui !== 'tui') process.stderr.write(`${options.banner(proxy.url)}\n`);
    const warning = listenWarning(proxy.host, listen);
    if (warning !== null) process.stderr.write(`${warning}\n`);
    let failed = false;
    let failure: unknown;
    try {
      await options.onStarted?.(proxy);
      await stopRequested;
      await options.onStopping?.();
    } catch (error) {
      failed = true;
      failure = error;
    }
    // Also after a failure: every open connection gets its `end` and the capture is flushed.
    await withGrace(proxy.stop(), STOP_GRACE_MS);
    // The `end` events of the stop are published by now; flush them with everything else.
    await outputs.close();
    if (failed) throw failure;
    return 0;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGHUP', onSignal);
  }
}

function withGrace(work: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    work.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The proxy's gate (issue 13), in either mode. */
function gateOf(proxy: LiveOptions['proxy']): import('../gate/gate-setup.js').GateSetup | null {
  return ('forward' in proxy ? proxy.forward.gate : proxy.gate) ?? null;
}
