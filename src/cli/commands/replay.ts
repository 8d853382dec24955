/**
 * `frametap replay FILE` (cli.md, issue 6): plays the captured client side against a server through
 * an in-process frametap proxy, so the answers are recorded by the same session, events and sinks
 * as live traffic (-w, --ui; capture mode "replay"), and compares them with `--check`.
 */
import { JsonlWriter, type PreparedCapture } from '../../capture/jsonl-writer.js';
import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';
import { startProxy, type RunningProxy } from '../../proxy/server.js';
import { replayConnection, type ClientReplayResult } from '../../replay/client-replay.js';
import { compareAnswers, formatDifferences, type Difference } from '../../replay/compare.js';
import { loadCapture } from '../../capture/load.js';
import { parseJsonPath, type JsonPath } from '../../replay/json-path.js';
import { parsePace, realClock, startOffset, type Pace } from '../../replay/pacing.js';
import { startProgress } from '../../replay/progress.js';
import { answersOf, buildScripts, defaultUpstream, parseConn, pickScripts, requestTarget, type ConnScript } from '../../replay/script.js';
import { EventBus } from '../../session/event-bus.js';
import type { CaptureHeader, ErrorEvent } from '../../session/events.js';
import { parseFlags, parseSeconds, parseUi, parseUpstream, requireTerminal, type UiMode, fileArgument } from '../args.js';
import { hostPort, upstreamLabel } from '../live.js';
import { captureHeader } from '../../capture/header.js';
import { openOutputs, type Outputs } from '../outputs.js';

export const HELP = `usage: frametap replay FILE [-u URL] [--conn N|all] [--pace MODE] [--timeout S] [-w FILE] [--ui MODE]
                      [--check [--ignore PATH]...]

Connects to URL as the captured client did (same path, query, subprotocol, headers; permessage-deflate
offered when the capture negotiated it), sends the captured client side (messages fragmented and
compressed as captured, pings, the close) and records what the server answers. FILE is a capture
(.jsonl or .pcapng), a HAR, or a pcap / pcapng of ws:// traffic another tool recorded.

  -u, --upstream URL   server to replay against (default: the capture's upstream)
      --conn N|all     connection to replay (default: the first); all: every one, concurrently
      --pace MODE      original (captured timing, default), fast, a speed like 2x or 0.5x, or reactive
                       (each client message once the server messages before it in the capture arrived)
      --timeout S      bounds the connect and every wait (default 10)
  -w, --write FILE     record the replay as a capture (mode "replay"), mode 0600
      --ui MODE        tui, log (default when not on a terminal), jsonl, none
      --check          compare the server's answers with the captured ones: exit 1 and a diff when
                       they differ
      --ignore PATH    with --check: leave a JSON field out ($.ts, $.data[*].id; repeatable)
  -h, --help           this help

exit status: 0 done (and matching with --check), 1 answers differ, 2 usage error, 3 could not run
(upstream unreachable, timeout).
`;

