/**
 * `frametap export FILE --har OUT` (cli.md, issue 6): a capture as a HAR 1.2 file the way Chrome
 * DevTools writes WebSocket traffic, written with mode 0600.
 */
import { buildHar, writeHar } from '../../capture/har-export.js';
import { UsageError } from '../../errors.js';
import { loadCapture } from '../../capture/load.js';
import { parseFlags, fileArgument } from '../args.js';
import { toolVersion } from '../../version.js';

export const HELP = `usage: frametap export FILE --har OUT

Writes the capture FILE (.jsonl, or a HAR) as a HAR 1.2 file OUT (mode 0600) as Chrome DevTools does:
one entry per WebSocket connection (upgrade request, response, _webSocketMessages) and one per plain
HTTP request. 'frametap view OUT' shows it again.

  --har OUT    the HAR file to write (replaced if it exists)
  -h, --help   this help
`;

const FLAGS = {
  har: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('export', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = fileArgument('export', positionals, 'the capture to export');
  if (!values.har) throw new UsageError(`export: missing --har OUT, the HAR file to write (see 'frametap export --help')`);
  const input = await loadCapture(file, { onWarning: (line) => process.stderr.write(`frametap: warning: ${line}\n`) });
  const har = buildHar(input.header, input.events, toolVersion());
  writeHar(values.har, har);
  const ws = har.log.entries.filter((e) => e._resourceType === 'websocket').length;
  process.stderr.write(`frametap: wrote ${values.har}: ${ws} WebSocket connection${ws === 1 ? '' : 's'}, ${har.log.entries.length - ws} HTTP request${har.log.entries.length - ws === 1 ? '' : 's'}\n`);
  return 0;
}
