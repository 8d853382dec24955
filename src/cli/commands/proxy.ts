/**
 * `frametap [proxy]` (cli.md): the live reverse proxy between WebSocket clients and `-u URL`, or
 * without `-u` a forward proxy for browsers (CONNECT with TLS interception by frametap's CA).
 */
import { UsageError } from '../../errors.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';
import type { RawHeaders } from '../../session/events.js';
import { isLoopback, parseCaptureTarget, parseFlags, parseListen, parseSize, parseUi, parseUpstream, requireTerminal, type UiMode } from '../args.js';
import { APP_FLAGS, APP_FLAGS_HELP, parseAppFlags } from '../app-flags.js';
import { GATE_FLAGS, GATE_HELP } from '../../gate/gate-setup.js';

export const HELP = `usage: frametap [proxy] -u URL [-l [HOST:]PORT] [-w FILE] [--ui MODE] [--max-payload BYTES]
                       [--insecure] [--keep-host] [-H 'Name: value']... [--redact NAME]... [--max-capture SIZE]
                       [--keylog FILE] [--view NAME] [--pair PATH] [--pair-timeout SECS] [--proto FILE --proto-type NAME]
                       [--rules FILE] [--script FILE.mjs] [--fault SPEC]... [--seed N] [--hold-timeout S]
       frametap [proxy] [-l [HOST:]PORT] [-w FILE] [--ui MODE] [--ignore-hosts GLOB]... [--upstream-ca FILE]...
                       [--allow-remote] [--upstream-proxy URL] [--keylog FILE] [-H 'HOST: Name: value']...
                       [--rules FILE] [--script FILE.mjs] [--fault SPEC]... [--seed N] [--hold-timeout S]

With -u: relays WebSocket (and plain HTTP) traffic to URL untouched and shows every frame.
Without -u: a forward proxy; set it as a browser's HTTP and HTTPS proxy and every WebSocket the
pages open, ws:// or wss://, shows up (TLS is intercepted with frametap's CA: see 'frametap ca').

  -u, --upstream URL       ws://, wss://, http:// or https:// origin of the real server; a path in
                           URL is a prefix (-u ws://h/api sends /chat to ws://h/api/chat)
  -l, --listen [HOST:]PORT where to listen (default 127.0.0.1:8080; port 0 picks a free port)
  -w, --write FILE         write the capture to FILE, mode 0600; replaces FILE. FILE.pcapng: packets
                           for Wireshark (capture-format.md), anything else: JSON Lines; - is stdout
      --format FMT         jsonl or pcapng: the capture's format whatever FILE's name
                           (frametap -u URL -w - --format pcapng | wireshark -k -i -)
      --ui MODE            tui (default on a terminal), log (default otherwise; none with -w -),
                           jsonl, none
      --frames             with --ui log: a line for every frame (default: one per message)
      --max-payload BYTES  bytes kept per frame and per message (default 1m; k, m suffixes);
                           relaying is never cut
      --max-capture SIZE   once the capture reaches SIZE (k, m, g suffixes), write no more frames
                           and messages (open, handshake, close, violation, end still are)
      --insecure           do not verify the upstream's TLS certificate
      --keep-host          forward the client's Host header (default: rewrite it to the upstream)
  -H, --header 'N: v'      set a request header on what is forwarded upstream (repeatable);
                           forward mode needs a host scope: -H 'api.example.test: Authorization: …'
      --redact NAME        write a header's or query parameter's value as <redacted> (repeatable)
      --keylog FILE        append the TLS keys (both legs in forward mode) to FILE in NSS key log
                           format, mode 0600, for Wireshark
${APP_FLAGS_HELP}${GATE_HELP}forward mode (no -u):
      --ignore-hosts GLOB  relay CONNECTs to matching hosts untouched (*.x.test, **.x.test, host:443)
      --upstream-ca FILE   also trust the PEM certificates in FILE for upstreams (repeatable)
      --upstream-proxy URL reach every upstream through this HTTP proxy (http://[user:pass@]host:port)
      --allow-remote       allow a non-loopback listen address (an open proxy otherwise refused)
  -h, --help               this help

Once listening it prints 'frametap listening on http://HOST:PORT -> URL' on stderr.
SIGINT / SIGTERM: stop, write 'end' for every open connection, flush the capture, exit 0.

examples:
  frametap -u ws://127.0.0.1:9001 -l 8080 -w session.jsonl --ui log
  frametap -l 8080 -w browser.jsonl        then: chromium --proxy-server=http://127.0.0.1:8080 …
`;

