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
import { compareAnswers, formatDifferences, type Difference, type IgnoreRules } from '../../replay/compare.js';
import { parseIgnoreRegex } from '../../replay/ignore-regex.js';
import { loadCapture } from '../../capture/load.js';
import { parseJsonPath } from '../../replay/json-path.js';
import { parsePace, realClock, startOffset, type Pace } from '../../replay/pacing.js';
import { startProgress } from '../../replay/progress.js';
import { answersOf, buildScripts, defaultUpstream, parseConn, pickScripts, requestTarget, type ConnScript } from '../../replay/script.js';
import { EventBus } from '../../session/event-bus.js';
import type { CaptureHeader, ErrorEvent } from '../../session/events.js';
import { parseFlags, parseSeconds, parseUi, parseUpstream, requireTerminal, type UiMode, fileArgument } from '../args.js';
import { hostPort, upstreamLabel } from '../live.js';
import { captureHeader } from '../../capture/header.js';
import { openOutputs, type Outputs } from '../outputs.js';

export const HELP = `usage: frametap replay FILE [-u URL] [--conn N|all] [--pace MODE] [--timeout S] [-w FILE] [--ui MODE] [--frames]
                      [--check [--ignore PATH]... [--ignore-regex RE]...]

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
      --frames         with --ui log: a line for every frame (default: one per message)
      --check          compare the server's answers with the captured ones: exit 1 and a diff when
                       they differ
      --ignore PATH    with --check: leave a JSON field out ($.ts, $.data[*].id; repeatable);
                       reaches into socket.io packets (42["tick",{"ts":1}]: $[1].ts) and STOMP
                       JSON bodies
      --ignore-regex RE
                       with --check: mask what RE matches in every text message before comparing,
                       for values JSON paths cannot reach ('"sid":"[^"]*"'; repeatable)
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
  frames: { type: 'boolean' },
  check: { type: 'boolean' },
  ignore: { type: 'string', multiple: true },
  'ignore-regex': { type: 'string', multiple: true },
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
  readonly ignore: IgnoreRules;
  readonly ui: UiMode;
  /** `--frames`: the line log shows every frame. */
  readonly frames: boolean;
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
  const ignore: IgnoreRules = {
    paths: (values.ignore ?? []).map(parseJsonPath),
    patterns: (values['ignore-regex'] ?? []).map(parseIgnoreRegex),
  };
  if (ignore.paths.length > 0 && !values.check) throw new UsageError(`replay: --ignore only applies with --check`);
  if (ignore.patterns.length > 0 && !values.check) throw new UsageError(`replay: --ignore-regex only applies with --check`);
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
    frames: values.frames ?? false,
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
      frames: plan.frames,
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
  let verdict: Verdict;
  try {
    const first = Math.min(...plan.scripts.map((s) => s.startedAt));
    const results = await Promise.all(
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
    progress.stop();
    verdict = judge(plan, results, upstreamErrors, interrupt.signal.aborted);
    if (ui === 'tui') {
      // The dashboard shows the last stderr line in its status bar (and prints all of it once the
      // terminal is restored): the verdict is on screen when the replay ends. The diff waits for
      // the screen to go, and the dashboard stays up to look at the replay until q / Ctrl-C.
      for (const line of verdict.stderr) process.stderr.write(`${line}\n`);
      await quitRequested;
    }
  } finally {
    progress.stop();
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
    await proxy.stop();
    await outputs.close();
  }
  // The diff is the result of --check: stdout, unless stdout carries the events (--ui jsonl).
  const out = plan.ui === 'jsonl' ? process.stderr : process.stdout;
  for (const block of verdict.stdout) out.write(`${block}\n`);
  if (ui !== 'tui') for (const line of verdict.stderr) process.stderr.write(`${line}\n`);
  return verdict.code;
}

/** What a replay ends with: the exit status, the diff (stdout) and the one-line outcome (stderr). */
interface Verdict {
  readonly code: 0 | 1 | 3;
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
}

/** The outcome and the exit status: 3 could not run (or interrupted), 1 differs, 0 otherwise. */
function judge(plan: ReplayPlan, results: readonly ClientReplayResult[], upstreamErrors: readonly ErrorEvent[], interrupted: boolean): Verdict {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const say = (line: string): void => {
    if (plan.ui !== 'none') stderr.push(line);
  };
  const sentSoFar = results.reduce((n, r) => n + r.sent, 0);
  if (interrupted) {
    // An interrupted replay did not see what the server would have answered: no diff, nothing to judge.
    if (!plan.check) {
      say(`frametap replay: interrupted after ${sentSoFar} messages sent`);
      return { code: 0, stdout, stderr };
    }
    return { code: 3, stdout, stderr: [`frametap: replay --check interrupted after ${sentSoFar} messages sent: nothing was compared`] };
  }
  let couldNotRun: string | null = null;
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
        stdout.push(`conn ${r.conn}: handshake differs: captured ${expected ?? 'no answer'}, now ${failure.status}`);
      }
      continue;
    }
    if (!script.upgraded && script.response) {
      refused ??= `conn ${r.conn}: the server accepted the upgrade the capture shows refused (${script.response.status})`;
      if (plan.check) {
        differs = true;
        stdout.push(`conn ${r.conn}: handshake differs: captured ${script.response.status}, now 101`);
      }
      continue;
    }
    if (plan.check && r.answers) {
      compared++;
      const diffs: Difference[] = compareAnswers({ messages: answersOf(script.server), closeCode: script.endCode }, r.answers, plan.ignore);
      if (diffs.length > 0) {
        differs = true;
        stdout.push(formatDifferences(r.conn, diffs, plan.ignore));
        const hint = pacingHint(plan.pace, r, diffs);
        if (hint !== null) stdout.push(hint);
      }
    }
  }
  if (couldNotRun !== null) return { code: 3, stdout, stderr: [`frametap: replay could not run: ${couldNotRun}`] };
  if (plan.check) {
    if (differs) {
      say(`frametap replay --check: the answers differ from ${plan.file}`);
      return { code: 1, stdout, stderr };
    }
    const messages = results.reduce((n, r) => n + (r.answers?.messages.length ?? 0), 0);
    say(`frametap replay --check: the answers match (${messages} server messages on ${compared} connection${compared === 1 ? '' : 's'})`);
    return { code: 0, stdout, stderr };
  }
  if (refused !== null) return { code: 1, stdout, stderr: [`frametap: replay: ${refused}`] };
  const got = results.reduce((n, r) => n + (r.answers?.messages.length ?? 0), 0);
  say(`frametap replayed ${plan.file}: ${sentSoFar} messages sent, ${got} received on ${results.length} connection${results.length === 1 ? '' : 's'}`);
  return { code: 0, stdout, stderr };
}

/**
 * When the pace sent client steps before the server answers that preceded them in the capture,
 * the server saw another order than the captured one. Answers the server did not send (or sent
 * extra), or another close, are then most likely the pacing's doing, not the server's.
 */
function pacingHint(pace: Pace, result: ClientReplayResult, diffs: readonly Difference[]): string | null {
  if (pace.kind === 'reactive' || result.outOfOrder === 0) return null;
  if (!diffs.some((d) => d.kind === 'close' || d.why !== 'content')) return null;
  const name = pace.kind === 'factor' ? `${pace.factor}x` : pace.kind;
  const steps = result.outOfOrder === 1 ? '1 client message went' : `${result.outOfOrder} client messages went`;
  return (
    `conn ${result.conn}: likely caused by the pacing: with --pace ${name}, ${steps} out before the server's answers ` +
    `that preceded ${result.outOfOrder === 1 ? 'it' : 'them'} in the capture had arrived; try --pace reactive ` +
    `(each client message waits for those answers)`
  );
}