const FLAGS = {
  upstream: { type: 'string', short: 'u' },
  conn: { type: 'string' },
  pace: { type: 'string' },
  timeout: { type: 'string' },
  write: { type: 'string', short: 'w' },
  ui: { type: 'string' },
  check: { type: 'boolean' },
  ignore: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

interface ReplayPlan {
  readonly file: string;
  readonly header: CaptureHeader | null;
  readonly scripts: readonly ConnScript[];
  readonly upstream: URL;
  readonly pace: Pace;
  readonly timeoutMs: number;
  readonly check: boolean;
  readonly ignore: readonly JsonPath[];
  readonly ui: UiMode;
  readonly write: string | null;
}

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('replay', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = fileArgument('replay', positionals, 'the capture to replay');
  const conn = parseConn(values.conn, true);
  const pace = parsePace(values.pace ?? 'original');
  const timeoutMs = parseSeconds(values.timeout ?? '10', '--timeout') * 1000;
  const ignore = (values.ignore ?? []).map(parseJsonPath);
  if (ignore.length > 0 && !values.check) throw new UsageError(`replay: --ignore only applies with --check`);
  if (values.write === '') throw new UsageError(`bad -w '': expected a file name`);
  const ui = parseUi(values.ui);
  requireTerminal(ui);
  const explicitUpstream = values.upstream === undefined ? null : parseUpstream(values.upstream);

  const warn = (line: string): void => {
    process.stderr.write(`frametap: warning: ${line}\n`);
  };
  const input = await loadCapture(file, { onWarning: warn });
  const scripts = pickScripts(buildScripts(input.events), conn, file);
  let upstream = explicitUpstream;
  if (upstream === null) {
    const fallback = defaultUpstream(input.header, scripts[0]!);
    if (fallback === null) throw new UsageError(`replay: ${file} does not say which server it was captured from; give -u URL`);
    upstream = parseUpstream(fallback);
  }
  return replay({
    file,
    header: input.header,
    scripts,
    upstream,
    pace,
    timeoutMs,
    check: values.check ?? false,
    ignore,
    ui,
    write: values.write ?? null,
  });
}

async function replay(plan: ReplayPlan): Promise<number> {
  const { ui, timeoutMs } = plan;
  // Opened first: an unwritable -w is a usage error before anything connects.
  const prepared: PreparedCapture | null = plan.write !== null ? JsonlWriter.prepare(plan.write) : null;
  const bus = new EventBus();
  const upstreamErrors: ErrorEvent[] = [];
  bus.on('replay', 'error', (e) => {
    if (e.stage === 'upstream-connect' || e.stage === 'upstream-tls' || e.stage === 'handshake') upstreamErrors.push(e);
  });

  let proxy: RunningProxy;
  try {
    proxy = await startProxy({
      upstream: plan.upstream,
      listen: { host: '127.0.0.1', port: 0 },
      bus,
      maxPayload: DEFAULT_MAX_PAYLOAD,
      insecure: false,
      keepHost: false,
      headers: [],
      redact: [],
      upstreamTimeoutMs: timeoutMs,
    });
  } catch (error) {
    prepared?.abandon();
    throw error;
  }

  const upstream = upstreamLabel(plan.upstream);
  const header = captureHeader('replay', hostPort(proxy.host, proxy.port), upstream);
  // SIGINT / SIGTERM, or q in the dashboard: stop the replay (if still running) and finish.
  const interrupt = new AbortController();
  let quit: () => void = () => undefined;
  const quitRequested = new Promise<void>((resolve) => (quit = resolve));
  const stop = (): void => {
    interrupt.abort();
    quit();
  };
  let outputs: Outputs;
  try {
    outputs = await openOutputs({
      bus,
      ui,
      write: prepared,
      header,
      dashboard: { source: 'replay', listen: null, upstream, onQuit: stop },
    });
  } catch (error) {
    await proxy.stop();
    throw error;
  }
  outputs.onPressure((high) => proxy.throttle(high));

  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const total = plan.scripts.reduce((n, s) => n + s.client.filter((x) => x.kind === 'message').length, 0);
  // Not with --ui jsonl / none (machine output, or quiet), nor over the dashboard.
  const progress = startProgress(total, ui === 'log' ? (line) => process.stderr.write(`${line}\n`) : null);
  const warn = (line: string): void => {
    if (ui !== 'tui') process.stderr.write(`frametap: warning: ${line}\n`);
  };
  let results: ClientReplayResult[];
  let interrupted = false;
  try {
    const first = Math.min(...plan.scripts.map((s) => s.startedAt));
    results = await Promise.all(
      plan.scripts.map(async (script) => {
        await realClock.sleep(startOffset(script.startedAt - first, plan.pace), interrupt.signal);
        return replayConnection({
          script,
          url: `ws://${hostPort(proxy.host, proxy.port)}${requestTarget(script)}`,
          pace: plan.pace,
          timeoutMs,
          clock: realClock,
          onSent: () => progress.sent(),
          onWarning: warn,
          signal: interrupt.signal,
        });
      }),
    );
    interrupted = interrupt.signal.aborted;
    progress.stop();
    // --ui tui: the dashboard stays up to look at the replay until q / Ctrl-C.
    if (ui === 'tui') await quitRequested;
  } finally {
    progress.stop();
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await proxy.stop();
    await outputs.close();
  }
  return report(plan, results, upstreamErrors, interrupted);
}

/** Prints the outcome and picks the exit status: 3 could not run, 1 differs, 0 otherwise. */
function report(plan: ReplayPlan, results: readonly ClientReplayResult[], upstreamErrors: readonly ErrorEvent[], interrupted: boolean): number {
  // The diff is the result of --check: stdout, unless stdout carries the events (--ui jsonl).
  const out = plan.ui === 'jsonl' ? process.stderr : process.stdout;
  const say = (line: string): void => {
    if (plan.ui !== 'none') process.stderr.write(`${line}\n`);
  };
  if (interrupted && !plan.check) {
    say(`frametap replay: interrupted after ${results.reduce((n, r) => n + r.sent, 0)} messages sent`);
    return 0;
  }
  let couldNotRun: string | null = interrupted ? 'interrupted before the end' : null;
  let differs = false;
  let refused: string | null = null;
  let compared = 0;
  for (const r of results) {
    const script = plan.scripts.find((s) => s.conn === r.conn)!;
    const failure = r.failure;
    if (failure?.kind === 'connect' || failure?.kind === 'timeout') {
      couldNotRun ??= `conn ${r.conn}: ${failure.kind === 'connect' ? `cannot reach ${upstreamLabel(plan.upstream)}: ${failure.detail}` : failure.detail}`;
      continue;
    }
    if (failure?.kind === 'status') {
      const fromProxy = upstreamErrors[0];
      if (fromProxy) {
        couldNotRun ??= `cannot reach ${upstreamLabel(plan.upstream)} (${fromProxy.stage}): ${fromProxy.detail}`;
        continue;
      }
      const expected = script.upgraded ? 101 : (script.response?.status ?? null);
      if (expected === failure.status) continue;
      refused ??= `conn ${r.conn}: ${failure.detail}, the capture had ${expected ?? 'no answer'}`;
      if (plan.check) {
        differs = true;
        out.write(`conn ${r.conn}: handshake differs: captured ${expected ?? 'no answer'}, now ${failure.status}\n`);
      }
      continue;
    }
    if (!script.upgraded && script.response) {
      refused ??= `conn ${r.conn}: the server accepted the upgrade the capture shows refused (${script.response.status})`;
      if (plan.check) {
        differs = true;
        out.write(`conn ${r.conn}: handshake differs: captured ${script.response.status}, now 101\n`);
      }
      continue;
    }
    if (plan.check && r.answers) {
      compared++;
      const diffs: Difference[] = compareAnswers({ messages: answersOf(script.server), closeCode: script.endCode }, r.answers, plan.ignore);
      if (diffs.length > 0) {
        differs = true;
        out.write(`${formatDifferences(r.conn, diffs, plan.ignore)}\n`);
      }
    }
  }
  if (couldNotRun !== null) {
    process.stderr.write(`frametap: replay could not run: ${couldNotRun}\n`);
    return 3;
  }
  if (plan.check) {
    if (differs) {
      say(`frametap replay --check: the answers differ from ${plan.file}`);
      return 1;
    }
    const messages = results.reduce((n, r) => n + (r.answers?.messages.length ?? 0), 0);
    say(`frametap replay --check: the answers match (${messages} server messages on ${compared} connection${compared === 1 ? '' : 's'})`);
    return 0;
  }
  if (refused !== null) {
    process.stderr.write(`frametap: replay: ${refused}\n`);
    return 1;
  }
  const sent = results.reduce((n, r) => n + r.sent, 0);
  const got = results.reduce((n, r) => n + (r.answers?.messages.length ?? 0), 0);
  say(`frametap replayed ${plan.file}: ${sent} messages sent, ${got} received on ${results.length} connection${results.length === 1 ? '' : 's'}`);
  return 0;
}