const FLAGS = {
  upstream: { type: 'string', short: 'u' },
  listen: { type: 'string', short: 'l' },
  write: { type: 'string', short: 'w' },
  format: { type: 'string' },
  ui: { type: 'string' },
  frames: { type: 'boolean' },
  'max-payload': { type: 'string' },
  'max-capture': { type: 'string' },
  insecure: { type: 'boolean' },
  'keep-host': { type: 'boolean' },
  header: { type: 'string', short: 'H', multiple: true },
  redact: { type: 'string', multiple: true },
  'ignore-hosts': { type: 'string', multiple: true },
  'upstream-ca': { type: 'string', multiple: true },
  'upstream-proxy': { type: 'string' },
  keylog: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...APP_FLAGS,
  ...GATE_FLAGS,
} as const;

const FORWARD_ONLY = ['ignore-hosts', 'upstream-ca', 'upstream-proxy', 'allow-remote'] as const;

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
  if (values.upstream === undefined) return runForward(values);
  for (const flag of FORWARD_ONLY) {
    if (values[flag] !== undefined) throw new UsageError(`proxy: --${flag} applies to forward mode only (without -u); see 'frametap proxy --help'`);
  }
  const upstream = parseUpstream(values.upstream);
  const listen = parseListen(values.listen ?? '127.0.0.1:8080');
  const headers: RawHeaders = (values.header ?? []).map(parseHeaderFlag);
  const { maxPayload, redact, capture, ui } = recordingFlags(values);
  const maxCapture = values['max-capture'] === undefined ? null : parseSize(values['max-capture'], '--max-capture');
  if (maxCapture === 0) throw new UsageError(`bad --max-capture '${values['max-capture']}': expected a size above 0`);
  requireTerminal(ui);
  const app = await parseAppFlags(values);

  // Checked and loaded before anything listens: a bad rules file, script or fault spec exits 2.
  // The dashboard can hold, edit and inject at any time, so it always has a gate (in pass mode,
  // byte for byte, until something applies).
  const { GateSetup } = await import('../../gate/gate-setup.js');
  const gate = (await GateSetup.fromFlags(values, (line) => process.stderr.write(`${line}\n`))) ?? (ui === 'tui' ? GateSetup.empty() : null);

  // Loaded only now: --help and usage errors answer without loading the proxy and protocol stack.
  const { runLive, upstreamLabel } = await import('../live.js');
  const keylog = await openKeylogFlag(values.keylog);
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
        keylog,
        gate,
      },
      ui,
      app,
      write: capture,
      maxCapture,
      banner: (url) => `frametap listening on ${url} -> ${upstreamLabel(upstream)}`,
    });
  } finally {
    keylog?.close();
    await gate?.close();
  }
}

/** `--keylog FILE` (either mode), opened before anything listens so that a bad FILE is exit 2. */
async function openKeylogFlag(file: string | undefined) {
  if (file === undefined) return null;
  if (file === '') throw new UsageError(`bad --keylog '': expected a file name`);
  const { openKeylog } = await import('../../proxy/forward/keylog.js');
  return openKeylog(file);
}

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>['values'];

