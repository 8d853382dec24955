/**
 * `frametap demo [-l [HOST:]PORT] [-u URL]` (cli.md; what `npm start` runs): the dashboard over an
 * embedded upstream with built-in clients, or over a real server with -u (no generated traffic).
 */
import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';
import { parseFlags, parseListen, parseUi, parseUpstream, requireTerminal } from '../args.js';
import { APP_FLAGS, APP_FLAGS_HELP, parseAppFlags } from '../app-flags.js';

export const HELP = `usage: frametap demo [-l [HOST:]PORT] [-u URL] [-w FILE] [--ui MODE]

Opens the dashboard on live, varied WebSocket traffic: an embedded upstream on 127.0.0.1 and
built-in clients going through the proxy (JSON chat, binary, fragments, permessage-deflate,
ping/pong, a protocol violation, closes with 1000, 1001, 4000-range codes and 1006).

  -u, --upstream URL       show a real server instead (no generated traffic); connect your
                           clients to the listen address
  -l, --listen [HOST:]PORT where the proxy listens (default 127.0.0.1:0, a free port)
  -w, --write FILE         also write the capture to FILE (mode 0600)
      --ui MODE            tui (default on a terminal), log, jsonl, none
${APP_FLAGS_HELP}  -h, --help               this help

'npm start' runs 'frametap demo'; 'npm start -- -u ws://127.0.0.1:9001' shows a real server.
`;

const FLAGS = {
  upstream: { type: 'string', short: 'u' },
  listen: { type: 'string', short: 'l' },
  write: { type: 'string', short: 'w' },
  ui: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...APP_FLAGS,
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('demo', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`demo: unexpected argument '${positionals[0]}' (see 'frametap demo --help')`);
  const real = values.upstream === undefined ? null : parseUpstream(values.upstream);
  const listen = parseListen(values.listen ?? '127.0.0.1:0');
  if (values.write === '') throw new UsageError(`bad -w '': expected a file name`);
  const ui = parseUi(values.ui);
  requireTerminal(ui);
  const app = await parseAppFlags(values);

  const { runLive, upstreamLabel } = await import('../live.js');
  const { startDemoUpstream } = await import('../../demo/demo-upstream.js');
  const { startTrafficGenerator } = await import('../../demo/traffic-generator.js');
  const embedded = real === null ? await startDemoUpstream() : null;
  const upstream = real ?? new URL(embedded!.url);
  let generator: { stop(): Promise<void> } | null = null;
  try {
    return await runLive({
      command: 'demo',
      mode: 'reverse',
      proxy: {
        upstream,
        listen,
        maxPayload: DEFAULT_MAX_PAYLOAD,
        insecure: false,
        keepHost: false,
        headers: [],
        redact: [],
      },
      ui,
      app,
      write: values.write ?? null,
      banner: (url) => `frametap listening on ${url} -> ${upstreamLabel(upstream)}${embedded ? ' (demo traffic)' : ''}`,
      onStarted: (proxy) => {
        if (embedded) generator = startTrafficGenerator(proxy.url);
      },
      onStopping: async () => {
        await generator?.stop();
      },
    });
  } finally {
    await embedded?.close();
  }
}
