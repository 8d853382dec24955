/**
 * `frametap [proxy]` (cli.md): the live reverse proxy between WebSocket clients and `-u URL`.
 */
import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';
import type { RawHeaders } from '../../session/events.js';
import { parseFlags, parseListen, parseSize, parseUi, parseUpstream, requireTerminal } from '../args.js';
import { GATE_FLAGS, GATE_HELP } from '../../gate/gate-setup.js';
import { APP_FLAGS, APP_FLAGS_HELP, parseAppFlags } from '../app-flags.js';

export const HELP = `usage: frametap [proxy] -u URL [-l [HOST:]PORT] [-w FILE] [--ui MODE] [--max-payload BYTES]
                       [--insecure] [--keep-host] [-H 'Name: value']... [--redact NAME]... [--max-capture SIZE]
                       [--view NAME] [--pair PATH] [--pair-timeout SECS] [--proto FILE --proto-type NAME]
                       [--rules FILE] [--script FILE.mjs] [--fault SPEC]... [--seed N] [--hold-timeout S]

Relays WebSocket (and plain HTTP) traffic to URL untouched and shows every frame.

  -u, --upstream URL       ws://, wss://, http:// or https:// origin of the real server; a path in
                           URL is a prefix (-u ws://h/api sends /chat to ws://h/api/chat)
  -l, --listen [HOST:]PORT where to listen (default 127.0.0.1:8080; port 0 picks a free port)
  -w, --write FILE         write the capture (JSON Lines) to FILE, mode 0600; replaces FILE
      --ui MODE            tui (default on a terminal), log (default otherwise), jsonl, none
      --max-payload BYTES  bytes kept per frame and per message (default 1m; k, m suffixes);
                           relaying is never cut
      --max-capture SIZE   once the capture reaches SIZE (k, m, g suffixes), write no more frames
                           and messages (open, handshake, close, violation, end still are)
      --insecure           do not verify the upstream's TLS certificate
      --keep-host          forward the client's Host header (default: rewrite it to the upstream)
  -H, --header 'N: v'      set a request header on what is forwarded upstream (repeatable)
      --redact NAME        write a header's or query parameter's value as <redacted> (repeatable)
${APP_FLAGS_HELP}${GATE_HELP}  -h, --help               this help

Once listening it prints 'frametap listening on http://HOST:PORT -> URL' on stderr.
SIGINT / SIGTERM: stop, write 'end' for every open connection, flush the capture, exit 0.

example:
  frametap -u ws://127.0.0.1:9001 -l 8080 -w session.jsonl --ui log
`;

const FLAGS = {
  upstream: { type: 'string', short: 'u' },
  listen: { type: 'string', short: 'l' },
  write: { type: 'string', short: 'w' },
  ui: { type: 'string' },
  'max-payload': { type: 'string' },
  'max-capture': { type: 'string' },
  insecure: { type: 'boolean' },
  'keep-host': { type: 'boolean' },
  header: { type: 'string', short: 'H', multiple: true },
  redact: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
  ...APP_FLAGS,
  ...GATE_FLAGS,
} as const;

/** RFC 9110 §5.1: field-name = token; tchar per §5.6.2. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5: a field value has no CR, LF or NUL. */
const FIELD_VALUE_FORBIDDEN = /[\r\n\0]/;

/** `-H 'Name: value'` → `[name, value]`; anything else is a usage error naming the flag. */
export function parseHeaderFlag(value: string): readonly [string, string] {
  const colon = value.indexOf(':');
  const name = colon > 0 ? value.slice(0, colon) : '';
  const fieldValue = colon > 0 ? value.slice(colon + 1).trim() : '';
  if (!FIELD_NAME.test(name) || FIELD_VALUE_FORBIDDEN.test(fieldValue)) {
    throw new UsageError(`bad -H '${value}': expected 'Name: value' with a header name made of letters, digits and -`);
  }
  return [name, fieldValue];
}

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('proxy', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) {
    throw new UsageError(`proxy: unexpected argument '${positionals[0]}' (see 'frametap proxy --help')`);
  }
  if (values.upstream === undefined) {
    throw new UsageError(`proxy: missing -u URL, the upstream to relay to (e.g. -u ws://127.0.0.1:9001); see 'frametap proxy --help'`);
  }
  const upstream = parseUpstream(values.upstream);
  const listen = parseListen(values.listen ?? '127.0.0.1:8080');
  const maxPayload = values['max-payload'] === undefined ? DEFAULT_MAX_PAYLOAD : parseSize(values['max-payload'], '--max-payload');
  const headers: RawHeaders = (values.header ?? []).map(parseHeaderFlag);
  const redact = (values.redact ?? []).map((name) => {
    if (name.trim() === '') throw new UsageError(`bad --redact '': expected a header or query parameter name`);
    return name.trim();
  });
  if (values.write === '') throw new UsageError(`bad -w '': expected a file name`);
  const maxCapture = values['max-capture'] === undefined ? null : parseSize(values['max-capture'], '--max-capture');
  if (maxCapture === 0) throw new UsageError(`bad --max-capture '${values['max-capture']}': expected a size above 0`);
  const ui = parseUi(values.ui);
  requireTerminal(ui);
  const app = await parseAppFlags(values);

  // Checked and loaded before anything listens: a bad rules file, script or fault spec exits 2.
  const { GateSetup } = await import('../../gate/gate-setup.js');
  // The dashboard can hold, edit and inject at any time, so it always has a gate (in pass mode, byte
  // for byte, until something applies).
  const gate = (await GateSetup.fromFlags(values, (line) => process.stderr.write(`${line}\n`))) ?? (ui === 'tui' ? GateSetup.empty() : null);

  // Loaded only now: --help and usage errors answer without loading the proxy and protocol stack.
  const { runLive, upstreamLabel } = await import('../live.js');
  try {
    return await runLive({
    command: 'proxy',
    mode: 'reverse',
    proxy: {
      upstream,
      listen,
      maxPayload,
      insecure: values.insecure ?? false,
      keepHost: values['keep-host'] ?? false,
      headers,
      redact,
      gate,
    },
    ui,
    app,
    write: values.write ?? null,
    maxCapture,
    banner: (url) => `frametap listening on ${url} -> ${upstreamLabel(upstream)}`,
  });
  } finally {
    await gate?.close();
  }
}
