import { endAfterHangup, terminalLost } from '../terminal-lost.js';
import { UsageError, FrametapError } from '../errors.js';
import { toolVersion } from '../version.js';

export const USAGE = `frametap — a WebSocket-inspecting proxy: relays untouched, shows every frame

usage:
  frametap [proxy] -u URL [-l [HOST:]PORT] [-w FILE] [--ui tui|log|jsonl|none] [--max-payload BYTES]
                   [--insecure] [--keep-host] [-H 'Name: value']... [--redact NAME]... [--max-capture SIZE]
  frametap [proxy] [-l [HOST:]PORT] [-w FILE] [--ui MODE] [--ignore-hosts GLOB]... [--upstream-ca FILE]
                   [--allow-remote] [--upstream-proxy URL] [--keylog FILE]   forward proxy (no -u)
  frametap ca [--pem|--spki]                  the interception CA: where it is, how to trust it
  frametap view FILE [--ui MODE]              dashboard over a capture (.jsonl) or a HAR
  frametap replay FILE [-u URL] [--conn N|all] [--pace original|fast|Nx|reactive] [--timeout S]
                   [-w FILE] [--ui MODE] [--check [--ignore PATH]...]
  frametap serve FILE [-l [HOST:]PORT] [--conn N] [-w FILE] [--ui MODE]
  frametap export FILE --har OUT
  frametap demo [-l [HOST:]PORT] [-u URL]     dashboard on an embedded upstream with live sample traffic

examples:
  frametap -u ws://127.0.0.1:9001 -w session.jsonl     proxy on 127.0.0.1:8080, record a capture
  frametap -w browser.jsonl                            forward proxy for a browser (see 'frametap ca')
  frametap view session.jsonl                          look at it again
  frametap replay session.jsonl --pace fast --check    replay the client side, compare the answers

exit status: 0 ok, 1 runtime failure (or replay --check found differences), 2 usage error,
3 replay could not run. 'frametap COMMAND --help' gives a command's flags.
`;

type CommandModule = { run(argv: readonly string[]): Promise<number> };

const COMMANDS: Readonly<Record<string, () => Promise<CommandModule>>> = {
  proxy: () => import('./commands/proxy.js'),
  view: () => import('./commands/view.js'),
  replay: () => import('./commands/replay.js'),
  serve: () => import('./commands/serve.js'),
  export: () => import('./commands/export.js'),
  demo: () => import('./commands/demo.js'),
  ca: () => import('./commands/ca.js'),
};

/** Parses argv, runs the subcommand, and turns errors into the exit statuses of cli.md. */
export async function runCli(argv: readonly string[]): Promise<void> {
  const code = await dispatch(argv);
  // Everything is flushed and removed by now; a lost terminal must not be restored (terminal-lost.ts).
  if (terminalLost()) endAfterHangup();
  // Commands that keep serving resolve only when done; an exit code of -1 means "leave the process running".
  if (code >= 0) {
    process.exitCode = code;
    // `--ui log` gave up on a stdout nobody reads (it is a view, not a record): the write left
    // pending on it would keep the process alive.
    const { stdoutAbandoned } = await import('../sinks/line-log.js');
    if (stdoutAbandoned()) process.exit(code);
  }
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const first = argv[0];
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`${toolVersion()}\n`);
    return 0;
  }
  const named = first !== undefined && Object.hasOwn(COMMANDS, first);
  const name = named ? first : 'proxy';
  const rest = named ? argv.slice(1) : argv;
  try {
    const mod = await COMMANDS[name]!();
    return await mod.run(rest);
  } catch (error) {
    return reportError(error);
  }
}

export function reportError(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`frametap: ${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof FrametapError) {
    process.stderr.write(`frametap: ${error.message}\n`);
    return error.context.exitCode ?? 1;
  }
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`frametap: internal error (please report): ${detail}\n`);
  return 1;
}

