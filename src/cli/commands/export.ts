/**
 * `frametap export FILE --har OUT | --pcapng OUT | --jsonl OUT` (cli.md): any capture frametap
 * reads (JSON Lines, HAR, pcapng, pcap) written as a HAR 1.2 file the way Chrome DevTools writes
 * WebSocket traffic, as frametap's pcapng (for Wireshark), or as JSON Lines. Files mode 0600.
 */
import { stderrNotice } from '../outputs.js';
import { buildHar, writeHar } from '../../capture/har-export.js';
import { UsageError } from '../../errors.js';
import { captureFormat, loadCapture, type LoadedCapture } from '../../capture/load.js';
import { EventBus } from '../../session/event-bus.js';
import { captureHeader } from '../../capture/header.js';
import { parseFlags, fileArgument } from '../args.js';
import { toolVersion } from '../../version.js';
import type { CaptureHeader, SessionEvent } from '../../session/events.js';
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
  const onWarning = (line: string): void => void process.stderr.write(`frametap: warning: ${line}\n`);
  const format = await captureFormat(file);
  if (kind === 'har' || format === 'har') {
    // A HAR is one JSON document, read and written whole.
    const input = await loadCapture(file, { onWarning });
    if (kind === 'har') return exportHar(input, out);
    const header = input.header ?? captureHeader('har', null, null, new Date(input.events[0]?.t ?? Date.now()));
    if (kind === 'jsonl') return exportJsonl(input, header, out);
    return exportPcapng(input, header, out);
  }
  return exportStreaming(file, format, kind, out, onWarning);
}

/**
 * A JSON Lines or packet capture exported as it is read: each event goes to the output as it comes,
 * and the reading waits while the output is behind (its high-water mark), so memory stays flat
 * whatever the file's size. OUT is opened before reading (an unwritable OUT is a usage error
 * first); its header is written with the first event (a foreign capture's start time is its
 * first event's).
 */
async function exportStreaming(file: string, format: 'jsonl' | 'packets', kind: 'jsonl' | 'pcapng', out: string, onWarning: (line: string) => void): Promise<number> {
  const { JsonlWriter } = await import('../../capture/jsonl-writer.js');
  const { PcapngWriter } = await import('../../pcap/pcapng-writer.js');
  const { EventsToPcapng, describeNotes } = await import('../../pcap/events-to-pcapng.js');
  const prepared = out === STDOUT ? null : kind === 'jsonl' ? JsonlWriter.prepare(out) : PcapngWriter.prepare(out);
  const { replayPacketFile, peekPacketHeader, packetFileKind } = await import('../../pcap/read-file.js');
  const defaultSource = format === 'jsonl' ? 'view' : ((await packetFileKind(file)) ?? 'pcapng');
  let header: CaptureHeader | null = null;
  let sink: { write(event: SessionEvent): void; close(): Promise<void>; onPressure(cb: (high: boolean) => void): () => void } | null = null;
  let rebuild: InstanceType<typeof EventsToPcapng> | null = null;
  let drained: Promise<void> | null = null;
  let release: () => void = () => {};
  let events = 0;
  const conns = new Set<number>();

  const start = (first: SessionEvent | null): void => {
    const h = header ?? captureHeader(defaultSource, null, null, new Date(first?.t ?? Date.now()));
    // Reading waits for the output: nothing is slowed that could be said.
    const options = { warn: stderrNotice, pressureNotice: false };
    if (kind === 'jsonl') {
      sink = out === STDOUT ? JsonlWriter.toStream(process.stdout, h, options) : (prepared as ReturnType<typeof JsonlWriter.prepare>).start(h, options);
    } else {
      // The live writer's 32 MiB of room is for a writeback stall under traffic; reading a file
      // just waits, so a smaller queue bounds the export's memory.
      const pcapOptions = { maxPayload: DEFAULT_MAX_PAYLOAD, warn: stderrNotice, pressureNotice: false, highWaterMark: EXPORT_HIGH_WATER, lowWaterMark: EXPORT_LOW_WATER };
      const writer = out === STDOUT ? PcapngWriter.toStream(process.stdout, h, pcapOptions) : (prepared as ReturnType<typeof PcapngWriter.prepare>).start(h, pcapOptions);
      sink = writer;
      rebuild = new EventsToPcapng({ record: (event) => writer.write(event) });
    }
    sink.onPressure((high) => {
      if (high && drained === null) drained = new Promise<void>((resolve) => (release = resolve));
      if (!high && drained !== null) {
        drained = null;
        release();
      }
    });
  };
  const take = (event: SessionEvent): void => {
    if (event.type === 'chunk') return;
    if (sink === null) start(event);
    events++;
    if (event.type === 'open') conns.add(event.conn);
    if (rebuild !== null) rebuild.event(event);
    else sink!.write(event);
  };

  try {
    if (format === 'jsonl') {
      const { readCaptureLines } = await import('../../capture/jsonl-reader.js');
      let first = true;
      for await (const line of readCaptureLines(file, { onWarning })) {
        const value = line.value;
        if (value.type === 'capture') {
          // Only the first line is the header; a later one (concatenated captures) is not an event.
          if (first) header = value;
        } else {
          take(value);
          if (drained !== null) await drained;
        }
        first = false;
      }
    } else {
      header = await peekPacketHeader(file);
      const bus = new EventBus();
      bus.subscribe('export', take);
      await replayPacketFile(file, bus, { onWarning, ready: async () => void (await drained) });
    }
  } catch (error) {
    if (sink === null) prepared?.abandon();
    throw error;
  }
  if (sink === null) start(null);
  await sink!.close();
  const where = out === STDOUT ? 'stdout' : out;
  if (kind === 'jsonl') {
    process.stderr.write(`frametap: wrote ${where}: ${events} event${events === 1 ? '' : 's'}\n`);
    return 0;
  }
  process.stderr.write(`frametap: wrote ${where}: ${conns.size} connection${conns.size === 1 ? '' : 's'} as packets\n`);
  const notes = describeNotes(rebuild!.notes);
  if (notes !== null) process.stderr.write(`frametap: ${out}: ${notes}\n`);
  return 0;
}

/** Bytes an export's pcapng output may queue before the reading waits, and below which it reads on. */
const EXPORT_HIGH_WATER = 8 * 1024 * 1024;
const EXPORT_LOW_WATER = 1024 * 1024;

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