/** `-H 'host-glob: Name: value'`: forward mode sets a header only for hosts the scope matches. */
export function parseScopedHeaderFlag(value: string): { readonly scope: string; readonly header: readonly [string, string] } {
  const colon = value.indexOf(':');
  const scope = colon > 0 ? value.slice(0, colon).trim() : '';
  const rest = colon > 0 ? value.slice(colon + 1) : '';
  let header: readonly [string, string] | null = null;
  try {
    header = /^[A-Za-z0-9.*_\-[\]]+$/.test(scope) && /[.*[]|^localhost$/.test(scope) && rest.includes(':') ? parseHeaderFlag(rest.trim()) : null;
  } catch {
    header = null;
  }
  if (header === null) {
    throw new UsageError(`bad -H '${value}': in forward mode -H needs a host scope, e.g. -H 'api.example.test: Authorization: Bearer …' (an unscoped header would go to every host)`);
  }
  return { scope, header };
}

/** What both modes take the same way: what is kept and redacted, where it is written, how it is shown. */
function recordingFlags(values: Values): { maxPayload: number; redact: string[]; capture: ReturnType<typeof parseCaptureTarget>; ui: UiMode } {
  const maxPayload = values['max-payload'] === undefined ? DEFAULT_MAX_PAYLOAD : parseSize(values['max-payload'], '--max-payload');
  const redact = (values.redact ?? []).map((name) => {
    if (name.trim() === '') throw new UsageError(`bad --redact '': expected a header or query parameter name`);
    return name.trim();
  });
  const capture = parseCaptureTarget(values.write, values.format);
  // `-w -` owns stdout: nothing else may print there.
  const ui = capture?.path === '-' && values.ui === undefined ? 'none' : parseUi(values.ui);
  if (capture?.path === '-' && ui !== 'none') {
    throw new UsageError(`-w - writes the capture to stdout, so --ui ${ui} cannot; use --ui none (the default with -w -)`);
  }
  return { maxPayload, redact, capture, ui };
}

async function runForward(values: Values): Promise<number> {
  if (values['keep-host']) throw new UsageError(`proxy: --keep-host applies with -u only (a forward proxy keeps the client's Host)`);
  const listen = parseListen(values.listen ?? '127.0.0.1:8080');
  if (!isLoopback(listen.host) && !values['allow-remote']) {
    throw new UsageError(`proxy: refusing to open a forward proxy on ${listen.host} without --allow-remote: anyone who can reach it could use it, through a CA you trust`);
  }
  const { maxPayload, redact, capture, ui } = recordingFlags(values);
  requireTerminal(ui);
  const app = await parseAppFlags(values);
  let upstreamProxy: URL | null = null;
  if (values['upstream-proxy'] !== undefined) {
    try {
      upstreamProxy = new URL(values['upstream-proxy']);
    } catch {
      upstreamProxy = null;
    }
    if (upstreamProxy === null || upstreamProxy.protocol !== 'http:' || !upstreamProxy.hostname) {
      throw new UsageError(`bad --upstream-proxy '${values['upstream-proxy']}': expected http://[user:pass@]HOST:PORT`);
    }
  }

  const { parseHostGlob } = await import('../../proxy/forward/host-glob.js');
  const { readCertificates, upstreamTrust } = await import('../../proxy/forward/upstream-trust.js');
  const ignoreHosts = (values['ignore-hosts'] ?? []).map((g) => parseHostGlob(g, '--ignore-hosts'));
  const headers = (values.header ?? []).map((h) => {
    const { scope, header } = parseScopedHeaderFlag(h);
    return { scope: parseHostGlob(scope, '-H'), header };
  });
  const extraCa = (values['upstream-ca'] ?? []).flatMap((file) => readCertificates(file, '--upstream-ca'));
  const maxCapture = values['max-capture'] === undefined ? null : parseSize(values['max-capture'], '--max-capture');
  if (maxCapture === 0) throw new UsageError(`bad --max-capture '${values['max-capture']}': expected a size above 0`);
  // As in reverse mode: checked and loaded before anything listens (a bad rules file is exit 2).
  const { GateSetup } = await import('../../gate/gate-setup.js');
  const gate = (await GateSetup.fromFlags(values, (line) => process.stderr.write(`${line}\n`))) ?? (ui === 'tui' ? GateSetup.empty() : null);
  const keylog = await openKeylogFlag(values.keylog);
  const { loadOrCreateCa, frametapHome } = await import('../../ca/ca-store.js');
  const { LeafIssuer } = await import('../../ca/leaf-issuer.js');
  const { directDialer, upstreamProxyDialer } = await import('../../proxy/forward/dialer.js');
  const ca = loadOrCreateCa(frametapHome());

  const { runLive } = await import('../live.js');
  try {
    return await runLive({
      command: 'proxy',
      mode: 'forward',
      proxy: {
        forward: {
          listen,
          maxPayload,
          insecure: values.insecure ?? false,
          headers,
          redact,
          ignoreHosts,
          issuer: new LeafIssuer(ca),
          upstreamTrust: upstreamTrust(extraCa),
          dialer: upstreamProxy ? upstreamProxyDialer(upstreamProxy) : directDialer(),
          keylog,
          gate,
        },
      },
      ui,
      app,
      write: capture,
      frames: values.frames ?? false,
      maxCapture,
      banner: (url) => `frametap listening on ${url} -> forward proxy (CA ${ca.certPath}, SPKI ${ca.spki})`,
    });
  } finally {
    await gate?.close();
  }
}
