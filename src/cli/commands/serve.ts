/**
 * `frametap serve FILE` (cli.md, issue 6): a mock upstream that plays the captured server side to
 * every client. The mock listens on an internal port behind an in-process frametap proxy on `-l`,
 * so `-w` and `--ui` record and show what it served exactly as for live traffic (mode "serve").
 */
import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';
import { loadCapture } from '../../capture/load.js';
import { startMockServer, type MockServer } from '../../replay/mock-server.js';
import { realClock } from '../../replay/pacing.js';
import { buildScripts, parseConn, pickScripts } from '../../replay/script.js';
import { parseFlags, parseListen, parseUi, requireTerminal, fileArgument } from '../args.js';
import { hostPort, runLive } from '../live.js';

export const HELP = `usage: frametap serve FILE [-l [HOST:]PORT] [--conn N] [-w FILE] [--ui MODE] [--frames]

A mock upstream built from a capture (.jsonl, .pcapng, or a pcap / pcapng of ws:// traffic another
tool recorded) or a HAR: every client that connects gets the captured handshake answer (or
refusal), then the captured server messages, each batch once the client message that preceded it
in the capture arrives, with the captured spacing inside a batch, then the captured close (or a
1006 drop). A client message that differs from the captured one is logged; play goes on.
Plain HTTP requests get 404.

  -l, --listen [HOST:]PORT  where to listen (default 127.0.0.1:9001; port 0 picks a free port)
      --conn N              connection of the capture to play (default: the first)
  -w, --write FILE          record what was served as a capture (mode "serve"), mode 0600
      --ui MODE             tui, log (default when not on a terminal), jsonl, none
      --frames              with --ui log: a line for every frame (default: one per message)
  -h, --help                this help

Once listening it prints 'frametap serving FILE on ws://HOST:PORT' on stderr.
SIGINT / SIGTERM: stop, write 'end' for every open connection, flush the capture, exit 0.
`;

const FLAGS = {
  listen: { type: 'string', short: 'l' },
  conn: { type: 'string' },
  write: { type: 'string', short: 'w' },
  ui: { type: 'string' },
  frames: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('serve', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = fileArgument('serve', positionals, 'the capture to serve');
  const listen = parseListen(values.listen ?? '127.0.0.1:9001');
  const conn = parseConn(values.conn, false);
  if (values.write === '') throw new UsageError(`bad -w '': expected a file name`);
  const ui = parseUi(values.ui);
  requireTerminal(ui);

  const note = (line: string): void => {
    // The dashboard owns the terminal in tui mode; the capture (-w) still records the traffic.
    if (ui !== 'tui') process.stderr.write(`frametap serve: ${line}\n`);
  };
  const input = await loadCapture(file, { onWarning: (line) => note(`warning: ${line}`) });
  const [script] = pickScripts(buildScripts(input.events), conn, file);

  const mock: MockServer = await startMockServer({ script: script!, host: '127.0.0.1', port: 0, clock: realClock, onNote: note });
  try {
    return await runLive({
      command: 'serve',
      mode: 'serve',
      frames: values.frames ?? false,
      proxy: {
        upstream: new URL(`ws://${hostPort(mock.host, mock.port)}`),
        listen,
        maxPayload: DEFAULT_MAX_PAYLOAD,
        insecure: false,
        keepHost: true,
        headers: [],
        redact: [],
      },
      ui,
      write: values.write ?? null,
      banner: (url) => `frametap serving ${file} on ${url.replace(/^http/, 'ws')}`,
    });
  } finally {
    await mock.close();
  }
}
