/**
 * `frametap export FILE --har OUT | --pcapng OUT | --jsonl OUT` (cli.md): any capture frametap
 * reads (JSON Lines, HAR, pcapng, pcap) written as a HAR 1.2 file the way Chrome DevTools writes
 * WebSocket traffic, as frametap's pcapng (for Wireshark), or as JSON Lines. Files mode 0600.
 */
import { stderrNotice } from '../outputs.js';
import { buildHar, writeHar } from '../../capture/har-export.js';
import { UsageError } from '../../errors.js';
import { loadCapture, type LoadedCapture } from '../../capture/load.js';
import { captureHeader } from '../../capture/header.js';
import { parseFlags, fileArgument } from '../args.js';
import { toolVersion } from '../../version.js';
import type { CaptureHeader } from '../../session/events.js';
import { DEFAULT_MAX_PAYLOAD } from '../../protocol/constants.js';

export const HELP = `usage: frametap export FILE --har OUT | --pcapng OUT | --jsonl OUT

Writes the capture FILE (.jsonl, a HAR, or a pcapng / pcap, frametap's or another tool's) as
OUT (mode 0600, replaced if it exists; OUT '-' is stdout, as for 'frametap -w -'):

  --har OUT     a HAR 1.2 file as Chrome DevTools writes it: one entry per WebSocket connection
                (upgrade request, response, _webSocketMessages) and one per plain HTTP request
  --pcapng OUT  frametap's pcapng: each connection's two TCP legs as packets for Wireshark and
                tshark; byte for byte when the capture kept every frame's maskKey and payload
                (what is not exact is said once on stderr)
  --jsonl OUT   a frametap capture in JSON Lines
  -h, --help    this help

'frametap view OUT' shows any of them again.
`;

const FLAGS = {
  har: { type: 'string' },
  pcapng: { type: 'string' },
  jsonl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('export', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = fileArgument('export', positionals, 'the capture to export');
  const outputs = (['har', 'pcapng', 'jsonl'] as const).filter((k) => values[k] !== undefined);
  if (outputs.length === 0) throw new UsageError(`export: missing --har OUT, --pcapng OUT or --jsonl OUT, the file to write (see 'frametap export --help')`);
  if (outputs.length > 1) throw new UsageError(`export: give one of --har, --pcapng, --jsonl (got ${outputs.map((o) => `--${o}`).join(' and ')})`);
  const kind = outputs[0]!;
  const out = values[kind]!;
  if (out === '') throw new UsageError(`export: bad --${kind} '': expected a file name`);
  const input = await loadCapture(file, { onWarning: (line) => process.stderr.write(`frametap: warning: ${line}\n`) });
  if (kind === 'har') return exportHar(input, out);
  const header = input.header ?? captureHeader(input.source === 'jsonl' ? 'view' : input.source, null, null, new Date(input.events[0]?.t ?? Date.now()));
  if (kind === 'jsonl') return exportJsonl(input, header, out);
  return exportPcapng(input, header, out);
}

/** OUT `-` is stdout, as `-w -` is for the proxy (cli.md): never a file named `-`. */
const STDOUT = '-';

function writeStdout(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (error) => (error ? reject(error) : resolve())));
}

async function exportHar(input: LoadedCapture, out: string): Promise<number> {
  const har = buildHar(input.header, input.events, toolVersion());
  if (out === STDOUT) await writeStdout(`${JSON.stringify(har, null, 2)}\n`);
  else writeHar(out, har);
  const ws = har.log.entries.filter((e) => e._resourceType === 'websocket').length;
  process.stderr.write(`frametap: wrote ${out === STDOUT ? 'stdout' : out}: ${ws} WebSocket connection${ws === 1 ? '' : 's'}, ${har.log.entries.length - ws} HTTP request${har.log.entries.length - ws === 1 ? '' : 's'}\n`);
  return 0;
}

async function exportJsonl(input: LoadedCapture, header: CaptureHeader, out: string): Promise<number> {
  const { JsonlWriter } = await import('../../capture/jsonl-writer.js');
  const writer = out === STDOUT ? JsonlWriter.toStream(process.stdout, header, { warn: stderrNotice }) : JsonlWriter.create(out, header, { warn: stderrNotice });
  let n = 0;
  for (const event of input.events) {
    if (event.type === 'chunk') continue;
    writer.write(event);
    if (++n % 5000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await writer.close();
  process.stderr.write(`frametap: wrote ${out === STDOUT ? 'stdout' : out}: ${n} event${n === 1 ? '' : 's'}\n`);
  return 0;
}

async function exportPcapng(input: LoadedCapture, header: CaptureHeader, out: string): Promise<number> {
  const { PcapngWriter } = await import('../../pcap/pcapng-writer.js');
  const { EventsToPcapng, describeNotes } = await import('../../pcap/events-to-pcapng.js');
  const options = { maxPayload: DEFAULT_MAX_PAYLOAD, warn: stderrNotice };
  const writer = out === STDOUT ? PcapngWriter.toStream(process.stdout, header, options) : PcapngWriter.prepare(out).start(header, options);
  const rebuild = new EventsToPcapng({ record: (event) => writer.write(event) }, input.events);
  let n = 0;
  for (const event of input.events) {
    rebuild.event(event);
    if (++n % 2000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  await writer.close();
  const conns = new Set(input.events.filter((e) => e.type === 'open').map((e) => e.conn)).size;
  process.stderr.write(`frametap: wrote ${out === STDOUT ? 'stdout' : out}: ${conns} connection${conns === 1 ? '' : 's'} as packets\n`);
  const notes = describeNotes(rebuild.notes);
  if (notes !== null) process.stderr.write(`frametap: ${out}: ${notes}\n`);
  return 0;
}
