import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

/**
 * node:util parseArgs with errors turned into one-line UsageErrors naming the flag.
 * `strict` is always on: an unknown flag is a usage error.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: readonly string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (error) {
    const msg = error instanceof Error ? error.message : String(error);
    // parseArgs messages are multi-line sentences; keep the first line and point at --help.
    const first = msg.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`${command}: ${first} (see 'frametap ${command} --help')`);
  }
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `[HOST:]PORT`, `[::1]:PORT`; port 0 picks a free port. */
export function parseListen(value: string, defaultHost = '127.0.0.1'): ListenAddress {
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`bad listen address '${value}': expected [HOST:]PORT with PORT 0-65535, e.g. 127.0.0.1:8080`);
  }
  return { host: m[1] ?? m[2] ?? defaultHost, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** `1048576`, `64k`, `1m`, `1g` (1024-based). */
export function parseSize(value: string, flag: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!m) throw new UsageError(`bad ${flag} '${value}': expected a byte count like 1048576, 64k, 1m or 1g`);
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? 1 : unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : 1024 ** 3;
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new UsageError(`bad ${flag} '${value}': too large`);
  return n;
}

/**
 * A ws://, wss://, http:// or https:// upstream URL. A query (or fragment) is refused: the client's
 * own path and query are what is forwarded (cli.md), so one in -u would be silently dropped, and a
 * token put there would end up in the capture header and the listening line.
 */
export function parseUpstream(value: string): URL {
  const bare = /^(?:\[[0-9a-fA-F:.]+\]|[\w.-]+)(?::\d{1,5})?(?:\/.*)?$/.test(value);
  const suggestion = bare ? `; did you mean ws://${value}?` : '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`bad upstream URL '${value}': expected ws://, wss://, http:// or https://HOST[:PORT][/prefix]${suggestion}`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) {
    // `localhost:9000` parses as scheme `localhost:`: a host and port without a scheme.
    throw new UsageError(`bad upstream URL '${value}': ${bare ? 'no scheme' : 'scheme must be ws, wss, http or https'}${suggestion}`);
  }
  if (!url.hostname) throw new UsageError(`bad upstream URL '${value}': no host`);
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    // The value is not repeated: the query may hold a token.
    const shown = value.replace(/[?#][\s\S]*$/, '?…');
    throw new UsageError(
      `bad upstream URL '${shown}': a query in -u is not forwarded (each request keeps the client's own path and query); put it in the client's URL, or send a token with -H 'Authorization: …'`,
    );
  }
  return url;
}

/** A positive number of seconds. */
export function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`bad ${flag} '${value}': expected a positive number of seconds`);
  return n;
}

export type UiMode = 'tui' | 'log' | 'jsonl' | 'none';

/** `--ui`: explicit mode, else tui on a terminal and log otherwise. */
export function parseUi(value: string | undefined): UiMode {
  if (value === undefined) return process.stdin.isTTY && process.stdout.isTTY ? 'tui' : 'log';
  if (value === 'tui' || value === 'log' || value === 'jsonl' || value === 'none') return value;
  throw new UsageError(`bad --ui '${value}': expected tui, log, jsonl or none`);
}

/** `--ui tui` needs a terminal on both ends. */
export function requireTerminal(ui: UiMode): void {
  if (ui === 'tui' && !(process.stdin.isTTY && process.stdout.isTTY)) {
    throw new UsageError('--ui tui needs a terminal on stdin and stdout; use --ui log or --ui jsonl when piping');
  }
}

/** The one FILE positional of view/replay/serve/export; `what` says what it is for the error line. */
export function fileArgument(command: string, positionals: readonly string[], what: string): string {
  if (positionals.length === 1) return positionals[0]!;
  throw new UsageError(
    positionals.length === 0
      ? `${command}: missing FILE, ${what} (see 'frametap ${command} --help')`
      : `${command}: unexpected argument '${positionals[1]}': give one FILE (see 'frametap ${command} --help')`,
  );
}

export type CaptureFormat = 'jsonl' | 'pcapng';

/** `-w FILE` with the format it is written in; `path` `-` is stdout. */
export interface CaptureTarget {
  readonly path: string;
  readonly format: CaptureFormat;
}

/**
 * cli.md `-w FILE`: the format follows the extension (`.pcapng`: packets; anything else: JSON
 * Lines); `--format jsonl|pcapng` overrides. `.pcap` is a usage error: frametap writes pcapng.
 */
export function parseCaptureTarget(write: string | undefined, format: string | undefined): CaptureTarget | null {
  if (format !== undefined && format !== 'jsonl' && format !== 'pcapng') {
    throw new UsageError(`bad --format '${format}': expected jsonl or pcapng`);
  }
  if (write === undefined) {
    if (format !== undefined) throw new UsageError(`--format ${format} needs -w FILE (or -w - for stdout)`);
    return null;
  }
  if (write === '') throw new UsageError(`bad -w '': expected a file name`);
  if (format !== undefined) return { path: write, format };
  const lower = write.toLowerCase();
  if (lower.endsWith('.pcap')) {
    throw new UsageError(`-w ${write}: frametap writes pcapng, not classic pcap; name the file .pcapng (Wireshark and tshark read it)`);
  }
  return { path: write, format: lower.endsWith('.pcapng') ? 'pcapng' : 'jsonl' };
}
